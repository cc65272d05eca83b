#!/bin/bash
# A real Koji hub on loopback, for checking --builder koji by hand (see README.md beside this file):
# PostgreSQL on a unix socket, httpd + mod_ssl + mod_wsgi serving koji's own kojihub, kojira, and kojid
# (builder.py) whose mock build root is replaced by rpmbuild. Needs root, Debian's postgresql, apache2,
# libapache2-mod-wsgi-py3, python3-{psycopg2,requests,dateutil,defusedxml,cheetah,librepo,six,dnf,rpm},
# createrepo-c, and koji's source in $KOJI_SRC (fetch koji-project/koji).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)  # before any cd: builder.py is beside this script
R=${REALHUB:-/tmp/realhub} SRC=${KOJI_SRC:-/tmp/kojisrc}
if [ ! -f "$SRC/kojihub/app/kojiapp.py" ]; then
  echo "setup: no koji source in $SRC; get it with: git clone --branch koji-1.35.3 https://pagure.io/koji.git $SRC" >&2
  exit 1
fi
mkdir -p $R/pgsock $R/ssl $R/logs /mnt/koji/{packages,repos,work,scratch,repos-dist}
chown -R www-data: /mnt/koji
# PostgreSQL
if [ ! -d $R/pg ]; then
  mkdir -p $R/pg && chown postgres: $R/pg $R/pgsock
  su postgres -c "/usr/lib/postgresql/15/bin/initdb -D $R/pg -A trust -U postgres" >/dev/null
fi
chown postgres: $R/pgsock
su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D $R/pg -l $R/pg/server.log -o '-k $R/pgsock -c listen_addresses=' -w start" >/dev/null
P="psql -h $R/pgsock -U postgres -v ON_ERROR_STOP=1 -q"
if ! $P -lqt | cut -d'|' -f1 | grep -qw koji; then
  $P -c "CREATE ROLE koji LOGIN" -c "CREATE DATABASE koji OWNER koji"
  psql -h $R/pgsock -U koji -d koji -v ON_ERROR_STOP=1 -q -f $SRC/schemas/schema.sql >/dev/null
  # the first admin, as server_howto says (perm 1 = admin); the others log in by certificate
  psql -h $R/pgsock -U koji -d koji -q -c "INSERT INTO users (name, status, usertype) VALUES ('kojiadmin', 0, 0)" \
    -c "INSERT INTO user_perms (user_id, perm_id, creator_id) VALUES ((SELECT id FROM users WHERE name='kojiadmin'), 1, (SELECT id FROM users WHERE name='kojiadmin'))"
fi
# certificates: a CA, the server (localhost) and one client each (CN = the koji user)
cd $R/ssl
if [ ! -f ca.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=realhub CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 -extfile san.ext 2>/dev/null
  for u in kojiadmin altai-release kojibuilder kojira; do
    openssl req -newkey rsa:2048 -nodes -keyout $u.key -out $u.csr -subj "/CN=$u" 2>/dev/null
    openssl x509 -req -in $u.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $u.crt -days 30 2>/dev/null
    cat $u.crt $u.key > $u.pem
  done
fi
mkdir -p /etc/koji-hub
cat > /etc/koji-hub/hub.conf <<HUB
[hub]
DBName = koji
DBUser = koji
DBHost = $R/pgsock
KojiDir = /mnt/koji
DNUsernameComponent = CN
ProxyPrincipals =
LoginCreatesUser = On
KojiWebURL = https://localhost:8443/koji
DisableNotifications = True
CheckClientIP = False
RunInterval = 5

[policy]
build_from_srpm =
    user altai-release :: allow
    has_perm admin :: allow
    all :: deny
HUB
cat > $R/httpd.conf <<HTTPD
ServerRoot /etc/apache2
PidFile $R/httpd.pid
Listen 127.0.0.1:8443
User www-data
Group www-data
ErrorLog $R/logs/error.log
LogLevel warn
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 4
MaxSpareThreads 32
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
WSGISocketPrefix $R/wsgi
SSLEngine on
SSLCertificateFile $R/ssl/server.crt
SSLCertificateKeyFile $R/ssl/server.key
SSLCACertificateFile $R/ssl/ca.crt
SSLVerifyDepth 10
Alias /kojihub $SRC/kojihub/app/kojiapp.py
<Directory "$SRC/kojihub/app">
    Options ExecCGI
    SetHandler wsgi-script
    WSGIApplicationGroup %{GLOBAL}
    WSGIScriptReloading Off
    Require all granted
</Directory>
Alias /kojifiles "/mnt/koji/"
<Directory "/mnt/koji">
    Options Indexes SymLinksIfOwnerMatch
    Require all granted
</Directory>
<Location /kojihub/ssllogin>
    SSLVerifyClient require
    SSLVerifyDepth 10
    SSLOptions +StdEnvVars
</Location>
HTTPD
chmod -R a+rX $SRC
/usr/sbin/apache2 -f $R/httpd.conf -k start 2>/dev/null
sleep 1
answer=$(curl -s --cacert $R/ssl/ca.crt https://localhost:8443/kojihub \
  -d '<?xml version="1.0"?><methodCall><methodName>getAPIVersion</methodName><params/></methodCall>' || true)
case "$answer" in
  *"<int>"*) ;;
  *) echo "setup: the hub does not answer (see $R/logs/error.log): $answer" >&2; exit 1 ;;
esac
# kojira (repositories from the request queue) and kojid, with their configurations
mkdir -p /etc/kojid /etc/kojira /etc/mock/koji /var/lib/mock $R/kojid-work
cat > /etc/kojid/kojid.conf <<CONF
[kojid]
sleeptime = 2
maxjobs = 4
topdir = /mnt/koji
workdir = $R/kojid-work
server = https://localhost:8443/kojihub
topurl = https://localhost:8443/kojifiles
cert = $R/ssl/kojibuilder.pem
serverca = $R/ssl/ca.crt
CONF
cat > /etc/kojira/kojira.conf <<CONF
[kojira]
server = https://localhost:8443/kojihub
topdir = /mnt/koji
logfile = $R/logs/kojira.log
sleeptime = 3
cert = $R/ssl/kojira.pem
serverca = $R/ssl/ca.crt
CONF
mkdir -p ~/.koji/config.d
cat > ~/.koji/config.d/realhub.conf <<CONF
[realhub-admin]
server = https://localhost:8443/kojihub
weburl = https://localhost:8443/koji
topurl = https://localhost:8443/kojifiles
authtype = ssl
cert = $R/ssl/kojiadmin.pem
serverca = $R/ssl/ca.crt

[altai]
server = https://localhost:8443/kojihub
weburl = https://localhost:8443/koji
topurl = https://localhost:8443/kojifiles
authtype = ssl
cert = $R/ssl/altai-release.pem
serverca = $R/ssl/ca.crt
CONF
K="${KOJI:-koji} -p realhub-admin"
if ! $K list-hosts --quiet | grep -q kojibuilder; then
  $K add-host kojibuilder x86_64 noarch && $K add-host-to-channel kojibuilder createrepo
  $K add-user kojira && $K grant-permission repo kojira
fi
PYTHONPATH=$SRC nohup /usr/bin/python3 $SRC/util/kojira --fg --force-lock > $R/logs/kojira.out 2>&1 &
kojira=$!
REQUESTS_CA_BUNDLE=$R/ssl/ca.crt KOJI_SRC=$SRC nohup /usr/bin/python3 "$HERE/builder.py" --fg --force-lock \
  > $R/logs/kojid.out 2>&1 &
kojid=$!
sleep 3  # each logs in, then polls: one that failed to start is gone by now
for daemon in kojira kojid; do
  if ! kill -0 "${!daemon}" 2>/dev/null; then
    echo "setup: $daemon did not start; its output, $R/logs/$daemon.out:" >&2
    tail -5 "$R/logs/$daemon.out" >&2
    exit 1
  fi
done
echo "hub: https://localhost:8443/kojihub; kojira (pid $kojira) and kojid (pid $kojid) running; logs in $R/logs"
