# Shared by install.sh and uninstall.sh (sourced, not run): fixed paths and small helpers.
# shellcheck shell=bash disable=SC2034

STATE_DIR=/var/lib/ovs-docker
EMBEDDED_OVS_DIR=$STATE_DIR/ovs
DRIVER_BIN=/usr/local/bin/ovs-driver
LIBEXEC_DIR=/usr/local/libexec/ovs-docker
ENV_FILE=/etc/default/ovs-driver
UNIT_DIR=/etc/systemd/system
PLUGIN_DIR=/run/docker/plugins
SYSTEM_OVS_DIR=/var/run/openvswitch
DRIVER_PIDFILE=$STATE_DIR/ovs-driver.pid
DRIVER_LOG=$STATE_DIR/ovs-driver.log
DOCKERD_PIDFILE=$STATE_DIR/dockerd.pid
DOCKERD_LOG=$STATE_DIR/dockerd.log

# The value of KEY in environment file FILE (its last line for KEY, without the quotes systemd
# and the shell would remove), or DEFAULT when it has none.
env_file_setting() {
    local file=$1 key=$2 default=$3 value=
    [[ -r $file ]] && value=$(sed -n "s/^$key=//p" "$file" | tail -n 1)
    if [[ $value == \"*\" || $value == \'*\' ]] && [[ ${#value} -ge 2 ]]; then
        value=${value:1:${#value}-2}
    fi
    if [[ -n $value ]]; then echo "$value"; else echo "$default"; fi
}

# Prints environment file FILE with the settings given as KEY=VALUE: a key's line is replaced
# where it stands, keys it lacks are appended, and every other line (an administrator's own
# settings and comments) is kept as it is. With no FILE yet, HEADER comes first.
env_file_with() {
    local file=$1 header=$2 pair line key
    shift 2
    local -A wanted=() written=()
    for pair; do wanted[${pair%%=*}]=$pair; done
    if [[ -r $file ]]; then
        while IFS= read -r line || [[ -n $line ]]; do
            key=${line%%=*}
            if [[ $line == *=* && $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ && -n ${wanted[$key]+set} ]]; then
                [[ -n ${written[$key]+set} ]] || printf '%s\n' "${wanted[$key]}"
                written[$key]=1
            else
                printf '%s\n' "$line"
            fi
        done <"$file"
    else
        printf '%s\n' "$header"
    fi
    for pair; do
        key=${pair%%=*}
        [[ -n ${written[$key]+set} ]] || printf '%s\n' "$pair"
    done
}

# The plugin name, as installed (an administrator may have changed it in the environment file).
PLUGIN_NAME=$(env_file_setting "$ENV_FILE" OVS_DRIVER_PLUGIN_NAME ovs)
PLUGIN_SOCKET=$PLUGIN_DIR/$PLUGIN_NAME.sock

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

require_root() {
    [[ $EUID -eq 0 ]] || die "run this as root (sudo $0)"
}

# True when systemd manages this machine (the test sd_booted() uses).
systemd_is_init() {
    [[ -d /run/systemd/system ]] && [[ $(cat /proc/1/comm 2>/dev/null) == systemd ]]
}

# Prints the pid from a pid file when it names a live process whose command line mentions $2.
live_pid() {
    local pidfile=$1 pattern=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
    echo "$pid"
}

# True while process $1 exists and has not exited (a zombie has).
process_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# Sends SIGTERM to the process in a pid file, waits up to $3 seconds, then SIGKILL.
stop_pidfile() {
    local pidfile=$1 pattern=$2 grace=${3:-20} pid
    if pid=$(live_pid "$pidfile" "$pattern"); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq $((grace * 10))); do
            process_alive "$pid" || break
            sleep 0.1
        done
        if process_alive "$pid"; then
            warn "pid $pid did not stop within ${grace}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

# Polls a command until it succeeds or $1 seconds pass.
wait_for() {
    local seconds=$1
    shift
    for _ in $(seq $((seconds * 5))); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}
