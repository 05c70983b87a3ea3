"""e-ME and profile requests with in-app consent, answered by signed,
encrypted callbacks to the test's own listener."""

import re
import time
import urllib.parse

from iams_sandbox import protocol

EME_FIELDS = ["enName", "mobileNumber", "residentialAddress",
              "postalAddress", "emailAddress"]
SCOPES = "eidapi_auth eidapi_profiles eidapi_formFilling"


def _callback(client, listener, timeout=10):
    post = listener.next_post(timeout)
    assert post["path"] == "/callback"
    assert post["headers"]["Content-Type"] == "application/json"
    assert client.verify_callback(post["headers"], post["body"])
    doc, content = client.open_callback(post["body"])
    return post, doc, content


def _settled(sandbox, ticket, timeout=5):
    """Ticket summary once its delivery finished; the listener sees a
    callback slightly before the sandbox has recorded the answer."""
    deadline = time.time() + timeout
    while True:
        info = sandbox.admin_get("tickets/" + ticket)
        if info["delivery"] != "scheduled" or time.time() > deadline:
            return info
        time.sleep(0.05)


def _eme(client, token, listener, business_id, **extra):
    kw = dict(eMEFields=EME_FIELDS, formName="Application for a rates "
              "account", formNum="R-101", formDesc="Rates and rent")
    kw.update(extra)
    return client.initiate("eme", token["accessToken"], token["openID"],
                           business_id, listener.url("/callback"), "st-1",
                           **kw)


def test_eme_auto_approved_callback(sandbox, client, listener, do_login):
    t = do_login()
    r = _eme(client, t, listener, "biz-0001")
    assert r.ok, r
    assert r.content["authByQR"] is True
    ticket = r.content["ticketID"]
    assert re.fullmatch(r"[0-9a-f]{32}", ticket)

    post, doc, content = _callback(client, listener)
    assert doc["code"] == "D00000" and doc["txID"]
    assert content["businessID"] == "biz-0001" and content["state"] == "st-1"
    assert content["enName"] == {"UnstructuredName": "CHAN, Tai Man"}
    assert content["mobileNumber"]["SubscriberNumber"] == "91234567"
    assert set(content) == {"businessID", "state"} | set(EME_FIELDS)

    # the callback's CEK is new and becomes a live CEK of the client
    cek = protocol.unwrap_cek(client.kek, doc["secretKey"])
    assert cek != client.cek
    body = client.seal({"code": "x", "grantType": "authorization_code"}, cek)
    assert client.signed_post("/api/v1/auth/getToken",
                              body).code == "D40004"

    info = _settled(sandbox, ticket)
    assert info["delivery"] == "delivered" and info["outcome"] == "approve"
    cb_log = sandbox.admin_get("log", kind="callback")["entries"]
    assert cb_log[-1]["status"] == 200
    assert cb_log[-1]["nonce"] == post["headers"]["nonce"]


def test_eme_mobile_source_and_validation(sandbox, client, listener,
                                          do_login):
    t = do_login()
    r = _eme(client, t, listener, "biz-m", source="iOS_Safari")
    assert r.ok and r.content["authByQR"] is False
    assert _eme(client, t, listener, "biz-m").code == "D20011"
    assert _eme(client, t, listener, "x" * 37).code == "D20001"
    assert _eme(client, t, listener, "biz-2",
                eMEFields=["favouriteColour"]).code == "D60001"
    assert _eme(client, t, listener, "biz-3", eMEFields=[]).code == "D20002"
    assert _eme(client, t, listener, "biz-4",
                formNum="F" * 21).code == "D20001"
    assert _eme(client, t, listener, "biz-5",
                source="Nokia_Browser").code == "D20001"
    r = client.initiate("eme", t["accessToken"], t["openID"], "biz-6",
                        listener.url("/not-registered"), "s",
                        eMEFields=EME_FIELDS)
    assert r.code == "D20008"
    r = client.initiate("eme", "bogus", t["openID"], "biz-7",
                        listener.url("/callback"), "s", eMEFields=EME_FIELDS)
    assert r.code == "D20009"
    t2 = do_login(scope="eidapi_auth")
    assert _eme(client, t2, listener, "biz-8").code == "D20012"
    # rejected requests do not burn their businessID
    assert _eme(client, t, listener, "biz-8").ok


def test_profile_request_callback(sandbox, client, listener, do_login):
    sandbox.admin("auto-approve", persona="wong-mei-ling")
    t = do_login()
    r = client.initiate("profile", t["accessToken"], t["openID"], "p-1",
                        listener.url("/callback"), "ps",
                        profileFields=["idNo", "chName", "birthDate"])
    assert r.ok, r
    _, doc, content = _callback(client, listener)
    assert doc["code"] == "D00000"
    assert content == {"businessID": "p-1", "state": "ps",
                       "idNo": {"Identification": "K345678",
                                "CheckDigit": "1"},
                       "chName": {"ChineseName": "黃美玲"},
                       "birthDate": "19440315"}
    r = client.initiate("profile", t["accessToken"], t["openID"], "p-2",
                        listener.url("/callback"), "ps",
                        profileFields=["mobileNumber"])
    assert r.code == "D50001"


def test_persona_declines(sandbox, client, listener, do_login):
    sandbox.admin("auto-approve", persona="lam-chi-wai")
    t = do_login()
    assert _eme(client, t, listener, "d-1").ok
    _, doc, content = _callback(client, listener)
    assert doc["code"] == "D60002"
    assert content == {"businessID": "d-1", "state": "st-1"}


def test_manual_approval_page_and_browser_return(start_sandbox, keys,
                                                 listener):
    sb = start_sandbox(auto=None)
    c = sb.client(keys)
    sb.admin("auto-approve", persona="cheung-ka-yan")
    t = c.login(listener.url("/login"), scope=SCOPES)
    sb.admin("auto-approve", persona=None)           # tickets now manual
    r = _eme(c, t, listener, "man-1")
    ticket = r.content["ticketID"]
    assert listener.no_post(0.5)                     # nobody decided yet

    status, _, body = sb.http("GET", "/approve/" + ticket)
    assert status == 200
    page = body.decode()
    assert "Cheung Ka Yan" in page and "man-1" in page and "R-101" in page
    assert 'action="/approve/%s"' % ticket in page

    status, headers, _ = sb.form("/approve/" + ticket, decision="approve")
    assert status == 302
    # the callback was delivered before the browser was sent back
    post, doc, content = _callback(c, listener, timeout=0.1)
    assert doc["code"] == "D00000"
    assert content["emailAddress"] == "cheungkayan@example.com"
    loc = urllib.parse.urlsplit(headers["Location"])
    assert loc.path == "/callback"
    assert urllib.parse.parse_qs(loc.query) == {"state": ["st-1"],
                                                "businessID": ["man-1"]}
    # decided: the page now only redirects
    status, headers, _ = sb.http("GET", "/approve/" + ticket)
    assert status == 302 and "businessID=man-1" in headers["Location"]
    assert listener.no_post(0.3)                     # exactly one callback

    r = _eme(c, t, listener, "man-2")
    status, _, _ = sb.form("/approve/" + r.content["ticketID"],
                           decision="reject")
    assert status == 302
    assert _callback(c, listener, timeout=0.1)[1]["code"] == "D60002"
    assert sb.http("GET", "/approve/unknown")[0] == 404
    assert sb.form("/approve/" + ticket, decision="nonsense")[0] == 400


def test_manual_ticket_times_out(start_sandbox, keys, listener):
    sb = start_sandbox("--ticket-ttl", "0.5", auto=None)
    c = sb.client(keys)
    sb.admin("auto-approve", persona="chan-tai-man")
    t = c.login(listener.url("/login"), scope=SCOPES)
    sb.admin("reset")
    assert _eme(c, t, listener, "late-1").ok
    _, doc, content = _callback(c, listener, timeout=5)
    assert doc["code"] == "D60003"
    assert content["businessID"] == "late-1"


def test_callback_retries(sandbox, client, listener, do_login):
    listener.fail_posts = 2
    t = do_login()
    r = _eme(client, t, listener, "retry-1")
    assert r.ok
    first = listener.next_post()
    second = listener.next_post()
    assert first["answered"] == 500 and second["answered"] == 500
    assert first["headers"]["nonce"] != second["headers"]["nonce"]
    post, doc, content = _callback(client, listener)
    assert post["body"] == first["body"]
    assert content["businessID"] == "retry-1"
    assert _settled(sandbox, r.content["ticketID"])["delivery"] == "delivered"
    attempts = [e["attempt"] for e in
                sandbox.admin_get("log", kind="callback")["entries"]]
    assert attempts == [1, 2, 3]


def test_callback_delay_setting(start_sandbox, keys, listener):
    sb = start_sandbox("--callback-delay", "0.6")
    c = sb.client(keys)
    t = c.login(listener.url("/login"), scope=SCOPES)
    start = time.time()
    assert _eme(c, t, listener, "slow-1").ok
    post = listener.next_post()
    assert post["time"] - start >= 0.6
