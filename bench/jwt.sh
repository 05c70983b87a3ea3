#!/usr/bin/env bash
# Bearer-token validation cost: requests/s of nginx locations that validate
# ES256 and RS256 tokens (iamsmart_jwt) against a plain proxy location, all
# in front of the same cheap backend (an nginx server block that returns
# 200).  Not a test: it prints a table.
#
#   bench/jwt.sh                      (after `make`; needs wrk and python3)
#
# Environment (defaults in brackets):
#   ROUNDS [5]      interleaved rounds; each runs every case once
#   DURATION [5]    seconds per wrk run
#   THREADS [2]     wrk threads
#   CONNECTIONS [50] wrk connections
#   WORKERS [1]     nginx worker processes (the machine has 2 cores; wrk
#                   needs the other one)
#   TOKENS [10000]  distinct tokens in the rotating set
#   KEEP=1          keep the temporary directory (config, logs, tokens)
#
# Cases, each run in every round, in this order so that drift (thermal,
# noisy neighbours) hits all of them alike:
#   one/plain one/es256 one/rs256    the same token on every request
#   many/plain many/es256 many/rs256 a rotating set of TOKENS distinct tokens
# The plain location gets the same Authorization header, so request sizes
# match.  The table shows the median requests/s over the rounds, min and
# max, and the ratio of the median to the plain proxy's median.  It ends
# with `openssl speed` verify rates for reference.  Loopback only.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=/usr/bin/python3
LIB=$ROOT/bench/lib

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
WORKERS=${WORKERS:-1}
TOKENS=${TOKENS:-10000}

. "$ROOT/bench/lib/common.sh"

[[ -f $MODULE ]] || die "$MODULE missing: run make"
command -v wrk >/dev/null || die "wrk missing (apt-get install wrk)"

bench_setup jwt

printf 'bench: generating keys and %d tokens per alg...\n' "$TOKENS" >&2
"$PYTHON" "$LIB/gen_tokens.py" "$DIR" "$TOKENS"

PORT=$(free_port)
BACKEND_PORT=$(free_port)
while [[ $BACKEND_PORT == "$PORT" ]]; do BACKEND_PORT=$(free_port); done

{ nginx_conf_head; cat <<EOF

    # the backend: as cheap as nginx can answer
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        location / {
            return 200 "ok\n";
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

        location /plain {
            proxy_pass http://backend;
        }
        location /es256 {
            iamsmart_jwt "bench";
            iamsmart_jwt_key_file $DIR/es256.jwks;
            iamsmart_jwt_issuer https://bench.invalid;
            iamsmart_jwt_audience bench;
            proxy_set_header Connection "";
            proxy_set_header X-Sub \$iamsmart_jwt_claim_sub;
            proxy_pass http://backend;
        }
        location /rs256 {
            iamsmart_jwt "bench";
            iamsmart_jwt_key_file $DIR/rs256.jwks;
            iamsmart_jwt_issuer https://bench.invalid;
            iamsmart_jwt_audience bench;
            proxy_set_header Connection "";
            proxy_set_header X-Sub \$iamsmart_jwt_claim_sub;
            proxy_pass http://backend;
        }
    }
}
EOF
} >"$DIR/nginx.conf"
start_nginx "$PORT"

URL=http://127.0.0.1:$PORT

# Sanity: every location answers 200 with a token, the JWT ones 401 without.
for alg in es256 rs256; do
    tok=$(head -n1 "$DIR/$alg.one")
    [[ $(status -H "Authorization: Bearer $tok" "$URL/$alg") == 200 ]] \
        || die "/$alg rejects a valid token (see $DIR/error.log)"
    [[ $(status "$URL/$alg") == 401 ]] || die "/$alg accepts no token"
    tok=$(tail -n1 "$DIR/$alg.many")
    [[ $(status -H "Authorization: Bearer $tok" "$URL/$alg") == 200 ]] \
        || die "/$alg rejects a token of the rotating set"
done

# One wrk run; prints requests/s, or fails when any response was not 2xx.
run_wrk() {
    local path=$1 tokens=$2 out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
        -s "$LIB/token.lua" "$URL$path" -- "$tokens" 2>&1) \
        || die "wrk failed: $out"
    if grep -q 'Non-2xx' <<<"$out"; then
        die "non-2xx responses on $path: $out"
    fi
    awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}

CASES=(one:plain one:es256 one:rs256 many:plain many:es256 many:rs256)
RESULTS=$DIR/results.txt
: >"$RESULTS"

printf 'bench: %d rounds x %d cases x %ss, wrk -t%d -c%d, nginx workers %d\n' \
    "$ROUNDS" "${#CASES[@]}" "$DURATION" "$THREADS" "$CONNECTIONS" \
    "$WORKERS" >&2
for round in $(seq "$ROUNDS"); do
    for c in "${CASES[@]}"; do
        set_name=${c%%:*} loc=${c#*:}
        # plain sends the ES256 tokens (ignored) so request sizes match
        tokalg=$loc
        [[ $loc == plain ]] && tokalg=es256
        tokfile=$DIR/$tokalg.$set_name
        rps=$(run_wrk "/$loc" "$tokfile")
        printf '%s %s %s %s\n' "$round" "$set_name" "$loc" "$rps" >>"$RESULTS"
        printf 'bench: round %d %-5s %-6s %12s req/s\n' \
            "$round" "$set_name" "$loc" "$rps" >&2
    done
done

grep -E '\[(alert|emerg)\]' "$DIR/error.log" \
    && die "nginx logged alerts during the run"

"$PYTHON" - "$RESULTS" <<'EOF'
import statistics
import sys

rows = {}
for line in open(sys.argv[1]):
    rnd, tokset, loc, rps = line.split()
    rows.setdefault((tokset, loc), []).append(float(rps))

titles = {"one": "(a) one repeated token",
          "many": "(b) rotating set of distinct tokens"}
for tokset in ("one", "many"):
    plain = statistics.median(rows[(tokset, "plain")])
    print()
    print(titles[tokset])
    print("%-8s %12s %12s %12s %10s   %s"
          % ("location", "median r/s", "min", "max", "vs plain", "rounds"))
    for loc in ("plain", "es256", "rs256"):
        v = rows[(tokset, loc)]
        med = statistics.median(v)
        print("%-8s %12.0f %12.0f %12.0f %9.1f%%   %s"
              % (loc, med, min(v), max(v), 100.0 * med / plain,
                 " ".join("%.0f" % x for x in v)))
EOF

echo
echo "openssl speed -seconds 3 rsa2048 ecdsap256 (verify/s, one core):"
openssl speed -seconds 3 rsa2048 ecdsap256 2>/dev/null | awk '
    /^rsa 2048 bits/ {
        printf "  RSA 2048 (RS256)    %10s verify/s  %10s sign/s\n", $7, $6 }
    /ecdsa \(nistp256\)/ {
        printf "  ECDSA P-256 (ES256) %10s verify/s  %10s sign/s\n",
            $NF, $(NF-1) }'
