"""Step-up (re-authentication): initiate, browser approval URL, encrypted
callback, browser return."""

import time
import urllib.parse

SCOPES = "eidapi_auth eidapi_fr"
APPROVE = "/api/v1/account/stepup/approve?ticketID="


def _login_as(sb, c, listener, persona):
    sb.admin("auto-approve", persona=persona)
    return c.login(listener.url("/login"), scope=SCOPES)


def _stepup(c, t, listener, business_id, **kw):
    r = c.initiate("stepup", t["accessToken"], t["openID"], business_id,
                   listener.url("/callback"), "su-state", **kw)
    assert r.ok, r
    return r.content["ticketID"]


def _callback(c, listener, timeout=10):
    post = listener.next_post(timeout)
    assert c.verify_callback(post["headers"], post["body"])
    return c.open_callback(post["body"])


def test_pass_with_browser_round_trip(start_sandbox, keys, listener):
    sb = start_sandbox("--callback-delay", "0.5")
    c = sb.client(keys)
    t = _login_as(sb, c, listener, "chan-tai-man")
    ticket = _stepup(c, t, listener, "su-pass", source="Android_Chrome")
    # the gateway sends the browser here at once; the sandbox answers only
    # once the callback has reached the gateway
    status, headers, _ = sb.http("GET", APPROVE + ticket)
    assert status == 302
    assert not listener.posts.empty()
    doc, content = _callback(c, listener, timeout=0.1)
    assert doc["code"] == "D00000"
    assert content == {"businessID": "su-pass", "state": "su-state",
                       "isPassed": True}
    loc = urllib.parse.urlsplit(headers["Location"])
    assert loc.path == "/callback"
    assert urllib.parse.parse_qs(loc.query) == {
        "state": ["su-state"], "businessID": ["su-pass"]}


def test_fail_persona(sandbox, client, listener):
    t = _login_as(sandbox, client, listener, "cheung-ka-yan")
    _stepup(client, t, listener, "su-fail")
    doc, content = _callback(client, listener)
    assert doc["code"] == "D00000" and content["isPassed"] is False


def test_timeout_persona_gets_d80003(sandbox, client, listener):
    t = _login_as(sandbox, client, listener, "ho-wing-kei")
    ticket = _stepup(client, t, listener, "su-late")
    doc, content = _callback(client, listener)
    assert doc["code"] == "D80003"
    assert content == {"businessID": "su-late", "state": "su-state"}
    status, headers, _ = sandbox.http("GET", APPROVE + ticket)
    assert status == 302 and "businessID=su-late" in headers["Location"]


def test_timeout_without_callback(start_sandbox, keys, listener):
    sb = start_sandbox("--timeout-callback", "none")
    c = sb.client(keys)
    t = _login_as(sb, c, listener, "ho-wing-kei")
    ticket = _stepup(c, t, listener, "su-silent")
    status, headers, _ = sb.http("GET", APPROVE + ticket)
    assert status == 302 and "businessID=su-silent" in headers["Location"]
    assert listener.no_post(0.5)
    assert sb.admin_get("tickets/" + ticket)["delivery"] == "skipped"
    # switched on again at run time
    sb.admin("settings", timeout_callback=True)
    _stepup(c, t, listener, "su-loud")
    assert _callback(c, listener)[0]["code"] == "D80003"


def test_admin_sets_outcome_per_persona(sandbox, client, listener):
    t = _login_as(sandbox, client, listener, "chan-tai-man")
    sandbox.admin("behaviour", persona="chan-tai-man", stepup="fail")
    _stepup(client, t, listener, "o-1")
    assert _callback(client, listener)[1]["isPassed"] is False
    sandbox.admin("behaviour", persona="chan-tai-man", stepup="cancel")
    _stepup(client, t, listener, "o-2")
    assert _callback(client, listener)[0]["code"] == "D80002"
    sandbox.admin("behaviour", persona="chan-tai-man", stepup="pass")
    _stepup(client, t, listener, "o-3")
    assert _callback(client, listener)[1]["isPassed"] is True


def test_manual_stepup_page(start_sandbox, keys, listener):
    sb = start_sandbox(auto=None)
    c = sb.client(keys)
    t = _login_as(sb, c, listener, "wong-mei-ling")
    sb.admin("auto-approve", persona=None)
    ticket = _stepup(c, t, listener, "m-1")
    status, _, body = sb.http("GET", APPROVE + ticket)
    assert status == 200
    page = body.decode()
    for outcome in ("pass", "fail", "cancel", "timeout"):
        assert 'value="%s"' % outcome in page
    assert "Wong Mei Ling" in page
    status, headers, _ = sb.form("/api/v1/account/stepup/approve",
                                 ticketID=ticket, decision="pass")
    assert status == 302 and "state=su-state" in headers["Location"]
    doc, content = _callback(c, listener, timeout=0.1)
    assert content["isPassed"] is True


def test_stepup_validation(sandbox, client, listener):
    t = _login_as(sandbox, client, listener, "chan-tai-man")
    ok = dict(openID=t["openID"], accessToken=t["accessToken"],
              businessID="v-1", source="PC_Browser",
              redirectURI=listener.url("/callback"), state="s", lang="en-US")

    def code(**change):
        p = dict(ok)
        p.update(change)
        p = {k: v for k, v in p.items() if v is not None}
        return client.call("/api/v1/account/stepup/initiateRequest", p).code

    assert code(state="bad state") == "D20001"
    assert code(state=None) == "D20002"
    assert code(lang="xx") == "D20001"
    assert code(openID="f" * 64) == "D20001"
    assert code(accessToken=None) == "D20009"
    assert code(redirectURI=listener.url("/login")) == "D00000"
    assert code() == "D20011"                        # v-1 used just now
    status, _, _ = sandbox.http("GET", APPROVE + "no-such-ticket")
    assert status == 404


def test_concurrent_tickets(sandbox, client, listener):
    t = _login_as(sandbox, client, listener, "lee-siu-ming")
    ids = {_stepup(client, t, listener, "c-%d" % i) for i in range(5)}
    got = set()
    deadline = time.time() + 10
    while len(got) < 5 and time.time() < deadline:
        got.add(_callback(client, listener)[1]["businessID"])
    assert got == {"c-%d" % i for i in range(5)} and len(ids) == 5
