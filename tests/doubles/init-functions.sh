# FakeInitFunctions: a stand-in for EL6's /etc/rc.d/init.d/functions (initscripts 9.03, which Debian lacks),
# doing what its own source does where the init scripts rely on it (rc.d/init.d/functions at
# initscripts-9.03.10-1, fedora-sysv/initscripts): daemon; killproc [-p PIDFILE] [-d DELAY] PROGRAM: TERM,
# 0.1 s, and while the process lives: sleep 1, sleep DELAY (3 unless -d; EL6 sleeps it whole, it does
# not poll), then KILL; the pid file removed; 0 when the process is gone (or was not running), 1 when it
# outlived the KILL; status [-p PIDFILE] [-l LOCK] PROGRAM: 0 running, 1 dead but pid file exists,
# 2 dead but subsys locked, 3 stopped. Their variables are local, as in initscripts: the caller's stay its own.
SUBSYS_DIR="${SUBSYS_DIR:-/var/lock/subsys}"
# checkpid: /proc/PID exists. A zombie counts as gone here: EL6's init reaps a daemon at once, this machine's
# pid 1 about a second later, which would make every stop wait out its whole delay.
_pid_alive() {
    local stat
    [ -n "$1" ] && [ -d "/proc/$1" ] || return 1
    read -r stat < "/proc/$1/stat" 2>/dev/null || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}
_pid_of() { local pid; [ -f "$1" ] && read -r pid < "$1" && _pid_alive "$pid" && echo "$pid"; }
daemon() {
    local pidfile="" pid
    while [ "${1#--}" != "$1" ]; do
        case "$1" in --pidfile) pidfile=$2; shift 2 ;; --user) shift 2 ;; *) shift ;; esac
    done
    pid=$(_pid_of "$pidfile") && return 0
    "$@"
}
killproc() {
    local pidfile="" delay=3 base pid rc
    [ "$1" = "-p" ] && { pidfile=$2; shift 2; }
    [ "$1" = "-d" ] && { delay=$2; shift 2; }
    base=${1##*/}
    pid=$(_pid_of "$pidfile")
    rc=0
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        sleep 0.1
        if _pid_alive "$pid" && sleep 1 && _pid_alive "$pid" && sleep "$delay" && _pid_alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null
            sleep 0.1
        fi
        _pid_alive "$pid" && rc=1
    fi
    rm -f "${pidfile:-/run/$base.pid}"
    return $rc
}
status() {
    local pidfile="" lockfile="" base pid
    [ "$1" = "-p" ] && { pidfile=$2; shift 2; }
    [ "$1" = "-l" ] && { lockfile=$2; shift 2; }
    base=${1##*/}
    if pid=$(_pid_of "$pidfile"); then echo "$base (pid $pid) is running..."; return 0; fi
    if [ -f "$pidfile" ]; then echo "$base dead but pid file exists"; return 1; fi
    if [ -f "$SUBSYS_DIR/${lockfile:-$base}" ]; then echo "$base dead but subsys locked"; return 2; fi
    echo "$base is stopped"; return 3
}
