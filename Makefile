# The two commands of the README: `make build` and `make test`. Both set everything up first.
.PHONY: setup build test test-fast lint bench

setup:
	@bash scripts/setup.sh

build: setup
	.venv/bin/python tools/build.py nova-fping

# Two workers (pytest-xdist): tests that share a machine-wide resource take names and addresses of their own
# or run in one xdist_group. A short base directory: gpg-agent's socket path must stay under 108 bytes.
# The slowest tests are printed, and every result kept in artifacts/junit.xml (CI keeps it).
PYTEST_WORKERS ?= 2
# a test's coverage context is its module and function: the unit layer's modules, by name
UNIT_CONTEXTS = ^($(shell cd tests/unit && ls test_*.py | sed 's/\.py$$//' | paste -sd'|'))\.
test: lint
	rm -rf .coverage-data
	@mkdir -p artifacts
	@base=$$(mktemp -d /tmp/at.XXXXXX) && status=0 && \
	.venv/bin/python -m coverage run -m pytest -q -n $(PYTEST_WORKERS) --basetemp=$$base --durations=20 \
		--junitxml=artifacts/junit.xml || status=$$?; rm -rf $$base; exit $$status
	.venv/bin/python -m coverage combine -q
	.venv/bin/python -m coverage report
	@# the unit layer alone: the lines its tests reached in-process (their coverage contexts), from the same run
	@.venv/bin/python -m coverage report --contexts='$(UNIT_CONTEXTS)' --fail-under=0 --format=total | sed 's/^/unit tests alone cover /; s/$$/ % of tools\/altai_release (tests\/unit, the floor: 60 %)/'
	@.venv/bin/python -m coverage report --contexts='$(UNIT_CONTEXTS)' --fail-under=60 >/dev/null

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
