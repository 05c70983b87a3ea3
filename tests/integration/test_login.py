"""
Login with iAM Smart, end to end: real nginx with the module, real Redis,
the sandbox playing the platform, and a scripted browser (login_support.
Browser) that keeps its own cookie jar and follows redirects across ports.

Most tests share one stack (the `login` fixture resets the sandbox before
each).  Tests that kill or stop Redis, or need short session timeouts, get
their own Redis, sandbox and nginx.
"""

import base64
import os
import re
import secrets
import signal
import threading
import time
import urllib.parse

import pytest

import harness
from login_support import (  # noqa: F401  (fixtures)
    COOKIE, DEFAULT_PERSONA, Page, expected_open_id, is_callback, is_getqr,
    login, login_keys, login_stack, parse_location, session_key_hash,
    shared_login, signed_in_echo)

LOGIN_COOKIE = COOKIE + "_login"
CJK = re.compile("[\u4e00-\u9fff]")


def _attrs(raw):
    """Set-Cookie attributes as a dict of lower-case names."""
    out = {}
    for part in raw.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        out[k.lower()] = v
    return out


def _set_cookie(response, name):
    """The raw Set-Cookie for name in response (at most one)."""
    found = [raw for raw in response.header_list("Set-Cookie")
             if raw.split("=", 1)[0].strip() == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def _forwarded_values(echo):
    return [v for _, v in echo["headers"]]


def _assert_no_gateway_cookie(echo):
    """The backend never sees the gateway's cookies."""
    for value in _forwarded_values(echo):
        assert COOKIE not in value, echo["headers"]


def _start_login(stack, browser, path="/app/home"):
    """Goes as far as the redirect to the callback and stops there:
    returns (callback URL, its query)."""
    page = browser.navigate(stack.url(path), stop=is_callback)
    assert page.response.status == 302, page
    url, q = parse_location(page)
    assert is_callback(url), url
    return url, q


def _assert_login_redirect(page, stack):
    """A browser without a (valid) session goes to getQR."""
    assert page.response.status == 302, page
    loc, q = parse_location(page)
    assert loc.startswith(stack.sandbox.base_url + "/api/v1/auth/getQR?"), loc
    assert q["clientID"] == "login-it"
    return q


def _as_page(response, stack):
    """Wraps a raw response so the page helpers can read it."""
    return Page(stack.url("/"), response, [])


def _raw_get(stack, path, cookie=None, headers=None, timeout=10.0):
    h = list((headers or {}).items())
    if cookie is not None:
        h.append(("Cookie", cookie))
    return harness.http_request(stack.gw_port, path, headers=h,
                                timeout=timeout)


# ---- the round trip ----

def test_login_round_trip_lands_signed_in(login):
    b = login.browser()
    b.set_cookie("theme", "dark")           # a cookie of the application
    before = set(login.session_keys())

    page = login.login(b, "/app/home?tab=1&x=%C3%A9")

    # 1. protected URL -> getQR, with a binding cookie
    url0, first = page.chain[0]
    assert url0 == login.url("/app/home?tab=1&x=%C3%A9")
    assert first.status == 302
    raw = _set_cookie(first, LOGIN_COOKIE)
    assert raw is not None, first
    a = _attrs(raw)
    assert a.get("max-age") == "600"
    assert "httponly" in a and "secure" in a
    assert a.get("samesite", "").lower() == "lax"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", raw.split(";")[0].split("=")[1])

    getqr = urllib.parse.urljoin(url0, first.header("Location"))
    assert is_getqr(getqr)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(getqr).query))
    assert q["clientID"] == "login-it"
    assert q["responseType"] == "code"
    assert q["redirectURI"] == login.url("/iamsmart/callback")
    assert q["scope"] == "eidapi_auth eidapi_profiles"
    assert q["lang"] == "en-US"
    assert q["source"] == "PC_Browser"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,36}", q["state"])

    # 2. the sandbox (auto-approve) -> callback with code and state
    url1, sandbox = page.chain[1]
    assert url1 == getqr and sandbox.status == 302
    cb_url = urllib.parse.urljoin(url1, sandbox.header("Location"))
    assert is_callback(cb_url)
    cb_q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(cb_url).query))
    assert cb_q["state"] == q["state"] and cb_q["code"]

    # 3. callback -> back to the original URL with a session cookie
    url2, callback = page.chain[2]
    assert url2 == cb_url and callback.status == 302
    assert callback.header("Location") in (
        "/app/home?tab=1&x=%C3%A9", login.url("/app/home?tab=1&x=%C3%A9"))
    raw = _set_cookie(callback, COOKIE)
    assert raw is not None, callback
    value = raw.split(";")[0].split("=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    a = _attrs(raw)
    assert a.get("path") == "/"
    assert a.get("samesite", "").lower() == "lax"
    assert "httponly" in a and "secure" in a
    assert "max-age" not in a and "expires" not in a   # a browser session
    assert _attrs(_set_cookie(callback, LOGIN_COOKIE)).get("max-age") == "0"
    assert b.cookie(LOGIN_COOKIE) is None
    assert b.cookie(COOKIE) == value

    # 4. the backend sees the identity and not our cookies
    assert page.url == login.url("/app/home?tab=1&x=%C3%A9")
    echo = signed_in_echo(page)
    assert echo["path"] == "/app/home?tab=1&x=%C3%A9"
    assert echo["header_map"]["x-openid"] == \
        [expected_open_id(DEFAULT_PERSONA)]
    _assert_no_gateway_cookie(echo)
    assert "theme=dark" in echo["header_map"]["cookie"][0]

    # 5. one new session in Redis, under a hashed key, sealed
    new = set(login.session_keys()) - before
    assert len(new) == 1, new
    key = new.pop()
    assert value not in key
    with login.redis() as c:
        stored = c.command("GET", key)
        ttl = c.command("TTL", key)
    assert value.encode() not in stored
    assert expected_open_id(DEFAULT_PERSONA).encode() not in stored
    assert 0 < ttl <= 30 * 60

    # 6. later requests go straight through
    again = b.navigate(login.url("/app/other"))
    assert not again.chain
    echo = signed_in_echo(again)
    assert echo["header_map"]["x-openid"] == \
        [expected_open_id(DEFAULT_PERSONA)]
    _assert_no_gateway_cookie(echo)


@pytest.mark.parametrize("path", [
    "//evil.example/x",
    "/\\evil.example/x",
    "/%2F%2Fevil.example/x",
    "/app/..//evil.example",
])
def test_return_url_stays_on_the_gateway(login, path):
    b = login.browser()
    cb_url, _ = _start_login(login, b, path)
    page = b.navigate(cb_url, stop=lambda u: True)
    assert page.response.status == 302, page
    back = urllib.parse.urljoin(cb_url, page.response.header("Location"))
    assert urllib.parse.urlsplit(back).netloc == \
        urllib.parse.urlsplit(login.base).netloc, back
    assert b.cookie(COOKIE)


def test_json_clients_get_401_not_a_redirect(login):
    for headers in ({"Accept": "application/json"},
                    {"X-Requested-With": "XMLHttpRequest"}):
        r = _raw_get(login, "/app/api/data", headers=headers)
        assert r.status == 401, r
        assert r.header("Location") is None
        assert r.json()["error"] == "login_required"
        assert _set_cookie(r, COOKIE) is None


def test_signed_in_json_client_is_served(login):
    b = login.browser()
    login.login(b)
    page = b.navigate(login.url("/app/api/data"),
                      headers={"Accept": "application/json"})
    assert not page.chain
    assert signed_in_echo(page)["header_map"]["x-openid"] == \
        [expected_open_id(DEFAULT_PERSONA)]


def test_login_cancelled_shows_a_friendly_page(login):
    login.sandbox.admin("behaviour", persona=DEFAULT_PERSONA, login="cancel")
    b = login.browser()
    page = login.login(b, "/app/cancelled")
    assert is_callback(page.url)
    assert "error_code=D40000" in page.url
    assert page.response.status == 200, page
    assert page.response.header("Content-Type").startswith("text/html")
    text = page.response.text
    assert CJK.search(text), text                 # bilingual
    assert re.search(r"[A-Za-z]{4,} [A-Za-z]{3,}", text)
    assert "/app/cancelled" in text               # a way to try again
    assert b.cookie(COOKIE) is None
    assert _set_cookie(page.response, COOKIE) is None


# ---- forged, replayed and misdirected callbacks ----

def test_replayed_callback_is_rejected(login):
    b = login.browser()
    cb_url, _ = _start_login(login, b)
    binding = b.cookie(LOGIN_COOKIE)
    page = b.navigate(cb_url)
    signed_in_echo(page)
    assert b.cookie(COOKIE)

    tokens_before = len(login.sandbox.log("/api/v1/auth/getToken"))

    # the same browser, with its binding cookie put back
    replay = login.browser()
    replay.set_cookie(LOGIN_COOKIE, binding)
    r = replay.navigate(cb_url)
    assert r.response.status == 400, r
    assert not r.chain
    assert replay.cookie(COOKIE) is None
    assert "text/html" in r.response.header("Content-Type")

    # and a browser that is signed in gets no second session
    r = b.navigate(cb_url)
    assert r.response.status == 400, r
    assert not any(_set_cookie(resp, COOKIE)
                   for _, resp in r.chain + [(None, r.response)])

    assert len(login.sandbox.log("/api/v1/auth/getToken")) == tokens_before


def test_callback_from_another_browser_is_rejected(login):
    tokens_before = len(login.sandbox.log("/api/v1/auth/getToken"))

    # no binding cookie at all
    victim = login.browser()
    cb_url, _ = _start_login(login, victim)
    attacker = login.browser()
    r = attacker.navigate(cb_url)
    assert r.response.status == 400, r
    assert attacker.cookie(COOKIE) is None
    assert "another browser" in r.response.text

    # a binding cookie of its own (the attacker started a login too)
    victim = login.browser()
    cb_url, _ = _start_login(login, victim)
    attacker = login.browser()
    _start_login(login, attacker)
    assert attacker.cookie(LOGIN_COOKIE) != victim.cookie(LOGIN_COOKIE)
    r = attacker.navigate(cb_url)
    assert r.response.status == 400, r
    assert attacker.cookie(COOKIE) is None

    # a forged binding value of the right shape
    victim = login.browser()
    cb_url, _ = _start_login(login, victim)
    attacker = login.browser()
    attacker.set_cookie(LOGIN_COOKIE, base64.urlsafe_b64encode(
        secrets.token_bytes(32)).decode().rstrip("="))
    r = attacker.navigate(cb_url)
    assert r.response.status == 400, r
    assert attacker.cookie(COOKIE) is None

    # the platform was never asked to redeem any of those codes
    assert len(login.sandbox.log("/api/v1/auth/getToken")) == tokens_before


def test_state_that_was_never_issued_is_rejected(login):
    b = login.browser()
    _start_login(login, b)                  # b holds a real binding cookie
    tokens_before = len(login.sandbox.log("/api/v1/auth/getToken"))
    bad = [
        "?code=abc&state=" + secrets.token_urlsafe(24)[:32],
        "?code=abc&state=" + "A" * 36,
        "?code=abc",
        "?state=" + secrets.token_urlsafe(24)[:32],
        "?code=abc&state=has%20space",
        "?code=abc&state=" + "B" * 200,
        "",
    ]
    for query in bad:
        r = b.navigate(login.url("/iamsmart/callback" + query))
        assert r.response.status == 400, (query, r)
        assert not r.chain
        assert _set_cookie(r.response, COOKIE) is None
    assert len(login.sandbox.log("/api/v1/auth/getToken")) == tokens_before
    r = harness.http_request(login.gw_port,
                             "/iamsmart/callback?code=a&state=b",
                             method="POST", body="x")
    assert r.status == 405, r


def test_code_reuse_is_rejected(login):
    first = login.browser()
    cb_url, q1 = _start_login(login, first)
    signed_in_echo(first.navigate(cb_url))

    # a second login, whose callback carries the first (spent) code with
    # the second login's own valid state and binding cookie
    second = login.browser()
    cb_url2, q2 = _start_login(login, second)
    assert q2["code"] != q1["code"]
    forged = login.url("/iamsmart/callback?" + urllib.parse.urlencode(
        {"code": q1["code"], "state": q2["state"]}))
    r = second.navigate(forged)
    assert not r.chain and r.response.status != 302, r
    assert _set_cookie(r.response, COOKIE) is None
    assert second.cookie(COOKIE) is None
    assert CJK.search(r.response.text)          # the friendly page
    assert login.sandbox.codes("/api/v1/auth/getToken")[-1] == "D40004"

    # the state was consumed with it: the real code cannot follow
    r = second.navigate(cb_url2)
    assert r.response.status == 400, r
    assert second.cookie(COOKIE) is None


# ---- the CEK changes under the gateway ----

def test_revoked_cek_is_recovered(login):
    b = login.browser()
    signed_in_echo(login.login(b))          # a CEK is now cached in Redis

    client = login.keys.platform_client(login.sandbox.base_url)
    assert client.revoke_key().ok

    login.sandbox.admin("reset")            # clear the log only
    b2 = login.browser()
    page = login.login(b2, "/app/after-revoke")
    echo = signed_in_echo(page)
    assert echo["header_map"]["x-openid"] == \
        [expected_open_id(DEFAULT_PERSONA)]
    assert b2.cookie(COOKIE)

    entries = sorted(login.sandbox.log(), key=lambda e: e["time_ms"])
    api = [(e["path"], e.get("code")) for e in entries
           if e["path"].startswith("/api/v1/") and
           e["path"] != "/api/v1/auth/getQR"]
    assert api == [("/api/v1/auth/getToken", "D30002"),
                   ("/api/v1/security/getKey", "D00000"),
                   ("/api/v1/auth/getToken", "D00000")], api


def test_injected_cek_fault_is_recovered_once(login):
    b = login.browser()
    signed_in_echo(login.login(b))

    login.sandbox.admin("reset")
    login.sandbox.admin("cek-fault", count=1)
    b2 = login.browser()
    signed_in_echo(login.login(b2, "/app/after-fault"))
    assert login.sandbox.codes("/api/v1/auth/getToken") == \
        ["D30002", "D00000"]

    # two faults in a row: the gateway retries once, then gives up with a
    # page, never a loop
    login.sandbox.admin("reset")
    login.sandbox.admin("cek-fault", count=2)
    b3 = login.browser()
    page = login.login(b3, "/app/after-faults")
    assert is_callback(page.url)
    assert page.response.status != 302, page
    assert b3.cookie(COOKIE) is None
    assert login.sandbox.codes("/api/v1/auth/getToken") == \
        ["D30002", "D30002"]
    assert CJK.search(page.response.text)


# ---- sessions ----

def test_logout(login):
    b = login.browser()
    signed_in_echo(login.login(b))
    cookie = b.cookie(COOKIE)
    before = set(login.session_keys())

    r = b.navigate(login.url("/logout"), stop=lambda u: True)
    assert r.response.status == 302, r
    assert r.response.header("Location") in (
        "/public/bye", login.url("/public/bye"))
    raw = _set_cookie(r.response, COOKIE)
    assert raw is not None
    assert raw.split(";")[0] == COOKIE + "="
    assert _attrs(raw).get("max-age") == "0"
    assert b.cookie(COOKIE) is None
    gone = before - set(login.session_keys())
    assert len(gone) == 1, gone

    # the old cookie, kept by someone, is worth nothing now
    r = _raw_get(login, "/app/home", cookie="%s=%s" % (COOKIE, cookie))
    _assert_login_redirect(_as_page(r, login), login)

    # logout without a session still clears and redirects
    r = _raw_get(login, "/logout")
    assert r.status == 302, r
    assert r.header("Location") in ("/public/bye", login.url("/public/bye"))


def test_session_hash_is_logged_not_the_cookie(login):
    b = login.browser()
    before = set(login.session_keys())
    page = login.login(b, "/app/logged")
    echo = signed_in_echo(page)
    cookie = b.cookie(COOKIE)
    key = (set(login.session_keys()) - before).pop()
    h = session_key_hash(key)
    assert echo["header_map"]["x-session-hash"] == [h]

    log = login.login_access_log()
    line = [ln for ln in log.splitlines() if ln.startswith("/app/logged ")]
    assert line and line[-1] == "/app/logged 200 hash=[%s] openid=[%s]" % (
        h, expected_open_id(DEFAULT_PERSONA)), log
    errlog = login.nginx.error_log()
    assert "login complete, session %s" % h in errlog
    assert cookie not in errlog and cookie not in log


@pytest.mark.parametrize("value", [
    "abc",
    "!" * 43,
    "A" * 42,
    "A" * 44,
    "A" * 42 + "=",
    "A" * 4096,
    "%00" * 20,
])
def test_malformed_session_cookie_is_no_session(login, value):
    r = _raw_get(login, "/app/x", cookie="%s=%s" % (COOKIE, value))
    _assert_login_redirect(_as_page(r, login), login)
    r = _raw_get(login, "/app/x", cookie="%s=%s" % (COOKIE, value),
                 headers={"Accept": "application/json"})
    assert r.status == 401, r


def test_unknown_or_tampered_session_cookie_is_no_session(login):
    b = login.browser()
    signed_in_echo(login.login(b))
    real = b.cookie(COOKIE)
    unknown = base64.urlsafe_b64encode(secrets.token_bytes(32)) \
        .decode().rstrip("=")
    flipped = real[:-2] + ("A" if real[-2] != "A" else "B") + real[-1]
    for value in (unknown, flipped):
        r = _raw_get(login, "/app/x", cookie="%s=%s" % (COOKIE, value))
        _assert_login_redirect(_as_page(r, login), login)
    # the real one still works, also among other cookies
    r = _raw_get(login, "/app/x", cookie="a=1; %s=%s; b=2" % (COOKIE, real))
    assert r.status == 200, r
    assert r.json()["header_map"]["cookie"] == ["a=1; b=2"]


def test_concurrent_logins_never_share_a_session(login):
    """Several browsers log in at the same moment, each approving as its own
    persona on the sandbox's approval page."""
    login.sandbox.admin("auto-approve", persona=None)
    personas = ["chan-tai-man", "wong-mei-ling", "lee-siu-ming",
                "cheung-ka-yan"]
    barrier = threading.Barrier(len(personas))
    results, errors = {}, []

    def run(persona):
        try:
            b = login.browser(name=persona)
            barrier.wait(10)
            approval = b.navigate(login.url("/app/who?me=" + persona))
            assert approval.response.status == 200, approval
            assert is_getqr(approval.url), approval.url
            barrier.wait(10)
            page = b.submit(approval, "approve:" + persona)
            results[persona] = (b, page)
        except Exception as e:           # reported by the main thread
            errors.append((persona, repr(e)))

    threads = [threading.Thread(target=run, args=(p,)) for p in personas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(results) == sorted(personas)

    cookies = set()
    for persona, (b, page) in results.items():
        echo = signed_in_echo(page)
        assert echo["path"] == "/app/who?me=" + persona
        assert echo["header_map"]["x-openid"] == [expected_open_id(persona)]
        _assert_no_gateway_cookie(echo)
        cookies.add(b.cookie(COOKIE))
    assert len(cookies) == len(personas)
    assert len({expected_open_id(p) for p in personas}) == len(personas)

    # and afterwards each browser still is who it was
    for persona, (b, _) in results.items():
        echo = signed_in_echo(b.navigate(login.url("/app/again")))
        assert echo["header_map"]["x-openid"] == [expected_open_id(persona)]


# ---- expiry ----

def test_idle_and_absolute_expiry(login_stack):
    # idle 2 s, absolute 4 s.  The module rewrites the record (sliding
    # last_seen) only when min(60 s, idle/10) has passed since the last
    # write; idle/10 rounds down to 0 s here, so every request slides it.
    # Session times are whole seconds, so the margins below are >= 1 s.
    stack = login_stack(idle="2s", absolute="4s")

    # idle: no request for > 2 s ends the session
    b = stack.browser()
    signed_in_echo(stack.login(b))
    time.sleep(1.0)
    assert not b.navigate(stack.url("/app/1"), stop=is_getqr).chain
    time.sleep(2.3)
    r = b.navigate(stack.url("/app/2"), stop=is_getqr)
    _assert_login_redirect(r, stack)
    assert re.search(r"session \w+ (ended: idle timeout|unknown or expired)",
                     stack.nginx.error_log())

    # and logging in again works
    signed_in_echo(b.navigate(stack.url("/app/3")))

    # absolute: a request every 0.4 s keeps it alive past the idle limit,
    # but not past the absolute one
    b = stack.browser()
    t_before = time.monotonic()
    signed_in_echo(stack.login(b))
    t_after = time.monotonic()          # created in [t_before, t_after]
    expired_at = None
    while time.monotonic() - t_after < 4.5:
        time.sleep(0.4)
        r = b.navigate(stack.url("/app/tick"), stop=is_getqr)
        now = time.monotonic()
        if r.response.status == 200:
            assert expired_at is None, "served again after expiry"
            continue
        _assert_login_redirect(r, stack)
        if expired_at is None:
            expired_at = now
    assert expired_at is not None, "the session outlived its 4 s limit"
    # alive for at least 3 s of activity (whole-second clock), gone by 4 s
    assert expired_at - t_before >= 3.0, expired_at - t_before
    assert expired_at - t_after <= 4.0 + 0.4 + 0.5
    assert re.search(r"session \w+ (ended: absolute expiry|unknown or "
                     r"expired)", stack.nginx.error_log())


# ---- Redis failures ----

def _private_redis(always_fsync=True):
    srv = harness.RedisServer()
    if always_fsync:
        # the module writes sessions with plain SET; with the default
        # `appendfsync everysec` a SIGKILL may lose the last second of
        # writes, so this Redis fsyncs every write
        srv.service.argv += ["--appendfsync", "always"]
    return srv.start()


def _kill_redis(srv, sig=signal.SIGKILL):
    os.kill(srv.pid, sig)
    srv.service.proc.wait(10)
    srv.service.proc = None


def _wait_signed_in(stack, browser, timeout=15.0, in_a_row=10):
    """Polls a protected URL until it is served in_a_row times in a row
    (every worker has reconnected on its own; a worker waits at most its
    2 s backoff); returns the last echo.  Meanwhile only 503 is allowed."""
    deadline = time.monotonic() + timeout
    last, served = None, 0
    while time.monotonic() < deadline:
        last = browser.navigate(stack.url("/app/back"), stop=is_getqr)
        if last.response.status == 200:
            served += 1
            if served == in_a_row:
                return signed_in_echo(last)
            continue
        assert last.response.status == 503, last     # never a redirect
        served = 0
        time.sleep(0.1)
    raise AssertionError("not served %d times in a row within %.0fs: %r"
                         % (in_a_row, timeout, last))


def test_sessions_survive_redis_sigkill_with_aof(login_stack, nginx):
    srv = _private_redis()
    try:
        stack = login_stack(redis=srv)
        with stack.redis() as c:
            assert c.command("CONFIG", "GET", "appendfsync") == \
                [b"appendfsync", b"always"]
        browsers = []
        for persona in ("chan-tai-man", "lee-siu-ming"):
            stack.sandbox.admin("auto-approve", persona=persona)
            b = stack.browser()
            echo = signed_in_echo(stack.login(b))
            assert echo["header_map"]["x-openid"] == \
                [expected_open_id(persona)]
            browsers.append((persona, b))
        keys = stack.session_keys()
        assert len(keys) == 2

        _kill_redis(srv)

        # down: 503 (a bilingual page for browsers, JSON for API clients),
        # never a redirect to login; public still served
        for persona, b in browsers:
            r = b.navigate(stack.url("/app/down"), stop=lambda u: True)
            assert r.response.status == 503, r
            assert "服務暫時未能使用" in r.response.text
            r = b.navigate(stack.url("/app/down"), stop=lambda u: True,
                           headers={"Accept": "application/json"})
            assert r.response.status == 503, r
            assert r.response.json()["error"] == "session_store_unavailable"
        r = _raw_get(stack, "/app/down")
        assert r.status == 503 and r.header("Location") is None, r
        assert _raw_get(stack, "/public/up").status == 200

        srv.start()                     # same dir (AOF), same port
        assert stack.session_keys() == keys
        for persona, b in browsers:
            echo = _wait_signed_in(stack, b)
            assert echo["header_map"]["x-openid"] == \
                [expected_open_id(persona)]
    finally:
        srv.stop()


def test_redis_sigstop_gives_503_within_the_timeout(login_stack):
    srv = _private_redis(always_fsync=False)
    stopped = False
    try:
        stack = login_stack(redis=srv, redis_timeout="500ms")
        b = stack.browser()
        signed_in_echo(stack.login(b))
        workers = stack.nginx.worker_pids()

        os.kill(srv.pid, signal.SIGSTOP)
        stopped = True

        cases = [
            ("signed in", lambda: b.navigate(stack.url("/app/stopped"),
                                             stop=lambda u: True).response),
            ("no session", lambda: _raw_get(stack, "/app/stopped")),
            ("json", lambda: b.navigate(
                stack.url("/app/stopped"), stop=lambda u: True,
                headers={"Accept": "application/json"}).response),
            ("signed in again", lambda: b.navigate(
                stack.url("/app/stopped2"), stop=lambda u: True).response),
        ]
        for name, fn in cases:
            t = time.monotonic()
            r = fn()
            took = time.monotonic() - t
            assert r.status == 503, (name, r)
            assert r.header("Location") is None, (name, r)
            if name == "json":
                assert r.header("Content-Type").startswith("application/json")
                assert r.json()["error"] == "session_store_unavailable"
            else:
                assert r.header("Content-Type").startswith("text/html")
                assert "temporarily unavailable" in r.text
            assert took < 0.5 + 1.0, (name, took)

        # a JSON client without a cookie needs no Redis to be told to log in
        r = _raw_get(stack, "/app/stopped",
                     headers={"Accept": "application/json"})
        assert r.status == 401 and r.header("Location") is None, r

        # a location without iamsmart directives keeps serving, at once
        t = time.monotonic()
        r = _raw_get(stack, "/public/ok")
        assert r.status == 200 and time.monotonic() - t < 0.5, r
        assert b.cookie(COOKIE)         # the browser still holds its cookie

        os.kill(srv.pid, signal.SIGCONT)
        stopped = False

        echo = _wait_signed_in(stack, b)
        assert echo["header_map"]["x-openid"] == \
            [expected_open_id(DEFAULT_PERSONA)]
        assert stack.nginx.worker_pids() == workers     # no reload
        # new logins work as well
        b2 = stack.browser()
        signed_in_echo(stack.login(b2))
    finally:
        if stopped:
            os.kill(srv.pid, signal.SIGCONT)
        srv.stop()
