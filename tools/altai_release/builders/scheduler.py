"""Order and parallelism of the builds of a run, apart from what is built: a package waits for the
packages of the run that provide its BuildRequires; at most `jobs` run at once; what follows a build
(signing, checks) runs beside the next builds; the first failure cancels what has not started and is
raised once the running ones are done."""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from altai_release.core.errors import InputError

T = TypeVar("T")
U = TypeVar("U")


def build_order(provides: Mapping[str, Iterable[str]], requires: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """For each package, the packages of this run it needs first (`requires` names capabilities, `provides`
    what each package's subpackages provide). A cycle is an error naming its members."""
    provider: dict[str, str] = {}
    for name in sorted(provides):
        for provided in provides[name]:
            provider.setdefault(provided, name)
    deps = {
        name: {provider[cap] for cap in requires.get(name, ()) if cap in provider and provider[cap] != name}
        for name in sorted(provides)
    }
    try:
        graphlib.TopologicalSorter({name: sorted(needs) for name, needs in deps.items()}).prepare()
    except graphlib.CycleError as exc:
        # graphlib lists each node before the one that needs it: read as "needs", from its first name
        needs = list(reversed(exc.args[1][:-1]))
        first = needs.index(min(needs))
        cycle = needs[first:] + needs[:first] + [needs[first]]
        raise InputError(f"BuildRequires cycle between packages: {' -> '.join(cycle)}") from None
    return deps


def run_in_order(
    deps: Mapping[str, set[str]], jobs: int, work: Callable[[str], T], abort: Callable[[], None] | None = None
) -> dict[str, T]:
    """`work(name)` for every name, each after its dependencies, `jobs` at a time. On the first failure
    (or an interrupt) `abort()` is called before waiting for the running ones, so that they can stop."""
    return _run(deps, jobs, work, None, 0, abort)


def run_pipeline(
    deps: Mapping[str, set[str]],
    jobs: int,
    work: Callable[[str], T],
    finish: Callable[[str, T], U],
    finish_jobs: int,
    abort: Callable[[], None] | None = None,
) -> dict[str, U]:
    """`work(name)` for every name, each after its dependencies, `jobs` at a time, and then
    `finish(name, result)` in a pool of its own (`finish_jobs` wide) while the next ones work: a name counts
    as done for the names that depend on it when its `work` returns. A failure of either stops the run as
    in `run_in_order`."""
    return _run(deps, jobs, work, finish, finish_jobs, abort)


def _run(
    deps: Mapping[str, set[str]],
    jobs: int,
    work: Callable[[str], Any],
    finish: Callable[[str, Any], Any] | None,
    finish_jobs: int,
    abort: Callable[[], None] | None,
) -> dict[str, Any]:
    worked: set[str] = set()
    done: dict[str, Any] = {}
    pending = set(deps)
    running: dict[Future[Any], tuple[str, bool]] = {}  # -> (name, finishing)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    finishers = ThreadPoolExecutor(max_workers=max(1, finish_jobs)) if finish is not None else None
    try:
        while pending or running:
            for name in sorted(n for n in pending if deps[n] <= worked):
                pending.discard(name)
                running[pool.submit(work, name)] = (name, False)
            if not running:
                raise InputError(f"cannot order the builds of {', '.join(sorted(pending))}")
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                name, finishing = running.pop(future)
                error = future.exception()
                if error is not None:
                    raise error
                if not finishing:
                    worked.add(name)
                if finishers is not None and finish is not None and not finishing:
                    running[finishers.submit(finish, name, future.result())] = (name, True)
                else:  # finished, or nothing follows the work
                    done[name] = future.result()
        return done
    except BaseException:
        if abort is not None:
            abort()
        raise
    finally:
        # cancels what has not started; a running build finishes (its sandbox dies with us if we exit)
        pool.shutdown(wait=True, cancel_futures=True)
        if finishers is not None:
            finishers.shutdown(wait=True, cancel_futures=True)


def run_all(names: Iterable[str], jobs: int, work: Callable[[str], T]) -> dict[str, T]:
    """`work(name)` for every name, `jobs` at a time, in no particular order."""
    return run_in_order({name: set() for name in names}, jobs, work)
