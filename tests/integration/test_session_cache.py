"""
The session micro-cache (iamsmart_session_cache SIZE [valid=TIME]), end to
end: real nginx (two workers sharing the zone), real Redis, the sandbox.

What it must and must not do:
  - within "valid" a session is checked without a Redis GET, and after
    "valid" Redis is asked again (Redis's own command counters tell);
  - without the directive every protected request costs one GET;
  - this gateway's own writes take effect at once however long "valid" is:
    logout, a passed step-up, a session that ended;
  - another host's logout (the key deleted in Redis) takes effect within
    "valid";
  - during a Redis outage a cached session is served for at most "valid",
    then 503, never a redirect to login;
  - bad sizes and times stop `nginx -t` with a clear message.

The stacks are the login and bridge stacks of login_support and
bridge_support, their http block prefixed with the directive.
"""

import os
import re
import signal
import time

import pytest

import harness
from bridge_support import BridgeStack, bridge_keys, echo  # noqa: F401
from login_support import (  # noqa: F401  (fixtures)
    COOKIE, DEFAULT_PERSONA, LoginStack, expected_open_id, is_getqr,
    login_keys, signed_in_echo)


def _with_cache(factory, directive):
    """The nginx factory, with directive at the top of the http block."""
    def make(http_conf, **kw):
        return factory(directive + "\n" + http_conf, **kw)
    return make


@pytest.fixture
def cache_stack(nginx, login_keys):
    """Factory: cache_stack(directive, redis=None, **LoginStack options)
    -> a LoginStack on its own Redis (so that its counters are ours)."""
    made, servers = [], []

    def make(directive, redis=None, **kw):
        if redis is None:
            redis = harness.RedisServer().start()
            servers.append(redis)
        factory = _with_cache(nginx, directive) if directive else nginx
        s = LoginStack.create(factory, login_keys, redis.port, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
    for srv in servers:
        srv.stop()


def _gets(stack):
    """GET commands Redis has served since the last reset."""
    with stack.redis() as c:
        info = c.command("INFO", "commandstats").decode()
    m = re.search(r"^cmdstat_get:calls=(\d+)", info, re.M)
    return int(m.group(1)) if m else 0


def _reset_stats(stack):
    with stack.redis() as c:
        assert c.command("CONFIG", "RESETSTAT") == "OK"


def _get(stack, browser, path, **kw):
    return browser.navigate(stack.url(path), stop=is_getqr, **kw)


def _assert_login_redirect(page, stack):
    assert page.response.status == 302, page
    loc = page.response.header("Location")
    assert loc.startswith(stack.sandbox.base_url + "/api/v1/auth/getQR?"), loc


def _signed_in(stack, b):
    """Logs b in; returns the time the landing request (which filled the
    cache) was answered."""
    echo_ = signed_in_echo(stack.login(b))
    assert echo_["header_map"]["x-openid"] == \
        [expected_open_id(DEFAULT_PERSONA)]
    return time.monotonic()


# ---- hits and misses ----

def test_a_hot_session_skips_redis_within_valid(cache_stack):
    stack = cache_stack("iamsmart_session_cache 1m valid=3s;",
                        log_level="debug")
    b = stack.browser()
    filled = _signed_in(stack, b)
    _reset_stats(stack)

    # within valid: served, with the session's identity, no GET at all
    # (the two workers share the zone, so whichever worker answers hits)
    for i in range(6):
        page = _get(stack, b, "/app/hot/%d" % i)
        assert signed_in_echo(page)["header_map"]["x-openid"] == \
            [expected_open_id(DEFAULT_PERSONA)]
    assert time.monotonic() - filled < 3.0, "too slow to prove anything"
    assert _gets(stack) == 0

    # after valid: Redis again, once, and the entry is filled anew
    time.sleep(max(0.0, filled + 3.3 - time.monotonic()))
    signed_in_echo(_get(stack, b, "/app/later/1"))
    assert _gets(stack) == 1
    signed_in_echo(_get(stack, b, "/app/later/2"))
    assert _gets(stack) == 1

    log = stack.nginx.error_log()
    assert "iamsmart: session cache hit" in log
    assert "iamsmart: session cache filled" in log

    # with no more requests, the workers' opened copies still go once
    # their entry's time is over
    def dropped():
        return sum(int(n) for n in re.findall(
            r"session cache sweep dropped (\d+) opened",
            stack.nginx.error_log()))

    before = dropped()
    time.sleep(3.5)
    assert dropped() > before


def test_without_the_directive_every_request_costs_one_get(cache_stack):
    stack = cache_stack(None)
    b = stack.browser()
    _signed_in(stack, b)
    _reset_stats(stack)
    for i in range(4):
        signed_in_echo(_get(stack, b, "/app/plain/%d" % i))
    assert _gets(stack) == 4


def test_misses_and_unknown_cookies_are_not_cached(cache_stack):
    stack = cache_stack("iamsmart_session_cache 1m valid=30s;")
    b = stack.browser()
    _signed_in(stack, b)
    _reset_stats(stack)

    # a cookie that names no session asks Redis every time (no negative
    # caching: a login on another host must be seen at once)
    stranger = "%s=%s" % (COOKIE, "A" * 43)
    for _ in range(3):
        r = harness.http_request(stack.gw_port, "/app/x",
                                 headers={"Cookie": stranger})
        assert r.status == 302, r
    assert _gets(stack) == 3


# ---- this gateway's own writes: at once ----

def test_logout_takes_effect_at_once_with_a_long_valid(cache_stack):
    stack = cache_stack("iamsmart_session_cache 1m valid=30s;")
    b = stack.browser()
    _signed_in(stack, b)
    cookie = "%s=%s" % (COOKIE, b.cookie(COOKIE))
    signed_in_echo(_get(stack, b, "/app/cached"))      # a hit

    r = b.navigate(stack.url("/logout"), stop=lambda u: True)
    assert r.response.status == 302, r
    assert stack.session_keys() == []

    # the old cookie, replayed: sent to log in (and 401 for JSON clients)
    for _ in range(3):
        r = harness.http_request(stack.gw_port, "/app/after",
                                 headers={"Cookie": cookie})
        assert r.status == 302, r
        assert "/api/v1/auth/getQR?" in r.header("Location")
    r = harness.http_request(stack.gw_port, "/app/after",
                             headers={"Cookie": cookie,
                                      "Accept": "application/json"})
    assert r.status == 401, r


def test_an_ended_session_is_not_served_from_the_cache(cache_stack):
    # the entry would live 30 s; the session's own idle limit is 3 s and a
    # hit checks it like a GET would
    stack = cache_stack("iamsmart_session_cache 1m valid=30s;",
                        idle="3s", absolute="3s")
    b = stack.browser()
    _signed_in(stack, b)
    time.sleep(3.6)
    _assert_login_redirect(_get(stack, b, "/app/late"), stack)
    assert re.search(r"session \w+ ended: (idle timeout|absolute expiry)",
                     stack.nginx.error_log())
    assert stack.session_keys() == []


def test_stepup_result_is_seen_at_once(nginx, redis_server, bridge_keys,
                                       backend):
    stack = BridgeStack.create(
        _with_cache(nginx, "iamsmart_session_cache 1m valid=30s;"),
        bridge_keys, redis_server.port)
    try:
        b, _ = stack.sign_in()
        # the session (without fr) is now cached for 30 s
        rec = echo(b.navigate(stack.url("/echo/td/cached")))
        assert rec["header_map"]["x-iamsmart-subject"]

        page = b.navigate(stack.url("/td/high/first.json"))
        assert len(page.chain) == 3, page.chain     # approve, back, here
        assert page.response.status == 200, page
        assert page.response.json()["claims"]["amr"] == ["fido", "fr"]

        # the rewritten record, not the cached one: FR locations pass
        # straight through, and departments learn of the recognition
        page = b.navigate(stack.url("/td/high/other.json"))
        assert page.chain == [] and page.response.status == 200, page
        page = b.navigate(stack.url("/echo/high/x"))
        assert page.chain == [] and page.response.status == 200, page
    finally:
        stack.stop()


# ---- other hosts' writes: within valid ----

def test_a_delete_by_another_host_takes_effect_within_valid(cache_stack):
    stack = cache_stack("iamsmart_session_cache 1m valid=1s;")
    b = stack.browser()
    _signed_in(stack, b)
    signed_in_echo(_get(stack, b, "/app/cached"))
    keys = stack.session_keys()
    assert len(keys) == 1

    # another gateway host's logout: the record goes from Redis only
    with stack.redis() as c:
        assert c.command("DEL", keys[0]) == 1
    time.sleep(1.2)
    _assert_login_redirect(_get(stack, b, "/app/after"), stack)


# ---- Redis outage ----

def test_redis_sigstop_cached_session_serves_at_most_valid(cache_stack):
    srv = harness.RedisServer().start()
    stopped = False
    try:
        stack = cache_stack("iamsmart_session_cache 1m valid=2s;",
                            redis=srv, redis_timeout="500ms")
        b = stack.browser()
        filled = _signed_in(stack, b)

        os.kill(srv.pid, signal.SIGSTOP)
        stopped = True

        statuses = []
        first_503 = None
        deadline = filled + 2.0 + 2.5
        while time.monotonic() < deadline:
            page = b.navigate(stack.url("/app/outage"), stop=lambda u: True)
            now = time.monotonic()
            statuses.append(page.response.status)
            assert page.response.header("Location") is None, page
            if page.response.status == 503:
                first_503 = first_503 or now
            else:
                assert page.response.status == 200, page
                assert first_503 is None, "served again after a 503"
                assert now - filled <= 2.0 + 0.2, now - filled
            time.sleep(0.1)

        assert statuses[0] == 200, statuses    # the cache carried it
        assert first_503 is not None, statuses
        assert first_503 - filled <= 2.0 + 0.5 + 0.6, first_503 - filled
        assert statuses[-1] == 503, statuses

        os.kill(srv.pid, signal.SIGCONT)
        stopped = False

        deadline = time.monotonic() + 15.0
        while True:
            page = b.navigate(stack.url("/app/back"), stop=lambda u: True)
            if page.response.status == 200:
                break
            assert page.response.status == 503, page
            assert time.monotonic() < deadline, "not served after SIGCONT"
            time.sleep(0.1)
    finally:
        if stopped:
            os.kill(srv.pid, signal.SIGCONT)
        srv.stop()


# ---- configuration ----

@pytest.mark.parametrize("directive, message", [
    ("iamsmart_session_cache 10k;",
     'iamsmart_session_cache size "10k" is too small, the minimum is 64k'),
    ("iamsmart_session_cache 10q;",
     'invalid iamsmart_session_cache size "10q"'),
    ("iamsmart_session_cache 1m valid=61s;",
     'iamsmart_session_cache "valid=61s" is too long, the maximum is 60s'),
    ("iamsmart_session_cache 1m valid=1h;",
     'iamsmart_session_cache "valid=1h" is too long, the maximum is 60s'),
    ("iamsmart_session_cache 1m valid=0;",
     'invalid iamsmart_session_cache "valid=0"'),
    ("iamsmart_session_cache 1m valid=soon;",
     'invalid iamsmart_session_cache "valid=soon"'),
    ("iamsmart_session_cache 1m ttl=1s;",
     'invalid parameter "ttl=1s"'),
    ("iamsmart_session_cache 1m;\niamsmart_session_cache 2m;",
     '"iamsmart_session_cache" directive is duplicate'),
])
def test_bad_configuration_fails_nginx_t(nginx, directive, message):
    res = nginx.check_config(directive + "\n")
    assert not res.ok, res
    assert message in res.output, res.output


@pytest.mark.parametrize("directive", [
    "iamsmart_session_cache 64k;",
    "iamsmart_session_cache 10m valid=1s;",
    "iamsmart_session_cache 1m valid=60s;",
    "iamsmart_session_cache 1m valid=250ms;",
])
def test_good_configuration_passes_nginx_t(nginx, directive):
    res = nginx.check_config(directive + "\n", expect_emerg=False)
    assert res.ok, res
