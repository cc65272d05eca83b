# The two commands of the README: `make build` and `make test`. Both set everything up first.
.PHONY: setup build test test-fast lint bench

setup:
	@bash scripts/setup.sh

build: setup
	.venv/bin/python tools/build.py nova-fping

test: lint
	rm -rf .coverage-data
	.venv/bin/python -m coverage run -m pytest -q
	.venv/bin/python -m coverage combine -q
	.venv/bin/python -m coverage report
	@# the unit layer alone (tests/unit, in-process): how much of the tooling the pure tests cover by themselves
	rm -rf .coverage-unit
	.venv/bin/python -m coverage run --data-file=.coverage-unit/coverage --rcfile=tests/unit/coverage.ini -m pytest -q -p no:cacheprovider tests/unit >/dev/null
	@.venv/bin/python -m coverage report --data-file=.coverage-unit/coverage --rcfile=tests/unit/coverage.ini --format=total | sed 's/^/unit tests alone cover /; s/$$/ % of tools\/altai_release (tests\/unit, the floor: 60 %)/'
	@.venv/bin/python -m coverage report --data-file=.coverage-unit/coverage --rcfile=tests/unit/coverage.ini --fail-under=60 >/dev/null

# ruff and mypy, as `make test` runs them first
lint: setup
	.venv/bin/python -m ruff check conftest.py tools tests bench src/nova-fping src/instance-notifier
	.venv/bin/python -m ruff format --check conftest.py tools tests bench src/nova-fping src/instance-notifier
	.venv/bin/python -m mypy
	cd src/nova-fping && ../../.venv/bin/python -m mypy
	cd src/instance-notifier && ../../.venv/bin/python -m mypy

# the unit tests alone: seconds, for the loop of a change to the pure logic
test-fast: setup
	.venv/bin/python -m pytest -q tests/unit

bench: setup
	.venv/bin/python bench/run.py
