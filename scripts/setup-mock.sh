#!/usr/bin/env bash
# Fedora's mock for the build roots: the host's own where it has one (Fedora, EL: /usr/libexec/mock/mock and
# /etc/mock), else mock 6.7 and mock-core-configs 44.2 from their upstream release tarballs (MOCK_SOURCE, by
# default ../shared/upstream beside this checkout), checked by SHA-256 and unpacked under .venv/mock (ignored
# by git), with a venv of their own on the system's Python and its rpm bindings. tools/build.py finds it
# there (.venv/mock/mock.json) and runs it as root of a user namespace of unprivileged ids, never as the
# host's root. Without either, the local builder remains, and this says so. A second run only checks.
# For an installed tool (pip, pipx): `scripts/setup-mock.sh DIR`, then ALTAI_MOCK_HOME=DIR (docs/install.md).
set -euo pipefail
home=$(realpath -m -- "${1:-$(dirname "$0")/../.venv/mock}")
cd "$(dirname "$0")/.."

if [ -x /usr/libexec/mock/mock ] && [ -d /etc/mock ]; then
    echo "setup: mock: the host's own (/usr/libexec/mock/mock, /etc/mock)" >&2
    exit 0
fi
src=${MOCK_SOURCE:-../shared/upstream}
declare -A SHA256=(
    [mock-6.7-1.tar.gz]=33d70578acb9906e6bde35b1a443099157bc76718d0dd8fc26db874917036322
    [mock-core-configs-44.2-1.tar.gz]=4a4b728587b6d584d8dcfab9c69941254ced141ffa6d4c16d53cef3ffb07bbfa
)
# what mock 6.7 imports (its requirements.txt), at the versions this was made with
REQUIREMENTS=(backoff==2.2.1 distro==1.8.0 jinja2==3.1.6 pyroute2==0.9.7 requests==2.34.2
              rpmautospec-core==0.2.0 templated-dictionary==1.2)
stamp="$home/.altai-setup-stamp"
want="${SHA256[*]} ${REQUIREMENTS[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -f "$home/mock.json" ]; then
    echo "setup: mock: 6.7 from the upstream tarballs ($home)" >&2
    exit 0
fi
for name in "${!SHA256[@]}"; do
    if [ ! -f "$src/$name" ]; then
        echo "setup: mock: neither the host's own nor $src/$name (MOCK_SOURCE): builds use the local builder," \
             "which installs no BuildRequires" >&2
        exit 0
    fi
    echo "${SHA256[$name]}  $src/$name" | sha256sum --quiet -c - || {
        echo "setup: error: $src/$name: SHA-256 differs from the one this checkout knows; not used" >&2
        exit 1
    }
done
if [ -e "$home" ] && [ ! -d "$home" ]; then
    echo "setup: error: $home: not a directory; name an empty or new directory" >&2
    exit 1
fi
if [ -d "$home" ] && [ ! -f "$home/mock.json" ] && [ -n "$(ls -A "$home")" ]; then
    echo "setup: error: $home: not empty and not a mock this script installed; name an empty or new directory" >&2
    exit 1
fi
echo "setup: mock: installing 6.7 from $src into $home" >&2
rm -rf "$home"
mkdir -p "$home/src" "$home/etc/mock"
for name in "${!SHA256[@]}"; do
    tar -xzf "$src/$name" -C "$home/src"
done
/usr/bin/python3 -m venv --system-site-packages "$home/venv"
"$home/venv/bin/pip" install -q --disable-pip-version-check "${REQUIREMENTS[@]}"
# mock's configuration directory as its RPM lays out /etc/mock: its own logging and defaults, and the
# chroot configs of mock-core-configs (EL6 and EL7 under eol/)
cp -a "$home/src/mock-6.7-1/mock/etc/mock/." "$home/etc/mock/"
cp "$home/src/mock-6.7-1/mock/docs/site-defaults.cfg" "$home/etc/mock/"
cp -a "$home/src/mock-core-configs-44.2-1/mock-core-configs/etc/mock/." "$home/etc/mock/"
# what the RPM's build substitutes: mock names its version in every log
sed -i 's/^_MOCK_NVR = None$/_MOCK_NVR = "mock-6.7-1"/' "$home/src/mock-6.7-1/mock/py/mock.py"
sed -i 's/^VERSION = "unreleased_version"$/VERSION = "6.7"/' "$home/src/mock-6.7-1/mock/py/mockbuild/constants.py"
cat > "$home/mock.json" <<EOF
{"python": "$home/venv/bin/python", "mock": "$home/src/mock-6.7-1/mock/py/mock.py",
 "configdir": "$home/etc/mock", "version": "6.7", "from": "$(realpath "$src")"}
EOF
echo "$want" > "$stamp"
