#!/usr/bin/env bash
# Consented data exchange: what the gateway adds to a department backend's
# own time, and how many exchanges per second it serves with one and with
# three source departments.  Not a test: it prints a table.
#
#   bench/exchange.sh                 (after `make`; needs wrk, redis-server)
#
# Everything runs on loopback: Redis, the iAM Smart sandbox, one department
# sandbox process per department (tests/sandbox/departments/server.py),
# the gateway (nginx with the module and the TD, ImmD, RVD and REO
# adapters).  tests/integration/exchange_support.py `serve` sets it up: a
# scripted citizen logs in, links their pairwise subjects at the
# departments and grants TD a consent (no use limit) for the RVD rates
# account, the REO voter particulars and TD's own licence.  Then, with wrk
# and bench/lib/exchange.lua (POST body plus "Authorization: Bearer" with
# TD's signed credential):
#
#   latency, 1 connection:   each department backend called directly with
#                            the very request its adapter makes (from
#                            `iamsmart-adapter request`), and the exchange
#                            of 1 data set (RVD) and of 3 (RVD, REO, TD)
#   rate, CONNECTIONS:       the same exchanges, and the RVD backend alone
#
# Added latency = exchange p50/p99 minus the backend's p50/p99 at one
# connection; for three sources, minus the slowest of the three backends
# (the gateway calls them at the same time).  The figures are medians over
# ROUNDS interleaved rounds.  Every exchange is real: JWT check, consent
# read, atomic use count, the adapters, one audit record per source in the
# JSON-lines file and the Redis stream (trimmed between runs, so memory
# stays flat).
#
# Environment (defaults in brackets):
#   ROUNDS [3]        interleaved rounds
#   DURATION [5]      seconds per wrk run
#   THREADS [1]       wrk threads for the rate runs
#   CONNECTIONS [16]  wrk connections for the rate runs
#   WORKERS [1]       nginx worker processes
#   FSYNC [everysec]  Redis appendfsync; "always" is the production setting
#                     for acknowledged consent (docs/consent.md) and makes
#                     every use count and audit write wait for the disk
#   KEEP=1            keep the temporary directory (logs, config, audit)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=/usr/bin/python3
LIB=$ROOT/bench/lib
SUPPORT=$ROOT/tests/integration/exchange_support.py

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-16}
WORKERS=${WORKERS:-1}
FSYNC=${FSYNC:-everysec}

. "$ROOT/bench/lib/common.sh"

[[ -f $ROOT/build/ngx_http_iamsmart_module.so ]] \
    || die "build/ngx_http_iamsmart_module.so missing: run make"
for a in adapters/td.so adapters/immd.so adapters/reo.so adapters/jsonmap.so \
         adapters/rvd.json bin/iamsmart-adapter; do
    [[ -f $ROOT/build/$a ]] || die "build/$a missing: run make"
done
command -v wrk >/dev/null || die "wrk missing (apt-get install wrk)"
command -v curl >/dev/null || die "curl missing"
[[ $FSYNC == always || $FSYNC == everysec ]] || die "FSYNC: always or everysec"

bench_setup exchange

printf 'bench: starting redis, the sandboxes and the gateway...\n' >&2
"$PYTHON" "$SUPPORT" serve "$DIR/stack" --workers "$WORKERS" \
    --fsync "$FSYNC" >"$DIR/serve.log" 2>&1 &
SERVE_PID=$!
track_pid "$SERVE_PID"
for _ in $(seq 600); do
    [[ -s $DIR/stack/stack.json ]] && break
    kill -0 "$SERVE_PID" 2>/dev/null \
        || die "the stack did not start: $(tail -30 "$DIR/serve.log")"
    sleep 0.1
done
[[ -s $DIR/stack/stack.json ]] || die "the stack did not start in 60 s"

# run name -> "port path request-file token-file-or-empty"
declare -A RUN
while read -r name port path req tok; do
    RUN[$name]="$port $path $req $tok"
done < <("$PYTHON" - "$DIR/stack/stack.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
for name, c in s["cases"].items():
    print(name, c["port"], c["path"], c["request"],
          s["token"] if c["token"] else "")
EOF
)
STACK=$DIR/stack
REDIS_PORT=$("$PYTHON" -c 'import json, sys
print(json.load(open(sys.argv[1]))["redis_port"])' "$STACK/stack.json")
AUDIT_FILE=$STACK/nginx/audit.jsonl

# Sanity: every backend answers, and the exchanges release every data set
# with no errors.
request_body() { sed '1,/^$/d' "$1"; }
request_headers() {
    local line
    while IFS= read -r line && [[ -n $line ]]; do
        printf -- '-H\n%s\n' "$line"
    done <"$1"
}
call() {
    local name=$1 port path req tok args=()
    read -r port path req tok <<<"${RUN[$name]}"
    mapfile -t args < <(request_headers "$req")
    if [[ -n $tok ]]; then
        args+=(-H "Authorization: Bearer $(head -n1 "$tok")")
    fi
    curl -s -w '\n%{http_code}' "${args[@]}" \
        --data-binary "$(request_body "$req")" "http://127.0.0.1:$port$path"
}
for name in direct-rvd direct-reo direct-td exchange-1 exchange-3; do
    out=$(call "$name")
    [[ ${out##*$'\n'} == 200 ]] || die "$name answered: $out"
done
"$PYTHON" - "$(call exchange-3 | sed '$d')" <<'EOF' \
    || die "exchange-3 did not release all three data sets"
import json, sys
a = json.loads(sys.argv[1])
assert sorted(a["items"]) == ["reo.voter_particulars", "rvd.rates_account",
                              "td.driving_licence"] and not a["errors"], a
EOF

# CPU time (clock ticks, user + system) of the nginx workers so far.
NGINX_MASTER=$(cat "$STACK/nginx/nginx.pid")
worker_ticks() {
    cpu_ticks $(pgrep -P "$NGINX_MASTER")
}
TICK=$(getconf CLK_TCK)

# One wrk run: prints "rps p50_us p99_us worker_cpu_us_per_request"; fails
# on any non-2xx answer or socket error.
run_wrk() {
    local name=$1 threads=$2 conns=$3 port path req tok out line t0 t1 n
    local files=()
    read -r port path req tok <<<"${RUN[$name]}"
    files=("$req")
    [[ -n $tok ]] && files+=("$tok")
    t0=$(worker_ticks)
    out=$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" -s "$LIB/exchange.lua" \
        "http://127.0.0.1:$port$path" -- "${files[@]}" 2>&1) \
        || die "wrk failed on $name: $out"
    t1=$(worker_ticks)
    line=$(grep '^RESULT ' <<<"$out") || die "no result from wrk: $out"
    if ! grep -q 'status_errors=0 socket_errors=0' <<<"$line"; then
        die "$name: errors: $line"
    fi
    # keep Redis and the audit file from growing over the runs
    "$PYTHON" - "$REDIS_PORT" <<'EOF' >/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*4\r\n$5\r\nXTRIM\r\n$17\r\niamsmart:audit:v1\r\n"
          b"$6\r\nMAXLEN\r\n$1\r\n0\r\n")
s.recv(100)
EOF
    : >"$AUDIT_FILE"
    n=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
    line=$(sed -E \
        's/.*rps=([0-9.]+) p50_us=([0-9]+) p99_us=([0-9]+).*/\1 \2 \3/' \
        <<<"$line")
    printf '%s %d\n' "$line" \
        $(( (t1 - t0) * 1000000 / TICK / (n > 0 ? n : 1) ))
}

RESULTS=$DIR/results.txt
: >"$RESULTS"
LATENCY_CASES=(direct-rvd direct-reo direct-td exchange-1 exchange-3)
RATE_CASES=(direct-rvd exchange-1 exchange-3)

# Warm-up at full concurrency: nginx opens its kept-alive connections to
# the backends here.  (The Python backends listen with a backlog of 5, so
# a burst of new connections can lose SYNs and wait a second for the
# retransmission; that belongs to the test backends, not to the gateway.)
printf 'bench: warming up\n' >&2
DURATION=2 run_wrk exchange-3 "$THREADS" "$CONNECTIONS" >/dev/null
DURATION=1 run_wrk exchange-1 "$THREADS" "$CONNECTIONS" >/dev/null
printf 'bench: %d rounds, %ss per run; latency at 1 connection, rate at ' \
    "$ROUNDS" "$DURATION" >&2
printf 'wrk -t%d -c%d; nginx workers %d, appendfsync %s\n' "$THREADS" \
    "$CONNECTIONS" "$WORKERS" "$FSYNC" >&2
for round in $(seq "$ROUNDS"); do
    for name in "${LATENCY_CASES[@]}"; do
        printf 'latency %s %s\n' "$name" "$(run_wrk "$name" 1 1)" \
            >>"$RESULTS"
    done
    for name in "${RATE_CASES[@]}"; do
        printf 'rate %s %s\n' "$name" \
            "$(run_wrk "$name" "$THREADS" "$CONNECTIONS")" >>"$RESULTS"
    done
    printf 'bench: round %d of %d done\n' "$round" "$ROUNDS" >&2
done

"$PYTHON" - "$RESULTS" "$ROUNDS" "$CONNECTIONS" "$WORKERS" "$FSYNC" <<'EOF'
import statistics
import sys

path, rounds, conns, workers, fsync = sys.argv[1:]
runs = {}
for line in open(path):
    mode, name, rps, p50, p99, cpu = line.split()
    runs.setdefault((mode, name), []).append((float(rps), int(p50),
                                               int(p99), int(cpu)))


def med(mode, name, i):
    return statistics.median(r[i] for r in runs[(mode, name)])


def ms(us):
    return "%.2f" % (us / 1000.0)


label = {
    "direct-rvd": "RVD backend, direct",
    "direct-reo": "REO backend, direct",
    "direct-td": "TD backend, direct",
    "exchange-1": "exchange, 1 source (RVD)",
    "exchange-3": "exchange, 3 sources (RVD, REO, TD)",
}
print()
print("Consented data exchange (median of %s rounds; nginx workers %s, "
      "Redis appendfsync %s)" % (rounds, workers, fsync))
print()
print("Latency at 1 connection, ms")
print("  %-38s %8s %8s %8s" % ("", "p50", "p99", "req/s"))
for name in ("direct-rvd", "direct-reo", "direct-td", "exchange-1",
             "exchange-3"):
    print("  %-38s %8s %8s %8.0f" % (label[name],
                                     ms(med("latency", name, 1)),
                                     ms(med("latency", name, 2)),
                                     med("latency", name, 0)))
print()
print("Added by the gateway, ms")
print("  %-38s %8s %8s" % ("", "p50", "p99"))
b50 = med("latency", "direct-rvd", 1)
b99 = med("latency", "direct-rvd", 2)
print("  %-38s %8s %8s" % ("1 source: exchange - RVD backend",
                           ms(med("latency", "exchange-1", 1) - b50),
                           ms(med("latency", "exchange-1", 2) - b99)))
slow50 = max(med("latency", n, 1) for n in
             ("direct-rvd", "direct-reo", "direct-td"))
slow99 = max(med("latency", n, 2) for n in
             ("direct-rvd", "direct-reo", "direct-td"))
print("  %-38s %8s %8s" % ("3 sources: exchange - slowest backend",
                           ms(med("latency", "exchange-3", 1) - slow50),
                           ms(med("latency", "exchange-3", 2) - slow99)))
print()
print("Rate at %s connections (worker CPU: nginx workers' user+system "
      "time per request)" % conns)
print("  %-38s %8s %8s %8s %8s %8s %8s" % ("", "req/s", "min", "max",
                                            "p50 ms", "p99 ms",
                                            "CPU us"))
for name in ("direct-rvd", "exchange-1", "exchange-3"):
    rps = [r[0] for r in runs[("rate", name)]]
    cpu = "-" if name.startswith("direct") else \
        "%.0f" % med("rate", name, 3)
    print("  %-38s %8.0f %8.0f %8.0f %8s %8s %8s" % (
        label[name], statistics.median(rps), min(rps), max(rps),
        ms(med("rate", name, 1)), ms(med("rate", name, 2)), cpu))
print()
EOF
