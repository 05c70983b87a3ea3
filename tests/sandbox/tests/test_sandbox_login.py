"""Login code flow: getQR, the approval page, codes and getToken."""

import json
import re
import time
import urllib.parse


def _query(location):
    return {k: v[0] for k, v in urllib.parse.parse_qs(
        urllib.parse.urlsplit(location).query).items()}


def test_auto_approve_code_flow(sandbox, client, listener):
    redirect = listener.url("/login")
    got = client.authorize(redirect, "st_1-A", scope="eidapi_auth")
    assert got["_location"].startswith(redirect + "?")
    assert got["state"] == "st_1-A"
    assert len(got["code"]) >= 20

    r = client.get_token(got["code"])
    assert r.ok, r
    t = r.content
    assert t["tokenType"] == "Bearer"
    assert t["scope"] == "eidapi_auth"
    assert t["userType"] == "iAM Smart+"
    assert t["lastModifiedDate"] == 1717200000000
    assert abs(t["issueAt"] - time.time() * 1000) < 5000
    assert t["expiresIn"] == 3600 * 1000
    assert re.fullmatch(r"[0-9a-f]{64}", t["openID"])
    assert len(t["accessToken"]) >= 32

    # the raw answer is an envelope, not plaintext
    raw = sandbox.admin_get("log", path="/api/v1/auth/getToken")["entries"]
    assert raw[-1]["code"] == "D00000"


def test_open_id_is_stable_and_pairwise(start_sandbox, keys, keys2,
                                        listener, tmp_path):
    cfg = {"host": "127.0.0.1", "port": 0, "auto_approve": "wong-mei-ling",
           "clients": [
               {"client_id": "dept-a", "client_secret_file":
                keys["client_secret"], "kek_cert_or_pubkey":
                keys["kek_cert.pem"], "redirect_uris": [listener.url("/a")]},
               {"client_id": "dept-b", "client_secret_file":
                keys2["client_secret"], "kek_cert_or_pubkey":
                keys2["kek_public.pem"],
                "redirect_uris": [listener.url("/b")]},
           ]}
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(cfg))
    sb = start_sandbox("--config", str(path), auto=None, client=False)
    a = sb.client(keys, "dept-a")
    b = sb.client(keys2, "dept-b")
    first = a.login(listener.url("/a"))
    again = a.login(listener.url("/a"))
    other = b.login(listener.url("/b"))
    assert first["openID"] == again["openID"]
    assert first["accessToken"] != again["accessToken"]
    assert other["openID"] != first["openID"]
    assert first["userType"] == "iAM Smart"      # wong-mei-ling
    # a client cannot use another client's redirect URI
    status, _, body = sb.http("GET", a.get_qr_path(listener.url("/b"), "s"))
    assert status == 400 and b"D20008" in body


def test_code_is_single_use(client, listener):
    got = client.authorize(listener.url("/login"), "s1")
    assert client.get_token(got["code"]).ok
    again = client.get_token(got["code"])
    assert again.code == "D40004"
    assert again.content is None


def test_unknown_code_and_bad_grant(client):
    assert client.get_token("no-such-code").code == "D40004"
    r = client.call("/api/v1/auth/getToken",
                    {"code": "x", "grantType": "password"})
    assert r.code == "D20001"
    r = client.call("/api/v1/auth/getToken",
                    {"grantType": "authorization_code"})
    assert r.code == "D20002"


def test_code_expires(start_sandbox, keys, listener):
    sb = start_sandbox("--code-ttl", "0.5")
    c = sb.client(keys)
    got = c.authorize(listener.url("/login"), "s1")
    time.sleep(0.8)
    assert c.get_token(got["code"]).code == "D40004"
    # a fresh code within its lifetime works
    got = c.authorize(listener.url("/login"), "s2")
    assert c.get_token(got["code"]).ok


def test_code_bound_to_client(start_sandbox, keys, keys2, listener, tmp_path):
    cfg = {"auto_approve": "chan-tai-man", "clients": [
        {"client_id": "dept-a", "client_secret_file": keys["client_secret"],
         "kek_cert_or_pubkey": keys["kek_public.pem"],
         "redirect_uris": [listener.url("/a")]},
        {"client_id": "dept-b", "client_secret_file": keys2["client_secret"],
         "kek_cert_or_pubkey": keys2["kek_public.pem"],
         "redirect_uris": [listener.url("/b")]}]}
    path = tmp_path / "two.json"
    path.write_text(json.dumps(cfg))
    sb = start_sandbox("--config", str(path), auto=None, client=False)
    code = sb.client(keys, "dept-a").authorize(listener.url("/a"), "s")["code"]
    assert sb.client(keys2, "dept-b").get_token(code).code == "D40004"


def test_unregistered_redirect_is_refused(sandbox, client, listener):
    path = client.get_qr_path(listener.url("/elsewhere"), "s1")
    status, headers, body = sandbox.http("GET", path)
    assert status == 400
    assert headers["Content-Type"].startswith("text/html")
    assert b"D20008" in body and "Location" not in headers
    status, headers, body = sandbox.http(
        "GET", path, headers={"Accept": "application/json"})
    assert status == 400 and json.loads(body)["code"] == "D20008"


def test_getqr_parameter_validation(sandbox, client, listener):
    ok = urllib.parse.parse_qs(urllib.parse.urlsplit(
        client.get_qr_path(listener.url("/login"), "s1")).query)
    ok = {k: v[0] for k, v in ok.items()}

    def code_for(**change):
        q = dict(ok)
        for k, v in change.items():
            if v is None:
                q.pop(k, None)
            else:
                q[k] = v
        status, _, body = sandbox.http(
            "GET", "/api/v1/auth/getQR?" + urllib.parse.urlencode(q),
            headers={"Accept": "application/json"})
        return status, json.loads(body)["code"] if status == 400 else None

    assert code_for(clientID="nobody") == (400, "D20003")
    assert code_for(responseType="token") == (400, "D20001")
    assert code_for(state="x" * 37) == (400, "D20001")
    assert code_for(state="has space") == (400, "D20001")
    assert code_for(state=None) == (400, "D20002")
    assert code_for(source="Windows_Phone") == (400, "D20001")
    assert code_for(lang="fr-FR") == (400, "D20001")
    assert code_for(scope="eidapi_everything") == (400, "D20012")
    assert code_for(brokerPage="maybe") == (400, "D20001")
    assert code_for(state="A" * 36, source="iOS_Safari", lang="zh-CN",
                    brokerPage="true")[0] == 302
    assert code_for(lang=None)[0] == 302


def test_redirect_keeps_existing_query(start_sandbox, keys, listener):
    redirect = listener.url("/login?dept=td&x=1")
    sb = start_sandbox("--redirect-uri", redirect)
    got = sb.client(keys).authorize(redirect, "s9")
    assert got["_location"].startswith(redirect + "&code=")
    assert got["dept"] == "td" and got["state"] == "s9"


def test_manual_approval_page(start_sandbox, keys, listener):
    sb = start_sandbox(auto=None)
    c = sb.client(keys)
    redirect = listener.url("/login")
    status, headers, body = sb.http("GET", c.get_qr_path(redirect, "st"))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "Chan Tai Man" in page and "Wong Mei Ling" in page
    action = re.search(r'action="(/sandbox/login/[^"]+)"', page).group(1)
    assert 'value="approve:lee-siu-ming"' in page

    status, headers, _ = sb.form(action, decision="approve:lee-siu-ming")
    assert status == 302
    q = _query(headers["Location"])
    assert q["state"] == "st"
    t = c.get_token(q["code"]).content
    assert t["userType"] == "iAM Smart"          # lee-siu-ming
    # the page is single use
    status, _, _ = sb.form(action, decision="approve:lee-siu-ming")
    assert status == 404


def test_manual_cancel_reject_timeout(start_sandbox, keys, listener):
    sb = start_sandbox(auto=None)
    c = sb.client(keys)
    for decision, code in (("cancel", "D40000"), ("reject", "D40001"),
                           ("timeout", "D40003")):
        _, _, body = sb.http("GET", c.get_qr_path(listener.url("/login"),
                                                  "s-" + decision))
        action = re.search(r'action="(/sandbox/login/[^"]+)"',
                           body.decode()).group(1)
        status, headers, _ = sb.form(action, decision=decision)
        assert status == 302
        q = _query(headers["Location"])
        assert q == {"error_code": code, "state": "s-" + decision}


def test_manual_page_expires(start_sandbox, keys, listener):
    sb = start_sandbox("--ticket-ttl", "0.3", auto=None)
    c = sb.client(keys)
    _, _, body = sb.http("GET", c.get_qr_path(listener.url("/login"), "s"))
    action = re.search(r'action="(/sandbox/login/[^"]+)"',
                       body.decode()).group(1)
    time.sleep(0.5)
    _, headers, _ = sb.form(action, decision="approve:chan-tai-man")
    assert _query(headers["Location"])["error_code"] == "D40003"


def test_admin_auto_approve_and_login_behaviour(start_sandbox, keys,
                                                 listener):
    sb = start_sandbox(auto=None)
    c = sb.client(keys)
    redirect = listener.url("/login")
    status, _, _ = sb.http("GET", c.get_qr_path(redirect, "s"))
    assert status == 200                         # manual: a page
    sb.admin("auto-approve", persona="lee-siu-ming", client_id=c.client_id)
    youth = c.login(redirect)
    sb.admin("auto-approve", persona="chan-tai-man")
    sb.admin("auto-approve", persona=None, client_id=None)
    status, _, _ = sb.http("GET", c.get_qr_path(redirect, "s"))
    assert status == 302                         # per-client override wins
    sb.admin("behaviour", persona="lee-siu-ming", login="reject")
    got = c.authorize(redirect, "s2")
    assert got["error_code"] == "D40001" and "code" not in got
    sb.admin("reset")
    status, _, _ = sb.http("GET", c.get_qr_path(redirect, "s"))
    assert status == 200
    assert youth["userType"] == "iAM Smart"
