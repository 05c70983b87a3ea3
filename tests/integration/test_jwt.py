"""
Bearer-token validation (iamsmart_jwt*) against real nginx with the module.

Tokens are made here with python3-cryptography (jose_helper.py), never with
the code under test.  One nginx instance (module scope) serves most tests;
nginx -t failures get their own instances.
"""

import json
import os
import re
import time
import uuid

import pytest

import harness
import jose_helper as jh

AUTH = "Authorization"

GATEWAY = """
large_client_header_buffers 4 64k;
log_format jwtlog '$request_uri|$status|$iamsmart_jwt_error';

map $iamsmart_jwt_claim_role $jwt_is_staff {
    staff    1;
    default  0;
}

server {
    listen 127.0.0.1:{{port}};
    access_log {{dir}}/jwt_access.log jwtlog;

    location /api/ {
        iamsmart_jwt "api";
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        iamsmart_jwt_key_file {{keys}}/ed.jwk;
        iamsmart_jwt_key_file {{keys}}/pem.pem;
        proxy_pass http://127.0.0.1:{{backend_port}};
        proxy_set_header X-Sub $iamsmart_jwt_claim_sub;
        proxy_set_header X-Name $iamsmart_jwt_claim_name;
        proxy_set_header X-Roles $iamsmart_jwt_claim_roles;
        proxy_set_header X-Level $iamsmart_jwt_claim_level;
        proxy_set_header X-Adult $iamsmart_jwt_claim_adult;
        proxy_set_header X-Profile $iamsmart_jwt_claim_profile;
        proxy_set_header X-Kid $iamsmart_jwt_header_kid;
        proxy_set_header X-Alg $iamsmart_jwt_header_alg;
        proxy_set_header X-Claims $iamsmart_jwt_claims;

        location /api/public/ {
            iamsmart_jwt off;
            proxy_pass http://127.0.0.1:{{backend_port}};
        }
    }

    location /hs/ {
        iamsmart_jwt "hs";
        iamsmart_jwt_algorithms HS256 RS256;
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        iamsmart_jwt_key_file {{keys}}/hs.jwks;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }

    location /iss/ {
        iamsmart_jwt "iss";
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        iamsmart_jwt_issuer https://issuer.example;
        iamsmart_jwt_audience svc-a svc-b;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }

    location /leeway/ {
        iamsmart_jwt "leeway";
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        iamsmart_jwt_leeway 60s;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }

    location /arg/ {
        iamsmart_jwt "arg" token=$arg_access_token;
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        proxy_pass http://127.0.0.1:{{backend_port}};
        proxy_set_header X-Sub $iamsmart_jwt_claim_sub;
    }

    location /cookie/ {
        iamsmart_jwt "cookie" token=$cookie_x;
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        proxy_pass http://127.0.0.1:{{backend_port}};
        proxy_set_header X-Sub $iamsmart_jwt_claim_sub;
    }

    location /req401/ {
        iamsmart_jwt "req";
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        iamsmart_jwt_require $iamsmart_jwt_claim_admin;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }

    location /req403/ {
        iamsmart_jwt "req";
        iamsmart_jwt_key_file {{keys}}/main.jwks;
        iamsmart_jwt_require $iamsmart_jwt_claim_admin $jwt_is_staff
                             error=403;
        proxy_pass http://127.0.0.1:{{backend_port}};
    }
}
"""

# Every token sent in a header or cookie: none may ever reach the error log.
SENT = []


@pytest.fixture(scope="module")
def gw(nginx_module, jwt_keys):
    return nginx_module(GATEWAY, params={"keys": jwt_keys.dir})


@pytest.fixture(autouse=True)
def _per_test_log_check(request):
    """Attributes [alert]/crash lines of the shared instance to the test
    that caused them, instead of to the module teardown."""
    if "gw" not in request.fixturenames:
        yield
        return
    ng = request.getfixturevalue("gw")
    mark = ng.log_mark()
    yield
    bad = harness.log_problems(ng.error_log_since(mark))
    assert not bad, "error log problems:\n" + "\n".join(bad)


def messages(log):
    """Error-log lines without the context nginx appends (client, server,
    request line, host): the request line holds query-string tokens that the
    client sent, which is nginx's doing, not the module's."""
    return "\n".join(line.split(", client: ")[0]
                     for line in log.splitlines())


def uniq(prefix):
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


def bearer(token, scheme="Bearer"):
    SENT.append(token)
    return {AUTH: "%s %s" % (scheme, token)}


def call(ng, path, token=None, headers=None, scheme="Bearer"):
    h = dict(headers or {})
    if token is not None:
        h.update(bearer(token, scheme))
    return ng.get(path, headers=h)


def assert_invalid(r, realm, reason):
    assert r.status == 401, r
    assert r.header("WWW-Authenticate") == \
        'Bearer realm="%s", error="invalid_token", error_description="%s"' \
        % (realm, reason)
    assert r.header("Content-Type", "").startswith("application/json"), r
    assert r.json() == {"error": "invalid_token",
                        "error_description": reason}


def assert_required(r, realm):
    assert r.status == 401, r
    assert r.header("WWW-Authenticate") == 'Bearer realm="%s"' % realm
    assert r.header("Content-Type", "").startswith("application/json"), r
    assert r.json() == {"error": "token_required"}


def echo(r):
    assert r.status == 200, r
    return r.json()


def one(e, name):
    """The single value of a forwarded header (fails on duplicates)."""
    values = e["header_map"].get(name.lower(), [])
    assert len(values) == 1, (name, values)
    return values[0]


def utf8(header_value):
    # http.server decodes header bytes as latin-1
    return header_value.encode("latin-1").decode("utf-8")


# ---- valid tokens ----

RICH = {"name": "陳大文", "roles": ["citizen", "staff"], "level": 3,
        "adult": True, "profile": {"district": "Sha Tin", "age": 42}}


@pytest.mark.parametrize("alg,keyname", [
    ("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"),
    ("PS256", "rsa"), ("PS512", "rsa"),
    ("ES256", "ec"), ("EdDSA", "ed"),
])
def test_valid_token_passes_and_claims_reach_backend(gw, jwt_keys, alg,
                                                     keyname):
    key = getattr(jwt_keys, keyname)
    c = jh.claims(sub="alice-" + alg, **RICH)
    e = echo(call(gw, "/api/" + uniq("ok-"), jh.sign(c, key, alg)))
    assert one(e, "X-Sub") == "alice-" + alg
    assert utf8(one(e, "X-Name")) == "陳大文"
    assert one(e, "X-Roles") == '["citizen","staff"]'
    assert one(e, "X-Level") == "3"
    assert one(e, "X-Adult") == "true"
    profile = one(e, "X-Profile")
    assert json.loads(profile) == RICH["profile"]
    assert ": " not in profile and ", " not in profile   # compact
    assert one(e, "X-Kid") == key.kid
    assert one(e, "X-Alg") == alg
    assert json.loads(utf8(one(e, "X-Claims"))) == c


def test_pem_key_without_kid(gw, jwt_keys):
    tok = jh.sign(jh.claims(sub="pem-user"), jwt_keys.pem, "RS256")
    assert "kid" not in json.loads(jh.b64u_decode(tok.split(".")[0]))
    e = echo(call(gw, "/api/pem", tok))
    assert one(e, "X-Sub") == "pem-user"
    assert "x-kid" not in e["header_map"]


def test_token_without_kid_tries_every_key(gw, jwt_keys):
    tok = jh.sign(jh.claims(sub="nokid"), jwt_keys.ec, "ES256", kid=None)
    assert one(echo(call(gw, "/api/nokid", tok)), "X-Sub") == "nokid"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_bearer_scheme_is_case_insensitive(gw, jwt_keys, scheme):
    tok = jh.sign(jh.claims(sub="case"), jwt_keys.ec, "ES256")
    e = echo(call(gw, "/api/case", tok, scheme=scheme))
    assert one(e, "X-Sub") == "case"


def test_client_header_is_replaced_not_duplicated(gw, jwt_keys):
    tok = jh.sign(jh.claims(sub="real-user"), jwt_keys.rsa, "RS256")
    h = [(AUTH, "Bearer " + tok), ("X-Sub", "forged-1"),
         ("X-Sub", "forged-2"), ("X-Roles", "admin"), ("X-Kid", "forged")]
    SENT.append(tok)
    e = echo(gw.get("/api/replace", headers=h))
    assert e["header_map"]["x-sub"] == ["real-user"]
    assert e["header_map"]["x-kid"] == ["rsa-1"]
    # the token has no roles claim: the client's copy must not survive
    assert "x-roles" not in e["header_map"]


def test_nested_location_with_jwt_off(gw, backend):
    backend.clear()
    r = gw.get("/api/public/info")
    assert echo(r)["path"] == "/api/public/info"
    r = gw.get("/api/public/info", headers={AUTH: "Bearer garbage"})
    assert r.status == 200
    assert_required(gw.get("/api/private"), "api")


# ---- missing token ----

@pytest.mark.parametrize("value", [None, "X", "Basic dXNlcjpwYXNz",
                                   "Bearerabc"])
def test_missing_token(gw, backend, value):
    # no credentials, or another scheme: a bare challenge (RFC 6750 3.1)
    backend.clear()
    path = "/api/" + uniq("missing-")
    r = gw.get(path, headers={AUTH: value} if value is not None else None)
    assert_required(r, "api")
    assert path not in [q["path"] for q in backend.requests]


@pytest.mark.parametrize("value", ["Bearer", "Bearer   ", "bearer "])
def test_bearer_without_token_is_malformed(gw, backend, value):
    # the Bearer scheme with an empty token is a malformed token
    backend.clear()
    path = "/api/" + uniq("empty-")
    assert_invalid(gw.get(path, headers={AUTH: value}), "api",
                   "malformed token")
    assert path not in [q["path"] for q in backend.requests]


# ---- invalid tokens ----

def _now():
    return int(time.time())


def _tampered(k):
    h, p, s = jh.sign(jh.claims(), k.rsa, "RS256").split(".")
    p2 = jh.b64u(jh.compact_json(jh.claims(sub="mallory")))
    return ".".join((h, p2, s))


def _bad_base64(k):
    h, p, s = jh.sign(jh.claims(), k.rsa, "RS256").split(".")
    return ".".join((h[:5] + "!" + h[6:], p, s))


def _truncated(k):
    tok = jh.sign(jh.claims(), k.rsa, "RS256")
    h, p, _ = tok.split(".")
    return h + "." + p[:len(p) // 2]


def _der_ecdsa(k):
    # ES256 must be raw R||S; a DER signature is not acceptable
    h = jh.b64u(jh.compact_json({"alg": "ES256", "kid": "ec-1"}))
    p = jh.b64u(jh.compact_json(jh.claims()))
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    der = k.ec.private.sign((h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
    return h + "." + p + "." + jh.b64u(der)


def _huge(k):
    return jh.sign(jh.claims(blob="A" * (20 * 1024)), k.rsa, "RS256")


INVALID = {
    "alg-none": (lambda k: jh.unsigned(jh.claims()),
                 "alg none not accepted"),
    "alg-none-with-kid": (lambda k: jh.unsigned(jh.claims(), kid="rsa-1"),
                          "alg none not accepted"),
    "hs256-rsa-public-key": (lambda k: jh.hs_with_public_key(jh.claims(),
                                                             k.rsa),
                             "alg not allowed"),
    "unsupported-alg": (lambda k: jh.sign(jh.claims(), k.rsa, "RS256",
                                          header={"alg": "XS256"}),
                        "unsupported alg"),
    "crit": (lambda k: jh.sign(jh.claims(), k.rsa, "RS256",
                               header={"crit": ["exp"]}),
             "unsupported crit header"),
    "unknown-kid": (lambda k: jh.sign(jh.claims(), k.stranger, "ES256"),
                    "unknown kid"),
    "other-key-same-kid": (lambda k: jh.sign(jh.claims(), k.rsa_other,
                                             "RS256"),
                           "bad signature"),
    "tampered-payload": (_tampered, "bad signature"),
    "ecdsa-der-signature": (_der_ecdsa, "bad signature"),
    "rsa-alg-on-ec-key": (lambda k: jh.sign(jh.claims(), k.rsa, "RS256",
                                            kid="ec-1"),
                          "alg not allowed for key"),
    "expired": (lambda k: jh.sign(jh.claims(now=_now() - 400), k.rsa,
                                  "RS256"),
                "token expired"),
    "nbf-future": (lambda k: jh.sign(jh.claims(nbf=_now() + 120), k.ec,
                                     "ES256"),
                   "token not yet valid"),
    "iat-future": (lambda k: jh.sign(jh.claims(iat=_now() + 120), k.ec,
                                     "ES256"),
                   "token issued in the future"),
    "exp-not-a-number": (lambda k: jh.sign(jh.claims(exp="tomorrow"), k.ec,
                                           "ES256"),
                         "invalid claim"),
    "payload-not-object": (lambda k: jh.sign_raw(
        {"alg": "ES256", "kid": "ec-1"}, "[1,2]", k.ec, "ES256"),
        "malformed token"),
    "header-not-json": (lambda k: jh.sign_raw(
        "not json", jh.claims(), k.ec, "ES256"), "malformed token"),
    "bad-base64": (_bad_base64, "malformed token"),
    "truncated": (_truncated, "malformed token"),
    "four-segments": (lambda k: jh.sign(jh.claims(), k.ec, "ES256") + ".x",
                      "malformed token"),
    "20k-token": (_huge, "token too large"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_token_rejected(gw, jwt_keys, backend, case):
    build, reason = INVALID[case]
    tok = build(jwt_keys)
    backend.clear()
    path = "/api/" + uniq(case + "-")
    mark = gw.log_mark()
    assert_invalid(call(gw, path, tok), "api", reason)
    assert path not in [q["path"] for q in backend.requests]

    log = gw.error_log_since(mark)
    assert any("[info]" in line and reason in line
               for line in log.splitlines()), log
    log = gw.error_log_since(mark)      # everything, request lines included
    for part in tok.split("."):
        if len(part) >= 16:
            assert part[:64] not in log, "token text in the error log"


# ---- algorithm confusion with HS256 allowed ----

def test_hs256_allowed_with_secret_key(gw, jwt_keys):
    tok = jh.sign(jh.claims(sub="hs"), jwt_keys.hs, "HS256")
    assert echo(call(gw, "/hs/ok", tok))["path"] == "/hs/ok"


def test_hs256_keyed_with_rsa_public_key_when_hs256_allowed(gw, jwt_keys):
    tok = jh.hs_with_public_key(jh.claims(), jwt_keys.rsa)
    assert_invalid(call(gw, "/hs/confused", tok), "hs",
                   "alg not allowed for key")
    # without a kid the secret key is tried, and the tag does not match
    tok = jh.hs_with_public_key(jh.claims(), jwt_keys.rsa, kid=None)
    assert_invalid(call(gw, "/hs/confused", tok), "hs", "bad signature")


def test_algorithms_list_excludes_others(gw, jwt_keys):
    assert echo(call(gw, "/hs/rs", jh.sign(jh.claims(), jwt_keys.rsa,
                                           "RS256")))
    assert_invalid(call(gw, "/hs/es", jh.sign(jh.claims(), jwt_keys.ec,
                                              "ES256")),
                   "hs", "alg not allowed")
    assert_invalid(call(gw, "/hs/ps", jh.sign(jh.claims(), jwt_keys.rsa,
                                              "PS256")),
                   "hs", "alg not allowed")


def test_hs256_not_allowed_by_default_even_with_a_secret(gw, jwt_keys):
    tok = jh.sign(jh.claims(), jwt_keys.hs, "HS256")
    assert_invalid(call(gw, "/api/hs", tok), "api", "alg not allowed")


# ---- time, issuer, audience ----

def test_leeway(gw, jwt_keys):
    now = _now()
    # (claims, reason without leeway): all within the 60 s leeway
    near = [(jh.claims(now=now - 330), "token expired"),     # exp 30 s ago
            (jh.claims(nbf=now + 30), "token not yet valid"),
            (jh.claims(iat=now + 30), "token issued in the future")]
    for c, reason in near:
        tok = jh.sign(c, jwt_keys.ec, "ES256")
        assert echo(call(gw, "/leeway/ok", tok))
        assert_invalid(call(gw, "/api/noleeway", tok), "api", reason)
    far = [(jh.claims(now=now - 420), "token expired"),      # 120 s ago
           (jh.claims(nbf=now + 120), "token not yet valid"),
           (jh.claims(iat=now + 120), "token issued in the future")]
    for c, reason in far:
        assert_invalid(call(gw, "/leeway/bad",
                            jh.sign(c, jwt_keys.ec, "ES256")),
                       "leeway", reason)


@pytest.mark.parametrize("aud", ["svc-a", "svc-b", ["other", "svc-b"],
                                 ["svc-a", "svc-b"]])
def test_audience_list_accepts(gw, jwt_keys, aud):
    c = jh.claims(iss="https://issuer.example", aud=aud)
    assert echo(call(gw, "/iss/ok", jh.sign(c, jwt_keys.rsa, "PS256")))


@pytest.mark.parametrize("iss,aud,reason", [
    ("https://issuer.example", "svc-c", "wrong audience"),
    ("https://issuer.example", ["x", "y"], "wrong audience"),
    ("https://issuer.example", "SVC-A", "wrong audience"),
    ("https://issuer.example", None, "wrong audience"),
    ("https://evil.example", "svc-a", "wrong issuer"),
    ("https://issuer.example/", "svc-a", "wrong issuer"),
    (None, "svc-a", "wrong issuer"),
])
def test_issuer_and_audience_rejected(gw, jwt_keys, iss, aud, reason):
    c = jh.claims(iss=iss, aud=aud)
    assert_invalid(call(gw, "/iss/bad", jh.sign(c, jwt_keys.rsa, "RS256")),
                   "iss", reason)


# ---- other token sources ----

def test_token_from_query_argument(gw, jwt_keys):
    tok = jh.sign(jh.claims(sub="arg-user"), jwt_keys.ec, "ES256")
    e = echo(gw.get("/arg/x?access_token=" + tok))
    assert one(e, "X-Sub") == "arg-user"
    # with token= the Authorization header is not a source
    assert_required(call(gw, "/arg/x", tok), "arg")
    bad = jh.sign(jh.claims(now=_now() - 400), jwt_keys.ec, "ES256")
    assert_invalid(gw.get("/arg/x?access_token=" + bad), "arg",
                   "token expired")


def test_token_from_cookie(gw, jwt_keys):
    tok = jh.sign(jh.claims(sub="cookie-user"), jwt_keys.rsa, "RS256")
    SENT.append(tok)
    e = echo(gw.get("/cookie/x", headers={"Cookie": "a=b; x=%s; c=d" % tok}))
    assert one(e, "X-Sub") == "cookie-user"
    assert_required(gw.get("/cookie/x", headers={"Cookie": "y=" + tok}),
                    "cookie")
    assert_invalid(gw.get("/cookie/x", headers={"Cookie": "x=abc.def"}),
                   "cookie", "malformed token")


# ---- iamsmart_jwt_require ----

def test_require_401(gw, jwt_keys, backend):
    ok = jh.sign(jh.claims(admin=True), jwt_keys.ec, "ES256")
    assert echo(call(gw, "/req401/ok", ok))
    for c in (jh.claims(), jh.claims(admin=0), jh.claims(admin="0"),
              jh.claims(admin="")):
        backend.clear()
        r = call(gw, "/req401/no", jh.sign(c, jwt_keys.ec, "ES256"))
        assert_invalid(r, "req", "token does not meet requirements")
        assert not backend.requests
    # an invalid token is still reported as such
    bad = jh.sign(jh.claims(admin=True), jwt_keys.stranger, "ES256")
    assert_invalid(call(gw, "/req401/no", bad), "req", "unknown kid")


def test_require_403(gw, jwt_keys, backend):
    ok = jh.sign(jh.claims(admin=1, role="staff"), jwt_keys.rsa, "RS256")
    assert echo(call(gw, "/req403/ok", ok))
    for c in (jh.claims(admin=1, role="citizen"), jh.claims(role="staff"),
              jh.claims(admin=1)):
        backend.clear()
        r = call(gw, "/req403/no", jh.sign(c, jwt_keys.rsa, "RS256"))
        assert r.status == 403, r
        assert r.header("WWW-Authenticate") == \
            'Bearer realm="req", error="insufficient_scope"'
        assert r.header("Content-Type", "").startswith("application/json")
        assert r.json() == {"error": "insufficient_scope"}
        assert not backend.requests
    assert_required(gw.get("/req403/none"), "req")


# ---- logs ----

def test_access_log_has_the_error(gw, jwt_keys):
    ok_path = "/api/" + uniq("log-ok-")
    bad_path = "/api/" + uniq("log-bad-")
    exp_path = "/api/" + uniq("log-exp-")
    assert echo(call(gw, ok_path, jh.sign(jh.claims(), jwt_keys.ec,
                                          "ES256")))
    call(gw, bad_path, jh.sign(jh.claims(), jwt_keys.rsa_other, "RS256"))
    call(gw, exp_path, jh.sign(jh.claims(now=_now() - 400), jwt_keys.ec,
                               "ES256"))
    none_path = "/api/" + uniq("log-none-")
    call(gw, none_path)
    lines = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in gw.access_log("jwt_access.log").splitlines():
            uri, status, err = line.split("|", 2)
            lines[uri] = (status, err)
        if none_path in lines:
            break
        time.sleep(0.05)
    assert lines[bad_path] == ("401", "bad signature")
    assert lines[exp_path] == ("401", "token expired")
    assert lines[none_path] == ("401", "token required")
    assert lines[ok_path][0] == "200"
    assert lines[ok_path][1] in ("", "-")


def test_error_log_never_holds_a_token(gw):
    # pytest runs tests in file order, so SENT holds every token that the
    # tests above sent in a header or cookie.  Header segments are shared
    # between tokens, so only payloads and signatures are checked.
    log = messages(gw.error_log())
    assert "[info]" in log
    assert len(SENT) > 50 or len(SENT) == 0     # 0: run with -k
    for tok in SENT:
        for part in tok.split(".")[1:]:
            if len(part) >= 16:
                assert part[:64] not in log


# ---- nginx -t failures ----

def _key_conf(paths, extra=""):
    if isinstance(paths, str):
        paths = [paths]
    keys = "".join("        iamsmart_jwt_key_file %s;\n" % p for p in paths)
    return """
server {
    listen 127.0.0.1:{{port}};
    location / {
        iamsmart_jwt "t";
%s        %s
        return 204;
    }
}
""" % (keys, extra)


def _write_key_case(jwt_keys, case):
    if case == "missing":
        return jwt_keys.path("does-not-exist.jwks")
    if case == "garbage":
        return jh.write_bytes(jwt_keys.path("garbage.jwks"),
                              b"\x00\x01this is not a key {[")
    if case == "duplicate-kid":
        a = jh.Key.generate("EC", kid="dup")
        b = jh.Key.generate("EC", kid="dup")
        return jh.write_jwks(jwt_keys.path("dup.jwks"), [a, b])
    if case == "rsa-1024":
        return jh.write_jwks(jwt_keys.path("rsa1024.jwks"),
                             [jh.Key.generate("RSA", kid="small",
                                              bits=1024)])
    if case == "empty-jwks":
        return jh.write_json(jwt_keys.path("empty.jwks"), {"keys": []})
    if case == "off-curve":
        k = jh.Key.generate("EC", kid="bent").public_jwk()
        y = bytearray(jh.b64u_decode(k["y"]))
        y[-1] ^= 1
        k["y"] = jh.b64u(bytes(y))
        return jh.write_jwks(jwt_keys.path("offcurve.jwks"), [k])
    raise ValueError(case)


KEY_FILE_FAILURES = {
    "missing": r"no such file|cannot open|not found|i/o error",
    "garbage": r"invalid|malformed|parse|json|pem",
    "duplicate-kid": r"duplicate kid",
    "rsa-1024": r"weak|1024|2048",
    "empty-jwks": r"empty|no key|invalid",
    "off-curve": r"curve|invalid",
}


@pytest.mark.parametrize("case", sorted(KEY_FILE_FAILURES))
def test_nginx_t_fails_on_unusable_key_file(nginx, jwt_keys, case):
    path = _write_key_case(jwt_keys, case)
    res = nginx.check_config(_key_conf(path))
    assert not res.ok, res.output
    assert "[emerg]" in res.output
    emerg = [line for line in res.output.splitlines() if "[emerg]" in line]
    assert any(path in line for line in emerg), res.output
    assert any(re.search(KEY_FILE_FAILURES[case], line, re.I)
               for line in emerg), res.output


@pytest.mark.parametrize("algs", ["RS256 FOO256", "none", "RS256 none",
                                  "rs256", "HS999"])
def test_nginx_t_fails_on_unknown_algorithm(nginx, jwt_keys, algs):
    conf = _key_conf(jwt_keys.main,
                         "iamsmart_jwt_algorithms %s;" % algs)
    res = nginx.check_config(conf)
    assert not res.ok, res.output
    bad = [a for a in algs.split() if a not in ("RS256",)][0]
    emerg = [line for line in res.output.splitlines() if "[emerg]" in line]
    assert any(bad in line for line in emerg), res.output


def test_nginx_t_accepts_every_key_format(nginx, jwt_keys):
    conf = _key_conf([jwt_keys.main, jwt_keys.ed_file, jwt_keys.pem_file,
                      jwt_keys.hs_file], "iamsmart_jwt_algorithms HS256;")
    res = nginx.check_config(conf, expect_emerg=False)
    assert res.ok, res.output


# ---- the operator's example ----

def test_example_config_works(nginx, jwt_keys, backend):
    with open(os.path.join(harness.ROOT, "config/examples/jwt.conf")) as f:
        conf = f.read()
    conf = (conf.replace("/etc/nginx/iamsmart/issuer.jwks", jwt_keys.main)
            .replace("/var/log/nginx/", "{{dir}}/")
            .replace("127.0.0.1:8080", "127.0.0.1:{{port}}")
            .replace("127.0.0.1:9000", "127.0.0.1:{{backend_port}}"))
    ng = nginx(conf)

    def tok(**extra):
        c = jh.claims(iss="https://id.gateway.example.gov.hk",
                      aud="department-api", **extra)
        return jh.sign(c, jwt_keys.ec, "ES256")

    e = echo(call(ng, "/api/x", tok(roles=["a"])))
    assert one(e, "X-Subject") == "alice"
    assert one(e, "X-Roles") == '["a"]'
    assert one(e, "X-Key-Id") == "ec-1"
    assert "authorization" not in e["header_map"]
    assert echo(ng.get("/api/public/x"))
    assert_required(ng.get("/api/x"), "api")
    assert_invalid(call(ng, "/api/x", jh.sign(jh.claims(), jwt_keys.ec,
                                              "ES256")),
                   "api", "wrong issuer")
    assert echo(call(ng, "/api/admin/x", tok(role="officer")))
    r = call(ng, "/api/admin/x", tok(role="clerk"))
    assert r.status == 403, r
    assert echo(ng.get("/ws/x?access_token=" + tok()))
    assert echo(ng.get("/portal/x", headers={"Cookie": "gw_token=" + tok()}))
    assert_required(call(ng, "/portal/x", tok()), "portal")
