"""Request signatures, replay protection and the exact wire formats.

The first tests build requests by hand with hmac/base64/AESGCM rather
than through client.py, so the sandbox is checked against the protocol
text and not only against the reference client."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import struct
import time
import urllib.parse

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def _sign(secret, client_id, ts, nonce, body, method="HmacSHA256"):
    mac = hmac.new(secret, client_id.encode() + method.encode() +
                   str(ts).encode() + nonce.encode() + body,
                   hashlib.sha256).digest()
    return urllib.parse.quote(base64.b64encode(mac).decode(), safe="")


def _post(sandbox, keys, path, body=b"", ts=None, nonce=None, sig=None,
          client_id="test-service", method="HmacSHA256", raw_sig=False):
    ts = str(int(time.time() * 1000)) if ts is None else str(ts)
    nonce = os.urandom(8).hex() if nonce is None else nonce
    if sig is None:
        sig = _sign(keys["secret"], client_id, ts, nonce, body, method)
        if raw_sig:
            sig = urllib.parse.unquote(sig)
    headers = {"Content-Type": "application/json", "clientID": client_id,
               "signatureMethod": method, "timestamp": ts, "nonce": nonce,
               "signature": sig}
    status, _, raw = sandbox.http("POST", path, body, headers)
    assert status == 200, raw
    return json.loads(raw)


def test_hand_built_flow(sandbox, keys, listener):
    """getKey, unwrap with the KEK private key, getToken in a hand-made
    envelope, decrypt the hand-parsed answer."""
    doc = _post(sandbox, keys, "/api/v1/security/getKey")
    assert doc["code"] == "D00000" and doc["txID"]
    c = doc["content"]
    kek = serialization.load_pem_private_key(keys["private_pem"], None)
    cek = kek.decrypt(base64.b64decode(c["secretKey"]), padding.PKCS1v15())
    assert len(cek) == 32
    spki = kek.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64decode(c["pubKey"]) == spki
    assert c["expiresIn"] == 86400 * 1000
    assert abs(c["issueAt"] - time.time() * 1000) < 5000

    status, headers, _ = sandbox.http(
        "GET", "/api/v1/auth/getQR?" + urllib.parse.urlencode({
            "clientID": "test-service", "responseType": "code",
            "source": "PC_Browser", "redirectURI": listener.url("/login"),
            "scope": "eidapi_auth", "lang": "en-US", "state": "abc"}))
    assert status == 302
    code = urllib.parse.parse_qs(
        urllib.parse.urlsplit(headers["Location"]).query)["code"][0]

    iv = os.urandom(12)
    plain = json.dumps({"code": code,
                        "grantType": "authorization_code"}).encode()
    env = base64.b64encode(struct.pack(">I", 12) + iv +
                           AESGCM(cek).encrypt(iv, plain, None)).decode()
    doc = _post(sandbox, keys, "/api/v1/auth/getToken",
                json.dumps({"content": env}).encode())
    assert doc["code"] == "D00000", doc
    raw = base64.b64decode(doc["content"])
    assert struct.unpack(">I", raw[:4]) == (12,)
    content = json.loads(AESGCM(cek).decrypt(raw[4:16], raw[16:], None))
    assert content["tokenType"] == "Bearer" and content["openID"]


def test_raw_base64_signature_is_accepted(sandbox, keys):
    doc = _post(sandbox, keys, "/api/v1/security/getKey", raw_sig=True)
    assert doc["code"] == "D00000"


def test_bad_signature(sandbox, keys):
    doc = _post(sandbox, keys, "/api/v1/security/getKey",
                sig=_sign(b"wrong-secret", "test-service", 1, "n", b""))
    assert doc["code"] == "D20006" and doc["content"] is None
    # signature over a different body than the one sent
    ts, nonce = str(int(time.time() * 1000)), "n-body"
    sig = _sign(keys["secret"], "test-service", ts, nonce, b"{}")
    doc = _post(sandbox, keys, "/api/v1/security/getKey", b"{ }", ts=ts,
                nonce=nonce, sig=sig)
    assert doc["code"] == "D20006"
    doc = _post(sandbox, keys, "/api/v1/security/getKey", sig="%%%")
    assert doc["code"] == "D20006"


def test_replayed_nonce(sandbox, keys):
    ts = int(time.time() * 1000)
    first = _post(sandbox, keys, "/api/v1/security/getKey", ts=ts,
                  nonce="same-nonce")
    again = _post(sandbox, keys, "/api/v1/security/getKey", ts=ts,
                  nonce="same-nonce")
    later = _post(sandbox, keys, "/api/v1/security/getKey", ts=ts + 5,
                  nonce="same-nonce")
    assert first["code"] == "D00000"
    assert again["code"] == "D20004" and later["code"] == "D20004"
    # a bad signature does not burn a nonce
    _post(sandbox, keys, "/api/v1/security/getKey", nonce="fresh",
          sig="AAAA")
    assert _post(sandbox, keys, "/api/v1/security/getKey",
                 nonce="fresh")["code"] == "D00000"


def test_stale_and_future_timestamps(sandbox, keys):
    now = int(time.time() * 1000)
    assert _post(sandbox, keys, "/api/v1/security/getKey",
                 ts=now - 301000)["code"] == "D20004"
    assert _post(sandbox, keys, "/api/v1/security/getKey",
                 ts=now + 301000)["code"] == "D20004"
    assert _post(sandbox, keys, "/api/v1/security/getKey",
                 ts=now - 240000)["code"] == "D00000"
    assert _post(sandbox, keys, "/api/v1/security/getKey",
                 ts="12ab")["code"] == "D20001"


def test_header_errors(sandbox, keys):
    assert _post(sandbox, keys, "/api/v1/security/getKey",
                 method="HmacSHA1")["code"] == "D20005"
    assert _post(sandbox, keys, "/api/v1/security/getKey",
                 client_id="nobody")["code"] == "D20003"
    assert _post(sandbox, keys, "/api/v1/security/getKey",
                 nonce="n" * 37)["code"] == "D20001"
    status, _, raw = sandbox.http("POST", "/api/v1/security/getKey", b"",
                                  {"clientID": "test-service"})
    assert json.loads(raw)["code"] == "D20002"


def test_log_shows_signing_headers(sandbox, keys):
    _post(sandbox, keys, "/api/v1/security/getKey", ts=1234, nonce="old")
    ts = int(time.time() * 1000)
    _post(sandbox, keys, "/api/v1/security/getKey", ts=ts, nonce="abc-123")
    entries = sandbox.admin_get("log", path="/api/v1/security/getKey",
                                limit=2)["entries"]
    assert [e["nonce"] for e in entries] == ["old", "abc-123"]
    assert entries[1]["timestamp"] == str(ts)
    assert entries[1]["signatureMethod"] == "HmacSHA256"
    assert [e["code"] for e in entries] == ["D20004", "D00000"]


def test_wrong_method_and_unknown_path(sandbox):
    status, headers, _ = sandbox.http("GET", "/api/v1/auth/getToken")
    assert status == 405 and headers["Allow"] == "POST"
    status, _, _ = sandbox.http("POST", "/api/v1/nothing", b"{}")
    assert status == 404


def test_body_limits(sandbox, keys):
    status, _, _ = sandbox.http("POST", "/api/v1/auth/getToken",
                                b"x" * (1024 * 1024 + 1))
    assert status == 413
    # chunked bodies are read and signed like any other
    ts, nonce = str(int(time.time() * 1000)), "chunky"
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    conn.putrequest("POST", "/api/v1/security/getKey")
    for k, v in {"clientID": "test-service", "signatureMethod": "HmacSHA256",
                 "timestamp": ts, "nonce": nonce,
                 "signature": _sign(keys["secret"], "test-service", ts,
                                    nonce, b"{}"),
                 "Transfer-Encoding": "chunked"}.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(b"1\r\n{\r\n1\r\n}\r\n0\r\n\r\n")
    doc = json.loads(conn.getresponse().read())
    conn.close()
    assert doc["code"] == "D00000"


def test_keep_alive(sandbox, keys):
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    for i in range(3):
        ts, nonce = str(int(time.time() * 1000)), "ka-%d" % i
        conn.request("POST", "/api/v1/security/getKey", b"", {
            "clientID": "test-service", "signatureMethod": "HmacSHA256",
            "timestamp": ts, "nonce": nonce,
            "signature": _sign(keys["secret"], "test-service", ts, nonce,
                               b"")})
        assert json.loads(conn.getresponse().read())["code"] == "D00000"
    conn.close()
