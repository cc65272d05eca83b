#!/usr/bin/env bash
# A private Koji on this machine, for the tests and by hand: `up` starts it (idempotent), `down` stops it and
# leaves nothing running or mounted, `env` prints what a client needs. From koji 1.35.3's upstream tarball
# (KOJI_SOURCE, default ../shared/upstream beside this checkout, checked by SHA-256), unpacked in its own
# directory (ALTAI_KOJI_DIR, default /tmp/altai-koji-<checkout hash>: its own ports, paths and names, never
# shared with another checkout's):
#   - PostgreSQL on a unix socket in that directory (run as the `postgres` user, as Debian ships it);
#   - httpd + mod_ssl + mod_wsgi serving koji's own kojihub on a free loopback port, its hub.conf given by
#     `SetEnv koji.hub.ConfigFile` (nothing in /etc/koji-hub);
#   - a CA and client certificates: kojiadmin, altai-release (the release user), kojira, and the builder;
#   - the host-derived base imported and tagged into altai-el6-base; the tags altai-el6 (the release's) and
#     altai-el6-build (the build tag: arches, the `build` group of the base's packages, the tag macros that
#     make builds reproducible, mock's options for this host), the target altai-candidate (`add-target
#     PREFIX` makes another such set: each test its own);
#   - kojira, and kojid using real mock through `altai_release.builders.kojimock` (as root of a user
#     namespace of unprivileged ids, as the project's mock builder runs it). kojid writes each build root's
#     mock config into /etc/mock/koji (hard-coded in kojid): it runs in a private mount namespace whose /etc is
#     an overlay on the host's, whose upper layer is in the directory; the host's /etc is never written.
# Needs root (PostgreSQL's and httpd's users, mock's user namespaces) and Debian's apache2,
# libapache2-mod-wsgi-py3, postgresql, python3-{psycopg2,requests,defusedxml,librepo,cheetah,dnf,rpm},
# createrepo-c (scripts/setup.sh installs them with KOJI=1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=${ALTAI_KOJI_DIR:-/tmp/altai-koji-$(printf %s "$ROOT" | sha256sum | cut -c1-10)}
SOURCE=${KOJI_SOURCE:-$ROOT/../shared/upstream}
TARBALL=koji-1.35.3.tar.gz
SHA256=ee438c5e21426211f4eae616bcbc341ffc10b94a3a94eed9a497aec435e8cf84
PG=/usr/lib/postgresql/15/bin
SRC=$D/src/koji-1.35.3
KOJI="$ROOT/.venv/bin/koji --config=$D/client.conf"
die() { echo "private-koji: error: $*" >&2; exit 1; }
say() { echo "private-koji: $*" >&2; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {  # TERM, then KILL after $2 seconds; the process group when it has one of its own
  local file=$1 wait=${2:-10} pid
  pid_alive "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((wait * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

down() {
  local pid
  for pid in "$D"/run/kojid*.pid; do [ -e "$pid" ] && stop_pid "$pid" 30; done
  stop_pid "$D/run/kojira.pid" 10
  if pid_alive "$D/run/httpd.pid"; then
    /usr/sbin/apache2 -f "$D/etc/httpd.conf" -k stop 2>/dev/null || true
    for _ in $(seq 100); do pid_alive "$D/run/httpd.pid" || break; sleep 0.1; done
  fi
  stop_pid "$D/run/httpd.pid" 5
  if [ -f "$D/pg/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "$PG/pg_ctl -D '$D/pg' -m fast -w stop" >/dev/null 2>&1 || true
  fi
  # kojid runs each task in a process group of its own: a task whose kojid was killed outlives it. Whatever
  # still names this directory on its command line is ours (kojid's tasks, their mock jails)
  pkill -KILL -f -- "$D/" 2>/dev/null || true
  # what mock left mounted in kojid's namespace went with it; anything below D on the host's table is ours
  findmnt -rn -o TARGET | grep -F "$D/" | sort -r | while read -r target; do umount -l "$target" || true; done
  say "stopped (state kept in $D; remove it to start from nothing)"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

unpack() {
  [ -f "$SRC/kojihub/app/kojiapp.py" ] && return 0
  [ -f "$SOURCE/$TARBALL" ] || die "$SOURCE/$TARBALL is missing (KOJI_SOURCE names the directory)"
  echo "$SHA256  $SOURCE/$TARBALL" | sha256sum --quiet -c - || die "$SOURCE/$TARBALL: SHA-256 differs; not used"
  mkdir -p "$D/src"
  tar -xzf "$SOURCE/$TARBALL" -C "$D/src"
  chmod -R a+rX "$D/src"
}

certificates() {
  local ssl=$D/ssl u
  [ -f "$ssl/ca.crt" ] && return 0
  mkdir -p "$ssl" && chmod 755 "$ssl"
  (
    cd "$ssl"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=altai private koji CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 3650 -extfile san.ext 2>/dev/null
    for u in kojiadmin altai-release kojira altai-builder; do
      openssl req -newkey rsa:2048 -nodes -keyout "$u.key" -out "$u.csr" -subj "/CN=$u" 2>/dev/null
      openssl x509 -req -in "$u.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$u.crt" -days 3650 2>/dev/null
      cat "$u.crt" "$u.key" > "$u.pem"
    done
    chmod 600 ./*.key ./*.pem && chmod 644 ca.crt server.crt && chown www-data server.key
  )
}

database() {
  mkdir -p "$D/pgsock" && chown postgres: "$D/pgsock"
  if [ ! -f "$D/pg/PG_VERSION" ]; then
    mkdir -p "$D/pg" && chown postgres: "$D/pg" && chmod 700 "$D/pg"
    su postgres -s /bin/sh -c "$PG/initdb -D '$D/pg' -A trust -U postgres" >/dev/null
  fi
  if ! su postgres -s /bin/sh -c "$PG/pg_ctl -D '$D/pg' status" >/dev/null 2>&1; then
    su postgres -s /bin/sh -c "$PG/pg_ctl -D '$D/pg' -l '$D/pg/server.log' -w start \
      -o \"-k $D/pgsock -c listen_addresses= -c max_connections=60\"" >/dev/null || {
        tail -5 "$D/pg/server.log" >&2; die "PostgreSQL did not start ($D/pg/server.log)"; }
  fi
  local P="psql -h $D/pgsock -U postgres -v ON_ERROR_STOP=1 -q"
  if ! $P -lqt | cut -d'|' -f1 | grep -qw koji; then
    $P -c "CREATE ROLE koji LOGIN" -c "CREATE DATABASE koji OWNER koji"
    psql -h "$D/pgsock" -U koji -d koji -v ON_ERROR_STOP=1 -q -f "$SRC/schemas/schema.sql" >/dev/null
    # the first admin, as Koji's server howto makes it; the others log in by certificate
    psql -h "$D/pgsock" -U koji -d koji -q -c "INSERT INTO users (name, status, usertype) VALUES ('kojiadmin', 0, 0)" \
      -c "INSERT INTO user_perms (user_id, perm_id, creator_id) VALUES ((SELECT id FROM users WHERE name='kojiadmin'), 1, (SELECT id FROM users WHERE name='kojiadmin'))"
  fi
}

httpd() {
  local port files
  port=$(cat "$D/port") files=$(cat "$D/files-port")
  cat > "$D/etc/hub.conf" <<HUB
[hub]
DBName = koji
DBUser = koji
DBHost = $D/pgsock
KojiDir = $D/topdir
DNUsernameComponent = CN
ProxyPrincipals =
LoginCreatesUser = On
KojiWebURL = https://localhost:$port/koji
DisableNotifications = True
CheckClientIP = False
RunInterval = 2

[policy]
build_from_srpm =
    user altai-release :: allow
    has_perm admin :: allow
    all :: deny
HUB
  cat > "$D/etc/httpd.conf" <<HTTPD
ServerRoot /etc/apache2
PidFile $D/run/httpd.pid
ServerName localhost
Listen 127.0.0.1:$port
Listen 127.0.0.1:$files
User www-data
Group www-data
ErrorLog $D/logs/httpd-error.log
LogLevel warn
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
StartServers 1
ServerLimit 1
ThreadsPerChild 24
MaxRequestWorkers 24
MinSpareThreads 4
MaxSpareThreads 24
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule autoindex_module /usr/lib/apache2/modules/mod_autoindex.so
LoadModule env_module /usr/lib/apache2/modules/mod_env.so
LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so
TypesConfig /etc/mime.types
WSGIPythonPath $SRC
WSGISocketPrefix $D/run/wsgi
SSLSessionCache shmcb:$D/run/ssl_scache(512000)
<VirtualHost 127.0.0.1:$port>
SSLEngine on
SSLCertificateFile $D/ssl/server.crt
SSLCertificateKeyFile $D/ssl/server.key
SSLCACertificateFile $D/ssl/ca.crt
SSLVerifyDepth 10
Alias /kojihub $SRC/kojihub/app/kojiapp.py
<Directory "$SRC/kojihub/app">
    Options ExecCGI
    SetHandler wsgi-script
    SetEnv koji.hub.ConfigFile $D/etc/hub.conf
    SetEnv koji.hub.ConfigDir $D/etc/hub.conf.d
    WSGIApplicationGroup %{GLOBAL}
    WSGIScriptReloading Off
    Require all granted
</Directory>
<Location /kojihub/ssllogin>
    SSLVerifyClient require
    SSLVerifyDepth 10
    SSLOptions +StdEnvVars
</Location>
</VirtualHost>
# Koji's files (topurl), read-only over plain HTTP as hubs commonly serve them: mock's dnf reads the tag's
# repositories from here
<VirtualHost 127.0.0.1:$files>
Alias /kojifiles "$D/topdir/"
</VirtualHost>
<Directory "$D/topdir">
    Options Indexes SymLinksIfOwnerMatch
    Require all granted
</Directory>
HTTPD
  mkdir -p "$D/etc/hub.conf.d"
  pid_alive "$D/run/httpd.pid" || /usr/sbin/apache2 -f "$D/etc/httpd.conf" -k start
  local answer=""
  for _ in $(seq 100); do
    answer=$(curl -s --max-time 5 --cacert "$D/ssl/ca.crt" "https://localhost:$port/kojihub" \
      -d '<?xml version="1.0"?><methodCall><methodName>getAPIVersion</methodName><params/></methodCall>' || true)
    case "$answer" in *"<int>"*) return 0 ;; esac
    sleep 0.2
  done
  die "the hub does not answer on port $port (see $D/logs/httpd-error.log): ${answer:0:300}"
}

client_config() {  # a profile per user: admin (kojiadmin) and altai (the release user)
  local port files user profile
  port=$(cat "$D/port") files=$(cat "$D/files-port")
  : > "$D/client.conf"
  for profile in admin:kojiadmin altai:altai-release; do
    user=${profile#*:}
    cat >> "$D/client.conf" <<CONF
[${profile%%:*}]
server = https://localhost:$port/kojihub
weburl = https://localhost:$port/koji
topurl = http://127.0.0.1:$files/kojifiles
topdir = $D/topdir
authtype = ssl
cert = $D/ssl/$user.pem
serverca = $D/ssl/ca.crt
max_retries = 3
retry_interval = 2

CONF
  done
}

release_tags() {  # a release's tags on this hub: PREFIX-el6, its build tag PREFIX-el6-build, PREFIX-candidate
  local K="$KOJI -p admin" P=$1 group
  $K add-tag "$P-el6" >/dev/null 2>&1 || true
  $K add-tag "$P-el6-build" --parent "$P-el6" --arches "x86_64" >/dev/null 2>&1 || true
  $K add-tag-inheritance "$P-el6-build" altai-el6-base --priority 10 >/dev/null 2>&1 || true
  # mock on this host (../shared/MOCK-OFFLINE.md): the host's dnf installs the root, no bootstrap chroot;
  # the tag macros that make builds reproducible (as the project's own mock builder sets them, and as
  # docs/koji.md tells a hub's admin), our SRPMs built as they are (rebuild_srpm off); kojira regenerates
  # the build tag's repository when the tag changes
  $K edit-tag "$P-el6-build" -x repo.auto=True -x mock.package_manager=dnf -x mock.use_bootstrap=False \
    -x mock.releasever=6 -x rpm.macro.dist=.el6 -x rpm.macro._buildhost=altai-build \
    -x "rpm.macro.packager=Altai Release Team <release@altai.example>" \
    -x rpm.macro.use_source_date_epoch_as_buildtime=1 -x rpm.macro.clamp_mtime_to_source_date_epoch=1 \
    -x rpm.macro.source_date_epoch_from_changelog=1 -x rpm.macro._source_payload=w9.gzdio \
    -x rpm.macro._binary_payload=w9.gzdio -x rpm.macro._source_filedigest_algorithm=8 \
    -x rpm.macro._binary_filedigest_algorithm=8 -x rebuild_srpm=False >/dev/null
  for group in build srpm-build; do  # kojid's build roots: srpm-build rebuilds the SRPM, build builds it
    $K add-group "$P-el6-build" "$group" >/dev/null 2>&1 || true
    $K add-group-pkg "$P-el6-build" "$group" $(cat "$D/base/group") >/dev/null
  done
  $K add-target "$P-candidate" "$P-el6-build" "$P-el6" >/dev/null 2>&1 || true
  if [ "$($K call getRepo "$P-el6-build")" = None ]; then
    timeout 300 $K regen-repo --wait "$P-el6-build" >/dev/null || die "no repository of $P-el6-build"
  fi
  say "target $P-candidate: builds in $P-el6-build, tagged into $P-el6"
}

hub_setup() {  # once: users, the builder, the base
  [ -f "$D/.configured" ] && return 0
  local K="$KOJI -p admin"
  $K add-user altai-release >/dev/null 2>&1 || true
  $K add-user kojira >/dev/null 2>&1 || true
  $K grant-permission repo kojira >/dev/null 2>&1 || true
  $K add-host altai-builder x86_64 noarch >/dev/null 2>&1 || true
  $K add-host-to-channel altai-builder createrepo >/dev/null 2>&1 || true
  $K edit-host --capacity 8 altai-builder >/dev/null  # a build task waits on its subtasks: slots for both
  $K add-tag altai-el6-base >/dev/null 2>&1 || true
  $K add-pkg --owner altai-release altai-el6-base $(cat "$D/base/names") >/dev/null 2>&1 || true
  $K import --create-build "$D"/base/repo/*.rpm >/dev/null
  for rpm in "$D"/base/repo/*.rpm; do
    $K tag-build --nowait altai-el6-base "$(rpm -qp --qf '%{NAME}-%{VERSION}-%{RELEASE}' "$rpm" 2>/dev/null)" >/dev/null
  done
  touch "$D/.configured"
}

base() {  # the host-derived base the project's mock builder uses, made in the project's state directory, and
  # the shipped layout's [buildroot]: its stubs package (names taken on trust) and the packages every root gets
  [ -f "$D/base/names" ] && [ -s "$D/base/group" ] && return 0
  mkdir -p "$D/base/repo"
  local made
  made=$(cd "$ROOT" && ALTAI_STATE_DIR=${ALTAI_STATE_DIR:-$ROOT/.state} .venv/bin/python - <<'PY'
from pathlib import Path
from altai_release.builders.bases.hostroot import host_root
from altai_release.builders.bases.stubs import stubs_repo
from altai_release.layout.places import state_dir
from altai_release.layout import load_layout
layout = load_layout(Path("repo-layout/altai.toml"))
print(host_root(layout, state_dir(None)).shown[0] / "repo")
print(stubs_repo(layout, state_dir(None)) or "")
print(" ".join(layout.buildroot.packages))
PY
)
  local repo stubs extra
  { read -r repo; read -r stubs; read -r extra; } <<< "$made"
  cp "$repo"/*.rpm "$D/base/repo/"
  [ -n "$stubs" ] && cp "$stubs"/*.rpm "$D/base/repo/"
  for rpm in "$D"/base/repo/*.rpm; do rpm -qp --qf '%{NAME}\n' "$rpm" 2>/dev/null; done > "$D/base/names.part"
  # comps groups name packages, not what they provide: the base's packages that provide what mock's own
  # build roots install (buildsys-build redhat-rpm-config)
  for rpm in "$D"/base/repo/*.rpm; do
    rpm -qp --provides "$rpm" 2>/dev/null | grep -qE "^(buildsys-build|redhat-rpm-config${extra:+|${extra// /|}})( |\$)" &&
      rpm -qp --qf '%{NAME}\n' "$rpm" 2>/dev/null
  done > "$D/base/group"
  mv "$D/base/names.part" "$D/base/names"
}

client_cert() {  # a certificate of the private CA for Koji user $1 (a builder host is a user too)
  [ -f "$D/ssl/$1.pem" ] && return 0
  (
    cd "$D/ssl"
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 2>/dev/null
    cat "$1.crt" "$1.key" > "$1.pem" && chmod 600 "$1.key" "$1.pem"
  )
}

kojid_host() {  # kojid number $1 (host altai-builder, then altai-builder-2 ...), in a mount namespace of its own
  local n=$1 s="" host=altai-builder port py=/usr/bin/python3
  [ "$n" = 1 ] || { s="-$n"; host="altai-builder-$n"; }
  port=$(cat "$D/port")
  client_cert "$host"
  if [ "$n" != 1 ]; then
    $KOJI -p admin add-host "$host" x86_64 noarch >/dev/null 2>&1 || true
    $KOJI -p admin edit-host --capacity 8 "$host" >/dev/null
  fi
  local o="$D/overlay$s"
  mkdir -p "$D/kojid-work$s" "$D/mock$s" "$o/upper/mock/koji" "$o/work" "$o/bin-upper" "$o/bin-work"
  # mock's group, for kojid's setgroups before it runs mock (as root: mockuser = root), in the overlay only
  [ -f "$o/upper/group" ] || { cat /etc/group; echo "mock:x:135:"; } > "$o/upper/group"
  # kojid runs /usr/bin/mock (1.35 has no option for it): in kojid's namespace, /usr/bin is an overlay too,
  # whose `mock` is the confined one
  # the checkout's mock, as its tools/*.py name it (tools/_bootstrap.py), else the host's
  local mock_home=""
  if [ -f "$ROOT/.venv/mock/mock.json" ]; then mock_home="ALTAI_MOCK_HOME=$ROOT/.venv/mock"; fi
  cat > "$o/bin-upper/mock" <<MOCK
#!/bin/sh
cd "$ROOT" && exec env $mock_home "$ROOT/.venv/bin/python" -m altai_release.builders.kojimock "\$@"
MOCK
  chmod 755 "$o/bin-upper/mock"
  cat > "$D/etc/kojid/kojid$s.conf" <<CONF
[kojid]
sleeptime = 1
# a build task waits for its buildArch task on the same kojid: with a run's --jobs N in flight, maxjobs must
# leave room for their children, or every slot is a waiting parent and nothing builds
maxjobs = 32
minspace = 256
topdir = $D/topdir
workdir = $D/kojid-work$s
mockdir = $D/mock$s
mockuser = root
server = https://localhost:$port/kojihub
topurl = http://127.0.0.1:$(cat "$D/files-port")/kojifiles
cert = $D/ssl/$host.pem
serverca = $D/ssl/ca.crt
buildroot_basic_cleanup_delay = 5
log_level = INFO
CONF
  pid_alive "$D/run/kojid$s.pid" && return 0
  setsid unshare --mount --propagation private sh -c '
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc &&
    mount -t overlay overlay -o "lowerdir=/usr/bin,upperdir=$1/bin-upper,workdir=$1/bin-work" /usr/bin &&
    exec env KOJI_SRC="$2" ALTAI_KOJID_MOCKDIR="$5" ALTAI_KOJID_WORKDIR="$6" \
      ALTAI_KOJID_TOPDIR="$7" "$3" "$4/scripts/koji/kojid.py" --fg --force-lock -c "$8"
  ' private-kojid "$o" "$SRC" "$py" "$ROOT" "$D/mock$s" "$D/kojid-work$s" "$D/topdir" "$D/etc/kojid/kojid$s.conf" \
    > "$D/logs/kojid$s.out" 2>&1 < /dev/null &
  echo $! > "$D/run/kojid$s.pid"
}

daemons() {  # kojira, and ALTAI_KOJI_HOSTS kojid processes (1 unless said), each a builder host of its own
  local port py=/usr/bin/python3 n
  port=$(cat "$D/port")
  mkdir -p "$D/etc/kojid"
  cat > "$D/etc/kojira.conf" <<CONF
[kojira]
server = https://localhost:$port/kojihub
topdir = $D/topdir
logfile = $D/logs/kojira.log
sleeptime = 1
cert = $D/ssl/kojira.pem
serverca = $D/ssl/ca.crt
CONF
  if ! pid_alive "$D/run/kojira.pid"; then
    setsid env PYTHONPATH="$SRC" "$py" "$SRC/util/kojira" --fg --force-lock -c "$D/etc/kojira.conf" \
      > "$D/logs/kojira.out" 2>&1 < /dev/null &
    echo $! > "$D/run/kojira.pid"
  fi
  for n in $(seq "${ALTAI_KOJI_HOSTS:-1}"); do kojid_host "$n"; done
  sleep 2
  for daemon in kojira kojid; do
    pid_alive "$D/run/$daemon.pid" || { tail -5 "$D/logs/$daemon.out" >&2; die "$daemon did not start ($D/logs/$daemon.out)"; }
  done
}

up() {
  [ "$(id -u)" = 0 ] || die "needs root (PostgreSQL's and httpd's users, mock's user namespaces)"
  mkdir -p "$D"/{etc,logs,run,topdir/{packages,repos,work,scratch,repos-dist}}
  chmod 755 "$D"
  chown -R www-data: "$D/topdir"
  [ -f "$D/port" ] || free_port > "$D/port"
  [ -f "$D/files-port" ] || free_port > "$D/files-port"
  unpack
  certificates
  database
  httpd
  client_config
  base
  hub_setup
  daemons
  release_tags altai
  say "up: https://localhost:$(cat "$D/port")/kojihub ($D); client config $D/client.conf, profiles admin and altai"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  add-target) [[ "${2:-}" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || die "add-target PREFIX (lower case letters, digits, -)"
    release_tags "$2" ;;
  env) echo "ALTAI_KOJI_DIR=$D"; echo "KOJI_CONFIG=$D/client.conf"; echo "KOJI_PORT=$(cat "$D/port" 2>/dev/null)" ;;
  *) echo "usage: $0 up|down|env|add-target PREFIX" >&2; exit 2 ;;
esac
