"""The build order (graphlib) and the scheduler's pipelines: dependencies first, failures stop the run."""

from __future__ import annotations

import pytest
from altai_release.builders.scheduler import build_order, run_in_order, run_pipeline
from altai_release.core.errors import InputError


def test_build_order_follows_build_requires_between_packages_of_the_run():
    provides = {"app": ["app"], "lib": ["lib", "lib-devel", "libfoo.so.1"], "tool": ["tool"]}
    requires = {"app": ["lib-devel", "python3"], "lib": ["gcc"], "tool": ["libfoo.so.1", "app"]}
    assert build_order(provides, requires) == {"app": {"lib"}, "lib": set(), "tool": {"lib", "app"}}


def test_build_order_names_a_cycle():
    with pytest.raises(InputError, match="cycle between packages: a -> b -> c -> a"):
        build_order({"a": ["a"], "b": ["b"], "c": ["c"]}, {"a": ["b"], "b": ["c"], "c": ["a"]})


def test_run_pipeline_starts_a_dependent_once_its_dependency_is_built_not_finished():
    import threading

    finishing = threading.Event()
    release_finish = threading.Event()
    events: list[str] = []

    def work(name: str) -> str:
        if name == "app":
            assert finishing.wait(10)  # lib's finish has started...
            assert not release_finish.is_set()  # ...and has not ended: the build did not wait for it
            events.append("app built while lib finishes")
            release_finish.set()
        return name.upper()

    def finish(name: str, built: str) -> str:
        if name == "lib":
            finishing.set()
            assert release_finish.wait(10)
        return f"{built}+signed"

    assert run_pipeline({"lib": set(), "app": {"lib"}}, 1, work, finish, 1) == {
        "lib": "LIB+signed",
        "app": "APP+signed",
    }
    assert events == ["app built while lib finishes"]


def test_run_pipeline_stops_at_a_failure_to_finish():
    import threading

    aborted = threading.Event()
    started: list[str] = []

    def work(name: str) -> str:
        started.append(name)
        if name == "b":
            assert aborted.wait(10)  # a build still running when the run fails is told to stop
        return name

    def finish(name: str, built: str) -> str:
        raise InputError(f"{name}: signing failed")

    with pytest.raises(InputError, match="a: signing failed"):
        run_pipeline({"a": set(), "b": {"a"}, "c": {"b"}}, 1, work, finish, 1, aborted.set)
    assert aborted.is_set()
    assert "c" not in started  # b was running (or not yet started) when a failed to finish: c never starts


def test_run_in_order_runs_dependencies_first_and_stops_at_a_failure():
    seen: list[str] = []

    def work(name: str) -> str:
        seen.append(name)
        if name == "bad":
            raise InputError("bad failed")
        return name.upper()

    assert run_in_order({"a": set(), "b": {"a"}, "c": {"b"}}, 2, work) == {"a": "A", "b": "B", "c": "C"}
    assert seen == ["a", "b", "c"]
    seen.clear()
    with pytest.raises(InputError, match="bad failed"):
        run_in_order({"bad": set(), "after": {"bad"}}, 2, work)
    assert seen == ["bad"]  # what depends on a failed build never starts


def test_build_order_names_only_the_cycle_from_its_first_member():
    provides = {"x": ["x"], "y": ["y"], "z": ["z"], "a": ["a"]}
    with pytest.raises(InputError, match="cycle between packages: y -> z -> y$"):
        build_order(provides, {"x": ["y"], "y": ["z"], "z": ["y"], "a": []})
