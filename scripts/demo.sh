#!/usr/bin/env bash
# The demo stack on loopback: Redis, a demo department backend, and nginx with
# the iamsmart module on 127.0.0.1:8080.  Run by `make demo` after the build.
#
#   scripts/demo.sh            start everything, print a token and two curl
#                              lines, wait for Ctrl-C, then stop everything
#   DEMO_CHECK=1 scripts/demo.sh
#                              start, run the two requests, stop (a smoke test)
#
# Ports (all on 127.0.0.1): DEMO_PORT (8080), DEMO_BACKEND_PORT (9080),
# DEMO_REDIS_PORT (6380).  Files live in a temporary directory that is
# removed at exit (DEMO_KEEP=1 keeps it).
#
# Adding a component (the iAM Smart sandbox, a login page): write a
# start_<name> function that starts it in the background, records its pid
# with `track_pid`, and drops nginx snippets into $DEMO_DIR/demo.d/
# (*.conf inside the server block, *.http at http level); then call it from
# main before start_nginx.  Everything tracked is stopped on exit.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
MODULE=$BUILD/ngx_http_iamsmart_module.so
JOSE=$BUILD/bin/iamsmart-jose
NGINX=${NGINX:-/usr/sbin/nginx}
REDIS=${REDIS:-/usr/bin/redis-server}
PYTHON=/usr/bin/python3

PORT=${DEMO_PORT:-8080}
BACKEND_PORT=${DEMO_BACKEND_PORT:-9080}
REDIS_PORT=${DEMO_REDIS_PORT:-6380}

DEMO_DIR=""
PIDS=()            # "name:pid" for each started process, stopped in reverse
NGINX_PID=""
SLEEP_PID=""

log() { printf 'demo: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

track_pid() { PIDS+=("$1:$2"); }

# Stops one pid: the given signal, then SIGKILL after a few seconds.
stop_pid() {
    local pid=$1 sig=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        # a zombie child counts as stopped; wait collects it below
        [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$? entry i
    trap - EXIT INT TERM
    if [[ -n $SLEEP_PID ]]; then
        kill "$SLEEP_PID" 2>/dev/null || true
    fi
    if [[ -z $NGINX_PID && -n $DEMO_DIR && -s $DEMO_DIR/nginx.pid ]]; then
        NGINX_PID=$(cat "$DEMO_DIR/nginx.pid")
    fi
    if [[ -n $NGINX_PID ]]; then
        stop_pid "$NGINX_PID" QUIT
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        entry=${PIDS[$i]}
        stop_pid "${entry#*:}" TERM
    done
    if [[ -n $DEMO_DIR ]]; then
        # 130/143: stopped by Ctrl-C or SIGTERM, the normal way out
        if [[ -n ${DEMO_KEEP:-} ]] \
            || [[ $status -ne 0 && $status -ne 130 && $status -ne 143 ]]; then
            log "files kept in $DEMO_DIR"
        else
            rm -rf "$DEMO_DIR"
        fi
    fi
    log "stopped"
    exit "$status"
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
    local port=$1 name=$2 pid=${3:-} i
    for i in $(seq 100); do
        if ! port_free "$port"; then return 0; fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            die "$name exited before 127.0.0.1:$port opened"
        fi
        sleep 0.1
    done
    die "$name did not open 127.0.0.1:$port"
}

check_prerequisites() {
    [[ -f $MODULE ]] || die "$MODULE missing: run make"
    [[ -x $JOSE ]] || die "$JOSE missing: run make"
    local p
    for p in "$PORT" "$BACKEND_PORT" "$REDIS_PORT"; do
        port_free "$p" || die "127.0.0.1:$p is in use (set DEMO_*PORT)"
    done
}

make_dir() {
    DEMO_DIR=$(mktemp -d /tmp/iamsmart-demo.XXXXXX)
    # nginx workers run unprivileged when started as root
    chmod 755 "$DEMO_DIR"
    mkdir -p "$DEMO_DIR/keys" "$DEMO_DIR/demo.d" "$DEMO_DIR/redis"
}

start_redis() {
    "$REDIS" --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
        --appendonly yes --dir "$DEMO_DIR/redis" --daemonize no \
        --logfile "$DEMO_DIR/redis/redis.log" </dev/null &
    track_pid redis $!
    wait_port "$REDIS_PORT" redis-server $!
    log "redis on 127.0.0.1:$REDIS_PORT"
}

start_backend() {
    "$PYTHON" "$ROOT/tests/integration/backend.py" --port "$BACKEND_PORT" \
        --name demo-department </dev/null >"$DEMO_DIR/backend.log" 2>&1 &
    track_pid backend $!
    wait_port "$BACKEND_PORT" backend $!
    log "demo backend (echo) on 127.0.0.1:$BACKEND_PORT"
}

make_keys() {
    "$JOSE" keygen --kty EC --kid demo-ec-1 >"$DEMO_DIR/keys/demo-ec.jwk"
    chmod 600 "$DEMO_DIR/keys/demo-ec.jwk"
    "$JOSE" pubkey --jwk "$DEMO_DIR/keys/demo-ec.jwk" \
        >"$DEMO_DIR/keys/demo.jwks"
    chmod 644 "$DEMO_DIR/keys/demo.jwks"
}

make_token() {
    local now claims
    now=$(date +%s)
    claims='{"iss":"https://gateway.demo.invalid","aud":"demo-department",'
    claims+='"sub":"demo-citizen-001","name":"CHAN, Tai Man",'
    claims+="\"iat\":$now,\"exp\":$((now + 3600))}"
    printf '%s' "$claims" \
        | "$JOSE" sign --jwk "$DEMO_DIR/keys/demo-ec.jwk" --alg ES256
}

start_nginx() {
    sed -e "s|@MODULE@|$MODULE|g" -e "s|@DIR@|$DEMO_DIR|g" \
        -e "s|@PORT@|$PORT|g" -e "s|@BACKEND_PORT@|$BACKEND_PORT|g" \
        -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
        "$ROOT/config/demo/nginx.conf.template" >"$DEMO_DIR/nginx.conf"
    "$NGINX" -p "$DEMO_DIR/" -c "$DEMO_DIR/nginx.conf" -t -q \
        || die "nginx -t failed for $DEMO_DIR/nginx.conf"
    "$NGINX" -p "$DEMO_DIR/" -c "$DEMO_DIR/nginx.conf"
    local i
    for i in $(seq 100); do
        [[ -s $DEMO_DIR/nginx.pid ]] && break
        sleep 0.05
    done
    NGINX_PID=$(cat "$DEMO_DIR/nginx.pid")
    wait_port "$PORT" nginx "$NGINX_PID"
    log "nginx (master pid $NGINX_PID) on 127.0.0.1:$PORT"
}

check_requests() {
    local token=$1 ok denied
    ok=$(curl -s -o /dev/null -w '%{http_code}' \
        -H "Authorization: Bearer $token" "http://127.0.0.1:$PORT/api/hello")
    denied=$(curl -s -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$PORT/api/hello")
    log "with the token: $ok, without: $denied"
    [[ $ok == 200 && $denied == 401 ]]
}

main() {
    check_prerequisites
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    make_dir
    start_redis
    start_backend
    make_keys
    start_nginx

    local token
    token=$(make_token)

    cat <<EOF

  iAM Smart gateway demo on http://127.0.0.1:$PORT  (files: $DEMO_DIR)

  A bearer token signed by iamsmart-jose with the demo key (ES256, 1 hour):

  TOKEN=$token

  This request passes; the echo backend shows what the gateway forwarded:

  curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$PORT/api/hello

  This one gets 401 with a WWW-Authenticate challenge:

  curl -si http://127.0.0.1:$PORT/api/hello

EOF
    if [[ -n ${DEMO_CHECK:-} ]]; then
        check_requests "$token" || die "demo check failed"
        log "demo check passed"
        return 0
    fi
    log "press Ctrl-C to stop"
    while true; do
        sleep 3600 &
        SLEEP_PID=$!
        wait "$SLEEP_PID" || true
    done
}

main "$@"
