"""Fault injection through the loopback admin API."""

import json
import time

GET_KEY = "/api/v1/security/getKey"


def test_added_latency(sandbox, client):
    t0 = time.monotonic()
    client.get_key()
    fast = time.monotonic() - t0
    sandbox.admin("latency", ms=400, endpoint=GET_KEY)
    t0 = time.monotonic()
    client.get_key()
    slow = time.monotonic() - t0
    assert slow >= 0.4 and slow > fast
    # other endpoints are unaffected; "*" affects all
    t0 = time.monotonic()
    client.revoke_key()
    assert time.monotonic() - t0 < 0.4
    sandbox.admin("latency", ms=300)
    t0 = time.monotonic()
    client.revoke_key()
    assert time.monotonic() - t0 >= 0.3
    sandbox.admin("latency", ms=0, endpoint=GET_KEY)
    sandbox.admin("latency", ms=0)
    t0 = time.monotonic()
    client.get_key()
    assert time.monotonic() - t0 < 0.3


def test_next_requests_fail_with_500(sandbox, client):
    sandbox.admin("fail", endpoint=GET_KEY, count=2)
    for _ in range(2):
        r = client.signed_post(GET_KEY)
        assert r.status == 500 and r.code is None
    assert client.signed_post(GET_KEY).ok
    sandbox.admin("fail", count=1, status=503)       # any endpoint
    status, _, _ = sandbox.http("GET", "/api/v1/auth/getQR")
    assert status == 503
    assert client.signed_post(GET_KEY).ok
    log = sandbox.admin_get("log", path=GET_KEY)["entries"]
    assert [e.get("injected", False) for e in log] == [True, True, False,
                                                       False]


def test_injected_500_does_not_consume_nonce(sandbox, client):
    sandbox.admin("fail", endpoint=GET_KEY, count=1)
    assert client.signed_post(GET_KEY, nonce="kept").status == 500
    assert client.signed_post(GET_KEY, nonce="kept").ok


def test_reset_clears_faults_and_log(sandbox, client):
    sandbox.admin("fail", endpoint=GET_KEY, count=5)
    sandbox.admin("latency", ms=1000)
    sandbox.admin("cek-fault", count=3)
    sandbox.admin("settings", code_ttl=1, callback_delay=2)
    state = sandbox.admin_get("state")
    assert state["faults"]["fail_next"][GET_KEY]["count"] == 5
    assert state["settings"]["code_ttl"] == 1
    sandbox.admin("reset")
    state = sandbox.admin_get("state")
    assert state["faults"] == {"latency_ms": {}, "fail_next": {},
                               "cek_faults": {}}
    assert state["settings"]["code_ttl"] == 60
    assert state["settings"]["callback_delay"] == 0.2
    assert sandbox.admin_get("log")["entries"] == []
    assert client.signed_post(GET_KEY).ok


def test_reset_state_drops_keys(sandbox, client):
    client.get_key()
    sandbox.admin("reset", state=True)
    r = client.call("/api/v1/auth/getToken", {"code": "x", "grantType":
                    "authorization_code"}, retry=False)
    assert r.code == "D30002"


def test_admin_validation(sandbox):
    def post(name, args):
        return sandbox.http("POST", "/sandbox/admin/" + name,
                            json.dumps(args).encode())[0]

    assert post("latency", {"ms": -1}) == 400
    assert post("latency", {"ms": "x"}) == 400
    assert post("fail", {"endpoint": "/elsewhere"}) == 400
    assert post("fail", {"status": 200}) == 400
    assert post("auto-approve", {"persona": "nobody"}) == 400
    assert post("behaviour", {"persona": "chan-tai-man",
                              "stepup": "maybe"}) == 400
    assert post("settings", {"unknown": 1}) == 400
    assert post("nothing", {}) == 404
    assert sandbox.http("POST", "/sandbox/admin/reset", b"[")[0] == 400


def test_health_and_index(sandbox):
    status, _, body = sandbox.http("GET", "/sandbox/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, _, body = sandbox.http("GET", "/")
    assert status == 200 and b"chan-tai-man" in body
