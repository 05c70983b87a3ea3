"""
Pieces for the login tests: key material, the iAM Smart sandbox as a
process, an nginx config for "login with iAM Smart", and a scripted browser
with its own cookie jar.

The gateway's cookies are always Secure.  Python's cookie jar will not send
a Secure cookie over http, and real browsers do send them to loopback hosts
(a secure context), so Browser keeps its own jar: one per host (ports are
not part of a cookie's scope, as in browsers), honouring Path, Max-Age and
deletion by Max-Age=0.

Fixtures (import them into a test module):

  login_keys     session: client secret, KEK pair and a gateway secret file
  login_stack    function: factory; login_stack(**kw) -> LoginStack with its
                 own sandbox and nginx (and the Redis you pass, or the
                 suite's).  See LoginStack.create for the options.
  shared_login   module: one LoginStack for the tests of a file that need no
                 special configuration; the sandbox is reset before each use
                 through the `login` fixture.
  login          function: shared_login after a sandbox reset.

Standalone use (bench/session.sh): `python3 login_support.py login URL`
logs a scripted browser in through whatever stack serves URL and prints the
session cookie.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse

import pytest

import harness

ROOT = harness.ROOT
PYTHON = "/usr/bin/python3"
SANDBOX_DIR = os.path.join(ROOT, "tests", "sandbox")
SANDBOX = os.path.join(SANDBOX_DIR, "iamsmart_sandbox.py")
MAKE_KEYS = os.path.join(SANDBOX_DIR, "make_keys.py")

CLIENT_ID = "login-it"
COOKIE = "iamsmart_session"
DEFAULT_PERSONA = "chan-tai-man"
CALLBACK = "/iamsmart/callback"


# ---- keys ----

class LoginKeys:
    """make_keys.py output plus the gateway's own secret file."""

    def __init__(self, d):
        self.dir = d
        subprocess.run([PYTHON, MAKE_KEYS, d], check=True,
                       capture_output=True)
        self.client_secret = os.path.join(d, "client_secret")
        self.kek_private = os.path.join(d, "kek_private.pem")
        self.kek_public = os.path.join(d, "kek_public.pem")
        self.gateway_secret = os.path.join(d, "gateway_secret")
        write_gateway_secret(self.gateway_secret)
        with open(self.client_secret, "rb") as f:
            self.secret = f.read().strip()
        with open(self.kek_private, "rb") as f:
            self.private_pem = f.read()

    def platform_client(self, base_url):
        """The sandbox's reference client (client.py), for calls the
        gateway does not make itself (revokeKey)."""
        if SANDBOX_DIR not in sys.path:
            sys.path.insert(0, SANDBOX_DIR)
        from client import Client
        return Client(base_url, CLIENT_ID, self.secret, self.private_pem)


def write_gateway_secret(path):
    """The file behind iamsmart_secret_file: "current <base64 of 32
    bytes>", mode 0600 (the master reads it as root)."""
    line = "current %s\n" % base64.b64encode(secrets.token_bytes(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(line)
    os.chmod(path, 0o600)
    return path


# ---- the sandbox ----

class Sandbox:
    """iamsmart_sandbox.py on a free loopback port, stopped by pid."""

    def __init__(self, keys, redirect_uris, auto_approve=DEFAULT_PERSONA,
                 args=(), client_id=CLIENT_ID):
        argv = [PYTHON, SANDBOX, "--host", "127.0.0.1", "--port", "{port}",
                "--client-id", client_id,
                "--client-secret-file", keys.client_secret,
                "--kek-cert-or-pubkey", keys.kek_public,
                "--callback-delay", "0"]
        for uri in redirect_uris:
            argv += ["--redirect-uri", uri]
        if auto_approve:
            argv += ["--auto-approve", auto_approve]
        argv += list(args)
        self.service = harness.Service("sandbox", argv)

    def start(self):
        self.service.start()
        return self

    def stop(self, remove=True):
        self.service.stop(remove=remove)

    @property
    def port(self):
        return self.service.port

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def admin(self, name, **args):
        r = harness.http_request(self.port, "/sandbox/admin/" + name,
                                 method="POST", body=json.dumps(args),
                                 headers={"Content-Type": "application/json"})
        assert r.status == 200, "sandbox admin %s: %r" % (name, r)
        return r.json()

    def log(self, path=None, limit=200):
        q = "limit=%d" % limit
        if path:
            q += "&path=" + urllib.parse.quote(path)
        r = harness.http_request(self.port, "/sandbox/admin/log?" + q)
        assert r.status == 200, r
        return r.json()["entries"]

    def codes(self, path):
        """Return codes the sandbox answered on path, oldest first."""
        entries = self.log(path)
        entries.sort(key=lambda e: e.get("time_ms", 0))
        return [e.get("code") for e in entries]


# ---- nginx ----

# {{gw_port}} is picked before the sandbox starts: the sandbox must know the
# callback URL (redirect URIs are registered, matched exactly).
LOGIN_HTTP_CONF = """
iamsmart_redis 127.0.0.1:{{redis_port}};
iamsmart_redis_timeout {{redis_timeout}};
iamsmart_secret_file {{keys}}/gateway_secret;
iamsmart_session_cookie {{cookie}};
iamsmart_session_timeout {{idle}} {{absolute}};
iamsmart_platform_url http://127.0.0.1:{{sandbox_port}};
iamsmart_platform_api /_iamsmart_api;
iamsmart_client_id {{client_id}};
iamsmart_client_secret_file {{keys}}/client_secret;
iamsmart_kek_file {{keys}}/kek_private.pem;
iamsmart_redirect_uri http://{{gw_host}}:{{gw_port}}/iamsmart/callback;
iamsmart_scopes eidapi_auth eidapi_profiles;
iamsmart_lang en-US;
iamsmart_logout_redirect /public/bye;

log_format iams_login '$request_uri $status hash=[$iamsmart_session_hash] '
                      'openid=[$iamsmart_openid]';

server {
    listen 127.0.0.1:{{gw_port}};
    access_log {{dir}}/login_access.log iams_login;

    location /_iamsmart_api/ {
        internal;
        proxy_pass http://127.0.0.1:{{sandbox_port}}/;
        subrequest_output_buffer_size 64k;
    }
    location = /iamsmart/callback {
        iamsmart_callback;
    }
    location = /logout {
        iamsmart_logout;
    }
    location /public {
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
    # browsers fetch it on their own: it must not start (or, with an
    # auto-approving sandbox, complete) a login behind the test's back
    location = /favicon.ico {
        return 204;
    }
    location / {
        iamsmart_auth on;
        proxy_set_header X-OpenID $iamsmart_openid;
        proxy_set_header X-Session-Hash $iamsmart_session_hash;
        proxy_set_header X-Auth-Time $iamsmart_auth_time;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
}
"""


class LoginStack:
    """A sandbox and an nginx configured for login, sharing one Redis."""

    def __init__(self, keys, sandbox, nginx, gw_port, gw_host, redis_port,
                 cookie):
        self.keys = keys
        self.sandbox = sandbox
        self.nginx = nginx
        self.gw_port = gw_port
        self.gw_host = gw_host
        self.redis_port = redis_port
        self.cookie = cookie

    @classmethod
    def create(cls, factory, keys, redis_port, idle="30m", absolute="8h",
               redis_timeout="500ms", cookie=COOKIE,
               auto_approve=DEFAULT_PERSONA, sandbox_args=(),
               gw_host="127.0.0.1", **nginx_kw):
        """factory is the conftest `nginx` (or `nginx_module`) factory."""
        gw_port = harness.free_port()
        redirect = "http://%s:%d%s" % (gw_host, gw_port, CALLBACK)
        sandbox = Sandbox(keys, [redirect], auto_approve=auto_approve,
                          args=sandbox_args).start()
        try:
            params = {"gw_port": gw_port, "gw_host": gw_host,
                      "sandbox_port": sandbox.port, "keys": keys.dir,
                      "cookie": cookie, "idle": idle, "absolute": absolute,
                      "redis_timeout": redis_timeout, "client_id": CLIENT_ID}
            ng = factory(LOGIN_HTTP_CONF, params=params,
                         redis_port=redis_port, **nginx_kw)
        except BaseException:
            sandbox.stop()
            raise
        return cls(keys, sandbox, ng, gw_port, gw_host, redis_port, cookie)

    def stop(self):
        self.sandbox.stop()

    @property
    def base(self):
        return "http://%s:%d" % (self.gw_host, self.gw_port)

    def url(self, path):
        return self.base + path

    def browser(self, **kw):
        return Browser(**kw)

    def login(self, browser, path="/app/home", **kw):
        """Runs a whole login from a protected URL and returns the final
        response (the backend's echo of the protected request)."""
        r = browser.navigate(self.url(path), **kw)
        return r

    def login_access_log(self):
        return self.nginx.access_log("login_access.log")

    def redis(self):
        return harness.RedisClient(self.redis_port)

    def session_keys(self):
        with self.redis() as c:
            return sorted(k.decode() for k in
                          c.command("KEYS", "iamsmart:sess:*"))


def session_key_hash(redis_key):
    """What $iamsmart_session_hash shows for a Redis session key: the first
    12 hex digits of SHA-256 of the key (a log correlator, never the
    cookie)."""
    return hashlib.sha256(redis_key.encode()).hexdigest()[:12]


def expected_open_id(persona, client_id=CLIENT_ID):
    """The sandbox's pairwise openID of a persona at our client, computed
    independently: hex HMAC-SHA256(SHA-256("iams-sandbox-openid|" + client
    id), persona id)."""
    salt = hashlib.sha256(b"iams-sandbox-openid|"
                          + client_id.encode()).digest()
    return hmac.new(salt, persona.encode(), hashlib.sha256).hexdigest()


# ---- a scripted browser ----

class Cookie:
    def __init__(self, name, value, path, expires, attrs):
        self.name = name
        self.value = value
        self.path = path
        self.expires = expires          # time.monotonic() deadline or None
        self.attrs = attrs              # lower-case attribute names/values


class Page:
    """A response plus the URL it came from and the redirects before it."""

    def __init__(self, url, response, chain):
        self.url = url
        self.response = response
        self.chain = chain              # [(url, Response)] before this one

    def __getattr__(self, name):
        return getattr(self.response, name)

    def __repr__(self):
        return "<Page %s %r>" % (self.url, self.response)


class Browser:
    """A browser without JavaScript: follows redirects across hosts and
    ports, keeps cookies per host, submits forms.  Secure cookies are sent
    over http to loopback, as browsers do for these secure contexts."""

    MAX_REDIRECTS = 10

    def __init__(self, name="browser", user_agent=None):
        self.name = name
        self.user_agent = user_agent or (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/120.0 Safari/537.36")
        self.jar = {}                   # host -> {name: Cookie}
        self.set_cookies = []           # every (url, raw Set-Cookie) seen

    # -- cookies --

    def cookies(self, host="127.0.0.1"):
        """name -> value of the live cookies of host."""
        self._expire(host)
        return {c.name: c.value for c in self.jar.get(host, {}).values()}

    def cookie(self, name, host="127.0.0.1"):
        return self.cookies(host).get(name)

    def cookie_attrs(self, name, host="127.0.0.1"):
        c = self.jar.get(host, {}).get(name)
        return c.attrs if c else None

    def set_cookie(self, name, value, host="127.0.0.1", path="/"):
        self.jar.setdefault(host, {})[name] = Cookie(name, value, path, None,
                                                     {})

    def delete_cookie(self, name, host="127.0.0.1"):
        self.jar.get(host, {}).pop(name, None)

    def _expire(self, host):
        now = time.monotonic()
        jar = self.jar.get(host, {})
        for name in [n for n, c in jar.items()
                     if c.expires is not None and c.expires <= now]:
            del jar[name]

    def _store(self, url, raw):
        self.set_cookies.append((url, raw))
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        pair, _, rest = raw.partition(";")
        name, eq, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name:
            return
        attrs = {}
        for a in rest.split(";"):
            k, _, v = a.strip().partition("=")
            if k:
                attrs[k.strip().lower()] = v.strip()
        path = attrs.get("path") or "/"
        if not path.startswith("/"):
            path = "/"
        expires = None
        if "max-age" in attrs:
            try:
                age = int(attrs["max-age"])
            except ValueError:
                age = None
            if age is not None:
                if age <= 0:
                    self.jar.get(host, {}).pop(name, None)
                    return
                expires = time.monotonic() + age
        self.jar.setdefault(host, {})[name] = Cookie(name, value, path,
                                                     expires, attrs)

    def _cookie_header(self, host, path):
        self._expire(host)
        out = []
        for c in self.jar.get(host, {}).values():
            if path == c.path or path.startswith(c.path.rstrip("/") + "/") \
                    or c.path == "/":
                out.append("%s=%s" % (c.name, c.value))
        return "; ".join(out)

    # -- requests --

    def request(self, method, url, headers=None, body=None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http":
            raise ValueError("only http URLs: %s" % url)
        host = parts.hostname
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("loopback only: %s" % url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        h = [("User-Agent", self.user_agent),
             ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")]
        if headers:
            names = {k.lower() for k, _ in
                     (headers.items() if isinstance(headers, dict)
                      else headers)}
            h = [(k, v) for k, v in h if k.lower() not in names]
            h += list(headers.items() if isinstance(headers, dict)
                      else headers)
        cookie = self._cookie_header(host, parts.path or "/")
        if cookie:
            h.append(("Cookie", cookie))
        r = harness.http_request(parts.port or 80, target, method=method,
                                 headers=h, body=body, host=host)
        for raw in r.header_list("Set-Cookie"):
            self._store(url, raw)
        return r

    def navigate(self, url, method="GET", headers=None, body=None,
                 stop=None):
        """Loads url and follows redirects like a browser.  stop(url) may
        return True to leave a redirect to url unfollowed (the returned
        Page is then the redirect itself)."""
        chain = []
        for _ in range(self.MAX_REDIRECTS + 1):
            r = self.request(method, url, headers=headers, body=body)
            loc = r.header("Location")
            if r.status not in (301, 302, 303, 307, 308) or loc is None:
                return Page(url, r, chain)
            nxt = urllib.parse.urljoin(url, loc)
            if stop is not None and stop(nxt):
                return Page(url, r, chain)
            chain.append((url, r))
            if r.status in (301, 302, 303):
                method, body = "GET", None
                headers = [(k, v) for k, v in
                           (headers.items() if isinstance(headers, dict)
                            else (headers or []))
                           if k.lower() not in ("content-type",)]
            url = nxt
        raise AssertionError("too many redirects from %s" % url)

    def submit(self, page, button_value, field="decision"):
        """Submits the (single) form of an HTML page with the button whose
        value is button_value, and follows the redirects."""
        html = page.response.text
        m = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html)
        assert m, "no form on %s: %s" % (page.url, html[:500])
        assert ('value="%s"' % button_value) in html, \
            "no button %s on %s" % (button_value, page.url)
        action = urllib.parse.urljoin(page.url, m.group(1))
        body = urllib.parse.urlencode({field: button_value})
        return self.navigate(action, method="POST", body=body, headers=[
            ("Content-Type", "application/x-www-form-urlencoded")])


def parse_location(page):
    """(url, query dict) of a redirect's Location."""
    loc = urllib.parse.urljoin(page.url, page.response.header("Location"))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    return loc, {k: v[0] for k, v in q.items()}


def is_callback(url):
    return urllib.parse.urlsplit(url).path == CALLBACK


def is_getqr(url):
    return urllib.parse.urlsplit(url).path == "/api/v1/auth/getQR"


def signed_in_echo(page):
    """The echo backend's record of a request that reached it."""
    assert page.response.status == 200, page
    echo = page.response.json()
    assert "header_map" in echo, echo
    return echo


# ---- fixtures ----

@pytest.fixture(scope="session")
def login_keys():
    d = harness.make_tempdir("iams-login-keys-")
    yield LoginKeys(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def login_stack(nginx, redis_server, login_keys):
    yield from harness.stacks_on_demand(LoginStack.create, nginx, login_keys,
                                        redis_server.port)


@pytest.fixture(scope="module")
def shared_login(nginx_module, redis_server, login_keys):
    yield from harness.one_stack(LoginStack.create, nginx_module, login_keys,
                                 redis_server.port)


@pytest.fixture
def login(shared_login):
    shared_login.sandbox.admin("reset")
    return shared_login


# ---- standalone: log in and print the cookie (bench/session.sh) ----

def _main(argv):
    if len(argv) != 3 or argv[1] != "login":
        sys.stderr.write("usage: login_support.py login URL\n")
        return 2
    b = Browser()
    page = b.navigate(argv[2])
    host = urllib.parse.urlsplit(argv[2]).hostname
    value = b.cookie(COOKIE, host)
    if page.response.status != 200 or not value:
        sys.stderr.write("login failed: %r\n" % page)
        return 1
    print("%s=%s" % (COOKIE, value))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
