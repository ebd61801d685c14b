#!/usr/bin/env bash
# A local single-node OpenSearch 2.19 for development, tests and CI, assembled from the
# official artifacts on Maven Central (no Docker, no tarball). See README.md beside this file.
#
#   node.sh start|stop|status|build [--port N] [--dir DIR] [--data DIR] [--heap SIZE]
#
# start   builds the launcher if needed, starts the node in the background, waits for
#         /_cluster/health to be yellow or green and prints its URL (only the URL goes to
#         stdout, so `url=$(node.sh start)` works). Already running and healthy: exit 0.
# stop    SIGTERM, then SIGKILL after OPENSEARCH_STOP_TIMEOUT seconds; waits for the port.
# status  prints the cluster health; exit 0 healthy, 1 running but not healthy, 3 not running.
# build   only builds (CI can do it before the clock starts for the tests).
#
# Options (and the environment variables they override):
#   --port N     OPENSEARCH_PORT            HTTP port, default 9200; 0 picks a free one
#   --dir DIR    OPENSEARCH_NODE_DIR        node state: pid, logs, home; default work/ here
#   --data DIR   OPENSEARCH_DATA            path.data, default DIR/data
#   --heap SIZE  OPENSEARCH_HEAP            -Xms/-Xmx, default 1g
#                OPENSEARCH_START_TIMEOUT   seconds to wait for health, default 120
#                OPENSEARCH_STOP_TIMEOUT    seconds before SIGKILL, default 45
#                OPENSEARCH_JAVA_OPTS       extra JVM flags
#                JAVA_HOME                  the JDK (17 or newer) for java and mvn
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
launcher="$here/launcher"
build="$here/work/build"
main_class="dev.pipectl.localnode.LocalNode"

port="${OPENSEARCH_PORT:-9200}"
node_dir="${OPENSEARCH_NODE_DIR:-$here/work}"
data_dir="${OPENSEARCH_DATA:-}"
heap="${OPENSEARCH_HEAP:-1g}"
start_timeout="${OPENSEARCH_START_TIMEOUT:-120}"
stop_timeout="${OPENSEARCH_STOP_TIMEOUT:-45}"
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

say() { echo "node.sh: $*" >&2; }
die() { say "$*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
command="$1"
shift
while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) port="${2:?--port needs a value}"; shift 2 ;;
        --dir) node_dir="${2:?--dir needs a value}"; shift 2 ;;
        --data) data_dir="${2:?--data needs a value}"; shift 2 ;;
        --heap) heap="${2:?--heap needs a value}"; shift 2 ;;
        -h|--help) usage ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done
[[ "$port" =~ ^[0-9]+$ && "$port" -le 65535 ]] || die "port must be 0..65535, got: $port"
[[ "$heap" =~ ^[0-9]+[kKmMgG]$ ]] || die "heap must look like 512m or 1g, got: $heap"

mkdir -p "$node_dir"
node_dir="$(cd "$node_dir" && pwd)"
data_dir="${data_dir:-$node_dir/data}"
mkdir -p "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"
pid_file="$node_dir/node.pid"
port_file="$node_dir/http.port"
log_dir="$node_dir/logs"
log_file="$log_dir/node.log"
home="$node_dir/home"

# --- process and health probes ---------------------------------------------------------

# The pid in the pid file, if that process is alive and really is our launcher (a pid
# recycled by an unrelated process must not be signalled or reported as the node).
running_pid() {
    local pid
    [[ -f "$pid_file" ]] || return 1
    pid="$(cat "$pid_file" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$main_class" || return 1
    echo "$pid"
}

bound_port() { [[ -f "$port_file" ]] && cat "$port_file"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

health() { curl -sf --max-time 5 "http://127.0.0.1:$1/_cluster/health"; }

healthy() { health "$1" 2>/dev/null | grep -Eq '"status":"(green|yellow)"'; }

log_tail() {
    say "last lines of $log_file:"
    tail -n 40 "$log_file" >&2 2>/dev/null || true
}

# --- build -----------------------------------------------------------------------------

# The launcher and its dependencies are rebuilt only when the pom, the sources or the
# logging config change: the stamp holds their hash.
source_hash() {
    (cd "$here" && find launcher/pom.xml launcher/src config -type f -print0 | sort -z \
        | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

build_if_needed() {
    mkdir -p "$build"
    # Concurrent starts (parallel test runs) must not build over each other.
    exec 9>"$build/.lock"
    flock 9
    local hash
    hash="$(source_hash)"
    if [[ -f "$build/stamp" && "$(cat "$build/stamp")" == "$hash" ]]; then
        exec 9>&-
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (Maven is needed to fetch OpenSearch)"
    say "building the launcher with Maven (a first build downloads ~80 MB into ~/.m2) ..."
    rm -rf "$build/target" "$build/lib" "$build/stamp"
    if ! mvn -q -B -Dstyle.color=never -f "$launcher/pom.xml" -Dlauncher.buildDir="$build/target" \
        compile dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$build/lib" >"$build/mvn.log" 2>&1; then
        tail -n 40 "$build/mvn.log" >&2
        die "launcher build failed (whole output: $build/mvn.log)"
    fi
    echo "$hash" >"$build/stamp"
    exec 9>&-
}

# --- commands --------------------------------------------------------------------------

cmd_status() {
    local pid p
    if ! pid="$(running_pid)"; then
        echo "not running"
        return 3
    fi
    p="$(bound_port || true)"
    if [[ -n "$p" ]] && health "$p"; then
        echo
        healthy "$p" && return 0
    else
        echo "running (pid $pid) but not answering on port ${p:-?}"
    fi
    return 1
}

wait_healthy() {
    local pid="$1" deadline=$((SECONDS + start_timeout)) p
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$pid_file" "$port_file"
            say "the node exited during start-up"
            log_tail
            return 1
        fi
        p="$(bound_port || true)"
        if [[ -n "$p" ]] && healthy "$p"; then
            echo "http://127.0.0.1:$p"
            return 0
        fi
        sleep 1
    done
    say "no yellow/green /_cluster/health within ${start_timeout}s; stopping it"
    log_tail
    stop_pid "$pid"
    return 1
}

cmd_start() {
    local pid p
    if pid="$(running_pid)"; then
        p="$(bound_port || true)"
        if [[ -n "$p" && "$port" != 0 && "$p" != "$port" ]]; then
            die "a node for $node_dir already runs on port $p (pid $pid); stop it first"
        fi
        if [[ -n "$p" ]] && healthy "$p"; then
            say "already running and healthy (pid $pid)"
            echo "http://127.0.0.1:$p"
            return 0
        fi
        say "already starting (pid $pid); waiting for it"
        wait_healthy "$pid"
        return
    fi
    rm -f "$pid_file" "$port_file"
    if [[ "$port" != 0 ]] && port_in_use "$port"; then
        die "port $port is in use by another process (try --port 0 for a free one)"
    fi
    command -v curl >/dev/null || die "curl not found (needed to probe the node's health)"
    "$java" -version >/dev/null 2>&1 || die "no java at '$java' (set JAVA_HOME to a JDK 17+)"

    build_if_needed

    mkdir -p "$home/config" "$home/modules" "$home/plugins" "$log_dir" "$node_dir/tmp"
    cp "$here/config/log4j2.properties" "$home/config/"
    [[ -f "$log_file" ]] && mv -f "$log_file" "$log_file.1"

    local jvm_opts=(
        "-Xms$heap" "-Xmx$heap" -Xss1m
        -XX:+UseG1GC
        # An OOM leaves a node in an unknown state: exit so the caller sees it died.
        -XX:+ExitOnOutOfMemoryError
        -XX:-OmitStackTraceInFastThrow
        "-XX:ErrorFile=$log_dir/hs_err_pid%p.log"
        "-Djava.io.tmpdir=$node_dir/tmp"
        -Djava.awt.headless=true
        -Dfile.encoding=UTF-8
        # The system properties a distribution's launcher sets for the same code.
        -Djava.locale.providers=SPI,COMPAT
        -Djna.nosys=true
        -Dio.netty.noUnsafe=true
        -Dio.netty.noKeySetOptimization=true
        -Dio.netty.recycler.maxCapacityPerThread=0
        -Dlog4j.shutdownHookEnabled=false
        -Dlog4j2.disable.jmx=true
        # Several nodes (or netty users) in one machine must not fight over this setting.
        -Dopensearch.set.netty.runtime.available.processors=false
        "-Dpipectl.node.portfile=$port_file"
    )
    # shellcheck disable=SC2206 # word splitting of the user's extra flags is intended
    jvm_opts+=(${OPENSEARCH_JAVA_OPTS:-})

    say "starting OpenSearch (port $port, data $data_dir, heap $heap, log $log_file)"
    setsid "$java" "${jvm_opts[@]}" -cp "$build/target/classes:$build/lib/*" "$main_class" \
        "-Epath.home=$home" "-Epath.data=$data_dir" "-Epath.logs=$log_dir" \
        "-Ehttp.port=$port" </dev/null >>"$log_file" 2>&1 &
    pid=$!
    echo "$pid" >"$pid_file"
    wait_healthy "$pid"
}

stop_pid() {
    local pid="$1" p deadline
    p="$(bound_port || true)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + stop_timeout))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
        say "still running after ${stop_timeout}s; killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
    if [[ -n "$p" && "$p" != 0 ]]; then
        deadline=$((SECONDS + 15))
        while port_in_use "$p" && ((SECONDS < deadline)); do sleep 0.5; done
        port_in_use "$p" && die "pid $pid is gone but port $p is still in use"
    fi
    rm -f "$pid_file" "$port_file"
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$pid_file" "$port_file"
        say "not running"
        return 0
    fi
    say "stopping pid $pid"
    stop_pid "$pid"
    say "stopped"
}

case "$command" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    build) build_if_needed; say "launcher built in $build" ;;
    -h|--help|help) usage ;;
    *) die "unknown command: $command (start|stop|status|build)" ;;
esac
