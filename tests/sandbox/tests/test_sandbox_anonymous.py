"""Anonymous e-ME form filling (no prior login): initiateRequest ->
ticketID -> getQR with ticketID -> code -> getToken -> getResult.

The paths and payloads are the sandbox's reading of the non-public
specification; see README.md, "Anonymous e-ME form filling"."""

import json
import re
import time
import urllib.parse

EME_FIELDS = ["enName", "mobileNumber", "residentialAddress",
              "emailAddress"]
SCOPE = "eidapi_formFilling"


def _query(location):
    return {k: v[0] for k, v in urllib.parse.parse_qs(
        urllib.parse.urlsplit(location).query).items()}


def _ticket(client, business_id, **extra):
    kw = dict(formName="Application for a library card", formNum="L-7")
    kw.update(extra)
    r = client.anonymous_initiate(business_id, EME_FIELDS, **kw)
    assert r.ok, r
    return r.content["ticketID"]


def _getqr(sandbox, client, listener, ticket, state="an-1", **kw):
    """(status, code or Location query) of a getQR with ticketID."""
    path = client.get_qr_path(listener.url("/login"), state, scope=SCOPE,
                              ticket_id=ticket, **kw)
    status, headers, body = sandbox.http(
        "GET", path, headers={"Accept": "application/json"})
    if status == 302:
        return status, _query(headers["Location"])
    if status == 400:
        return status, json.loads(body)["code"]
    return status, body.decode()


def test_anonymous_happy_path(sandbox, client, listener):
    r = client.anonymous_initiate("anon-0001", EME_FIELDS,
                                  formName="Library card", formNum="L-7")
    assert r.ok, r
    assert set(r.content) == {"ticketID"}
    ticket = r.content["ticketID"]
    assert re.fullmatch(r"[0-9a-f]{32}", ticket)

    got = client.authorize(listener.url("/login"), "an-1", scope=SCOPE,
                           ticket_id=ticket)
    assert set(got) == {"code", "state", "_location"}
    assert got["state"] == "an-1"

    r = client.get_token(got["code"])
    assert r.ok, r
    t = r.content
    # anonymous: no openID (nor anything else identifying the citizen)
    assert "openID" not in t and "userType" not in t
    assert t["tokenType"] == "Bearer" and t["scope"] == SCOPE
    assert t["ticketID"] == ticket
    # the code is single use
    assert client.get_token(got["code"]).code == "D40004"

    r = client.anonymous_result(t["accessToken"], ticket)
    assert r.ok, r
    c = r.content
    assert set(c) == {"businessID", "state"} | set(EME_FIELDS)
    assert c["businessID"] == "anon-0001" and c["state"] == "an-1"
    assert c["enName"] == {"UnstructuredName": "CHAN, Tai Man"}
    assert c["mobileNumber"]["SubscriberNumber"] == "91234567"

    # single use: the token is spent
    assert client.anonymous_result(t["accessToken"],
                                   ticket).code == "D20009"
    info = sandbox.admin_get("tickets/" + ticket)
    assert info["kind"] == "anonymous-eme" and info["status"] == "retrieved"
    assert sandbox.admin_get("anonymous")["tickets"][-1]["ticketID"] == ticket


def test_anonymous_result_by_business_id(sandbox, client, listener):
    sandbox.admin("auto-approve", persona="wong-mei-ling")
    ticket = _ticket(client, "anon-b")
    got = client.authorize(listener.url("/login"), "s", scope=SCOPE,
                           ticket_id=ticket)
    token = client.get_token(got["code"]).content["accessToken"]
    assert client.anonymous_result(token, business_id="anon-x").code \
        == "D20001"
    assert client.anonymous_result(token).code == "D20002"
    r = client.anonymous_result(token, business_id="anon-b")
    assert r.ok, r
    assert r.content["emailAddress"] == "wongmeiling@example.com"


def test_anonymous_whole_flow_helper(client, listener):
    c = client.anonymous_eme("anon-h", ["emailAddress"],
                             listener.url("/login"), state="h1")
    assert c == {"businessID": "anon-h", "state": "h1",
                 "emailAddress": "chantaiman@example.com"}


def test_anonymous_token_is_not_a_login_token(client, listener, do_login):
    ticket = _ticket(client, "anon-t")
    got = client.authorize(listener.url("/login"), "s", scope=SCOPE,
                           ticket_id=ticket)
    token = client.get_token(got["code"]).content["accessToken"]
    t = do_login()
    # an anonymous token cannot be used with the logged-in endpoints
    assert client.profiles(token, t["openID"],
                           eme_fields=["enName"]).code == "D20009"
    r = client.initiate("eme", token, t["openID"], "anon-t2",
                        listener.url("/callback"), "s", eMEFields=EME_FIELDS)
    assert r.code == "D20009"
    # and a login token cannot fetch an anonymous result
    assert client.anonymous_result(t["accessToken"],
                                   ticket).code == "D20009"
    assert client.anonymous_result("bogus", ticket).code == "D20009"


def test_getqr_unknown_and_used_ticket(sandbox, client, listener):
    assert _getqr(sandbox, client, listener, "0" * 32) == (400, "D20001")
    assert _getqr(sandbox, client, listener, "") == (400, "D20002")
    ticket = _ticket(client, "anon-u")
    # a bad query does not burn the ticket
    assert _getqr(sandbox, client, listener, ticket,
                  state="bad state") == (400, "D20001")
    path = client.get_qr_path(listener.url("/login"), "s",
                              scope="eidapi_auth", ticket_id=ticket)
    status, _, body = sandbox.http("GET", path,
                                   headers={"Accept": "application/json"})
    assert status == 400 and json.loads(body)["code"] == "D20012"

    status, q = _getqr(sandbox, client, listener, ticket)
    assert status == 302 and "code" in q
    # used: a second getQR with the same ticket is refused
    assert _getqr(sandbox, client, listener, ticket) == (400, "D20001")
    status, _, body = sandbox.http("GET", client.get_qr_path(
        listener.url("/login"), "s", scope=SCOPE, ticket_id=ticket))
    assert status == 400 and b"already used" in body


def test_getqr_ticket_of_another_client(start_sandbox, keys, keys2,
                                        listener, tmp_path):
    cfg = {"auto_approve": "chan-tai-man", "clients": [
        {"client_id": "dept-a", "client_secret_file": keys["client_secret"],
         "kek_cert_or_pubkey": keys["kek_public.pem"],
         "redirect_uris": [listener.url("/login")]},
        {"client_id": "dept-b", "client_secret_file": keys2["client_secret"],
         "kek_cert_or_pubkey": keys2["kek_public.pem"],
         "redirect_uris": [listener.url("/login")]}]}
    path = tmp_path / "two.json"
    path.write_text(json.dumps(cfg))
    sb = start_sandbox("--config", str(path), auto=None, client=False)
    a, b = sb.client(keys, "dept-a"), sb.client(keys2, "dept-b")
    ticket = _ticket(a, "same-id")
    assert _getqr(sb, b, listener, ticket) == (400, "D20001")
    # businessIDs are per client
    assert b.anonymous_initiate("same-id", EME_FIELDS).ok
    # the refusal at dept-b did not burn dept-a's ticket
    assert _getqr(sb, a, listener, ticket)[0] == 302


def test_result_with_another_tickets_token(sandbox, client, listener):
    t1, t2 = _ticket(client, "anon-1"), _ticket(client, "anon-2")
    tokens = {}
    for ticket in (t1, t2):
        got = client.authorize(listener.url("/login"), "s", scope=SCOPE,
                               ticket_id=ticket)
        tokens[ticket] = client.get_token(got["code"]).content["accessToken"]
    assert client.anonymous_result(tokens[t1], t2).code == "D20001"
    assert client.anonymous_result(tokens[t2], t1).code == "D20001"
    assert client.anonymous_result(tokens[t1], t2,
                                   business_id="anon-2").code == "D20001"
    # the refusals did not spend the tokens
    r = client.anonymous_result(tokens[t1], t1, business_id="anon-1")
    assert r.ok and r.content["businessID"] == "anon-1"
    assert client.anonymous_result(tokens[t2], t2).ok
    assert client.anonymous_result(tokens[t2], t2).code == "D20009"


def test_initiate_validation_and_duplicate_business_id(client, listener,
                                                       do_login):
    assert client.anonymous_initiate("dup-1", EME_FIELDS).ok
    assert client.anonymous_initiate("dup-1", EME_FIELDS).code == "D20011"
    # the businessID space is shared with the logged-in requests
    t = do_login()
    r = client.initiate("eme", t["accessToken"], t["openID"], "dup-1",
                        listener.url("/callback"), "s", eMEFields=EME_FIELDS)
    assert r.code == "D20011"
    assert client.anonymous_initiate("x" * 37, EME_FIELDS).code == "D20001"
    assert client.anonymous_initiate("", EME_FIELDS).code == "D20002"
    assert client.anonymous_initiate("v-1", []).code == "D20002"
    assert client.anonymous_initiate(
        "v-2", ["favouriteColour"]).code == "D60001"
    assert client.anonymous_initiate("v-3", EME_FIELDS,
                                     source="Nokia").code == "D20001"
    assert client.anonymous_initiate("v-4", EME_FIELDS,
                                     lang="fr-FR").code == "D20001"
    assert client.anonymous_initiate("v-5", EME_FIELDS,
                                     formNum="F" * 21).code == "D20001"
    # rejected requests do not burn their businessID
    assert client.anonymous_initiate("v-5", EME_FIELDS).ok


def test_initiate_needs_form_filling_scope(start_sandbox, keys):
    sb = start_sandbox("--scope", "eidapi_auth", "--scope",
                       "eidapi_profiles")
    c = sb.client(keys)
    r = c.anonymous_initiate("scope-1", EME_FIELDS)
    assert r.code == "D20012"
    # ... and did not burn the businessID either
    assert r.code == c.anonymous_initiate("scope-1", EME_FIELDS).code


def test_manual_persona_choice_and_cancel(start_sandbox, keys, listener):
    sb = start_sandbox(auto=None)
    c = sb.client(keys)
    ticket = _ticket(c, "man-a")
    status, _, body = sb.http("GET", c.get_qr_path(
        listener.url("/login"), "m1", scope=SCOPE, ticket_id=ticket))
    assert status == 200
    page = body.decode()
    assert "anonymous" in page and "man-a" in page and "L-7" in page
    assert "mobileNumber" in page
    action = re.search(r'action="(/sandbox/login/[^"]+)"', page).group(1)
    status, headers, _ = sb.form(action, decision="approve:lee-siu-ming")
    assert status == 302
    q = _query(headers["Location"])
    assert q["state"] == "m1"
    token = c.get_token(q["code"]).content["accessToken"]
    r = c.anonymous_result(token, ticket)
    assert r.ok and r.content["enName"] == {
        "UnstructuredName": "LEE, Siu Ming"}

    ticket = _ticket(c, "man-b")
    _, _, body = sb.http("GET", c.get_qr_path(
        listener.url("/login"), "m2", scope=SCOPE, ticket_id=ticket))
    action = re.search(r'action="(/sandbox/login/[^"]+)"',
                       body.decode()).group(1)
    status, headers, _ = sb.form(action, decision="cancel")
    assert _query(headers["Location"]) == {"error_code": "D40000",
                                           "state": "m2"}
    # the ticket is used even though the citizen cancelled
    status, _, _ = sb.http("GET", c.get_qr_path(
        listener.url("/login"), "m3", scope=SCOPE, ticket_id=ticket))
    assert status == 400


def test_auto_behaviour_applies(sandbox, client, listener):
    sandbox.admin("behaviour", persona="chan-tai-man", login="reject")
    ticket = _ticket(client, "beh-1")
    got = client.authorize(listener.url("/login"), "b1", scope=SCOPE,
                           ticket_id=ticket)
    assert got["error_code"] == "D40001" and got["state"] == "b1"


def test_expired_ticket(start_sandbox, keys, listener):
    sb = start_sandbox("--ticket-ttl", "0.5")
    c = sb.client(keys)
    stale = _ticket(c, "exp-1")
    ticket = _ticket(c, "exp-2")
    got = c.authorize(listener.url("/login"), "e", scope=SCOPE,
                      ticket_id=ticket)
    token = c.get_token(got["code"]).content["accessToken"]
    time.sleep(0.7)
    assert _getqr(sb, c, listener, stale) == (400, "D60003")
    assert c.anonymous_result(token, ticket).code == "D60003"
