#!/usr/bin/env bash
# Bridging cost: requests/s of a location with "iamsmart_bridge" (session
# lookup in Redis, pairwise subject, a signed ES256 assertion, identity
# headers rebuilt) with a valid session cookie, against a plain proxy
# location, both in front of the same cheap backend (an nginx server block
# that returns 200).  Not a test: it prints a table and the ratio (target:
# bridge >= 0.70 x plain).
#
#   bench/bridge.sh                   (after `make`; needs wrk, redis-server)
#
# It starts its own Redis, the iAM Smart sandbox and nginx, all on
# loopback, logs in once with the scripted browser of the integration tests
# (tests/integration/login_support.py) to get a session cookie, then runs
# wrk with that Cookie header on every location, in interleaved rounds so
# that drift hits all of them alike.  Besides the ratio of median
# requests/s it prints the ratio of the worker CPU time per request, which
# holds steadier when other work shares the machine.
#
# Cases, each run once per round:
#   plain     proxy_pass only
#   session   iamsmart_auth on (the session check alone, for reference)
#   bridge    iamsmart_bridge, assertion_lifetime 60s: each worker reuses
#             the assertion of a session while half its lifetime remains,
#             as in production
#   sign      iamsmart_bridge, assertion_lifetime 1s: a fresh signature on
#             every request (the worst case, for reference)
#
# Environment (defaults in brackets):
#   ROUNDS [5]        interleaved rounds
#   DURATION [5]      seconds per wrk run
#   THREADS [2]       wrk threads
#   CONNECTIONS [50]  wrk connections
#   WORKERS [1]       nginx worker processes (wrk and Redis need the rest
#                     of the machine)
#   KEEP=1            keep the temporary directory (configs, logs, keys)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOSE=$ROOT/build/bin/iamsmart-jose
PYTHON=/usr/bin/python3
LOGIN=$ROOT/tests/integration/login_support.py

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
WORKERS=${WORKERS:-1}
CLIENT_ID=bench-bridge
COOKIE_NAME=iamsmart_session
TARGET=0.70

. "$ROOT/bench/lib/common.sh"

[[ -f $MODULE ]] || die "$MODULE missing: run make"
[[ -x $JOSE ]] || die "$JOSE missing: run make"
command -v wrk >/dev/null || die "wrk missing (apt-get install wrk)"

bench_setup bridge

PORT=$(free_port)
BACKEND_PORT=$(free_port)
REDIS_PORT=$(free_port)
SANDBOX_PORT=$(free_port)
ports=$(printf '%s\n' "$PORT" "$BACKEND_PORT" "$REDIS_PORT" "$SANDBOX_PORT" \
        | sort -u | wc -l)
[[ $ports == 4 ]] || die "port collision, run again"

# ---- keys, Redis (no persistence needed here) and the sandbox ----

make_bench_keys pairwise
( umask 077; "$JOSE" keygen --kty EC --kid bench-1 >"$DIR/keys/signing.jwk" )
start_redis "$REDIS_PORT"
start_sandbox "$SANDBOX_PORT" "$CLIENT_ID" "$PORT"

# ---- nginx ----

{ nginx_conf_head; cat <<EOF

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
    iamsmart_redirect_uri http://127.0.0.1:$PORT/iamsmart/callback;
    iamsmart_scopes eidapi_auth;

    iamsmart_signing_key $DIR/keys/signing.jwk;
    iamsmart_issuer https://gateway.bench.invalid;
    iamsmart_department BENCH { audience https://bench.invalid; }
    iamsmart_department SIGN { audience https://bench.invalid; namespace BENCH; assertion_lifetime 1s; }

    # the backend: as cheap as nginx can answer; /show tells what it got
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location / {
            return 200 "ok\n";
        }
        location /show {
            default_type text/plain;
            return 200 "\$http_x_iamsmart_subject \$http_x_iamsmart_assertion\n";
        }
    }

    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$PORT;
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
        location /plain {
            proxy_pass http://backend;
        }
        location /session {
            iamsmart_auth on;
            proxy_pass http://backend;
        }
        location /bridge {
            iamsmart_bridge BENCH;
            proxy_pass http://backend;
        }
        location /sign {
            iamsmart_bridge SIGN;
            proxy_pass http://backend;
        }
        location /show {
            iamsmart_bridge BENCH;
            proxy_pass http://backend;
        }
    }
}
EOF
} >"$DIR/nginx.conf"
start_nginx "$PORT"

URL=http://127.0.0.1:$PORT

# ---- log in once; sanity-check every location ----

COOKIE=$("$PYTHON" "$LOGIN" login "$URL/session/start") \
    || die "login through the sandbox failed (see $DIR)"
[[ $COOKIE == "$COOKIE_NAME="* ]] || die "no session cookie: $COOKIE"

for loc in plain session bridge sign; do
    [[ $(status -H "Cookie: $COOKIE" "$URL/$loc") == 200 ]] \
        || die "/$loc does not answer 200 with the session cookie"
done
[[ $(status "$URL/bridge") == 302 ]] \
    || die "/bridge does not redirect without a cookie"
show=$(curl -s -H "Cookie: $COOKIE" "$URL/show")
read -r sub assertion <<<"$show"
[[ ${#sub} == 43 && $assertion == *.*.* ]] \
    || die "/show: no subject and assertion: $show"
"$JOSE" pubkey --jwk "$DIR/keys/signing.jwk" >"$DIR/keys/public.jwks"
printf '%s' "$assertion" | "$JOSE" jwt --jwks "$DIR/keys/public.jwks" \
    --iss https://gateway.bench.invalid --aud https://bench.invalid \
    >/dev/null || die "the assertion does not verify"

WORKER_PIDS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
TICK=$(getconf CLK_TCK)

# One wrk run; prints "requests/s requests nginx-ticks redis-ticks", or
# fails when any response was not 2xx.
run_wrk() {
    local path=$1 out n0 r0 n1 r1 reqs
    n0=$(cpu_ticks $WORKER_PIDS) r0=$(cpu_ticks "$REDIS_PID")
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        -H "Cookie: $COOKIE" "$URL$path" 2>&1) \
        || die "wrk failed: $out"
    n1=$(cpu_ticks $WORKER_PIDS) r1=$(cpu_ticks "$REDIS_PID")
    if grep -q 'Non-2xx' <<<"$out"; then
        die "non-2xx responses on $path: $out"
    fi
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    printf '%s %s %s %s\n' \
        "$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")" "$reqs" \
        $((n1 - n0)) $((r1 - r0))
}

CASES=(plain session bridge sign)
RESULTS=$DIR/results.txt
: >"$RESULTS"

printf 'bench: %d rounds x %d cases x %ss, wrk -t%d -c%d, nginx workers %d\n' \
    "$ROUNDS" "${#CASES[@]}" "$DURATION" "$THREADS" "$CONNECTIONS" \
    "$WORKERS" >&2
for round in $(seq "$ROUNDS"); do
    for loc in "${CASES[@]}"; do
        read -r rps reqs nticks rticks < <(run_wrk "/$loc")
        printf '%s %s %s %s %s %s\n' "$round" "$loc" "$rps" "$reqs" \
            "$nticks" "$rticks" >>"$RESULTS"
        printf 'bench: round %d %-8s %12s req/s\n' "$round" "$loc" "$rps" >&2
    done
done

grep -E '\[(alert|emerg)\]' "$DIR/error.log" \
    && die "nginx logged alerts during the run"
# the session stayed valid all along (a 302 would have been a non-2xx)
[[ $(status -H "Cookie: $COOKIE" "$URL/bridge") == 200 ]] \
    || die "the session was lost during the run"

"$PYTHON" - "$RESULTS" "$TICK" "$TARGET" <<'EOF'
import statistics
import sys

rows, cpu = {}, {}
tick_us = 1e6 / int(sys.argv[2])
target = float(sys.argv[3])
order = ("plain", "session", "bridge", "sign")
for line in open(sys.argv[1]):
    rnd, loc, rps, reqs, nticks, rticks = line.split()
    rows.setdefault(loc, []).append(float(rps))
    c = cpu.setdefault(loc, [0, 0, 0])
    c[0] += int(reqs)
    c[1] += int(nticks)
    c[2] += int(rticks)

plain = statistics.median(rows["plain"])
print()
print("%-8s %12s %12s %12s %10s   %s"
      % ("location", "median r/s", "min", "max", "vs plain", "rounds"))
for loc in order:
    v = rows[loc]
    med = statistics.median(v)
    print("%-8s %12.0f %12.0f %12.0f %9.1f%%   %s"
          % (loc, med, min(v), max(v), 100.0 * med / plain,
             " ".join("%.0f" % x for x in v)))
print()
print("CPU per request (all rounds): nginx worker(s) / redis-server")
us = {}
for loc in order:
    reqs, n, r = cpu[loc]
    us[loc] = n * tick_us / reqs
    print("  %-8s %6.1f us / %6.1f us" % (loc, us[loc], r * tick_us / reqs))
print()
for loc in ("bridge", "sign"):
    ratio = statistics.median(rows[loc]) / plain
    # per-round ratios: the cases of a round ran back to back
    per_round = [s / p for s, p in zip(rows[loc], rows["plain"])]
    note = ("target >= %.2f: %s" % (target, "met" if ratio >= target
                                    else "NOT met")) if loc == "bridge" \
        else "(a signature on every request, for reference)"
    print("%s/plain ratio: %.3f (median of medians; per round: %s); %s"
          % (loc, ratio, " ".join("%.2f" % r for r in per_round), note))
    # steadier on a busy machine: what the worker's CPU alone allows
    print("%s/plain by worker CPU per request: %.3f"
          % (loc, us["plain"] / us[loc]))
EOF
