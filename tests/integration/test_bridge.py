"""
One-click login bridging, end to end: real nginx with the module, real
Redis, the sandbox as the platform, demo department backends that verify
every assertion with python3-cryptography against the gateway's published
JWKS, and the echo backend that records every header it received.

The subjects the departments must see are computed here from the secret
file and the sandbox's openID formula, independently of the gateway.
"""

import http.client
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

import harness
import jose_helper as jh
from bridge_support import (  # noqa: F401  (fixtures)
    DEPARTMENTS, ISSUER, JWKS_PATH, bridge, bridge_keys, bridge_stack,
    concurrently, dd, echo, shared_bridge, write_atomically)
from login_support import COOKIE, DEFAULT_PERSONA, expected_open_id

B64URL = re.compile(r"[A-Za-z0-9_-]+")
OTHER_PERSONA = "lee-siu-ming"


def _dept_json(stack, browser, path):
    """What a demo department answered (it verified the assertion)."""
    page = browser.navigate(stack.url(path))
    assert page.response.status == 200, page
    assert page.chain == [], page.chain     # already signed in: no detour
    rec = page.response.json()
    assert rec["verified"] is True, rec
    return rec


def _jws_parts(token):
    h, p, s = token.split(".")
    return (json.loads(jh.b64u_decode(h)), json.loads(jh.b64u_decode(p)),
            jh.b64u_decode(s))


def _removed_lines(text):
    return re.findall(r'\[info\].*iamsmart: client-sent "([^"]+)" header '
                      r'removed', text)


# ---- what a department receives ----

def test_department_verifies_assertion_and_sees_its_pairwise_subject(
        bridge, bridge_keys):
    before = int(time.time())
    b, _ = bridge.sign_in()
    rec = _dept_json(bridge, b, "/td/case/42.json?lang=en")
    after = int(time.time())

    # the subject the department trusts is the pairwise one, nothing else
    sub = bridge_keys.subject("td", DEFAULT_PERSONA)
    assert rec["subject"] == sub
    assert len(sub) == 43 and B64URL.fullmatch(sub)
    assert rec["path"] == "/td/case/42.json?lang=en"

    assert rec["header"] == {"alg": "ES256", "kid": "gw-1", "typ": "JWT"}
    c = rec["claims"]
    assert sorted(c) == sorted(["iss", "aud", "sub", "acr", "amr",
                                "auth_time", "iat", "exp", "jti"])
    assert c["iss"] == ISSUER
    assert c["aud"] == DEPARTMENTS["TD"]["audience"]
    assert c["sub"] == sub
    assert c["acr"] == "fido" and c["amr"] == ["fido"]
    assert before <= c["auth_time"] <= c["iat"] <= after
    assert c["exp"] == c["iat"] + 60
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", c["jti"])

    # exactly one subject and one assertion header, as the gateway made them
    ids = rec["identity_headers"]
    assert set(ids) == {"X-Iamsmart-Subject", "X-Iamsmart-Assertion"}, ids
    assert ids["X-Iamsmart-Subject"] == [sub]
    assert len(ids["X-Iamsmart-Assertion"]) == 1


def test_assertion_is_signed_by_the_first_key_and_published(bridge,
                                                            bridge_keys):
    b, _ = bridge.sign_in()
    r = echo(b.navigate(bridge.url("/echo/td/x")))
    token = r["header_map"]["x-iamsmart-assertion"][0]
    header, claims, sig = _jws_parts(token)
    assert header == {"alg": "ES256", "kid": "gw-1", "typ": "JWT"}
    assert len(sig) == 64                      # R || S, not DER

    # the published keys are the public halves of the configured ones
    jwks = bridge.jwks()
    assert [k["kid"] for k in jwks["keys"]] == ["gw-1", "gw-0"]
    for k in jwks["keys"]:
        assert not set(k) & {"d", "p", "q", "dp", "dq", "qi", "k"}, k
        assert k["use"] == "sig" and k["alg"] == "ES256"
        own = bridge_keys.signing[k["kid"]].public_jwk()
        assert (k["kty"], k["crv"], k["x"], k["y"]) == \
            (own["kty"], own["crv"], own["x"], own["y"])

    keys = bridge.keys_by_kid()
    _, verified = bridge.verify(token, subject=claims["sub"], keys=keys)
    assert verified == claims

    # the signature binds the claims and the key: no other key, no change
    with pytest.raises(dd.Rejected, match="bad signature"):
        bridge.verify(token, keys={"gw-1": keys["gw-0"]})
    h, p, s = token.split(".")
    forged = dict(claims, sub="someone-else")
    with pytest.raises(dd.Rejected, match="bad signature"):
        bridge.verify(h + "." + jh.b64u(jh.compact_json(forged)) + "." + s,
                      keys=keys)
    with pytest.raises(dd.Rejected, match="audience"):
        bridge.verify(token, department="FEHD", keys=keys)


def test_jwks_endpoint(bridge):
    r = bridge.get(JWKS_PATH)
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    assert r.header("Cache-Control") == "public, max-age=300"
    assert len(r.json()["keys"]) == 2
    # public: no session needed, no cookie set
    assert r.header_list("Set-Cookie") == []
    head = bridge.get(JWKS_PATH, method="HEAD")
    assert head.status == 200 and head.body == b""
    assert bridge.get(JWKS_PATH, method="POST", body="x").status == 405


def test_custom_headers_and_lifetime(bridge, bridge_keys):
    b, _ = bridge.sign_in()
    rec = _dept_json(bridge, b, "/fehd/licence.json")
    sub = bridge_keys.subject("fehd", DEFAULT_PERSONA)
    assert rec["subject"] == sub
    assert set(rec["identity_headers"]) == {"X-FEHD-User", "X-FEHD-Token"}
    c = rec["claims"]
    assert c["aud"] == DEPARTMENTS["FEHD"]["audience"]
    assert c["exp"] == c["iat"] + 30

    # the default header names are not sent to a department with its own
    r = echo(b.navigate(bridge.url("/echo/fehd/x")))
    names = {k.lower() for k, _ in r["headers"]}
    assert "x-fehd-user" in names and "x-fehd-token" in names
    assert not any(n.startswith("x-iamsmart-") for n in names), names


def test_variables_for_proxy_set_header_and_logs(bridge, bridge_keys):
    b, _ = bridge.sign_in()
    r = echo(b.navigate(bridge.url("/echo/lcsd/x")))
    hm = r["header_map"]
    # LCSD uses every default: audience and namespace are its name
    sub = bridge_keys.subject("LCSD", DEFAULT_PERSONA)
    assert hm["x-iamsmart-subject"] == [sub]
    assertion = hm["x-iamsmart-assertion"][0]
    assert hm["authorization"] == ["Bearer " + assertion]
    assert hm["x-department"] == ["LCSD"]
    _, claims = bridge.verify(assertion, department="LCSD", subject=sub)
    assert claims["aud"] == "LCSD"

    log = bridge.access_log()
    assert "GET /echo/lcsd/x 200 dept=[LCSD] sub=[%s] amr=[fido]" % sub \
        in log, log[-2000:]


# ---- pairwise subjects ----

def test_departments_see_different_subjects_and_stable_across_sessions(
        bridge, bridge_keys):
    first, _ = bridge.sign_in()
    second, _ = bridge.sign_in()
    other, _ = bridge.sign_in(OTHER_PERSONA)
    assert first.cookie(COOKIE) != second.cookie(COOKIE)

    seen = {}
    for name, browser in (("first", first), ("second", second),
                          ("other", other)):
        seen[name] = {
            "TD": _dept_json(bridge, browser, "/td/me.json")["subject"],
            "FEHD": _dept_json(bridge, browser, "/fehd/me.json")["subject"],
            "LCSD": echo(browser.navigate(bridge.url("/echo/lcsd/me")))
            ["header_map"]["x-iamsmart-subject"][0]}

    # one citizen: the same subject at a department in every session ...
    assert seen["first"] == seen["second"]
    # ... a different one at every department ...
    assert len(set(seen["first"].values())) == 3
    # ... and another citizen has other subjects everywhere
    assert not set(seen["other"].values()) & set(seen["first"].values())

    for persona, subs in ((DEFAULT_PERSONA, seen["first"]),
                          (OTHER_PERSONA, seen["other"])):
        assert subs == {"TD": bridge_keys.subject("td", persona),
                        "FEHD": bridge_keys.subject("fehd", persona),
                        "LCSD": bridge_keys.subject("LCSD", persona)}
        open_id = expected_open_id(persona, "bridge-it")
        assert open_id not in json.dumps(subs)


def test_no_platform_identity_reaches_the_department(bridge, backend):
    b, _ = bridge.sign_in()
    r = echo(b.navigate(bridge.url("/echo/td/x")))
    open_id = expected_open_id(DEFAULT_PERSONA, "bridge-it")
    text = json.dumps(r["headers"])
    assert open_id not in text
    assert COOKIE not in text          # the gateway's cookies stay with it
    _, claims, _ = _jws_parts(r["header_map"]["x-iamsmart-assertion"][0])
    assert open_id not in json.dumps(claims)


# ---- client-sent identity headers ----

def test_spoofed_identity_headers_never_reach_the_backend(bridge, backend,
                                                         bridge_keys):
    b, _ = bridge.sign_in()
    cookie = bridge.session_cookie(b)
    stranger = jh.Key.generate("EC", kid="gw-1")     # same kid, other key
    forged = jh.sign({"iss": ISSUER, "aud": DEPARTMENTS["TD"]["audience"],
                      "sub": "spoofed-sub", "acr": "fr",
                      "amr": ["fido", "fr"]}, stranger, "ES256")
    spoof = [("X-Iamsmart-Subject", "spoofed-sub"),
             ("x-iamsmart-subject", "spoofed-sub-2"),
             ("X-Iamsmart-Assertion", forged),
             ("X-IAMSMART-ACR", "spoofed-fr"),
             ("X-Iamsmart-Amr", "spoofed-fido fr"),
             ("X-Iamsmart-Department", "spoofed-ImmD")]
    # FEHD names its own headers: those are removed there too
    spoof_fehd = spoof + [("X-FEHD-User", "spoofed-fehd"),
                          ("X-Fehd-Token", forged)]
    cases = [("/echo/td/x", spoof, "x-iamsmart-subject",
              "x-iamsmart-assertion", "td"),
             ("/echo/fehd/x", spoof_fehd, "x-fehd-user", "x-fehd-token",
              "fehd")]
    for path, sent, sub_h, assertion_h, ns in cases:
        backend.clear()
        mark = bridge.nginx.log_mark()
        r = bridge.get(path, cookie=cookie,
                       headers=sent + [("X-Keep-Me", "kept")])
        rec = echo(r)
        hm = rec["header_map"]
        assert hm[sub_h] == [bridge_keys.subject(ns, DEFAULT_PERSONA)]
        assert len(hm[assertion_h]) == 1
        assert hm["x-keep-me"] == ["kept"]       # other headers pass
        bridge.verify(hm[assertion_h][0],
                      department="TD" if ns == "td" else "FEHD",
                      subject=hm[sub_h][0])
        values = json.dumps(rec["headers"])
        assert "spoofed" not in values and forged not in values, values
        # every removal is logged once, by name
        deadline = time.monotonic() + 2
        while len(_removed_lines(bridge.nginx.error_log_since(mark))) \
                < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = _removed_lines(bridge.nginx.error_log_since(mark))
        assert sorted(lines) == sorted(n for n, _ in sent)
        assert len(backend.requests) == 1

    # a demo department verifying the result accepts it: the forgery is gone
    rec = bridge.get("/td/me.json", cookie=cookie, headers=spoof)
    assert rec.status == 200, rec
    got = rec.json()
    assert got["subject"] == bridge_keys.subject("td", DEFAULT_PERSONA)
    assert got["claims"]["acr"] == "fido"

    # proxy_set_header replaces a client-sent Authorization
    r = echo(bridge.get("/echo/lcsd/x", cookie=cookie,
                        headers=spoof + [("Authorization",
                                          "Bearer " + forged)]))
    assert r["header_map"]["authorization"] == [
        "Bearer " + r["header_map"]["x-iamsmart-assertion"][0]]


def test_spoofed_headers_without_a_session_reach_nothing(bridge, backend):
    spoof = {"X-Iamsmart-Subject": "spoofed-sub",
             "X-Iamsmart-Assertion": "spoofed.assertion.x"}
    for cookie in (None, COOKIE + "=" + "A" * 43, COOKIE + "=garbage"):
        r = bridge.get("/echo/td/x", cookie=cookie, headers=spoof)
        assert r.status == 302, r
        assert "/api/v1/auth/getQR?" in r.header("Location")
        r = bridge.get("/td/x.json", cookie=cookie,
                       headers=dict(spoof, Accept="application/json"))
        assert r.status == 401, r
        assert r.json()["error"] == "login_required"
    assert backend.requests == []


# ---- assertion reuse ----

def _on_one_connection(stack, cookie, paths):
    """Requests on one keep-alive connection, so one worker serves all."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.gw_port, timeout=10)
    out = []
    try:
        for p in paths:
            conn.request("GET", p, headers={"Cookie": cookie})
            resp = conn.getresponse()
            out.append((resp.status, json.loads(resp.read())))
    finally:
        conn.close()
    return out


def test_worker_reuses_an_assertion_while_half_its_lifetime_remains(
        bridge_stack, bridge_keys):
    depts = dict(DEPARTMENTS, SHORT={"audience": "short", "namespace": "td",
                                     "assertion_lifetime": "2s"})
    stack = bridge_stack(departments=depts, backends=(), locations="""
location /echo/td/ {
    iamsmart_bridge TD;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /echo/short/ {
    iamsmart_bridge SHORT;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /echo/session/ {
    iamsmart_auth on;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
""")
    b, _ = stack.sign_in()
    cookie = stack.session_cookie(b)

    def assertion(rec, name="x-iamsmart-assertion"):
        return rec["header_map"][name][0]

    res = _on_one_connection(stack, cookie, ["/echo/td/a", "/echo/td/b",
                                             "/echo/short/a"])
    assert [s for s, _ in res] == [200, 200, 200]
    td1, td2, short1 = (assertion(r) for _, r in res)
    assert td1 == td2                   # 60 s lifetime: reused
    assert short1 != td1
    # the same namespace gives the same subject, the audience differs
    c_td = _jws_parts(td1)[1]
    c_short = _jws_parts(short1)[1]
    assert c_short["sub"] == c_td["sub"] and c_short["aud"] == "short"

    # a 2 s assertion is reused for at most 1 s: every one received still
    # has at least half its lifetime ahead
    seen = set()
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        for status, rec in _on_one_connection(stack, cookie,
                                              ["/echo/short/x"] * 5):
            assert status == 200
            tok = assertion(rec)
            c = _jws_parts(tok)[1]
            assert c["exp"] == c["iat"] + 2
            assert c["exp"] - time.time() >= 0.8, c
            seen.add(c["jti"])
        time.sleep(0.2)
    assert len(seen) >= 3, seen


# ---- signing-key rotation ----

class _Rotation:
    """The operator's two key files of docs/bridging.md: current.jwk signs,
    previous.jwk is only published.  A rotation is two reloads:
    stage(kid) writes the new key into previous.jwk (published, not yet
    signing), swap() exchanges the two files (the new key signs, the old
    one stays published)."""

    def __init__(self, keys):
        self.dir = harness.make_tempdir("iams-rotation-")
        self.keys = keys
        self.current = os.path.join(self.dir, "current.jwk")
        self.previous = os.path.join(self.dir, "previous.jwk")
        shutil.copy(keys.signing_path("gw-1"), self.current)
        shutil.copy(keys.signing_path("gw-0"), self.previous)

    def stage(self, kid):
        self.keys.new_signing_key(kid, path=self.previous)

    def swap(self):
        tmp = os.path.join(self.dir, "swap.jwk")
        os.replace(self.current, tmp)
        os.replace(self.previous, self.current)
        os.replace(tmp, self.previous)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


ECHO_LOCATIONS = """
location /echo/td/ {
    iamsmart_bridge TD;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
location /echo/session/ {
    iamsmart_auth on;
    proxy_pass http://127.0.0.1:{{backend_port}};
}
"""
ROTATION_LOCATIONS = ECHO_LOCATIONS + """
location /td/ {
    iamsmart_bridge TD;
    proxy_pass http://127.0.0.1:{{dept_td}};
}
"""


def test_key_rotation_by_reload_under_load_fails_no_request(bridge_stack,
                                                            bridge_keys):
    """Two rotations (gw-1 -> gw-2 -> gw-3), four reloads, while 200
    requests go to a department that verifies each assertion against the
    published keys (and refetches them when it meets a new kid)."""
    rot = _Rotation(bridge_keys)
    try:
        stack = bridge_stack(backends=("TD",), locations=ROTATION_LOCATIONS,
                             signing=[rot.current, rot.previous])
        b, _ = stack.sign_in()
        cookie = stack.session_cookie(b)
        assert _dept_json(stack, b, "/td/warm.json")["header"]["kid"] \
            == "gw-1"

        total, spacing = 200, 0.03              # 200 requests over ~6 s
        t0 = time.monotonic() + 0.1
        reloads = []                            # (step, done at)

        def rotate():
            # the department refetches at most once a second: its first
            # sight of gw-2 and of gw-3 must be further apart than that
            for step, at in (("stage gw-2", 0.8), ("swap", 1.6),
                             ("stage gw-3", 3.0), ("swap", 3.8)):
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                if step == "swap":
                    rot.swap()
                else:
                    rot.stage(step.split()[1])
                stack.nginx.reload()            # waits for the old workers
                reloads.append((step, time.monotonic()))

        def one(i):
            time.sleep(max(0.0, t0 + i * spacing - time.monotonic()))
            start = time.monotonic()
            r = stack.get("/td/load/%d.json" % i, cookie=cookie,
                          timeout=15)
            rec = r.json()
            return (start, r.status, rec.get("header", {}).get("kid"),
                    rec.get("error"))

        rotator = threading.Thread(target=rotate)
        rotator.start()
        results = concurrently(one, total, workers=16)
        rotator.join()

        failed = [(s, err) for _, s, _, err in results if s != 200]
        assert failed == [], failed[:5]
        assert len(reloads) == 4
        kids = [k for _, _, k, _ in results]
        assert {"gw-1", "gw-2", "gw-3"} <= set(kids), kids
        # the load ran before, between and after the reloads; a request
        # that started once a swap was done got the new key
        assert any(st < reloads[0][1] for st, _, _, _ in results)
        assert any(st > reloads[3][1] for st, _, _, _ in results)
        for st, _, kid, _ in results:
            if reloads[1][1] < st < reloads[2][1]:
                assert kid == "gw-2"
            elif st > reloads[3][1]:
                assert kid == "gw-3"

        # the published set: the new key and the previous one
        assert [k["kid"] for k in stack.jwks()["keys"]] == ["gw-3", "gw-2"]
    finally:
        rot.cleanup()


def test_rotation_steps(bridge_stack, bridge_keys):
    """What each step of the procedure publishes and signs with; a
    department that fetched the keys after the first step verifies every
    later assertion without meeting an unknown kid."""
    rot = _Rotation(bridge_keys)
    try:
        stack = bridge_stack(backends=(), locations=ECHO_LOCATIONS,
                             signing=[rot.current, rot.previous])
        b, _ = stack.sign_in()
        cookie = stack.session_cookie(b)

        def signing_kid():
            rec = echo(stack.get("/echo/td/x", cookie=cookie))
            token = rec["header_map"]["x-iamsmart-assertion"][0]
            return _jws_parts(token)[0]["kid"], token

        def published():
            return [k["kid"] for k in stack.jwks()["keys"]]

        assert published() == ["gw-1", "gw-0"]
        assert signing_kid()[0] == "gw-1"

        rot.stage("gw-5")                       # 1. publish the new key
        stack.nginx.reload()
        assert published() == ["gw-1", "gw-5"]
        kid, token = signing_kid()
        assert kid == "gw-1"
        cached = stack.keys_by_kid()            # a department refreshes
        stack.verify(token, keys=cached)

        rot.swap()                              # 2. sign with it
        stack.nginx.reload()
        kid, token = signing_kid()
        assert kid == "gw-5" and published() == ["gw-5", "gw-1"]
        stack.verify(token, keys=cached)        # no refetch needed
    finally:
        rot.cleanup()


def test_broken_key_file_fails_nginx_t_and_keeps_serving(bridge_stack,
                                                         bridge_keys):
    rot = _Rotation(bridge_keys)
    try:
        stack = bridge_stack(
            backends=(), locations=ECHO_LOCATIONS,
            signing=[rot.current, rot.previous],
            allow_log=[r"\[emerg\].*iamsmart_signing_key"])
        b, _ = stack.sign_in()
        write_atomically(rot.current, '{"kty":"EC","kid":"broken"}')
        res = stack.nginx.test_config()
        assert not res.ok
        assert 'iamsmart_signing_key "%s"' % rot.current in res.output, \
            res.output
        # nothing was reloaded: the running gateway still signs
        rec = echo(b.navigate(stack.url("/echo/td/x")))
        assert _jws_parts(rec["header_map"]["x-iamsmart-assertion"][0])[0][
            "kid"] == "gw-1"
    finally:
        rot.cleanup()


def test_reload_lets_a_request_waiting_on_redis_finish(bridge_stack,
                                                       redis_server):
    """A reload must not drop a request an old worker has accepted: here
    it waits on its session lookup while Redis is paused for 0.4 s."""
    stack = bridge_stack(backends=(), locations=ECHO_LOCATIONS,
                         allow_log=[r"open socket #\d+ left in connection",
                                    r"\[alert\].*aborting"])
    b, _ = stack.sign_in()
    cookie = stack.session_cookie(b)
    result = {}

    def request():
        try:
            result["status"] = stack.get("/echo/td/x", cookie=cookie).status
        except (OSError, http.client.HTTPException) as e:
            result["error"] = repr(e)

    with redis_server.client() as c:
        assert c.command("CLIENT", "PAUSE", "400", "ALL") == "OK"
    t = threading.Thread(target=request)
    t.start()
    time.sleep(0.1)                 # the request now waits on Redis
    assert stack.nginx.signal("reload").returncode == 0
    t.join(15)
    assert result == {"status": 200}
    assert "open socket" not in stack.nginx.error_log()


# ---- the verification examples of docs/bridging.md ----

def _documented_examples():
    """{file name: code} of the fenced blocks of docs/bridging.md whose
    first line is "# file: NAME" or "// file: NAME"."""
    with open(os.path.join(harness.ROOT, "docs", "bridging.md")) as f:
        text = f.read()
    out = {}
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        m = re.match(r"(?:#|//) file: (\S+)\n", block)
        if m:
            out[m.group(1)] = block
    return out


def _runners():
    runners = {"verify_assertion.py": ["/usr/bin/python3"],
               "verify_pyjwt.py": ["/usr/bin/python3"],
               "verify_assertion.mjs": [shutil.which("node") or "node"]}
    missing = []
    if importlib.util.find_spec("jwt") is None:
        missing.append("verify_pyjwt.py")
    if shutil.which("node") is None:
        missing.append("verify_assertion.mjs")
    return runners, missing


def test_documented_verifiers(bridge, bridge_keys, tmp_path):
    examples = _documented_examples()
    runners, missing = _runners()
    assert sorted(examples) == sorted(runners)
    b, _ = bridge.sign_in()
    rec = echo(b.navigate(bridge.url("/echo/td/x")))
    token = rec["header_map"]["x-iamsmart-assertion"][0]
    sub = rec["header_map"]["x-iamsmart-subject"][0]
    aud = DEPARTMENTS["TD"]["audience"]
    jwks_url = bridge.url(JWKS_PATH)
    h, p, s = token.split(".")
    tampered = h + "." + p + "." + s[:-4] + ("AAAA" if s[-4:] != "AAAA"
                                             else "BBBB")
    forged = h + "." + jh.b64u(jh.compact_json(
        dict(_jws_parts(token)[1], sub="someone-else"))) + "." + s

    ran = []
    for name, code in examples.items():
        if name in missing:
            continue
        path = tmp_path / name
        path.write_text(code)

        def run(tok, audience=aud, subject=sub):
            return subprocess.run(runners[name] + [str(path), jwks_url,
                                                   ISSUER, audience,
                                                   subject, tok],
                                  capture_output=True, text=True,
                                  timeout=30)

        ok = run(token)
        assert ok.returncode == 0, (name, ok.stderr)
        assert json.loads(ok.stdout) == _jws_parts(token)[1]
        for bad in (run(tampered), run(forged),
                    run(token, audience="https://fehd.bridge.test"),
                    run(token, subject="someone-else")):
            assert bad.returncode != 0, (name, bad.stdout)
            assert "rejected" in bad.stderr, (name, bad.stderr)
        ran.append(name)
    assert "verify_assertion.py" in ran
    if missing:
        pytest.skip("not run (tool missing): %s" % ", ".join(missing))
