# Shared by bench/*.sh (sourced after they set ROOT and PYTHON): the run
# directory and its cleanup, ports, process start and stop, CPU ticks.
#
#   bench_setup NAME     creates $DIR (/tmp/iamsmart-bench-NAME.*) and traps
#                        EXIT/INT/TERM: on exit nginx ($DIR/nginx.pid) gets
#                        QUIT, every pid given to track_pid gets TERM (last
#                        started first), and $DIR is removed unless KEEP is
#                        set or the run failed.
#   track_pid PID        stops PID at exit.
#   free_port            a port that was free on 127.0.0.1 a moment ago.
#   wait_port PORT PID WHAT
#                        waits until 127.0.0.1:PORT accepts; dies when PID
#                        died first.
#   nginx_conf_head [PREFIX]
#                        the main and events contexts and the start of the
#                        http block that every bench's nginx.conf shares
#                        (pid, logs and temp files in PREFIX, default $DIR).
#   start_nginx PORT [PREFIX]
#                        checks and starts PREFIX/nginx.conf (default $DIR);
#                        sets NGINX_PID for $DIR's and tracks any other (a
#                        second instance with another http-level setting);
#                        either way STARTED_PID is the new master's pid.
#   start_redis PORT     a Redis without persistence; tracked.
#   start_sandbox PORT CLIENT_ID GATEWAY_PORT
#                        the iAM Smart sandbox approving every login as
#                        chan-tai-man, with keys from make_bench_keys; tracked.
#   make_bench_keys [SECRET-LINE...]
#                        the platform's client secret and KEK and the
#                        gateway's secret file (a "current" key plus the
#                        given lines, e.g. "pairwise") in $DIR/keys.
#   cpu_ticks PID...     user + system clock ticks of the pids, summed.
#   status CURL-ARGS...  the HTTP status code of one curl request.

NGINX=${NGINX:-/usr/sbin/nginx}
REDIS=${REDIS:-/usr/bin/redis-server}
MODULE=${MODULE:-$ROOT/build/ngx_http_iamsmart_module.so}
NGINX_PID=""
BENCH_PIDS=()

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

stop_pid() {
    local pid=$1 sig=$2 i
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

track_pid() { BENCH_PIDS+=("$1"); }

bench_cleanup() {
    local status=$? i
    trap - EXIT INT TERM
    if [[ -z $NGINX_PID && -s $DIR/nginx.pid ]]; then
        NGINX_PID=$(cat "$DIR/nginx.pid")
    fi
    stop_pid "$NGINX_PID" QUIT
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${BENCH_PIDS[$i]}" TERM
    done
    wait 2>/dev/null || true
    if [[ -n ${KEEP:-} || $status -ne 0 ]]; then
        printf 'bench: files kept in %s\n' "$DIR" >&2
    else
        rm -rf "$DIR"
    fi
    exit "$status"
}

bench_setup() {
    DIR=$(mktemp -d "/tmp/iamsmart-bench-$1.XXXXXX")
    chmod 755 "$DIR"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
    local port=$1 pid=$2 what=$3 i
    for i in $(seq 150); do
        if "$PYTHON" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" \
            2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "$what died (see $DIR)"
        sleep 0.1
    done
    die "$what did not listen on $port"
}

nginx_conf_head() {
    local p=${1:-$DIR}
    cat <<EOF
load_module $MODULE;
daemon on;
master_process on;
worker_processes $WORKERS;
pid $p/nginx.pid;
lock_file $p/nginx.lock;
error_log $p/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $p/client_body_temp;
    proxy_temp_path $p/proxy_temp;
    fastcgi_temp_path $p/fastcgi_temp;
    uwsgi_temp_path $p/uwsgi_temp;
    scgi_temp_path $p/scgi_temp;
    keepalive_requests 100000;
EOF
}

start_nginx() {
    local port=$1 p=${2:-$DIR}
    "$NGINX" -p "$p/" -c "$p/nginx.conf" -t -q || die "nginx -t failed"
    "$NGINX" -p "$p/" -c "$p/nginx.conf"
    for _ in $(seq 100); do [[ -s $p/nginx.pid ]] && break; sleep 0.05; done
    STARTED_PID=$(cat "$p/nginx.pid")
    if [[ $p == "$DIR" ]]; then
        NGINX_PID=$STARTED_PID
    else
        track_pid "$STARTED_PID"
    fi
    wait_port "$port" "$STARTED_PID" nginx
}

start_redis() {
    local port=$1
    [[ -x $REDIS ]] || die "redis-server missing (apt-get install redis-server)"
    "$REDIS" --bind 127.0.0.1 --port "$port" --save "" \
        --appendonly no --dir "$DIR" --daemonize no \
        --logfile "$DIR/redis.log" &
    REDIS_PID=$!
    track_pid "$REDIS_PID"
    wait_port "$port" "$REDIS_PID" redis-server
}

make_bench_keys() {
    local line
    mkdir -p "$DIR/keys"
    "$PYTHON" "$ROOT/tests/sandbox/make_keys.py" "$DIR/keys" >/dev/null
    ( umask 077
      { printf 'current %s\n' "$(head -c 32 /dev/urandom | base64)"
        for line in "$@"; do
            printf '%s %s\n' "$line" "$(head -c 32 /dev/urandom | base64)"
        done; } >"$DIR/keys/gateway_secret" )
}

start_sandbox() {
    local port=$1 client_id=$2 gateway_port=$3 pid
    "$PYTHON" "$ROOT/tests/sandbox/iamsmart_sandbox.py" --host 127.0.0.1 \
        --port "$port" --client-id "$client_id" \
        --client-secret-file "$DIR/keys/client_secret" \
        --kek-cert-or-pubkey "$DIR/keys/kek_public.pem" \
        --redirect-uri "http://127.0.0.1:$gateway_port/iamsmart/callback" \
        --auto-approve chan-tai-man >"$DIR/sandbox.log" 2>&1 &
    pid=$!
    track_pid "$pid"
    wait_port "$port" "$pid" sandbox
}

cpu_ticks() {
    local pid total=0 f
    for pid in "$@"; do
        f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        f=${f##*) }                      # fields after "(comm) "
        set -- $f
        total=$((total + ${12} + ${13}))  # utime, stime (fields 14, 15)
    done
    echo "$total"
}

status() {
    curl -s -o /dev/null -w '%{http_code}' "$@"
}

# ---- a login gateway in front of a cheap backend, with and without the
#      session cache (session.sh, bridge.sh) ----

# The http-level iamsmart lines of a gateway on port $1 logging in through
# the sandbox with scopes $2; needs REDIS_PORT, SANDBOX_PORT, CLIENT_ID and
# COOKIE_NAME.
login_http_conf() {
    cat <<EOF2
    iamsmart_redis 127.0.0.1:$REDIS_PORT;
    iamsmart_redis_timeout 500ms;
    iamsmart_secret_file $DIR/keys/gateway_secret;
    iamsmart_session_cookie $COOKIE_NAME;
    iamsmart_session_timeout 30m 8h;
    iamsmart_platform_url http://127.0.0.1:$SANDBOX_PORT;
    iamsmart_platform_api /_iamsmart_api;
    iamsmart_client_id $CLIENT_ID;
    iamsmart_client_secret_file $DIR/keys/client_secret;
    iamsmart_kek_file $DIR/keys/kek_private.pem;
    iamsmart_redirect_uri http://127.0.0.1:$1/iamsmart/callback;
    iamsmart_scopes $2;
EOF2
}

# The backend on port $1 (as cheap as nginx can answer; $2: more
# locations), the "backend" upstream, and the gateway server's first
# lines on port $3 up to its own locations: the platform API and the
# callback.
backend_and_gateway_conf() {
    cat <<EOF2

    server {
        listen 127.0.0.1:$1;
        location / {
            return 200 "ok\n";
        }$2
    }

    upstream backend {
        server 127.0.0.1:$1;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$3;
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        location /_iamsmart_api/ {
            internal;
            proxy_pass http://127.0.0.1:$SANDBOX_PORT/;
            subrequest_output_buffer_size 64k;
        }
        location = /iamsmart/callback {
            iamsmart_callback;
        }
EOF2
}

# Starts the gateway the function named $1 writes (gateway_conf PREFIX
# PORT BACKEND_PORT HTTP-LINE) twice: on PORT without the session cache
# and on CACHE_PORT with it (valid=CACHE_VALID).  Sets URL, CACHE_URL,
# CACHE_NGINX_PID.
start_gateway_pair() {
    "$1" "$DIR" "$PORT" "$BACKEND_PORT" "" >"$DIR/nginx.conf"
    start_nginx "$PORT"
    mkdir -p "$DIR/cache"
    "$1" "$DIR/cache" "$CACHE_PORT" "$CACHE_BACKEND_PORT" \
        "iamsmart_session_cache 10m valid=$CACHE_VALID;" \
        >"$DIR/cache/nginx.conf"
    start_nginx "$CACHE_PORT" "$DIR/cache"
    CACHE_NGINX_PID=$STARTED_PID
    URL=http://127.0.0.1:$PORT
    CACHE_URL=http://127.0.0.1:$CACHE_PORT
}

# One wrk run on URL $1 with the session cookie, measuring the CPU of the
# pids in $2; prints "requests/s requests nginx-ticks redis-ticks", or
# fails when any response was not 2xx.
wrk_measure() {
    local url=$1 pids=$2 out n0 r0 n1 r1 reqs
    n0=$(cpu_ticks $pids) r0=$(cpu_ticks "$REDIS_PID")
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        -H "Cookie: $COOKIE" "$url" 2>&1) \
        || die "wrk failed: $out"
    n1=$(cpu_ticks $pids) r1=$(cpu_ticks "$REDIS_PID")
    if grep -q 'Non-2xx' <<<"$out"; then
        die "non-2xx responses on $url: $out"
    fi
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    printf '%s %s %s %s\n' \
        "$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")" "$reqs" \
        $((n1 - n0)) $((r1 - r0))
}

# ROUNDS interleaved rounds of the cases $2..., each measured by the
# function named $1 (given the case); lines "round case r/s requests
# nginx-ticks redis-ticks" go to RESULTS.
run_rounds() {
    local measure=$1 round loc rps reqs nticks rticks
    shift
    : >"$RESULTS"
    printf 'bench: %d rounds x %d cases x %ss, wrk -t%d -c%d, nginx workers %d\n' \
        "$ROUNDS" "$#" "$DURATION" "$THREADS" "$CONNECTIONS" "$WORKERS" >&2
    for round in $(seq "$ROUNDS"); do
        for loc in "$@"; do
            read -r rps reqs nticks rticks < <("$measure" "$loc")
            printf '%s %s %s %s %s %s\n' "$round" "$loc" "$rps" "$reqs" \
                "$nticks" "$rticks" >>"$RESULTS"
            printf 'bench: round %d %-8s %12s req/s\n' "$round" "$loc" \
                "$rps" >&2
        done
    done
}
