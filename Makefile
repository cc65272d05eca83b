# The two commands of the README: `make build` and `make test`. Both set everything up first.
.PHONY: setup build test test-fast test-koji lint bench rpm

setup:
	@bash scripts/setup.sh

build: setup
	.venv/bin/python tools/build.py nova-fping

# Every test runs once. The unit layer first, in-process: what it covers of the tooling alone is its own
# figure (the floor: 60 %). Then the rest in three workers (pytest-xdist; most tests wait on mock, dnf or
# sockets, so three keep two cores busy): tests that share a machine-wide resource take names and addresses
# of their own or run in one xdist_group. Last, alone, the tool installed from its wheel outside the checkout
# (tests/install): it checks that nothing under the checkout changed. A short base directory: the
# sockets of gpg-agent in a home below it must stay under 108 bytes. The slowest tests are printed, and
# every result kept in artifacts/junit*.xml (CI keeps them).
PYTEST_WORKERS ?= 3
test: lint
	rm -rf .coverage-data .coverage-unit
	@mkdir -p artifacts
	.venv/bin/python -m coverage run --data-file=.coverage-unit/coverage -m pytest -q -p no:cacheprovider \
		--junitxml=artifacts/junit-unit.xml tests/unit
	.venv/bin/python -m coverage combine -q --keep --data-file=.coverage-unit/coverage .coverage-unit
	@.venv/bin/python -m coverage report --data-file=.coverage-unit/coverage --fail-under=0 --format=total | sed 's/^/unit tests alone cover /; s/$$/ % of tools\/altai_release (tests\/unit, the floor: 60 %)/'
	@.venv/bin/python -m coverage report --data-file=.coverage-unit/coverage --fail-under=60 >/dev/null
	@base=$$(mktemp -d /tmp/at.XXXXXX) && status=0 && \
	.venv/bin/python -m coverage run -m pytest -q -n $(PYTEST_WORKERS) --basetemp=$$base --durations=20 \
		--ignore=tests/unit --ignore=tests/koji_real --ignore=tests/install --junitxml=artifacts/junit.xml \
		|| status=$$?; rm -rf $$base; exit $$status
	@base=$$(mktemp -d /tmp/ai.XXXXXX) && status=0 && \
	.venv/bin/python -m pytest -q -p no:cacheprovider --basetemp=$$base --junitxml=artifacts/junit-install.xml \
		tests/install || status=$$?; rm -rf $$base; exit $$status
	rm -f .coverage-unit/coverage
	.venv/bin/python -m coverage combine -q .coverage-data .coverage-unit
	.venv/bin/python -m coverage report

# ruff and mypy, as `make test` runs them first
lint: setup
	.venv/bin/python -m ruff check conftest.py tools tests bench scripts src/nova-fping src/instance-notifier
	.venv/bin/python -m ruff format --check conftest.py tools tests bench scripts src/nova-fping src/instance-notifier
	.venv/bin/python -m mypy
	cd src/nova-fping && ../../.venv/bin/python -m mypy
	cd src/instance-notifier && ../../.venv/bin/python -m mypy

# The Koji tests against a real hub: scripts/koji/private-koji.sh starts koji 1.35.3's hub, kojira and kojid
# (building in real mock chroots) from ../shared/upstream, the tests run, and it is stopped whatever they
# said (its state stays in its directory, for a look or a faster next start).
test-koji: setup
	@KOJI=1 bash scripts/setup.sh
	scripts/koji/private-koji.sh up
	@mkdir -p artifacts
	@base=$$(mktemp -d /tmp/ak.XXXXXX) && status=0 && \
	.venv/bin/python -m pytest -q -p no:cacheprovider --basetemp=$$base --durations=10 \
		--junitxml=artifacts/junit-koji.xml tests/koji_real || status=$$?; \
	rm -rf $$base; scripts/koji/private-koji.sh down; exit $$status

# the unit tests alone: seconds, for the loop of a change to the pure logic
test-fast: setup
	.venv/bin/python -m pytest -q tests/unit

# the tool's own RPM, built by the tool with mock (docs/install.md): .venv/tool-rpm/out/tools/*.rpm
rpm: setup
	.venv/bin/python scripts/tool-rpm.py

bench: setup
	.venv/bin/python bench/run.py
