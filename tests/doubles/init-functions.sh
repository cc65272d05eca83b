# FakeInitFunctions: a stand-in for EL's /etc/rc.d/init.d/functions (initscripts), which Debian lacks:
# daemon, killproc and status with EL's pid-file semantics and exit codes, nothing else.
_pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
_pid_of() { [ -f "$1" ] && read -r pid < "$1" && echo "$pid"; }
daemon() {
    pidfile=""
    while [ "${1#--}" != "$1" ]; do
        case "$1" in --pidfile) pidfile=$2; shift 2 ;; --user) shift 2 ;; *) shift ;; esac
    done
    pid=$(_pid_of "$pidfile"); _pid_alive "$pid" && return 0
    "$@"
}
killproc() {
    [ "$1" = "-p" ] && { pidfile=$2; shift 2; }
    pid=$(_pid_of "$pidfile"); _pid_alive "$pid" || { rm -f "$pidfile"; return 7; }
    kill -TERM "$pid"
    for _ in $(seq 100); do _pid_alive "$pid" || { rm -f "$pidfile"; return 0; }; sleep 0.1; done
    return 1
}
status() {
    [ "$1" = "-p" ] && { pidfile=$2; shift 2; }
    pid=$(_pid_of "$pidfile")
    if _pid_alive "$pid"; then echo "$1 (pid $pid) is running..."; return 0; fi
    if [ -f "$pidfile" ]; then echo "$1 dead but pid file exists"; return 1; fi
    echo "$1 is stopped"; return 3
}
