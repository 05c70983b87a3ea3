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
#   cached, cbridge
#             session and bridge on a second nginx, identical but for
#             "iamsmart_session_cache 10m valid=$CACHE_VALID" (the directive
#             is http-wide); it shares Redis and the secret, so the one
#             session cookie works on both
#
# Environment (defaults in brackets):
#   ROUNDS [5]        interleaved rounds
#   DURATION [5]      seconds per wrk run
#   THREADS [2]       wrk threads
#   CONNECTIONS [50]  wrk connections
#   WORKERS [1]       nginx worker processes (wrk and Redis need the rest
#                     of the machine), per nginx
#   CACHE_VALID [1s]  valid= of the cached cases
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
CACHE_VALID=${CACHE_VALID:-1s}
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
CACHE_PORT=$(free_port)
CACHE_BACKEND_PORT=$(free_port)
ports=$(printf '%s\n' "$PORT" "$BACKEND_PORT" "$REDIS_PORT" "$SANDBOX_PORT" \
        "$CACHE_PORT" "$CACHE_BACKEND_PORT" | sort -u | wc -l)
[[ $ports == 6 ]] || die "port collision, run again"

# ---- keys, Redis (no persistence needed here) and the sandbox ----

make_bench_keys pairwise
( umask 077; "$JOSE" keygen --kty EC --kid bench-1 >"$DIR/keys/signing.jwk" )
start_redis "$REDIS_PORT"
start_sandbox "$SANDBOX_PORT" "$CLIENT_ID" "$PORT"

# ---- nginx: one without the session cache, one with it ----

# gateway_conf PREFIX PORT BACKEND_PORT HTTP-LINE
gateway_conf() {
    nginx_conf_head "$1"
    printf '\n    %s\n' "$4"
    login_http_conf "$2" eidapi_auth
    cat <<EOF

    iamsmart_signing_key $DIR/keys/signing.jwk;
    iamsmart_issuer https://gateway.bench.invalid;
    iamsmart_department BENCH { audience https://bench.invalid; }
    iamsmart_department SIGN { audience https://bench.invalid; namespace BENCH; assertion_lifetime 1s; }
EOF
    # the backend's /show tells what it got
    backend_and_gateway_conf "$3" '
        location /show {
            default_type text/plain;
            return 200 "$http_x_iamsmart_subject $http_x_iamsmart_assertion\n";
        }' "$2"
    cat <<EOF
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
}

start_gateway_pair gateway_conf

# ---- log in once; sanity-check every location ----

COOKIE=$("$PYTHON" "$LOGIN" login "$URL/session/start") \
    || die "login through the sandbox failed (see $DIR)"
[[ $COOKIE == "$COOKIE_NAME="* ]] || die "no session cookie: $COOKIE"

for loc in plain session bridge sign; do
    [[ $(status -H "Cookie: $COOKIE" "$URL/$loc") == 200 ]] \
        || die "/$loc does not answer 200 with the session cookie"
done
for loc in session bridge; do
    [[ $(status -H "Cookie: $COOKIE" "$CACHE_URL/$loc") == 200 ]] \
        || die "the cached gateway's /$loc rejects the session cookie"
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
CACHE_WORKER_PIDS=$(pgrep -P "$CACHE_NGINX_PID" | tr '\n' ' ')
TICK=$(getconf CLK_TCK)

# One wrk run of a case ("cached", "cbridge": the cached gateway's
# /session and /bridge).
run_wrk() {
    case $1 in
    cached)  wrk_measure "$CACHE_URL/session" "$CACHE_WORKER_PIDS" ;;
    cbridge) wrk_measure "$CACHE_URL/bridge" "$CACHE_WORKER_PIDS" ;;
    *)       wrk_measure "$URL/$1" "$WORKER_PIDS" ;;
    esac
}

RESULTS=$DIR/results.txt
run_rounds run_wrk plain session bridge sign cached cbridge

grep -E '\[(alert|emerg)\]' "$DIR/error.log" "$DIR/cache/error.log" \
    && die "nginx logged alerts during the run"
# the session stayed valid all along (a 302 would have been a non-2xx)
[[ $(status -H "Cookie: $COOKIE" "$URL/bridge") == 200 ]] \
    || die "the session was lost during the run"

"$PYTHON" - "$RESULTS" "$TICK" "$TARGET" "$CACHE_VALID" <<'EOF'
import statistics
import sys

rows, cpu = {}, {}
tick_us = 1e6 / int(sys.argv[2])
target = float(sys.argv[3])
order = ("plain", "session", "bridge", "sign", "cached", "cbridge")
label = {"plain": "plain", "session": "session (no cache)",
         "bridge": "bridge (no cache)", "sign": "sign (no cache)",
         "cached": "session (cache valid=%s)" % sys.argv[4],
         "cbridge": "bridge (cache valid=%s)" % sys.argv[4]}
for line in open(sys.argv[1]):
    rnd, loc, rps, reqs, nticks, rticks = line.split()
    rows.setdefault(loc, []).append(float(rps))
    c = cpu.setdefault(loc, [0, 0, 0])
    c[0] += int(reqs)
    c[1] += int(nticks)
    c[2] += int(rticks)

plain = statistics.median(rows["plain"])
print()
print("%-25s %10s %10s %10s %9s   %s"
      % ("case", "median r/s", "min", "max", "vs plain", "rounds"))
for loc in order:
    v = rows[loc]
    med = statistics.median(v)
    print("%-25s %10.0f %10.0f %10.0f %8.1f%%   %s"
          % (label[loc], med, min(v), max(v), 100.0 * med / plain,
             " ".join("%.0f" % x for x in v)))
print()
print("CPU per request (all rounds): nginx worker(s) / redis-server")
us = {}
for loc in order:
    reqs, n, r = cpu[loc]
    us[loc] = n * tick_us / reqs
    print("  %-25s %6.1f us / %6.1f us"
          % (label[loc], us[loc], r * tick_us / reqs))
print()
for loc in ("bridge", "sign", "cbridge"):
    ratio = statistics.median(rows[loc]) / plain
    # per-round ratios: the cases of a round ran back to back
    per_round = [s / p for s, p in zip(rows[loc], rows["plain"])]
    note = ("target >= %.2f: %s" % (target, "met" if ratio >= target
                                    else "NOT met")) if loc != "sign" \
        else "(a signature on every request, for reference)"
    print("%s/plain ratio: %.3f (median of medians; per round: %s); %s"
          % (label[loc], ratio, " ".join("%.2f" % r for r in per_round),
             note))
    # steadier on a busy machine: what the worker's CPU alone allows
    print("%s/plain by worker CPU per request: %.3f"
          % (label[loc], us["plain"] / us[loc]))
EOF
