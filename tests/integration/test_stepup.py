"""
Face-recognition step-up (iamsmart_require_fr), end to end: real nginx,
real Redis, the sandbox deciding by persona (pass, fail, timeout) or by a
click on its approval page, demo department backends that verify the
assertion, and the echo backend that shows whether a request got through.

  /td/high/, /echo/high/   iamsmart_require_fr 5m
  /echo/fresh/             iamsmart_require_fr 2s
"""

import re
import time
import urllib.parse

import pytest

import harness
from bridge_support import (  # noqa: F401  (fixtures)
    APPROVE, STEPUP, approve_url, bridge, bridge_keys, echo, is_approve,
    platform_callback, shared_bridge)
from login_support import DEFAULT_PERSONA, Browser, is_callback, is_getqr

FAILING = "cheung-ka-yan"          # step-up: fail
SLOW = "ho-wing-kei"               # step-up: timeout
CJK = re.compile("[\u4e00-\u9fff]")
CHALLENGE = ('Bearer error="insufficient_user_authentication", '
             'error_description="a recent face recognition is required", '
             'acr_values="fr", max_age=300')


def _ticket(stack, ticket_id):
    r = harness.http_request(stack.sandbox.port,
                             "/sandbox/admin/tickets/" + ticket_id)
    assert r.status == 200, r
    return r.json()


def _delivered(stack, ticket_id):
    """The codes of the sandbox's callback attempts for a ticket, checked
    to end with one the gateway acknowledged (2xx).

    A callback the sandbox sends at once (auto mode, no delay) can arrive
    before the gateway has stored its pending request; the gateway refuses
    it (400) and the sandbox's retry half a second later is accepted."""
    attempts = [e for e in stack.sandbox.log(limit=500)
                if e.get("kind") == "callback"
                and e.get("ticketID") == ticket_id]
    attempts.sort(key=lambda e: e.get("attempt", 0))
    assert attempts and 200 <= attempts[-1].get("status", 0) < 300, attempts
    assert all(e.get("status") == 400 for e in attempts[:-1]), attempts
    return {e["code"] for e in attempts}


def _assertion_claims(stack, browser, path="/echo/td/x"):
    rec = echo(browser.navigate(stack.url(path)))
    token = rec["header_map"]["x-iamsmart-assertion"][0]
    return stack.verify(token, subject=rec["header_map"]
                        ["x-iamsmart-subject"][0])[1]


def _stepup_return(url, response):
    """(url, query) of the sandbox's redirect back to the gateway."""
    loc = urllib.parse.urljoin(url, response.header("Location"))
    parts = urllib.parse.urlsplit(loc)
    return loc, dict(urllib.parse.parse_qsl(parts.query))


def _assert_stepup_page(r, status, english):
    assert r.status == status, r
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.header("Cache-Control") == "no-store"
    text = r.text
    assert english in text, text
    assert 'lang="zh-HK"' in text and CJK.search(text), text
    return text


# ---- pass ----

def test_pass_returns_to_the_original_page(bridge, backend):
    b, _ = bridge.sign_in()
    before = _assertion_claims(bridge, b)
    assert before["acr"] == "fido" and before["amr"] == ["fido"]

    target = "/td/high/renew.json?plate=AB123&x=%C3%A9"
    page = b.navigate(bridge.url(target))

    # 1. the FR location sends the browser to the platform's approval page
    (u0, r0), (u1, r1), (u2, r2) = page.chain
    assert u0 == bridge.url(target)
    ticket_id = approve_url(bridge, r0)
    assert r0.header("Cache-Control") in (None, "no-store")
    # 2. the platform called back, then sends the browser back with GET
    assert is_approve(u1) and r1.status == 302
    back, q = _stepup_return(u1, r1)
    assert back.startswith(bridge.url(STEPUP) + "?"), back
    assert set(q) == {"state", "businessID"}
    # 3. the gateway returns the browser to where it was going
    assert u2 == back and r2.status == 302
    assert urllib.parse.urljoin(u2, r2.header("Location")) == \
        bridge.url(target)

    rec = page.response.json()
    assert page.response.status == 200 and rec["verified"] is True, rec
    assert rec["path"] == target and rec["high_value"] is True
    c = rec["claims"]
    assert c["acr"] == "fr" and c["amr"] == ["fido", "fr"]
    assert c["auth_time"] == before["auth_time"]    # login time, unchanged

    t = _ticket(bridge, ticket_id)
    assert (t["kind"], t["persona"], t["outcome"], t["delivery"]) == \
        ("stepup", DEFAULT_PERSONA, "pass", "delivered")
    assert t["redirectURI"] == bridge.url(STEPUP)
    assert t["businessID"] == q["businessID"] and t["state"] == q["state"]
    assert _delivered(bridge, ticket_id) == {"D00000"}

    # FR is now in the session: FR locations pass straight through ...
    page = b.navigate(bridge.url("/td/high/other.json"))
    assert page.chain == [] and page.response.status == 200
    # ... a form posted to one performs the high-value action ...
    r = b.request("POST", bridge.url("/td/high/action.json"),
                  headers={"Content-Type":
                           "application/x-www-form-urlencoded"},
                  body="confirm=yes")
    assert r.status == 200 and r.json()["action_done"] is True, r
    # ... and every department now learns of it
    after = _assertion_claims(bridge, b)
    assert after["acr"] == "fr" and after["amr"] == ["fido", "fr"]
    assert "amr=[fido fr]" in bridge.access_log()


def test_login_then_stepup_in_one_navigation(bridge):
    b = Browser()
    page = b.navigate(bridge.url("/td/high/start.json"))
    urls = [u for u, _ in page.chain]
    assert len(urls) == 6, urls
    assert urls[0] == urls[3] == bridge.url("/td/high/start.json")
    assert is_getqr(urls[1]) and is_callback(urls[2])
    assert is_approve(urls[4])
    assert urls[5].startswith(bridge.url(STEPUP) + "?")
    assert page.response.status == 200
    assert page.response.json()["claims"]["amr"] == ["fido", "fr"]


# ---- fail, timeout, cancel ----

@pytest.mark.parametrize("persona, override, outcome, code, english", [
    (FAILING, None, "fail", "D00000", "The face recognition did not "
                                      "succeed"),
    (SLOW, None, "timeout", "D80003", "Your identity could not be verified "
                                      "again"),
    (DEFAULT_PERSONA, "cancel", "cancel", "D80002", "Your identity could "
                                                    "not be verified again"),
])
def test_no_pass_shows_a_friendly_page_and_records_nothing(
        bridge, backend, persona, override, outcome, code, english):
    if override:
        bridge.sandbox.admin("behaviour", persona=persona, stepup=override)
    b, _ = bridge.sign_in(persona)
    backend.clear()

    target = "/echo/high/transfer?amount=100&to=x"
    page = b.navigate(bridge.url(target))
    ticket_id = approve_url(bridge, page.chain[0][1])
    text = _assert_stepup_page(page.response, 403, english)
    # one way on: back to the page, to try again
    assert 'href="/echo/high/transfer?amount=100&amp;to=x"' in text, text
    assert backend.requests == []          # the action never happened

    t = _ticket(bridge, ticket_id)
    assert (t["outcome"], t["delivery"]) == (outcome, "delivered")
    assert _delivered(bridge, ticket_id) == {code}

    # nothing recorded: departments still see a FIDO-only login ...
    claims = _assertion_claims(bridge, b)
    assert claims["acr"] == "fido" and claims["amr"] == ["fido"]
    # ... and the action asks again, with a new ticket
    r = b.request("GET", bridge.url(target))
    assert approve_url(bridge, r) != ticket_id


# ---- freshness ----

def test_fr_older_than_time_asks_again(bridge, backend):
    b, _ = bridge.sign_in()
    page = b.navigate(bridge.url("/echo/fresh/a"))
    assert len(page.chain) == 3 and echo(page)["path"] == "/echo/fresh/a"
    passed = time.time()

    r = b.request("GET", bridge.url("/echo/fresh/b"))     # within 2 s
    assert r.status == 200, r

    time.sleep(max(0.0, passed + 3.2 - time.time()))
    r = b.request("GET", bridge.url("/echo/fresh/c"))     # older than 2 s
    approve_url(bridge, r)
    # a location asking for 5 minutes still accepts the same recognition
    r = b.request("GET", bridge.url("/echo/high/d"))
    assert r.status == 200, r

    # a new recognition satisfies the 2 s location again
    page = b.navigate(bridge.url("/echo/fresh/e"))
    assert len(page.chain) == 3 and echo(page)["path"] == "/echo/fresh/e"


# ---- API clients and forms ----

@pytest.mark.parametrize("headers", [
    {"Accept": "application/json"},
    {"Accept": "text/html, application/json;q=0.9"},
    {"X-Requested-With": "XMLHttpRequest"},
])
def test_api_client_gets_an_rfc9470_challenge(bridge, backend, headers):
    b, _ = bridge.sign_in()
    cookie = bridge.session_cookie(b)
    backend.clear()
    r = bridge.get("/echo/high/api/transfer", cookie=cookie, headers=headers)
    assert r.status == 401, r
    assert r.header("WWW-Authenticate") == CHALLENGE
    assert r.header("Location") is None
    assert r.header("Content-Type").startswith("application/json")
    assert r.json() == {"error": "insufficient_user_authentication",
                        "error_description":
                        "a recent face recognition is required",
                        "acr_values": "fr", "max_age": 300}
    assert backend.requests == []
    # no ticket was opened for a client that cannot follow one
    assert [e for e in bridge.sandbox.log(
        "/api/v1/account/stepup/initiateRequest")] == []

    # once the citizen has stepped up (in a browser), the API passes
    page = b.navigate(bridge.url("/echo/high/browser"))
    assert page.response.status == 200
    r = bridge.get("/echo/high/api/transfer", cookie=cookie, headers=headers)
    assert r.status == 200, r


def test_api_client_without_a_session_gets_login_required(bridge):
    r = bridge.get("/echo/high/api", headers={"Accept": "application/json"})
    assert r.status == 401 and r.json()["error"] == "login_required", r


@pytest.mark.parametrize("referer, link", [
    ("http://127.0.0.1:{port}/echo/td/form?id=7", "/echo/td/form?id=7"),
    ("http://evil.example/echo/td/form", "/"),
    ("http://127.0.0.1:1/echo/td/form", "/"),
    (None, "/"),
])
def test_post_needing_stepup_explains_that_the_form_was_not_sent(
        bridge, backend, referer, link):
    b, _ = bridge.sign_in()
    backend.clear()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if referer:
        headers["Referer"] = referer.format(port=bridge.gw_port)
    r = b.request("POST", bridge.url("/echo/high/submit"), headers=headers,
                  body="amount=100")
    text = _assert_stepup_page(r, 401, "Your form was not sent")
    assert 'href="%s"' % link.replace("&", "&amp;") in text, text
    assert backend.requests == []
    assert bridge.sandbox.log("/api/v1/account/stepup/initiateRequest") == []


# ---- the return trip ----

def _start(stack, browser, target="/echo/high/w"):
    """Goes as far as the approval page; returns the ticket."""
    page = browser.navigate(stack.url(target), stop=is_approve)
    return _ticket(stack, approve_url(stack, page))


def test_waiting_page_until_the_outcome_arrives(bridge, backend):
    b, _ = bridge.sign_in()
    bridge.sandbox.admin("auto-approve", persona=None)    # a human decides
    backend.clear()
    t = _start(bridge, b)
    assert t["status"] == "pending"
    back = bridge.url("%s?state=%s&businessID=%s"
                      % (STEPUP, t["state"], t["businessID"]))

    # back before confirming in the app: a page that refreshes itself
    r = b.request("GET", back)
    _assert_stepup_page(r, 200, "Waiting for your confirmation")
    assert r.header("Refresh") == "2"
    assert backend.requests == []

    # the citizen confirms on the platform's page: the callback arrives and
    # the browser continues
    approval = b.navigate(bridge.sandbox.base_url + APPROVE + "?ticketID="
                          + t["ticketID"])
    assert approval.response.status == 200 and 'value="pass"' in \
        approval.response.text
    page = b.submit(approval, "pass")
    assert page.response.status == 200, page
    assert echo(page)["path"] == "/echo/high/w"
    assert _ticket(bridge, t["ticketID"])["delivery"] == "delivered"


def test_return_from_another_session_is_refused(bridge, backend):
    owner, _ = bridge.sign_in()
    thief, _ = bridge.sign_in()             # same citizen, another session
    t = _start(bridge, owner)
    # the platform decides (pass) and sends "a" browser back
    r = harness.http_request(bridge.sandbox.port, "%s?ticketID=%s"
                             % (APPROVE, t["ticketID"]))
    assert r.status == 302
    back = r.header("Location")
    assert back.startswith(bridge.url(STEPUP))

    for browser in (thief, Browser()):
        r = browser.request("GET", back)
        _assert_stepup_page(r, 403, "belongs to another sign-in")
    assert _assertion_claims(bridge, thief)["amr"] == ["fido"]

    # the owner's return still works, once
    page = owner.navigate(back)
    assert page.response.status == 200 and echo(page)["path"] == \
        "/echo/high/w"
    assert _assertion_claims(bridge, owner)["amr"] == ["fido", "fr"]
    r = owner.request("GET", back)
    _assert_stepup_page(r, 400, "expired or was already used")


@pytest.mark.parametrize("query", [
    "", "?state=abc", "?businessID=", "?businessID=a%20b&state=x",
    "?businessID=" + "A" * 80 + "&state=x",
    "?businessID=unknownbusinessid&state=x",
])
def test_bad_return_links(bridge, query):
    b, _ = bridge.sign_in()
    r = b.request("GET", bridge.url(STEPUP + query))
    assert r.status == 400, r
    assert CJK.search(r.text)


# ---- forged platform callbacks ----

def _post_callback(stack, body, headers):
    r = harness.http_request(stack.gw_port, STEPUP, method="POST",
                             body=body, headers=headers)
    return r.status, r.json()


def test_forged_callbacks_are_rejected(bridge, bridge_keys, backend):
    b, _ = bridge.sign_in()
    bridge.sandbox.admin("auto-approve", persona=None)
    t = _start(bridge, b)
    content = {"businessID": t["businessID"], "state": t["state"],
               "isPassed": True}

    body, headers = platform_callback(bridge_keys, content)
    unsigned = {"Content-Type": "application/json"}
    assert _post_callback(bridge, body, unsigned)[0] == 401
    _, wrong = platform_callback(bridge_keys, content, secret=b"not-it")
    assert _post_callback(bridge, body, wrong)[0] == 401
    stale = dict(headers, timestamp=str(int(time.time() * 1000) - 3600000))
    assert _post_callback(bridge, body, stale)[0] == 401
    # signed, but not for this body
    other, _ = platform_callback(bridge_keys, dict(content, isPassed=False))
    assert _post_callback(bridge, other, headers)[0] == 401

    # signed and sealed, but for no pending request: ignored
    for forged in (dict(content, state="wrong-state"),
                   dict(content, businessID="no-such-business-id")):
        fb, fh = platform_callback(bridge_keys, forged)
        status, doc = _post_callback(bridge, fb, fh)
        assert status == 400 and doc["code"] == "D20001", doc
    # garbage in a signed body
    gb = b'{"code":"D00000","content":"bm90IGFuIGVudmVsb3Bl","secretKey":"x"}'
    from iams_sandbox import protocol
    gh = protocol.signed_headers("bridge-it", bridge_keys.login.secret, gb)
    assert _post_callback(bridge, gb, gh)[0] == 400

    # none of that recorded an outcome: the return still waits
    back = bridge.url("%s?state=%s&businessID=%s"
                      % (STEPUP, t["state"], t["businessID"]))
    r = b.request("GET", back)
    assert r.status == 200 and r.header("Refresh") == "2", r
    assert "/echo/high/w" not in [q["path"] for q in backend.requests]

    # the genuine outcome still completes the step-up
    r = harness.http_request(bridge.sandbox.port, APPROVE, method="POST",
                             body="ticketID=%s&decision=pass" % t["ticketID"],
                             headers={"Content-Type":
                                      "application/x-www-form-urlencoded"})
    assert r.status == 302, r
    page = b.navigate(back)
    assert page.response.status == 200 and echo(page)["path"] == \
        "/echo/high/w"


def test_platform_unavailable_shows_a_page(bridge, backend):
    b, _ = bridge.sign_in()
    backend.clear()
    bridge.sandbox.admin("fail", endpoint="/api/v1/account/stepup/"
                         "initiateRequest", count=1, status=500)
    r = b.request("GET", bridge.url("/echo/high/x"))
    assert 500 <= r.status < 600, r
    _assert_stepup_page(r, r.status, "unavailable right now")
    assert backend.requests == []
    # the next attempt works
    page = b.navigate(bridge.url("/echo/high/x"))
    assert page.response.status == 200 and echo(page)["path"] == "/echo/high/x"
