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

# ruff and mypy, as `make test` runs them first
lint: setup
	.venv/bin/python -m ruff check tools tests bench src/nova-fping src/instance-notifier
	.venv/bin/python -m ruff format --check tools tests bench src/nova-fping src/instance-notifier
	.venv/bin/python -m mypy
	cd src/nova-fping && ../../.venv/bin/python -m mypy
	cd src/instance-notifier && ../../.venv/bin/python -m mypy

# the unit tests alone: seconds, for the loop of a change to the pure logic
test-fast: setup
	.venv/bin/python -m pytest -q tests/unit

bench: setup
	.venv/bin/python bench/run.py
