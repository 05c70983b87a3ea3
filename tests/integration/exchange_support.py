"""
Pieces for the consented data exchange and e-ME form filling tests (and
bench/exchange.sh): a gateway with department adapters (TD, ImmD, RVD,
REO) in front of the department sandbox (tests/sandbox/departments), the
iAM Smart sandbox as the platform, a scripted citizen who signs in,
grants, pauses, resumes and revokes consents on the gateway's pages, and
requesting departments that sign their exchange credentials.

  ExchangeKeys     the bridge keys (platform keys, a gateway secret with
                   a pairwise master, a signing key) plus one EC key per
                   requesting department, published as client_keys files
  DepartmentsServer  tests/sandbox/departments/server.py as a process
                   (with TCP_NODELAY and a listen backlog of 128, see
                   there); Departments: one per department or one for all
  ExchangeStack    sandbox + departments + nginx; citizen() signs a
                   browser in and links the citizen's pairwise subjects
                   at the department sandbox
  Citizen          a signed-in browser: grant(), change(), consents()
  credential()     a department's exchange credential (ES256 JWT)
  Audit            the audit trail of one gateway: the JSON-lines file
                   and the Redis stream, side by side
  durable_redis()  a RedisServer with the settings acknowledged consent
                   needs (appendonly yes, appendfsync always, noeviction)

Fixtures: exchange_keys (session), exchange_stack (function factory) and
shared_exchange (module).  Standalone, `python3 exchange_support.py
serve DIR` starts a stack with a consent and writes what bench/exchange.sh
needs to DIR/stack.json; it runs until SIGTERM.
"""

import html
import json
import os
import re
import shutil
import signal
import sys
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

import harness
import jose_helper as jh
from bridge_support import BridgeKeys, pairwise_subject
from login_support import (CALLBACK, COOKIE, DEFAULT_PERSONA, Browser,
                           Sandbox, expected_open_id)

ROOT = harness.ROOT
PYTHON = "/usr/bin/python3"
DEPARTMENTS_SERVER = os.path.join(ROOT, "tests", "sandbox", "departments",
                                  "server.py")
ADAPTERS = os.path.join(ROOT, "build", "adapters")

CLIENT_ID = "exchange-it"
ISSUER = "https://gateway.exchange.test"
PLATFORM_CB = "/iamsmart/platform"
AUDIT_STREAM = "iamsmart:audit:v1"
CONSENTS = "/my/consents/"

# department name -> the data set its adapter provides here
DATASETS = {
    "TD": "td.driving_licence",
    "ImmD": "immd.travel_records",
    "RVD": "rvd.rates_account",
    "REO": "reo.voter_particulars",
}
# departments that sign exchange credentials (requesters)
REQUESTERS = ("TD", "RVD", "REO")

SANDBOX_DIR = os.path.join(ROOT, "tests", "sandbox")
with open(os.path.join(SANDBOX_DIR, "departments", "records.json"),
          encoding="utf-8") as _f:
    RECORDS = json.load(_f)             # what each department holds
with open(os.path.join(SANDBOX_DIR, "personas.json"),
          encoding="utf-8") as _f:
    PERSONAS = {p["id"]: p for p in json.load(_f)["personas"]}
HKT = timezone(timedelta(hours=8))

ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

HTTP_CONF = """
iamsmart_redis 127.0.0.1:{{redis_port}};
iamsmart_redis_timeout 1s;
iamsmart_secret_file {{keys}}/bridge_secret;
iamsmart_session_cookie {{cookie}};
iamsmart_session_timeout 30m 8h;
iamsmart_platform_url http://127.0.0.1:{{sandbox_port}};
iamsmart_platform_api /_iamsmart_api;
iamsmart_client_id {{client_id}};
iamsmart_client_secret_file {{keys}}/client_secret;
iamsmart_kek_file {{keys}}/kek_private.pem;
iamsmart_redirect_uri http://127.0.0.1:{{gw_port}}/iamsmart/callback;
iamsmart_stepup_uri http://127.0.0.1:{{gw_port}}/iamsmart/platform;
iamsmart_scopes eidapi_auth eidapi_profiles eidapi_formFilling;
iamsmart_lang en-US;
iamsmart_issuer {{issuer}};
iamsmart_signing_key {{keys}}/sign-gw-0.jwk;
iamsmart_audit_file {{dir}}/audit.jsonl;

iamsmart_adapter td {{adapters}}/td.so;
iamsmart_adapter immd {{adapters}}/immd.so;
iamsmart_adapter rvd {{adapters}}/jsonmap.so config={{adapters}}/rvd.json;
iamsmart_adapter reo {{adapters}}/reo.so;

iamsmart_department TD {
    backend /_dept/td;
    client_keys {{keys}}/client-td.jwks;
}
iamsmart_department ImmD {
    backend /_dept/immd;
}
iamsmart_department RVD {
    backend /_dept/rvd;
    client_keys {{keys}}/client-rvd.jwks;
}
iamsmart_department REO {
    backend /_dept/reo;
    client_keys {{keys}}/client-reo.jwks;
}

upstream dept_td {
    server 127.0.0.1:{{dept_td_port}};
    keepalive 16;
}
upstream dept_immd {
    server 127.0.0.1:{{dept_immd_port}};
    keepalive 16;
}
upstream dept_rvd {
    server 127.0.0.1:{{dept_rvd_port}};
    keepalive 16;
}
upstream dept_reo {
    server 127.0.0.1:{{dept_reo_port}};
    keepalive 16;
}

log_format iams_exchange '$request_method $request_uri $status '
                         '$request_time $upstream_response_time';

server {
    listen 127.0.0.1:{{gw_port}};
    access_log {{dir}}/exchange_access.log iams_exchange;

    # "/_dept/td" + "/api/v2/..." -> the department sandbox's "/td/api/v2/..."
    location /_dept/td/ {
        internal;
        proxy_pass http://dept_td/td/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        subrequest_output_buffer_size 1m;
    }
    location /_dept/immd/ {
        internal;
        proxy_pass http://dept_immd/immd/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        subrequest_output_buffer_size 1m;
    }
    location /_dept/rvd/ {
        internal;
        proxy_pass http://dept_rvd/rvd/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        subrequest_output_buffer_size 1m;
    }
    location /_dept/reo/ {
        internal;
        proxy_pass http://dept_reo/reo/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        subrequest_output_buffer_size 1m;
    }
    location /_iamsmart_api/ {
        internal;
        proxy_pass http://127.0.0.1:{{sandbox_port}}/;
        subrequest_output_buffer_size 64k;
    }
    location = /iamsmart/callback {
        iamsmart_callback;
    }
    location = /iamsmart/platform {
        iamsmart_stepup_callback;
    }
    location /my/consents/ {
        iamsmart_auth on;
        iamsmart_consent;
    }
    location = /my/data {
        iamsmart_auth on;
        iamsmart_data;
    }
    location = /prefill {
        iamsmart_auth on;
        iamsmart_prefill;
    }
    location = /forms/anonymous {
        iamsmart_prefill anonymous;
    }
    location = /exchange {
        iamsmart_exchange;
    }
    # bridged: the echo backend shows each department's pairwise subject
    location /whoami/td/ {
        iamsmart_bridge TD;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
    location /whoami/immd/ {
        iamsmart_bridge ImmD;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
    location /whoami/rvd/ {
        iamsmart_bridge RVD;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
    location /whoami/reo/ {
        iamsmart_bridge REO;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
    location = /favicon.ico {
        return 204;
    }
}
"""


def utc(text, fmt=None):
    """A department's time (local Hong Kong time, or with an offset) as
    canonical RFC 3339 UTC text: "2025-01-15T00:00:00Z"."""
    t = datetime.strptime(text, fmt) if fmt else \
        datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=HKT)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def td_last_updated(persona=DEFAULT_PERSONA):
    return utc(RECORDS["TD"][persona]["lastUpdated"], "%Y-%m-%d %H:%M:%S")


# ---- keys and credentials ----

class ExchangeKeys:
    """BridgeKeys (platform keys, gateway secret with current and pairwise
    masters, signing keys sign-gw-0/1.jwk) in dir, plus an EC P-256 key
    per requesting department whose public part is its client_keys file
    (client-<dept>.jwks), and a stranger key nobody published."""

    def __init__(self, d):
        self.dir = d
        self.bridge = BridgeKeys(d)
        self.login = self.bridge.login
        self.client = {}
        for name in REQUESTERS:
            key = jh.Key.generate("EC", kid="%s-1" % name.lower())
            jh.write_jwks(os.path.join(d, "client-%s.jwks" % name.lower()),
                          [key])
            self.client[name] = key
        self.stranger = jh.Key.generate("EC", kid="td-1")

    def subject(self, department, persona=DEFAULT_PERSONA):
        """The department's pairwise subject for the persona, computed
        independently of the gateway (namespace = department name)."""
        return pairwise_subject(self.bridge.pairwise_master, department,
                                expected_open_id(persona, CLIENT_ID))


def credential(keys, department, lifetime=300, now=None, key=None, **extra):
    """The exchange credential of a department: an ES256 JWT with iss =
    sub = its name, aud = the gateway, iat and exp (lifetime seconds
    later).  extra overrides or (with None) drops claims."""
    now = int(time.time()) if now is None else now
    claims = {"iss": department, "sub": department, "aud": ISSUER,
              "iat": now, "exp": now + lifetime}
    claims.update(extra)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jh.sign(claims, key or keys.client[department], "ES256")


# ---- processes ----

class DepartmentsServer:
    """The department sandbox (all departments) on a free loopback port."""

    # Two settings of the standard library's socketserver that server.py
    # leaves at their defaults, switched here before it starts:
    #  - it answers in two writes (headers, then body) with Nagle's
    #    algorithm on, so on a kept-alive connection every answer waits
    #    for the client's delayed ACK, ~40 ms a request: TCP_NODELAY;
    #  - it listens with a backlog of 5, so a burst of new connections
    #    (a gateway filling its keepalive pool) loses SYNs and each lost
    #    one waits a second for the retransmission: a backlog of 128.
    NODELAY = ("import runpy, socketserver, sys\n"
               "socketserver.StreamRequestHandler.disable_nagle_algorithm "
               "= True\n"
               "socketserver.TCPServer.request_queue_size = 128\n"
               "sys.argv = sys.argv[1:]\n"
               "runpy.run_path(sys.argv[0], run_name='__main__')\n")

    def __init__(self, only=(), quiet=False):
        argv = [PYTHON, "-c", self.NODELAY, DEPARTMENTS_SERVER,
                "--host", "127.0.0.1", "--port", "{port}"]
        for d in only:
            argv += ["--dept", d]
        name = "departments" + "".join("-" + d.lower() for d in only)
        # quiet: its access lines go nowhere (a benchmark writes many)
        self.service = harness.Service(name, argv)
        if quiet:
            self.service.log_path = os.devnull

    def start(self):
        self.service.start()
        return self

    def stop(self):
        self.service.stop()

    @property
    def port(self):
        return self.service.port

    def admin(self, name, **args):
        r = harness.http_request(self.port, "/sandbox/" + name,
                                 method="POST", body=json.dumps(args),
                                 headers={"Content-Type": "application/json"})
        assert r.status == 200, "departments %s: %r" % (name, r)
        return r.json()

    def link(self, department, subject, persona):
        return self.admin("link", dept=department, subject=subject,
                          persona=persona)


class Departments:
    """The department sandbox processes, by department (one process may
    serve several); admin calls go to each process once."""

    def __init__(self, servers):
        self.servers = servers

    def _unique(self):
        out = []
        for s in self.servers.values():
            if s not in out:
                out.append(s)
        return out

    def start(self):
        for s in self._unique():
            s.start()
        return self

    def stop(self):
        for s in self._unique():
            if s.service.proc is not None:
                s.stop()

    def admin(self, name, **args):
        for s in self._unique():
            s.admin(name, **args)

    def link(self, department, subject, persona):
        return self.servers[department].link(department, subject, persona)

    def port(self, department):
        return self.servers[department].port


def durable_redis(workdir=None, appendonly=True, fsync="always"):
    """redis-server configured as acknowledged consent needs it.

    appendonly yes:         every write goes to the append-only file
                            before Redis answers, so a grant the citizen
                            saw confirmed is in the file even if Redis is
                            killed (SIGKILL) right after answering; RDB
                            snapshots alone would lose everything since
                            the last save.
    appendfsync always:     the file is fsync()ed before the answer, so the
                            grant also survives a crash of the machine or
                            a power cut, not only of the process (with
                            everysec up to a second of confirmed grants,
                            revocations and counted uses can be lost).
    maxmemory-policy noeviction: an evicted consent would silently become
                            "no consent", an evicted counter would reset
                            a use limit.

    appendonly=False makes the negative control (snapshots off, no AOF);
    fsync="everysec" is for measuring the gateway rather than the disk."""
    srv = harness.RedisServer(workdir=workdir)
    argv = srv.service.argv
    i = argv.index("--appendonly")
    argv[i + 1] = "yes" if appendonly else "no"
    argv += ["--maxmemory-policy", "noeviction"]
    if appendonly:
        argv += ["--appendfsync", fsync]
    return srv


def restart_redis(srv, timeout=10.0):
    """Starts srv again on the port it had (after a SIGKILL)."""
    srv.service.port = srv.port
    return srv.start(timeout)


def kill_redis(srv):
    """SIGKILL, no chance to save or flush anything."""
    pid = srv.pid
    os.kill(pid, signal.SIGKILL)
    srv.service.proc.wait()
    srv.service.proc = None
    assert harness.wait_pid_gone(pid, 5.0)


# ---- the stack ----

class ExchangeStack:
    """Platform sandbox, department sandbox and a gateway, on one Redis."""

    def __init__(self, keys, sandbox, departments, nginx, gw_port,
                 redis_port):
        self.keys = keys
        self.sandbox = sandbox
        self.departments = departments
        self.nginx = nginx
        self.gw_port = gw_port
        self.redis_port = redis_port

    @classmethod
    def create(cls, factory, keys, redis_port, auto_approve=DEFAULT_PERSONA,
               sandbox_args=(), split=False, quiet=False, **nginx_kw):
        """factory: the conftest `nginx`/`nginx_module` factory (or a
        callable with the same signature).  split: one department sandbox
        process per department (the benchmark's setting) instead of one
        for all; quiet: their access lines are not kept."""
        gw_port = harness.free_port()
        base = "http://127.0.0.1:%d" % gw_port
        # a little callback delay: the gateway stores its pending e-ME
        # request after initiateRequest returns, and a callback that
        # arrives before that is refused and retried 0.5 s later
        sandbox = Sandbox(keys.login, [base + CALLBACK, base + PLATFORM_CB],
                          auto_approve=auto_approve, client_id=CLIENT_ID,
                          args=["--callback-delay", "0.05"]
                          + list(sandbox_args))
        if split:
            departments = Departments({d: DepartmentsServer((d,), quiet)
                                       for d in DATASETS})
        else:
            one = DepartmentsServer(quiet=quiet)
            departments = Departments({d: one for d in DATASETS})
        started = []
        try:
            sandbox.start()
            started.append(sandbox)
            departments.start()
            started.append(departments)
            params = {"gw_port": gw_port, "sandbox_port": sandbox.port,
                      "keys": keys.dir, "cookie": COOKIE,
                      "client_id": CLIENT_ID, "issuer": ISSUER,
                      "adapters": ADAPTERS}
            for d in DATASETS:
                params["dept_%s_port" % d.lower()] = \
                    departments.servers[d].port
            ng = factory(HTTP_CONF, params=params, redis_port=redis_port,
                         **nginx_kw)
        except BaseException:
            for s in reversed(started):
                s.stop()
            raise
        return cls(keys, sandbox, departments, ng, gw_port, redis_port)

    def stop(self):
        self.departments.stop()
        self.sandbox.stop()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.gw_port

    def url(self, path):
        return self.base + path

    def redis(self):
        return harness.RedisClient(self.redis_port)

    def audit(self):
        return Audit(self.nginx.dir, self.redis_port)

    def citizen(self, persona=DEFAULT_PERSONA, link=True):
        """A browser signed in as persona, with its pairwise subjects read
        from the bridged locations and (link) linked at the department
        sandbox, as a department links an account at first login."""
        self.sandbox.admin("auto-approve", persona=persona)
        c = Citizen(self, persona)
        for dept in DATASETS:
            page = c.browser.navigate(self.url("/whoami/%s/"
                                               % dept.lower()))
            assert page.response.status == 200, page
            rec = page.response.json()
            sub = rec["header_map"]["x-iamsmart-subject"][0]
            assert sub == self.keys.subject(dept, persona), (dept, sub)
            c.subjects[dept] = sub
            if link:
                self.departments.link(dept, sub, persona)
        assert c.browser.cookie(COOKIE)
        return c

    # -- the exchange endpoint (department to gateway) --

    def exchange(self, consent, items, department="TD", service="td.idp",
                 purpose="idp", subject=None, token=None, body=None,
                 headers=None, timeout=10.0):
        """POST /exchange as department; returns the Response.  subject
        defaults to the department's subject of the default persona."""
        if body is None:
            body = {"consent": consent,
                    "subject": subject if subject is not None
                    else self.keys.subject(department),
                    "service": service, "purpose": purpose,
                    "items": list(items)}
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        h = {"Content-Type": "application/json"}
        if token is not False:
            h["Authorization"] = "Bearer " + (
                token or credential(self.keys, department))
        h.update(headers or {})
        return harness.http_request(self.gw_port, "/exchange",
                                    method="POST", headers=h, body=body,
                                    timeout=timeout)


class Citizen:
    """A signed-in browser on the gateway's consent pages."""

    def __init__(self, stack, persona):
        self.stack = stack
        self.persona = persona
        self.browser = Browser(name=persona)
        self.subjects = {}
        self.csrf = None

    def get(self, path, headers=None):
        return self.browser.navigate(self.stack.url(path),
                                     headers=headers).response

    def get_json(self, path):
        r = self.get(path, headers={"Accept": "application/json"})
        assert r.status == 200, r
        return r.json()

    def consent_page(self, **terms):
        """GET /my/consents/new?<terms>: (response, csrf, terms text)."""
        r = self.get(CONSENTS + "new?" + urllib.parse.urlencode(terms))
        if r.status != 200:
            return r, None, None
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
        t = re.search(r'name="terms" value="([^"]*)"', r.text)
        assert m and t, r.text
        self.csrf = m.group(1)
        return r, self.csrf, html.unescape(t.group(1))

    def grant(self, requester="TD", service="td.idp", purpose="idp",
              items=("immd.travel_records", "rvd.rates_account"), days=90,
              max_uses=3, data_life_days=30,
              purpose_en="Apply for an International Driving Permit",
              purpose_zh="申請國際駕駛許可證", expect=201):
        """Opens the consent page for the terms and submits its form as a
        JSON client; returns the new consent id (or the Response when
        expect is not 201)."""
        terms = {"requester": requester, "service": service,
                 "purpose": purpose, "purpose_en": purpose_en,
                 "purpose_zh": purpose_zh, "items": ",".join(items),
                 "days": days, "max_uses": max_uses,
                 "data_life_days": data_life_days}
        page, csrf, text = self.consent_page(**terms)
        if csrf is None:
            assert page.status == expect, page
            return page
        r = self.post(CONSENTS, {"csrf": csrf, "terms": text})
        assert r.status == expect, r
        if expect != 201:
            return r
        body = r.json()
        assert body["status"] == "ACTIVE" and ID_RE.match(body["id"]), body
        return body["id"]

    def post(self, path, form, json_client=True, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded",
             "Sec-Fetch-Site": "same-origin"}
        if json_client:
            h["Accept"] = "application/json"
        h.update(headers or {})
        return self.browser.request("POST", self.stack.url(path), headers=h,
                                    body=urllib.parse.urlencode(form))

    def change(self, consent, action, expect=200):
        """pause | resume | revoke; returns the JSON answer."""
        if self.csrf is None:
            self.consent_page(requester="TD", service="td.idp",
                              purpose="idp", purpose_en="x", purpose_zh="x",
                              items=DATASETS["RVD"])
        r = self.post(CONSENTS + "%s/%s" % (consent, action),
                      {"csrf": self.csrf})
        assert r.status == expect, r
        return r.json()

    def consent(self, consent):
        return self.get_json(CONSENTS + consent)

    def consents(self):
        return self.get_json(CONSENTS)["consents"]


# ---- audit ----

class Audit:
    """One gateway's audit trail: the JSON-lines file and the Redis
    stream, which must say the same."""

    FIELDS = ("v", "time", "request_id", "requester", "service", "source",
              "citizen", "consent", "items", "outcome", "reason", "sha256")

    def __init__(self, nginx_dir, redis_port):
        self.path = os.path.join(nginx_dir, "audit.jsonl")
        self.redis_port = redis_port

    def file_records(self, consent=None):
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            rec = json.loads(line)
            assert list(rec) == list(self.FIELDS), line
            if consent is None or rec["consent"] == consent:
                out.append(rec)
        return out

    def stream_records(self, consent=None):
        """The stream's entries as records (null fields restored), in
        stream order."""
        with harness.RedisClient(self.redis_port) as c:
            entries = c.command("XRANGE", AUDIT_STREAM, "-", "+")
        out = []
        for _, flat in entries or []:
            names = [flat[i].decode() for i in range(0, len(flat), 2)]
            values = [flat[i].decode() for i in range(1, len(flat), 2)]
            # fields come in the record's order, nulls left out
            order = [n for n in self.FIELDS if n in names]
            assert names == order, names
            rec = dict.fromkeys(self.FIELDS)
            rec.update(zip(names, values))
            rec["v"] = int(rec["v"])
            rec["items"] = json.loads(rec["items"])
            if consent is None or rec["consent"] == consent:
                out.append(rec)
        return out

    def records(self, consent, wait_for=None, timeout=5.0):
        """The file's records of a consent, after checking that the
        stream holds the very same ones.  wait_for: the count to wait for
        (the stream write of all but the last record of a request is not
        awaited by the gateway)."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.file_records(consent)
            s = self.stream_records(consent)
            done = wait_for is None or (len(f) >= wait_for
                                        and len(s) >= wait_for)
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        key = lambda r: (r["request_id"], r["source"] or "",
                         json.dumps(r["items"]))
        assert sorted(f, key=key) == sorted(s, key=key), (f, s)
        return f


def check_record(rec, outcome, consent, requester="TD", service="td.idp",
                 citizen=None):
    """The shape every audit record must have."""
    assert rec["v"] == 1
    assert RFC3339_MS.match(rec["time"]), rec
    assert re.match(r"^[0-9a-f]{32}$", rec["request_id"]), rec
    assert rec["requester"] == requester and rec["service"] == service, rec
    assert rec["consent"] == consent, rec
    if citizen is not None:
        assert rec["citizen"] == citizen, rec
    assert rec["outcome"] == outcome, rec
    if outcome == "released":
        assert rec["reason"] is None and HEX64.match(rec["sha256"]), rec
        assert rec["source"] in DATASETS, rec
    else:
        assert rec["sha256"] is None and rec["reason"], rec


# ---- fixtures ----

@pytest.fixture(scope="session")
def exchange_keys():
    d = harness.make_tempdir("iams-exchange-keys-")
    yield ExchangeKeys(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def exchange_stack(nginx, redis_server, exchange_keys):
    yield from harness.stacks_on_demand(ExchangeStack.create, nginx,
                                        exchange_keys, redis_server.port)


@pytest.fixture(scope="module")
def shared_exchange(nginx_module, redis_server, exchange_keys):
    yield from harness.one_stack(ExchangeStack.create, nginx_module,
                                 exchange_keys, redis_server.port)


def forget_citizens(redis_port):
    """Empties every citizen's list of consents and history, so that a
    test's citizen starts with none (the records themselves stay)."""
    with harness.RedisClient(redis_port) as c:
        for pattern in ("iamsmart:consents:v1:*", "iamsmart:history:v1:*"):
            keys = c.command("KEYS", pattern)
            if keys:
                c.command("DEL", *keys)


@pytest.fixture
def xstack(shared_exchange):
    shared_exchange.sandbox.admin("reset")
    shared_exchange.departments.admin("reset")
    forget_citizens(shared_exchange.redis_port)
    return shared_exchange


# ---- standalone: a stack for bench/exchange.sh ----

def _adapter_request(dataset, subject):
    """What the department's adapter sends for dataset (the CLI runs the
    very adapter the gateway loads): (method, path, headers, body)."""
    import subprocess
    dept = [d for d, ds in DATASETS.items() if ds == dataset][0]
    so = {"RVD": ["jsonmap.so", "--config",
                  os.path.join(ADAPTERS, "rvd.json")]}.get(
        dept, [dept.lower() + ".so"])
    p = subprocess.run([os.path.join(ROOT, "build", "bin",
                                     "iamsmart-adapter"), "request",
                        os.path.join(ADAPTERS, so[0])] + so[1:],
                       input=json.dumps({"dataset": dataset,
                                         "subject": subject}).encode(),
                       capture_output=True, check=True)
    req = json.loads(p.stdout)
    body = req.get("body", "")
    if not isinstance(body, str):
        body = json.dumps(body, separators=(",", ":"))
    return (req["method"], "/%s%s" % (dept.lower(), req["path"]),
            req.get("headers", {}), body)


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _request_file(path, headers, body):
    """A request for bench/lib/exchange.lua: header lines, a blank line,
    the body."""
    _write(path, "".join("%s: %s\n" % kv for kv in headers.items())
           + "\n" + body)


def _serve(argv):
    import argparse
    import signal as sig
    import threading
    from backend import EchoBackend

    ap = argparse.ArgumentParser(prog="exchange_support.py serve")
    ap.add_argument("dir")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--fsync", choices=("always", "everysec"),
                    default="everysec")
    args = ap.parse_args(argv)
    d = os.path.abspath(args.dir)
    os.makedirs(os.path.join(d, "redis"), exist_ok=True)
    os.chmod(d, 0o755)

    stop = threading.Event()
    sig.signal(sig.SIGTERM, lambda *a: stop.set())
    sig.signal(sig.SIGINT, lambda *a: stop.set())
    parts = []
    try:
        redis = durable_redis(os.path.join(d, "redis"),
                              fsync=args.fsync).start()
        parts.append(redis)
        echo = EchoBackend().start()
        parts.append(echo)
        os.makedirs(os.path.join(d, "keys"), mode=0o755, exist_ok=True)
        keys = ExchangeKeys(os.path.join(d, "keys"))

        def factory(conf, params=None, redis_port=None, **kw):
            ng = harness.Nginx(conf, params=params, redis_port=redis_port,
                               backend_port=echo.port,
                               workers=args.workers, log_level="warn",
                               workdir=os.path.join(d, "nginx"), **kw)
            os.makedirs(ng.dir, exist_ok=True)
            parts.append(ng)
            return ng.start()

        stack = ExchangeStack.create(factory, keys, redis.port, split=True,
                                     quiet=True)
        parts.append(stack)
        c = stack.citizen()
        sources = [DATASETS[x] for x in ("RVD", "REO", "TD")]
        cid = c.grant(items=sources, max_uses=0, days=1)

        def refresh_token():
            while not stop.is_set():
                _write(os.path.join(d, "token"),
                       credential(keys, "TD") + "\n")
                stop.wait(60)

        refresh_token_thread = threading.Thread(target=refresh_token,
                                                daemon=True)
        refresh_token_thread.start()

        cases = {}
        for name, items in (("exchange-1", sources[:1]),
                            ("exchange-3", sources)):
            body = json.dumps({"consent": cid,
                               "subject": c.subjects["TD"],
                               "service": "td.idp", "purpose": "idp",
                               "items": items})
            path = os.path.join(d, name + ".req")
            _request_file(path, {"Content-Type": "application/json"}, body)
            cases[name] = {"port": stack.gw_port, "path": "/exchange",
                           "request": path, "token": True,
                           "items": items}
        for dept in ("RVD", "REO", "TD"):
            method, upath, headers, body = _adapter_request(
                DATASETS[dept], c.subjects[dept])
            assert method == "POST", method
            path = os.path.join(d, "direct-%s.req" % dept.lower())
            _request_file(path, headers, body)
            cases["direct-" + dept.lower()] = {
                "port": stack.departments.port(dept), "path": upath,
                "request": path, "token": False}
        _write(os.path.join(d, "stack.json"), json.dumps({
            "consent": cid, "gateway_port": stack.gw_port,
            "redis_port": redis.port, "nginx_dir": stack.nginx.dir,
            "token": os.path.join(d, "token"), "cases": cases,
            "fsync": args.fsync, "workers": args.workers}, indent=1))
        print("ready", flush=True)
        stop.wait()
    finally:
        for p in reversed(parts):
            p.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2:]))
    sys.stderr.write("usage: exchange_support.py serve DIR "
                     "[--workers N] [--fsync always|everysec]\n")
    sys.exit(2)
