#!/usr/bin/env bash
# The demo stack on loopback: Redis, the iAM Smart sandbox (playing the
# platform), three demo department backends, an echo backend, and nginx
# with the iamsmart module on 127.0.0.1:8080.  Run by `make demo` after the
# build.
#
#   scripts/demo.sh            start everything, print what to open, wait for
#                              Ctrl-C, then stop everything
#   DEMO_CHECK=1 scripts/demo.sh
#                              start, then a scripted browser logs in,
#                              opens the departments, passes a step-up and
#                              logs out; a bearer-token request; stop (a
#                              smoke test)
#
# Open http://127.0.0.1:8080/ (the portal).  The sandbox asks which test
# citizen logs in, and whether a face recognition passes; DEMO_PERSONA=ID
# (e.g. chan-tai-man) approves everything as that citizen instead.
#
# Ports (all on 127.0.0.1): DEMO_PORT (8080), DEMO_BACKEND_PORT (9080),
# DEMO_REDIS_PORT (6380), DEMO_SANDBOX_PORT (9000), DEMO_DEPT_PORT (9081;
# the departments take it and the next two).  Files live in a temporary
# directory that is removed at exit (DEMO_KEEP=1 keeps it).
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
SANDBOX_PORT=${DEMO_SANDBOX_PORT:-9000}
DEPT_PORT=${DEMO_DEPT_PORT:-9081}
TD_PORT=$DEPT_PORT
FEHD_PORT=$((DEPT_PORT + 1))
LCSD_PORT=$((DEPT_PORT + 2))

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
    for p in "$PORT" "$BACKEND_PORT" "$REDIS_PORT" "$SANDBOX_PORT" \
        "$TD_PORT" "$FEHD_PORT" "$LCSD_PORT"; do
        port_free "$p" || die "127.0.0.1:$p is in use (set DEMO_*PORT)"
    done
}

make_dir() {
    DEMO_DIR=$(mktemp -d /tmp/iamsmart-demo.XXXXXX)
    # nginx workers run unprivileged when started as root
    chmod 755 "$DEMO_DIR"
    mkdir -p "$DEMO_DIR/keys" "$DEMO_DIR/demo.d" "$DEMO_DIR/redis" \
        "$DEMO_DIR/portal"
}

# Fills in the @NAME@ values of a template under config/demo.
render() {
    sed -e "s|@MODULE@|$MODULE|g" -e "s|@DIR@|$DEMO_DIR|g" \
        -e "s|@BUILD@|$BUILD|g" \
        -e "s|@PORT@|$PORT|g" -e "s|@BACKEND_PORT@|$BACKEND_PORT|g" \
        -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
        -e "s|@SANDBOX_PORT@|$SANDBOX_PORT|g" -e "s|@TD_PORT@|$TD_PORT|g" \
        -e "s|@FEHD_PORT@|$FEHD_PORT|g" -e "s|@LCSD_PORT@|$LCSD_PORT|g" \
        "$ROOT/config/demo/$1" >"$2"
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

# The platform's keys for the gateway (client secret, KEK), the gateway's
# master secrets and its assertion signing key.
make_iamsmart_keys() {
    "$PYTHON" "$ROOT/tests/sandbox/make_keys.py" "$DEMO_DIR/keys/platform" \
        >/dev/null
    ( umask 077
      printf 'current %s\npairwise %s\n' \
          "$(head -c 32 /dev/urandom | base64)" \
          "$(head -c 32 /dev/urandom | base64)" >"$DEMO_DIR/keys/gateway_secret"
      "$JOSE" keygen --kty EC --kid demo-sign-1 >"$DEMO_DIR/keys/signing.jwk" )
}

start_sandbox() {
    local auto=()
    if [[ -n ${DEMO_PERSONA:-} ]]; then
        auto=(--auto-approve "$DEMO_PERSONA")
    fi
    "$PYTHON" "$ROOT/tests/sandbox/iamsmart_sandbox.py" --host 127.0.0.1 \
        --port "$SANDBOX_PORT" --client-id demo-gateway \
        --client-secret-file "$DEMO_DIR/keys/platform/client_secret" \
        --kek-cert-or-pubkey "$DEMO_DIR/keys/platform/kek_cert.pem" \
        --redirect-uri "http://127.0.0.1:$PORT/iamsmart/callback" \
        --redirect-uri "http://127.0.0.1:$PORT/iamsmart/stepup" \
        "${auto[@]}" </dev/null >"$DEMO_DIR/sandbox.log" 2>&1 &
    track_pid sandbox $!
    wait_port "$SANDBOX_PORT" "iAM Smart sandbox" $!
    log "iAM Smart sandbox on 127.0.0.1:$SANDBOX_PORT" \
        "(${DEMO_PERSONA:-manual approval})"
}

# start_department NAME PORT TITLE SERVICE [high-value prefix]
start_department() {
    local name=$1 port=$2 title=$3 service=$4 high=${5:-} lower
    lower=$(tr '[:upper:]' '[:lower:]' <<<"$name")
    local extra=()
    if [[ -n $high ]]; then
        extra=(--high-value "$high")
    fi
    "$PYTHON" "$ROOT/tests/sandbox/demo_department.py" --port "$port" \
        --name "$name" --title "$title" --service "$service" \
        --audience "https://$lower.demo.invalid" \
        --issuer "http://127.0.0.1:$PORT" \
        --jwks-url "http://127.0.0.1:$PORT/.well-known/jwks.json" \
        "${extra[@]}" </dev/null >"$DEMO_DIR/dept-$lower.log" 2>&1 &
    track_pid "dept-$lower" $!
    wait_port "$port" "$name department" $!
}

start_departments() {
    start_department TD "$TD_PORT" "Transport Department" \
        "Renew a vehicle licence" /td/high/
    start_department FEHD "$FEHD_PORT" \
        "Food and Environmental Hygiene Department" \
        "Apply for a food business licence"
    start_department LCSD "$LCSD_PORT" \
        "Leisure and Cultural Services Department" "Book a sports facility"
    log "departments TD, FEHD, LCSD on 127.0.0.1:$TD_PORT-$LCSD_PORT"
}

write_iamsmart_config() {
    render iamsmart.http.template "$DEMO_DIR/demo.d/iamsmart.http"
    render iamsmart.conf.template "$DEMO_DIR/demo.d/iamsmart.conf"
    cp "$ROOT/config/demo/portal.html" "$DEMO_DIR/portal/index.html"
    chmod 644 "$DEMO_DIR/portal/index.html"
}

start_nginx() {
    render nginx.conf.template "$DEMO_DIR/nginx.conf"
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

# A scripted browser (tests/integration/login_support.py) goes through the
# portal the way a citizen does, clicking on the sandbox's pages.
check_portal() {
    "$PYTHON" - "$PORT" "$ROOT" "${DEMO_PERSONA:-}" <<'PYEOF'
import json
import sys
import time

port, root, auto = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, root + "/tests/integration")
from login_support import Browser  # noqa: E402

base = "http://127.0.0.1:%d" % port
b = Browser()


def step(what, ok):
    print("demo check: %-44s %s" % (what, "ok" if ok else "FAILED"))
    if not ok:
        sys.exit(1)


def approve(page, button):
    """Clicks on the sandbox's page unless it approves by itself."""
    if auto:
        return page
    return b.submit(page, button)


page = b.navigate(base + "/")
step("portal lists the departments", page.status == 200
     and all(h in page.text for h in ('href="/td/"', 'href="/fehd/"',
                                      'href="/lcsd/"', 'href="/login"')))

page = approve(b.navigate(base + "/login"), "approve:chan-tai-man")
step("log in with iAM Smart (sandbox)", page.status == 200
     and page.url == base + "/login" and b.cookie("iamsmart_session"))

seen = {}
for dept in ("td", "fehd", "lcsd"):
    page = b.navigate(base + "/%s/?format=json" % dept)
    rec = page.json() if page.status == 200 else {}
    seen[dept] = rec.get("subject")
    step("%s opens signed in, assertion verified" % dept.upper(),
         page.chain == [] and rec.get("verified") is True
         and rec["claims"]["sub"] == rec["subject"]
         and rec["claims"]["amr"] == ["fido"])
step("each department sees its own subject", len(set(seen.values())) == 3)

page = b.navigate(base + "/td/")
step("TD's page shows what it received", page.status == 200
     and seen["td"] in page.text and "High-value action" in page.text)

page = b.navigate(base + "/td/high/action")
step("high-value action asks for face recognition", any(
    "/api/v1/account/stepup/approve?" in u
    for u in [page.url] + [u for u, _ in page.chain]))
page = approve(page, "pass")
step("face recognition passed, back at the action", page.status == 200
     and page.url == base + "/td/high/action" and "Confirm" in page.text)
page = b.navigate(base + "/td/high/action?format=json", method="POST",
                  body="confirm=yes", headers={
                      "Content-Type": "application/x-www-form-urlencoded"})
rec = page.json() if page.status == 200 else {}
step("high-value action done with amr fido+fr", rec.get("action_done")
     is True and rec["claims"]["amr"] == ["fido", "fr"])



def form_filled(page, what):
    """Agrees in the "app" and waits for the platform's callback."""
    for _ in range(50):
        if page.status != 202:
            break
        time.sleep(0.2)
        page = b.navigate(page.url)
    form = page.json() if page.status == 200 else {}
    step(what, form.get("form") == "td.idp_application"
         and form["payload"].get("surname") == "CHAN"
         and form["sources"].get("enName", {}).get("source") == "iAM Smart")


form = base + "/forms/td?form=td.idp_application"
form_filled(approve(b.navigate(form), "approve"),
            "TD form filled from e-ME (signed in)")

page = b.navigate(base + "/logout", stop=lambda url: True)
r = b.request("GET", base + "/td/")
step("logged out: departments ask for a login",
     r.status == 302 and "/api/v1/auth/getQR?" in r.header("Location"))

form_filled(approve(b.navigate(base + "/forms/td/anonymous?form="
                               "td.idp_application"),
                    "approve:chan-tai-man"),
            "TD form filled from e-ME without a login")
step("and still nobody is signed in", not b.cookie("iamsmart_session"))
PYEOF
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
    make_iamsmart_keys
    start_sandbox
    start_departments
    write_iamsmart_config
    start_nginx

    local token
    token=$(make_token)

    cat <<EOF

  iAM Smart gateway demo on http://127.0.0.1:$PORT  (files: $DEMO_DIR)

  Open http://127.0.0.1:$PORT/ in a browser: the portal.  "Log in with iAM
  Smart" takes you to the sandbox, which plays the platform: pick a test
  citizen.  Then each department link opens that department's demo
  service already signed in, showing what it received (its pairwise
  subject for you and the gateway's verified assertion).  The Transport
  Department's "high-value action" asks for a face recognition first.
  "Fill in a form with e-ME" fills TD's International Driving Permit
  form from the citizen's profile and e-ME once they agree, signed in or
  not (the anonymous flow keeps no session).
  Use 127.0.0.1, not localhost: the cookies belong to that host.

  A bearer token signed by iamsmart-jose with the demo key (ES256, 1 hour):

  TOKEN=$token

  This request passes; the echo backend shows what the gateway forwarded:

  curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$PORT/api/hello

  This one gets 401 with a WWW-Authenticate challenge:

  curl -si http://127.0.0.1:$PORT/api/hello

EOF
    if [[ -n ${DEMO_CHECK:-} ]]; then
        check_requests "$token" || die "demo check failed"
        check_portal || die "demo check failed (logs in $DEMO_DIR)"
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
