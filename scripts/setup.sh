#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine: the Debian tools the pipeline drives and the
# project's venv. A second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

# libkrb5-dev: the koji client library needs gssapi, which PyPI ships as source only; jq: the tests run
# docs/release-tree.md's check of a provenance statement as written; openssl: the tests
# make the certificates of their Koji hub with it
# python3-venv and the build system's packages (bash ... debugedit): mock and the host-derived build root
# (its RPMs are made of the host's own files of these packages)
DEBS=(rpm python3-rpm createrepo-c gnupg bubblewrap fping dnf dnf-plugins-core git iproute2 rpmlint time libkrb5-dev jq
      openssl python3-venv zstd cpio patch unzip file make debugedit xz-utils bzip2 util-linux)
# KOJI=1 (make test-koji): what the private Koji of scripts/koji/private-koji.sh runs on: koji's hub under
# httpd + mod_ssl + mod_wsgi with PostgreSQL, and kojid and kojira on the system python3
if [ "${KOJI:-}" = 1 ]; then
    DEBS+=(apache2 libapache2-mod-wsgi-py3 postgresql python3-psycopg2 python3-requests python3-defusedxml
           python3-librepo python3-cheetah python3-dnf curl)
fi

missing=()
for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.altai-setup-stamp
want=$(for f in pyproject.toml src/*/pyproject.toml; do if [ -f "$f" ]; then cat "$f"; fi; done | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: preparing .venv" >&2
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    # one resolver run: instance-notifier depends on nova-fping, which is here, not on PyPI
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' \
        -e 'src/nova-fping[test]' -e 'src/instance-notifier[test]'
    echo "$want" > "$stamp"
fi

# rpmautospec runs inside the spec sandbox on the system interpreter (it parses specs, which runs their
# shell): its own directory beside the venv, without the venv's rpm shim, on Debian's rpm bindings
AUTOSPEC=(rpmautospec==0.8.5 "pygit2>=1.14,<2")
autospec_stamp=.venv/rpmautospec/.altai-setup-stamp
if [ "$(cat "$autospec_stamp" 2>/dev/null)" != "${AUTOSPEC[*]}" ]; then
    echo "setup: installing rpmautospec for the spec sandbox" >&2
    rm -rf .venv/rpmautospec
    .venv/bin/pip install -q --disable-pip-version-check --target .venv/rpmautospec "${AUTOSPEC[@]}"
    echo "${AUTOSPEC[*]}" > "$autospec_stamp"
fi

bash scripts/setup-mock.sh
