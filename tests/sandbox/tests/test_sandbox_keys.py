"""CEK life cycle: getKey, revokeKey, expiry, D3000x codes and recovery."""

import json
import os
import threading
import time

from iams_sandbox import protocol

GET_TOKEN = "/api/v1/auth/getToken"


def _token_call(c, code="unknown"):
    """An encrypted getToken without the client's retry; an unknown code
    gets D40004 once decryption worked."""
    return c.call(GET_TOKEN, {"code": code, "grantType":
                              "authorization_code"}, retry=False)


def test_kek_given_as_certificate(start_sandbox, keys, listener):
    sb = start_sandbox("--client-id", "cert-service",
                       "--client-secret-file", keys["client_secret"],
                       "--kek-cert-or-pubkey", keys["kek_cert.pem"],
                       "--redirect-uri", listener.url("/login"),
                       client=False)
    c = sb.client(keys, "cert-service")
    c.get_key()                  # checks pubKey against our private key
    assert len(c.cek) == 32
    assert c.login(listener.url("/login"))["openID"]


def test_revoke_then_d30002_then_recovery(sandbox, client):
    client.get_key()
    old = client.cek
    assert _token_call(client).code == "D40004"      # CEK works
    assert client.revoke_key().code == "D00000"
    r = _token_call(client)
    assert r.code == "D30002" and r.content is None
    client.get_key()
    assert client.cek != old
    assert _token_call(client).code == "D40004"
    # a request under the revoked CEK still gets D30002, even though a
    # live CEK exists now
    body = client.seal({"code": "x", "grantType": "authorization_code"}, old)
    assert client.signed_post(GET_TOKEN, body).code == "D30002"


def test_client_retries_once_after_revoke(sandbox, client):
    client.get_key()
    client.revoke_key()
    r = client.get_token("unknown")                  # retry inside
    assert r.code == "D40004"
    paths = [e["path"] for e in sandbox.admin_get("log")["entries"]]
    assert paths[-3:] == [GET_TOKEN, "/api/v1/security/getKey", GET_TOKEN]


def test_several_live_ceks(sandbox, keys):
    """Two gateway workers fetching keys independently both keep
    working; answers are sealed under the request's CEK."""
    a, b = sandbox.client(keys), sandbox.client(keys)
    a.get_key()
    b.get_key()
    assert a.cek != b.cek
    assert _token_call(a).code == "D40004"
    assert _token_call(b).code == "D40004"


def test_injected_cek_fault_once(sandbox, client):
    client.get_key()
    sandbox.admin("cek-fault", count=1)
    assert _token_call(client).code == "D30002"
    assert _token_call(client).code == "D40004"      # only once
    sandbox.admin("cek-fault", count=1, client_id=client.client_id)
    r = client.get_token("unknown")                  # client recovers
    assert r.code == "D40004"
    codes = [e.get("code") for e in sandbox.admin_get(
        "log", path=GET_TOKEN)["entries"]]
    assert codes[-2:] == ["D30002", "D40004"]


def test_cek_expiry(start_sandbox, keys):
    sb = start_sandbox("--cek-ttl", "0.5")
    c = sb.client(keys)
    r = c.get_key()
    assert r.content["expiresIn"] == 500
    time.sleep(0.7)
    body = c.seal({"code": "x", "grantType": "authorization_code"}, c.cek)
    assert c.signed_post(GET_TOKEN, body).code == "D30002"


def test_no_cek_yet(sandbox, client):
    client.cek = os.urandom(32)                      # never fetched
    client.cek_expires_ms = protocol.now_ms() + 10 ** 9
    assert _token_call(client).code == "D30002"


def test_envelope_errors(sandbox, client):
    client.get_key()

    def send(body):
        return client.signed_post(GET_TOKEN, body).code

    good = json.loads(client.seal({"code": "x"}))["content"]
    raw = protocol.b64decode_strict(good)
    assert send(b"not json") == "D20001"
    assert send(b"{}") == "D20002"
    assert send(json.dumps({"content": "@@@"}).encode()) == "D30004"
    assert send(json.dumps({"content": protocol.b64(b"\0" * 10)})
                .encode()) == "D30004"
    bad_len = b"\0\0\0\x10" + raw[4:]
    assert send(json.dumps({"content": protocol.b64(bad_len)})
                .encode()) == "D30004"
    flipped = raw[:-1] + bytes([raw[-1] ^ 1])
    assert send(json.dumps({"content": protocol.b64(flipped)})
                .encode()) == "D30004"
    # a key the platform never issued, while a live CEK exists
    foreign = client.seal({"code": "x"}, os.urandom(32))
    assert send(foreign) == "D30004"
    not_object = json.dumps({"content": protocol.seal(
        client.cek, b"[1,2]")}).encode()
    assert send(not_object) == "D20001"


def test_state_file_keeps_ceks_and_tokens(start_sandbox, keys, listener,
                                          tmp_path):
    state = str(tmp_path / "state.json")
    sb = start_sandbox("--state-file", state)
    c = sb.client(keys)
    token = c.login(listener.url("/login"), scope="eidapi_auth "
                    "eidapi_profiles")
    sb.stop()
    assert os.stat(state).st_size > 0
    sb2 = start_sandbox("--state-file", state)
    c.port = sb2.port
    r = c.call("/api/v1/profiles", {"accessToken": token["accessToken"],
                                    "openID": token["openID"],
                                    "profileFields": ["gender"]},
               retry=False)
    assert r.ok and r.content == {"gender": "M"}


def test_parallel_clients(sandbox, keys):
    """Eight threads, each its own client and CEK, sharing the server."""
    results, errors = [], []

    def worker():
        try:
            c = sandbox.client(keys)
            for _ in range(5):
                results.append(_token_call(c).code)
        except Exception as e:                      # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert results == ["D40004"] * 40
