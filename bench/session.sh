#!/usr/bin/env bash
# Session check cost: requests/s of a location behind "iamsmart_auth on"
# with a valid session cookie (one Redis GET per request, the sealed record
# opened and checked) against a plain proxy location, both in front of the
# same cheap backend (an nginx server block that returns 200).  Not a test:
# it prints a table and the ratio (target: session >= 0.75 x plain).
#
# Cases, each run once per round:
#   plain     proxy_pass only
#   session   iamsmart_auth on, no session cache (one GET per request)
#   cached    the same location on a second nginx, identical but for
#             "iamsmart_session_cache 10m valid=$CACHE_VALID" (the directive
#             is http-wide); it shares Redis and the secret, so the one
#             session cookie works on both
#
#   bench/session.sh                  (after `make`; needs wrk, redis-server)
#
# It starts its own Redis, the iAM Smart sandbox and nginx, all on
# loopback, logs in once with the scripted browser of the integration tests
# (tests/integration/login_support.py) to get a session cookie, then runs
# wrk with that Cookie header on both locations, in interleaved rounds so
# that drift hits both alike.
#
# Environment (defaults in brackets):
#   ROUNDS [5]        interleaved rounds; each runs both cases once
#   DURATION [5]      seconds per wrk run
#   THREADS [2]       wrk threads
#   CONNECTIONS [50]  wrk connections
#   WORKERS [1]       nginx worker processes (wrk and Redis need the rest
#                     of the machine), per nginx
#   CACHE_VALID [1s]  valid= of the cached case
#   KEEP=1            keep the temporary directory (configs, logs, keys)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=/usr/bin/python3
LOGIN=$ROOT/tests/integration/login_support.py

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
WORKERS=${WORKERS:-1}
CACHE_VALID=${CACHE_VALID:-1s}
CLIENT_ID=bench-session
COOKIE_NAME=iamsmart_session

. "$ROOT/bench/lib/common.sh"

[[ -f $MODULE ]] || die "$MODULE missing: run make"
command -v wrk >/dev/null || die "wrk missing (apt-get install wrk)"

bench_setup session

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

make_bench_keys
start_redis "$REDIS_PORT"
start_sandbox "$SANDBOX_PORT" "$CLIENT_ID" "$PORT"

# ---- nginx: one without the session cache, one with it ----

# gateway_conf PREFIX PORT BACKEND_PORT HTTP-LINE
gateway_conf() {
    nginx_conf_head "$1"
    printf '\n    %s\n' "$4"
    login_http_conf "$2" "eidapi_auth eidapi_profiles"
    backend_and_gateway_conf "$3" "" "$2"
    cat <<EOF
        location /plain {
            proxy_pass http://backend;
        }
        location /session {
            iamsmart_auth on;
            proxy_set_header Connection "";
            proxy_set_header X-OpenID \$iamsmart_openid;
            proxy_pass http://backend;
        }
    }
}
EOF
}

start_gateway_pair gateway_conf

# ---- log in once; sanity-check both locations ----

COOKIE=$("$PYTHON" "$LOGIN" login "$URL/session/start") \
    || die "login through the sandbox failed (see $DIR)"
[[ $COOKIE == "$COOKIE_NAME="* ]] || die "no session cookie: $COOKIE"

[[ $(status -H "Cookie: $COOKIE" "$URL/session") == 200 ]] \
    || die "/session rejects the session cookie (see $DIR/error.log)"
[[ $(status "$URL/session") == 302 ]] \
    || die "/session does not redirect without a cookie"
[[ $(status -H "Cookie: $COOKIE" "$URL/plain") == 200 ]] \
    || die "/plain does not answer"
[[ $(status -H "Cookie: $COOKIE" "$CACHE_URL/session") == 200 ]] \
    || die "the cached gateway rejects the session cookie"

WORKER_PIDS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
CACHE_WORKER_PIDS=$(pgrep -P "$CACHE_NGINX_PID" | tr '\n' ' ')
TICK=$(getconf CLK_TCK)

# One wrk run of a case (the cached gateway's /session for "cached").
run_wrk() {
    if [[ $1 == cached ]]; then
        wrk_measure "$CACHE_URL/session" "$CACHE_WORKER_PIDS"
    else
        wrk_measure "$URL/$1" "$WORKER_PIDS"
    fi
}

RESULTS=$DIR/results.txt
run_rounds run_wrk plain session cached

grep -E '\[(alert|emerg)\]' "$DIR/error.log" "$DIR/cache/error.log" \
    && die "nginx logged alerts during the run"
# the session stayed valid all along (a 302 would have been a non-2xx)
[[ $(status -H "Cookie: $COOKIE" "$URL/session") == 200 ]] \
    || die "the session was lost during the run"

"$PYTHON" - "$RESULTS" "$TICK" "$CACHE_VALID" <<'EOF'
import statistics
import sys

rows, cpu = {}, {}
tick_us = 1e6 / int(sys.argv[2])
order = ("plain", "session", "cached")
label = {"plain": "plain", "session": "session (no cache)",
         "cached": "session (cache valid=%s)" % sys.argv[3]}
for line in open(sys.argv[1]):
    rnd, loc, rps, reqs, nticks, rticks = line.split()
    rows.setdefault(loc, []).append(float(rps))
    c = cpu.setdefault(loc, [0, 0, 0])
    c[0] += int(reqs)
    c[1] += int(nticks)
    c[2] += int(rticks)

plain = statistics.median(rows["plain"])
print()
print("%-26s %10s %10s %10s %9s   %s"
      % ("case", "median r/s", "min", "max", "vs plain", "rounds"))
for loc in order:
    v = rows[loc]
    med = statistics.median(v)
    print("%-26s %10.0f %10.0f %10.0f %8.1f%%   %s"
          % (label[loc], med, min(v), max(v), 100.0 * med / plain,
             " ".join("%.0f" % x for x in v)))
print()
print("CPU per request (all rounds): nginx worker(s) / redis-server")
for loc in order:
    reqs, n, r = cpu[loc]
    print("  %-26s %6.1f us / %6.1f us" % (label[loc], n * tick_us / reqs,
                                            r * tick_us / reqs))
print()
for loc in ("session", "cached"):
    ratio = statistics.median(rows[loc]) / plain
    # per-round ratios: the cases of a round ran back to back
    per_round = [s / p for s, p in zip(rows[loc], rows["plain"])]
    print("%s/plain ratio: %.3f (median of medians; per round: %s); "
          "target >= 0.75: %s"
          % (label[loc], ratio, " ".join("%.2f" % r for r in per_round),
             "met" if ratio >= 0.75 else "NOT met"))
EOF
