"""
Pieces for the bridging, step-up and key-request tests: a gateway with
signing keys, departments and a step-up location in front of demo
department backends (tests/sandbox/demo_department.py, which verify every
assertion with python3-cryptography against the gateway's published JWKS)
and the echo backend (which records every header it received); the iAM
Smart sandbox plays the platform, as in the login tests.

  BridgeKeys       the platform keys of login_support plus a gateway secret
                   file with a "pairwise" line, and signing keys (JWK files
                   written by jose_helper, never by the gateway's own tool)
  BridgeStack      sandbox + demo departments + nginx; sign_in() logs a
                   scripted browser in as a persona
  pairwise_subject the subject a department must see, computed here from
                   the secret file and the sandbox's openID formula
  verify()         an assertion checked by demo_department's verifier
  platform_callback a signed, encrypted callback body as the platform
                   would POST it (for forged-callback tests)
  JwksIssuer       an in-process JWKS server the tests control (keys,
                   failures) that counts its fetches
  concurrently()   runs a callable N times on a thread pool

Fixtures: bridge_keys (session), bridge_stack (function factory),
shared_bridge (module) and bridge (function: shared_bridge after a sandbox
reset).
"""

import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import shutil
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import harness
import jose_helper as jh
from login_support import (CALLBACK, COOKIE, DEFAULT_PERSONA, Browser,
                           LoginKeys, Sandbox, expected_open_id)

ROOT = harness.ROOT
PYTHON = "/usr/bin/python3"
SANDBOX_DIR = os.path.join(ROOT, "tests", "sandbox")
DEMO_DEPARTMENT = os.path.join(SANDBOX_DIR, "demo_department.py")
if SANDBOX_DIR not in sys.path:
    sys.path.insert(0, SANDBOX_DIR)
import demo_department as dd  # noqa: E402

CLIENT_ID = "bridge-it"
ISSUER = "https://gateway.bridge.test"
STEPUP = "/iamsmart/stepup"
JWKS_PATH = "/.well-known/jwks.json"
APPROVE = "/api/v1/account/stepup/approve"

# name -> settings of the iamsmart_department block (and of its backend)
DEPARTMENTS = {
    "TD": {"audience": "https://td.bridge.test", "namespace": "td"},
    "FEHD": {"audience": "https://fehd.bridge.test", "namespace": "fehd",
             "subject_header": "X-FEHD-User",
             "assertion_header": "X-FEHD-Token",
             "assertion_lifetime": "30s"},
    "LCSD": {},
}

# Locations: /td/, /fehd/ reach demo departments (they verify); /echo/...
# reach the echo backend (it records every header).
DEFAULT_LOCATIONS = """
location /td/ {
    iamsmart_bridge TD;
    proxy_pass http://127.0.0.1:{{dept_td}};
}
location /td/high/ {
    iamsmart_bridge TD;
    iamsmart_require_fr 5m;
    proxy_pass http://127.0.0.1:{{dept_td}};
}
location /fehd/ {
    iamsmart_bridge FEHD;
    proxy_pass http://127.0.0.1:{{dept_fehd}};
}
location /echo/td/ {
    iamsmart_bridge TD;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /echo/fehd/ {
    iamsmart_bridge FEHD;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /echo/lcsd/ {
    iamsmart_bridge LCSD;
    proxy_set_header Authorization "Bearer $iamsmart_assertion";
    proxy_set_header X-Department $iamsmart_department;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /echo/session/ {
    iamsmart_auth on;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /echo/high/ {
    iamsmart_bridge TD;
    iamsmart_require_fr 5m;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /echo/fresh/ {
    iamsmart_bridge TD;
    iamsmart_require_fr 2s;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /public/ {
    proxy_pass http://127.0.0.1:{{backend_port}};
}
"""

BRIDGE_HTTP_CONF = """
iamsmart_redis 127.0.0.1:{{redis_port}};
iamsmart_secret_file {{keys}}/bridge_secret;
iamsmart_session_cookie {{cookie}};
iamsmart_session_timeout 30m 8h;
iamsmart_platform_url http://127.0.0.1:{{sandbox_port}};
iamsmart_platform_api /_iamsmart_api;
iamsmart_client_id {{client_id}};
iamsmart_client_secret_file {{keys}}/client_secret;
iamsmart_kek_file {{keys}}/kek_private.pem;
iamsmart_redirect_uri http://127.0.0.1:{{gw_port}}/iamsmart/callback;
iamsmart_stepup_uri http://127.0.0.1:{{gw_port}}/iamsmart/stepup;
iamsmart_scopes eidapi_auth eidapi_fr;
iamsmart_lang en-US;
iamsmart_issuer {{issuer}};
{{signing_keys}}
{{departments}}
log_format iams_bridge '$request_method $request_uri $status '
                       'dept=[$iamsmart_department] sub=[$iamsmart_sub] '
                       'amr=[$iamsmart_amr] pid=$pid';

server {
    listen 127.0.0.1:{{gw_port}};
    access_log {{dir}}/bridge_access.log iams_bridge;

    location /_iamsmart_api/ {
        internal;
        proxy_pass http://127.0.0.1:{{sandbox_port}}/;
        subrequest_output_buffer_size 64k;
    }
    location = /iamsmart/callback {
        iamsmart_callback;
    }
    location = /iamsmart/stepup {
        iamsmart_stepup_callback;
    }
    location = /.well-known/jwks.json {
        iamsmart_jwks;
    }
    location = /favicon.ico {
        return 204;
    }
{{locations}}
}
"""


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- keys ----

class BridgeKeys:
    """Platform keys (make_keys.py), a gateway secret file with current and
    pairwise masters, and EC signing keys gw-0, gw-1 as private JWK files
    (more with new_signing_key)."""

    def __init__(self, d):
        self.dir = d
        self.login = LoginKeys(d)
        self.current_master = os.urandom(32)
        self.pairwise_master = os.urandom(32)
        self.secret_file = os.path.join(d, "bridge_secret")
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, "w") as f:
            f.write("current %s\npairwise %s\n" % (
                base64.b64encode(self.current_master).decode(),
                base64.b64encode(self.pairwise_master).decode()))
        self.signing = {}
        for kid in ("gw-0", "gw-1"):
            self.new_signing_key(kid)

    def new_signing_key(self, kid, kty="EC", path=None):
        """A private JWK file for kid (jose_helper generates it)."""
        key = jh.Key.generate(kty, kid=kid)
        path = path or os.path.join(self.dir, "sign-%s.jwk" % kid)
        write_atomically(path, json.dumps(key.private_jwk()))
        self.signing[kid] = key
        return path

    def signing_path(self, kid):
        return os.path.join(self.dir, "sign-%s.jwk" % kid)

    def subject(self, namespace, persona, client_id=CLIENT_ID):
        return pairwise_subject(self.pairwise_master, namespace,
                                expected_open_id(persona, client_id))


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def pairwise_subject(master, namespace, open_id):
    """base64url(HMAC-SHA256(HKDF(master, "iamsmart pairwise-subject"),
    namespace || 0x00 || openID)), computed independently of the gateway."""
    key = HKDF(algorithm=hashes.SHA256(), length=32,
               salt=b"iamsmart-gateway/v1",
               info=b"iamsmart pairwise-subject").derive(master)
    mac = hmac.new(key, namespace.encode() + b"\0" + open_id.encode(),
                   hashlib.sha256).digest()
    return b64u(mac)


def department_block(name, settings):
    body = "".join(" %s %s;" % (k, v) for k, v in settings.items())
    return "iamsmart_department %s {%s }" % (name, body)


def signing_key_lines(paths):
    return "\n".join("iamsmart_signing_key %s;" % p for p in paths)


# ---- the stack ----

class DepartmentBackend:
    """demo_department.py as a process."""

    def __init__(self, name, settings, gw_port, min_refetch=1):
        self.name = name
        self.audience = settings.get("audience", name)
        self.subject_header = settings.get("subject_header",
                                           "X-Iamsmart-Subject")
        self.assertion_header = settings.get("assertion_header",
                                             "X-Iamsmart-Assertion")
        argv = [PYTHON, DEMO_DEPARTMENT, "--port", "{port}", "--name", name,
                "--audience", self.audience, "--issuer", ISSUER,
                "--jwks-url", "http://127.0.0.1:%d%s" % (gw_port, JWKS_PATH),
                "--subject-header", self.subject_header,
                "--assertion-header", self.assertion_header,
                "--high-value", "/%s/high/" % name.lower(),
                "--min-refetch", str(min_refetch), "--quiet"]
        self.service = harness.Service("dept-" + name.lower(), argv)

    def start(self):
        self.service.start()
        return self

    def stop(self):
        self.service.stop()

    @property
    def port(self):
        return self.service.port


class BridgeStack:
    """Sandbox, demo departments and nginx, sharing one Redis."""

    def __init__(self, keys, sandbox, departments, nginx, gw_port,
                 redis_port, params):
        self.keys = keys
        self.sandbox = sandbox
        self.departments = departments
        self.nginx = nginx
        self.gw_port = gw_port
        self.redis_port = redis_port
        self.params = params
        self.cookie = COOKIE

    @classmethod
    def create(cls, factory, keys, redis_port, locations=DEFAULT_LOCATIONS,
               departments=None, backends=("TD", "FEHD"), signing=None,
               auto_approve=DEFAULT_PERSONA, sandbox_args=(), **nginx_kw):
        """factory is the conftest `nginx` (or `nginx_module`) factory.
        signing: the key files, first signs (default gw-1, then gw-0)."""
        departments = departments or DEPARTMENTS
        gw_port = harness.free_port()
        base = "http://127.0.0.1:%d" % gw_port
        sandbox = Sandbox(keys.login, [base + CALLBACK, base + STEPUP],
                          auto_approve=auto_approve, args=sandbox_args,
                          client_id=CLIENT_ID)
        started = []
        try:
            sandbox.start()
            started.append(sandbox)
            depts = {}
            for name in backends:
                depts[name] = DepartmentBackend(name, departments[name],
                                                gw_port).start()
                started.append(depts[name])
            signing = signing or [keys.signing_path("gw-1"),
                                  keys.signing_path("gw-0")]
            params = {"gw_port": gw_port, "sandbox_port": sandbox.port,
                      "keys": keys.dir, "cookie": COOKIE,
                      "client_id": CLIENT_ID, "issuer": ISSUER,
                      "signing_keys": signing_key_lines(signing),
                      "departments": "\n".join(
                          department_block(n, s)
                          for n, s in departments.items()),
                      "locations": locations}
            for name, d in depts.items():
                params["dept_" + name.lower()] = d.port
            # {{...}} inside the inserted text are rendered too: render in
            # two passes
            ng = factory(_expand(BRIDGE_HTTP_CONF, params), params=params,
                         redis_port=redis_port, **nginx_kw)
        except BaseException:
            for s in reversed(started):
                s.stop()
            raise
        return cls(keys, sandbox, depts, ng, gw_port, redis_port, params)

    def stop(self):
        for d in self.departments.values():
            d.stop()
        self.sandbox.stop()

    def reconfigure(self, signing=None, locations=None):
        """Rewrites nginx.conf (new signing key list or locations) and
        reloads; returns the new worker pids."""
        if signing is not None:
            self.params["signing_keys"] = signing_key_lines(signing)
        if locations is not None:
            self.params["locations"] = locations
        self.nginx.params.update(self.params)
        self.nginx.set_config(_expand(BRIDGE_HTTP_CONF, self.params))
        return self.nginx.reload()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.gw_port

    def url(self, path):
        return self.base + path

    def sign_in(self, persona=DEFAULT_PERSONA, path="/echo/session/start",
                browser=None):
        """A browser logged in as persona; returns (browser, final page)."""
        self.sandbox.admin("auto-approve", persona=persona)
        b = browser or Browser(name=persona)
        page = b.navigate(self.url(path))
        assert page.response.status == 200, page
        assert b.cookie(COOKIE), b.set_cookies
        return b, page

    def session_cookie(self, browser):
        return "%s=%s" % (COOKIE, browser.cookie(COOKIE))

    def get(self, path, cookie=None, headers=None, method="GET", body=None,
            timeout=10.0):
        """One raw request (no redirects followed)."""
        h = list((headers or {}).items()) if isinstance(headers, dict) \
            else list(headers or [])
        if cookie:
            h.append(("Cookie", cookie))
        return harness.http_request(self.gw_port, path, method=method,
                                    headers=h, body=body, timeout=timeout)

    def jwks(self):
        r = harness.http_request(self.gw_port, JWKS_PATH)
        assert r.status == 200, r
        return r.json()

    def keys_by_kid(self):
        return {k["kid"]: k for k in self.jwks()["keys"]}

    def verify(self, token, department="TD", subject=None, keys=None):
        """(header, claims) of an assertion, checked by demo_department's
        verifier (python3-cryptography) against the published keys."""
        aud = DEPARTMENTS[department].get("audience", department)
        return dd.verify_assertion(token, keys or self.keys_by_kid(), ISSUER,
                                   aud, subject=subject)

    def access_log(self):
        return self.nginx.access_log("bridge_access.log")

    def redis(self):
        return harness.RedisClient(self.redis_port)


def _expand(text, params):
    """Inserts the multi-line parameters (departments, locations, keys)
    so that the placeholders inside them are rendered by harness."""
    for name in ("signing_keys", "departments", "locations"):
        text = text.replace("{{%s}}" % name, params[name])
    return text


def echo(page):
    """The echo backend's record of what reached it."""
    r = page.response if hasattr(page, "response") else page
    assert r.status == 200, r
    rec = r.json()
    assert "header_map" in rec, rec
    return rec


def approve_url(stack, page):
    """The Location of a step-up redirect, checked to be the sandbox's
    approval page with a ticketID; returns the ticketID."""
    r = page.response if hasattr(page, "response") else page
    assert r.status == 302, r
    loc = r.header("Location")
    parts = urllib.parse.urlsplit(loc)
    assert "%s://%s" % (parts.scheme, parts.netloc) == \
        stack.sandbox.base_url, loc
    assert parts.path == APPROVE, loc
    q = urllib.parse.parse_qs(parts.query)
    assert list(q) == ["ticketID"] and q["ticketID"][0], loc
    return q["ticketID"][0]


def is_approve(url):
    return urllib.parse.urlsplit(url).path == APPROVE


def platform_callback(keys, content, code="D00000", secret=None,
                      client_id=CLIENT_ID):
    """(body, headers) of a callback as the platform sends one (a fresh
    CEK wrapped with the gateway's KEK, the content sealed under it, the
    body signed with the client secret), built with the sandbox's protocol
    module; secret= signs with another secret."""
    from iams_sandbox import protocol
    with open(keys.login.kek_public, "rb") as f:
        kek = protocol.load_kek_public(f.read())
    cek = protocol.new_cek()
    plaintext = json.dumps(content).encode()
    body = json.dumps({"txID": "t-" + b64u(os.urandom(6)), "code": code,
                       "message": "test", "secretKey":
                       protocol.wrap_cek(kek, cek),
                       "content": protocol.seal(cek, plaintext)}).encode()
    headers = protocol.signed_headers(
        client_id, keys.login.secret if secret is None else secret, body)
    return body, headers


def concurrently(fn, n, workers=16):
    """fn(i) for i in range(n) on a thread pool; the results in order
    (exceptions re-raised)."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, range(n)))


# ---- an issuer publishing JWKS, for iamsmart_jwt_key_request ----

class _IssuerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        issuer = self.server.issuer
        status, body, ctype = issuer.answer(self.path)
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


class _IssuerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class JwksIssuer:
    """Serves GET /jwks with the public keys it is given, or a failure the
    test sets; every fetch is recorded (time.monotonic())."""

    def __init__(self):
        self.httpd = _IssuerServer(("127.0.0.1", 0), _IssuerHandler)
        self.httpd.issuer = self
        self.port = self.httpd.server_address[1]
        self.lock = threading.Lock()
        self.fetches = []
        self.keys = []
        self.failure = None     # (status, body) or None
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       name="jwks-issuer", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, path):
        with self.lock:
            self.fetches.append((time.monotonic(), path))
            if self.failure is not None:
                status, body = self.failure
                return status, body, "application/json"
            return 200, json.dumps(jh.jwks(self.keys)), "application/json"

    def publish(self, keys):
        with self.lock:
            self.keys = list(keys)
            self.failure = None

    def fail(self, status=500, body='{"error":"down"}'):
        with self.lock:
            self.failure = (status, body)

    @property
    def count(self):
        with self.lock:
            return len(self.fetches)

    def wait_count(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.count < n:
            time.sleep(0.02)
        return self.count


# ---- fixtures ----

@pytest.fixture(scope="session")
def bridge_keys():
    d = harness.make_tempdir("iams-bridge-keys-")
    yield BridgeKeys(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def bridge_stack(nginx, redis_server, bridge_keys):
    yield from harness.stacks_on_demand(BridgeStack.create, nginx,
                                        bridge_keys, redis_server.port)


@pytest.fixture(scope="module")
def shared_bridge(nginx_module, redis_server, bridge_keys):
    yield from harness.one_stack(BridgeStack.create, nginx_module,
                                 bridge_keys, redis_server.port)


@pytest.fixture
def bridge(shared_bridge, backend):
    shared_bridge.sandbox.admin("reset")
    backend.clear()
    return shared_bridge
