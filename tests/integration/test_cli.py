"""
The iamsmart-jose CLI (build/bin/iamsmart-jose), run as a subprocess.

Tokens go both ways through python3-cryptography (jose_helper.py and the
small verifier below), so the CLI is checked against a JOSE implementation
other than the core library: CLI-made keys and signatures must verify in
Python, Python-made tokens must verify in the CLI.

Contract under test (docs/cli.md): exit 0 and the result on stdout; exit 1,
nothing on stdout and exactly one line on stderr that starts with the
iams_status_str() reason; exit 2 and the usage on stderr for usage errors.
"""

import json
import os
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, \
    rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    encode_dss_signature

import jose_helper as jh

ROOT = os.environ.get("IAMSMART_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.path.join(ROOT, "build", "bin", "iamsmart-jose")

RSA_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
HS_ALGS = ["HS256", "HS384", "HS512"]
ALL_ALGS = RSA_ALGS + ["ES256", "ES384", "ES512", "EdDSA"] + HS_ALGS
CURVE_OF = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


# ---- running the CLI ----

def run(*args, stdin=b""):
    if isinstance(stdin, str):
        stdin = stdin.encode()
    assert os.access(CLI, os.X_OK), CLI + " is not built (make all)"
    return subprocess.run([CLI] + [str(a) for a in args], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120)


def ok(proc):
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stderr == b""
    return proc.stdout


def fails(proc, reason):
    """Exit 1, no stdout, one stderr line: reason, then maybe ': detail'."""
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 1, (proc.returncode, err)
    assert proc.stdout == b""
    assert err.endswith("\n") and err.count("\n") == 1, err
    line = err[:-1]
    assert line == reason or line.startswith(reason + ": "), line
    return line


def usage_error(proc):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == b""
    assert b"usage: iamsmart-jose" in proc.stderr


# ---- an independent verifier ----

def _int(b64):
    return int.from_bytes(jh.b64u_decode(b64), "big")


_EC_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1,
              "P-521": ec.SECP521R1}


def public_key(jwk):
    if jwk["kty"] == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])) \
            .public_key()
    if jwk["kty"] == "EC":
        return ec.EllipticCurvePublicNumbers(
            _int(jwk["x"]), _int(jwk["y"]), _EC_CURVES[jwk["crv"]]()) \
            .public_key()
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
    return ed25519.Ed25519PublicKey.from_public_bytes(
        jh.b64u_decode(jwk["x"]))


def python_verify(token, jwk):
    """True when python3-cryptography accepts token's signature under the
    public (or oct) JWK; returns the decoded header and payload."""
    h64, p64, s64 = token.split(".")
    header = json.loads(jh.b64u_decode(h64))
    alg = header["alg"]
    data = (h64 + "." + p64).encode()
    sig = jh.b64u_decode(s64)
    hash_alg = {"256": hashes.SHA256, "384": hashes.SHA384,
                "512": hashes.SHA512}.get(alg[2:])
    if alg.startswith("HS"):
        m = hmac.HMAC(jh.b64u_decode(jwk["k"]), hash_alg())
        m.update(data)
        m.verify(sig)
        return header, jh.b64u_decode(p64)
    key = public_key(jwk)
    if alg.startswith("RS"):
        key.verify(sig, data, padding.PKCS1v15(), hash_alg())
    elif alg.startswith("PS"):
        key.verify(sig, data, padding.PSS(
            mgf=padding.MGF1(hash_alg()),
            salt_length=hash_alg().digest_size), hash_alg())
    elif alg.startswith("ES"):
        size = (key.curve.key_size + 7) // 8
        assert len(sig) == 2 * size, "ECDSA signature is not raw R||S"
        der = encode_dss_signature(int.from_bytes(sig[:size], "big"),
                                   int.from_bytes(sig[size:], "big"))
        key.verify(der, data, ec.ECDSA(hash_alg()))
    else:
        assert alg == "EdDSA"
        key.verify(sig, data)
    return header, jh.b64u_decode(p64)


def private_from_jwk(jwk):
    """A jose_helper.Key built by python3-cryptography from a private JWK,
    checked to match the JWK's public members."""
    if jwk["kty"] == "RSA":
        pub = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"]))
        priv = rsa.RSAPrivateNumbers(
            _int(jwk["p"]), _int(jwk["q"]), _int(jwk["d"]), _int(jwk["dp"]),
            _int(jwk["dq"]), _int(jwk["qi"]), pub).private_key()
        return jh.Key("RSA", priv, jwk.get("kid"))
    if jwk["kty"] == "EC":
        priv = ec.derive_private_key(_int(jwk["d"]),
                                     _EC_CURVES[jwk["crv"]]())
        nums = priv.public_key().public_numbers()
        assert (nums.x, nums.y) == (_int(jwk["x"]), _int(jwk["y"]))
        return jh.Key("EC", priv, jwk.get("kid"), crv=jwk["crv"])
    priv = ed25519.Ed25519PrivateKey.from_private_bytes(
        jh.b64u_decode(jwk["d"]))
    raw = priv.public_key().public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
    assert jh.b64u(raw) == jwk["x"]
    return jh.Key("OKP", priv, jwk.get("kid"), crv="Ed25519")


def flip_signature(token):
    h, p, s = token.split(".")
    sig = bytearray(jh.b64u_decode(s))
    sig[len(sig) // 2] ^= 0x01
    return h + "." + p + "." + jh.b64u(bytes(sig))


# ---- fixtures ----

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def cli_keys(workdir):
    """kty -> (private JWK dict, private JWK file, public JWKS file), all
    made by the CLI."""
    keys = {}
    for kty in ("EC", "RSA", "OKP"):
        kid = "cli-" + kty.lower()
        jwk = json.loads(ok(run("keygen", "--kty", kty, "--kid", kid)))
        priv = jh.write_json(str(workdir / (kid + ".jwk")), jwk)
        pub = workdir / (kid + ".jwks")
        pub.write_bytes(ok(run("pubkey", "--jwk", priv)))
        keys[kty] = (jwk, priv, str(pub))
    return keys


@pytest.fixture(scope="module")
def py_keys(workdir):
    """alg -> (jose_helper.Key, JWKS file holding it), for every alg; the
    oct key is 64 bytes, long enough for HS512."""
    rsa_key = jh.Key.generate("RSA", kid="py-rsa")
    oct_key = jh.Key.generate("oct", kid="py-hs", secret=os.urandom(64))
    ed_key = jh.Key.generate("OKP", kid="py-ed")
    out = {}
    for alg in ALL_ALGS:
        if alg in RSA_ALGS:
            key = rsa_key
        elif alg in HS_ALGS:
            key = oct_key
        elif alg == "EdDSA":
            key = ed_key
        else:
            key = jh.Key.generate("EC", kid="py-" + alg, crv=CURVE_OF[alg])
        path = str(workdir / ("py-" + key.kid + ".jwks"))
        if not os.path.exists(path):
            jh.write_json(path, {"keys": [key.private_jwk()
                                          if key.kty == "oct"
                                          else key.public_jwk()]})
        out[alg] = (key, path)
    return out


@pytest.fixture(scope="module")
def ec_jwks(py_keys):
    return py_keys["ES256"]


# ---- keygen and pubkey ----

@pytest.mark.parametrize("kty,members,size", [
    ("EC", {"crv": "P-256", "x": 32, "y": 32, "d": 32}, None),
    ("RSA", {"n": 384, "e": 3, "d": None, "p": None, "q": None,
             "dp": None, "dq": None, "qi": None}, 3072),
    ("OKP", {"crv": "Ed25519", "x": 32, "d": 32}, None),
])
def test_keygen_makes_a_private_jwk(cli_keys, kty, members, size):
    jwk = cli_keys[kty][0]
    assert jwk["kty"] == kty
    assert jwk["kid"] == "cli-" + kty.lower()
    for name, want in members.items():
        assert name in jwk, name
        if isinstance(want, str):
            assert jwk[name] == want
        elif want is not None:
            assert len(jh.b64u_decode(jwk[name])) == want, name
    if size:
        assert _int(jwk["n"]).bit_length() == size
    # the private members really are the key of the public ones
    private_from_jwk(jwk)


@pytest.mark.parametrize("alg", HS_ALGS)
def test_keygen_oct_hmac_round_trip(workdir, alg):
    jwk = json.loads(ok(run("keygen", "--kty", "oct", "--kid", "h")))
    assert jwk["kty"] == "oct" and jwk["kid"] == "h"
    assert len(jh.b64u_decode(jwk["k"])) == 64
    path = jh.write_json(str(workdir / ("oct-" + alg + ".jwk")), jwk)
    token = ok(run("sign", "--jwk", path, "--alg", alg, stdin=b"mac"))
    assert ok(run("verify", "--jwks", path, stdin=token)) == b"mac"
    header, body = python_verify(token.decode().strip(), jwk)
    assert header == {"alg": alg, "kid": "h"} and body == b"mac"


def test_keygen_is_random_and_kid_optional():
    a = json.loads(ok(run("keygen", "--kty", "OKP")))
    b = json.loads(ok(run("keygen", "--kty", "OKP")))
    assert "kid" not in a
    assert a["d"] != b["d"] and a["x"] != b["x"]


@pytest.mark.parametrize("kty", ["EC", "RSA", "OKP"])
def test_pubkey_prints_public_jwks(cli_keys, kty):
    jwk, _, pub = cli_keys[kty]
    with open(pub) as f:
        jwks = json.load(f)
    assert list(jwks) == ["keys"] and len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert not PRIVATE_MEMBERS & set(key), key
    assert {k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS} == key


def test_pubkey_of_pem_private_key(workdir):
    key = jh.Key.generate("EC", crv="P-384")
    pem = workdir / "p384-private.pem"
    pem.write_bytes(key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    jwks = json.loads(ok(run("pubkey", "--jwk", pem)))
    assert jwks == {"keys": [key.public_jwk()]}


def test_pubkey_refuses_oct_key(py_keys, workdir):
    path = jh.write_json(str(workdir / "oct.jwk"),
                         py_keys["HS256"][0].private_jwk())
    line = fails(run("pubkey", "--jwk", path), "invalid key")
    assert py_keys["HS256"][0].private_jwk()["k"] not in line


# ---- sign and verify round trips ----

CLI_KEY_ALGS = [("EC", "ES256"), ("OKP", "EdDSA")] + \
    [("RSA", a) for a in RSA_ALGS]


@pytest.mark.parametrize("kty,alg", CLI_KEY_ALGS)
def test_sign_verify_round_trip(cli_keys, kty, alg):
    jwk, priv, pub = cli_keys[kty]
    payload = json.dumps({"sub": "alice", "alg": alg}).encode()
    out = ok(run("sign", "--jwk", priv, "--alg", alg, stdin=payload))
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    token = out.decode().strip()

    assert ok(run("verify", "--jwks", pub, stdin=token)) == payload
    assert ok(run("verify", "--jwks", pub, "--alg", alg,
                  stdin=token)) == payload

    header, body = python_verify(token, jwk)
    assert header["alg"] == alg and header["kid"] == jwk["kid"]
    assert body == payload


@pytest.mark.parametrize("kty,alg", CLI_KEY_ALGS)
def test_python_signs_with_cli_generated_key(cli_keys, kty, alg):
    jwk, _, pub = cli_keys[kty]
    token = jh.sign({"sub": "bob"}, private_from_jwk(jwk), alg)
    assert json.loads(ok(run("verify", "--jwks", pub, stdin=token))) == \
        {"sub": "bob"}


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_verify_accepts_python_tokens(py_keys, alg):
    key, path = py_keys[alg]
    payload = {"sub": "carol", "n": [1, 2, 3]}
    token = jh.sign(payload, key, alg)
    assert json.loads(ok(run("verify", "--jwks", path, stdin=token))) == \
        payload


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_sign_with_python_keys_verifies_in_python(py_keys, workdir, alg):
    key, path = py_keys[alg]
    priv = jh.write_json(str(workdir / ("sign-" + alg + ".jwk")),
                         key.private_jwk())
    token = ok(run("sign", "--jwk", priv, "--alg", alg, "--kid", "over",
                   stdin=b"hello")).decode().strip()
    header, body = python_verify(token, key.private_jwk())
    assert header["kid"] == "over" and body == b"hello"
    # the kid now names no key of the set
    fails(run("verify", "--jwks", path, stdin=token), "unknown kid")


@pytest.mark.parametrize("alg,crv,fmt", [
    ("ES384", "P-384", serialization.PrivateFormat.PKCS8),
    ("ES512", "P-521", serialization.PrivateFormat.TraditionalOpenSSL),
    ("PS384", None, serialization.PrivateFormat.TraditionalOpenSSL),
    ("EdDSA", None, serialization.PrivateFormat.PKCS8),
])
def test_pem_private_and_public_keys(workdir, alg, crv, fmt):
    kty = "EC" if crv else ("OKP" if alg == "EdDSA" else "RSA")
    key = jh.Key.generate(kty, crv=crv or "P-256")
    priv = workdir / ("pem-" + alg + ".key")
    pub = workdir / ("pem-" + alg + ".pub")
    priv.write_bytes(key.private.private_bytes(
        serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    pub.write_bytes(key.public_pem())

    token = ok(run("sign", "--jwk", priv, "--alg", alg,
                   stdin=b"pem")).decode()
    assert ok(run("verify", "--jwks", pub, stdin=token)) == b"pem"
    header, _ = python_verify(token.strip(), key.public_jwk())
    assert "kid" not in header

    # and a token made by Python verifies against the PEM file
    other = jh.sign(b"from python", key, alg, kid=None)
    assert ok(run("verify", "--jwks", pub, stdin=other)) == b"from python"


def test_payload_bytes_are_exact(cli_keys):
    _, priv, pub = cli_keys["OKP"]
    payload = bytes(range(256)) + b"\n\n  "
    token = ok(run("sign", "--jwk", priv, "--alg", "EdDSA", stdin=payload))
    assert ok(run("verify", "--jwks", pub, stdin=token)) == payload


def test_empty_payload(cli_keys):
    _, priv, pub = cli_keys["EC"]
    token = ok(run("sign", "--jwk", priv, "--alg", "ES256"))
    assert token.decode().split(".")[1] == ""
    assert ok(run("verify", "--jwks", pub, stdin=token)) == b""


@pytest.mark.parametrize("wrap", ["{}\n", "{}\r\n", "  \t{}\n\n", "{} "])
def test_whitespace_around_token_is_tolerated(ec_jwks, wrap):
    key, path = ec_jwks
    token = jh.sign({"sub": "ws"}, key, "ES256")
    out = ok(run("verify", "--jwks", path, stdin=wrap.format(token)))
    assert json.loads(out) == {"sub": "ws"}


def test_jwks_with_several_keys_and_no_kid(py_keys, workdir):
    keys = [py_keys[a][0] for a in ("RS256", "ES384", "EdDSA")]
    path = jh.write_jwks(str(workdir / "three.jwks"), keys)
    for alg, key in zip(("PS512", "ES384", "EdDSA"), keys):
        token = jh.sign({"alg": alg}, key, alg, kid=None)
        assert json.loads(ok(run("verify", "--jwks", path, stdin=token))) \
            == {"alg": alg}


# ---- verify failures ----

def test_bad_signature(py_keys):
    for alg in ("RS256", "PS256", "ES512", "EdDSA", "HS384"):
        key, path = py_keys[alg]
        token = flip_signature(jh.sign({"sub": "x"}, key, alg))
        fails(run("verify", "--jwks", path, stdin=token), "bad signature")


def test_bad_signature_other_payload(ec_jwks):
    key, path = ec_jwks
    h, _, s = jh.sign({"sub": "alice"}, key, "ES256").split(".")
    forged = h + "." + jh.b64u('{"sub":"admin"}') + "." + s
    fails(run("verify", "--jwks", path, stdin=forged), "bad signature")


def test_unknown_kid(ec_jwks):
    key, path = ec_jwks
    token = jh.sign({"sub": "x"}, key, "ES256", kid="nobody")
    fails(run("verify", "--jwks", path, stdin=token), "unknown kid")


def test_alg_not_allowed_for_key(py_keys):
    ec_key, ec_path = py_keys["ES256"]
    # an HS256 token naming the EC key
    token = jh.sign({"sub": "x"}, py_keys["HS256"][0], "HS256",
                    kid=ec_key.kid)
    fails(run("verify", "--jwks", ec_path, stdin=token),
          "alg not allowed for key")
    # ES384 naming a P-256 key: the curve does not fit
    token = jh.sign({"sub": "x"}, py_keys["ES384"][0], "ES384",
                    kid=ec_key.kid)
    fails(run("verify", "--jwks", ec_path, stdin=token),
          "alg not allowed for key")


def test_alg_confusion_with_rsa_public_key(py_keys):
    key, path = py_keys["RS256"]
    token = jh.hs_with_public_key({"sub": "admin"}, key)
    fails(run("verify", "--jwks", path, stdin=token),
          "alg not allowed for key")


def test_key_alg_member_is_enforced(workdir):
    key = jh.Key.generate("RSA", kid="only-ps", alg="PS256")
    path = jh.write_jwks(str(workdir / "only-ps.jwks"), [key])
    ok(run("verify", "--jwks", path, stdin=jh.sign({}, key, "PS256")))
    fails(run("verify", "--jwks", path, stdin=jh.sign({}, key, "RS256")),
          "alg not allowed for key")


def test_weak_keys(workdir, py_keys):
    weak = jh.Key.generate("RSA", kid="weak", bits=1024)
    path = jh.write_jwks(str(workdir / "weak-rsa.jwks"), [weak])
    line = fails(run("verify", "--jwks", path,
                     stdin=jh.sign({}, weak, "RS256")), "key too weak")
    assert path in line
    # a 32-byte oct key is enough for HS256 and too short for HS512
    short = jh.Key.generate("oct", kid="short", secret=os.urandom(32))
    path = jh.write_json(str(workdir / "short.jwks"),
                         {"keys": [short.private_jwk()]})
    ok(run("verify", "--jwks", path, stdin=jh.sign({}, short, "HS256")))
    fails(run("verify", "--jwks", path, stdin=jh.sign({}, short, "HS512")),
          "key too weak")


def test_alg_restricted_by_option(py_keys):
    key, path = py_keys["ES256"]
    token = jh.sign({"sub": "x"}, key, "ES256")
    fails(run("verify", "--jwks", path, "--alg", "RS256", "--alg", "EdDSA",
              stdin=token), "alg not allowed")
    ok(run("verify", "--jwks", path, "--alg", "RS256", "--alg", "ES256",
           stdin=token))


def test_embedded_jwk_header_is_ignored(ec_jwks):
    _, path = ec_jwks
    attacker = jh.Key.generate("EC")
    for kid in (None, ec_jwks[0].kid):
        token = jh.sign({"sub": "admin"}, attacker, "ES256", kid=kid,
                        header={"jwk": attacker.public_jwk()})
        fails(run("verify", "--jwks", path, stdin=token), "bad signature")


@pytest.mark.parametrize("token", [
    "", "\n", "not-a-token", "a.b", "a.b.c.d",
    jh.b64u("{}") + "." + jh.b64u("{}") + ".",                 # no alg
    jh.b64u("[]") + ".e30.",                                   # not object
    jh.b64u('{"alg":"ES256"}') + "=.e30.AAAA",                 # padding
    jh.b64u('{"alg":"ES256"} x') + ".e30.AAAA",                # trailing
    jh.b64u('{"alg":"ES256","alg":"none"}') + ".e30.AAAA",     # dup key
    jh.b64u('{"alg":"ES256","kid":7}') + ".e30.AAAA",          # kid type
])
def test_malformed_token(ec_jwks, token):
    fails(run("verify", "--jwks", ec_jwks[1], stdin=token),
          "malformed token")


def test_alg_none(ec_jwks):
    key, path = ec_jwks
    for alg in ("none", "None", "NONE"):
        fails(run("verify", "--jwks", path,
                  stdin=jh.unsigned({"sub": "x"}, alg=alg)),
              "alg none not accepted")
    fails(run("verify", "--jwks", path,
              stdin=jh.unsigned({"sub": "x"}, kid=key.kid)),
          "alg none not accepted")
    # "none" is refused even when named on the command line
    usage_error(run("verify", "--jwks", path, "--alg", "none",
                    stdin=jh.unsigned({})))


def test_unsupported_alg(ec_jwks):
    token = jh.b64u('{"alg":"ES256K"}') + ".e30.AAAA"
    fails(run("verify", "--jwks", ec_jwks[1], stdin=token),
          "unsupported alg")


def test_crit_header(ec_jwks):
    key, path = ec_jwks
    token = jh.sign({"sub": "x"}, key, "ES256",
                    header={"crit": ["exp"], "exp": 1})
    fails(run("verify", "--jwks", path, stdin=token),
          "unsupported crit header")


def test_token_too_large(ec_jwks):
    key, path = ec_jwks
    # over the library's limit, and over the CLI's input limit
    token = jh.sign({"pad": "A" * 12500}, key, "ES256")
    assert 16 * 1024 < len(token) < 20 * 1024
    fails(run("verify", "--jwks", path, stdin=token), "token too large")
    fails(run("verify", "--jwks", path, stdin=b"A" * (1 << 20)),
          "token too large")


# ---- jwt: claim checks ----

def jwt(path, token, *opts):
    return run("jwt", "--jwks", path, *opts, stdin=token)


def test_jwt_prints_claims(ec_jwks):
    key, path = ec_jwks
    claims = jh.claims(iss="https://iss.example", aud="dept-a",
                       name="\u9673\u5927\u6587", n=[1, {"x": None}])
    out = ok(jwt(path, jh.sign(claims, key, "ES256"), "--iss",
                 "https://iss.example", "--aud", "dept-a"))
    assert json.loads(out) == claims
    assert out.startswith(b"{\n  \"") and out.endswith(b"}\n")


def test_jwt_expired_and_leeway(ec_jwks):
    key, path = ec_jwks
    now = int(time.time())
    token = jh.sign(jh.claims(now=now - 330, lifetime=300), key, "ES256")
    fails(jwt(path, token), "token expired")
    fails(jwt(path, token, "--leeway", "5"), "token expired")
    ok(jwt(path, token, "--leeway", "120"))
    # verify does no claim checks
    ok(run("verify", "--jwks", path, stdin=token))


def test_jwt_not_yet_valid(ec_jwks):
    key, path = ec_jwks
    now = int(time.time())
    token = jh.sign(jh.claims(nbf=now + 600), key, "ES256")
    fails(jwt(path, token), "token not yet valid")
    ok(jwt(path, token, "--leeway", "900"))
    token = jh.sign(jh.claims(now=now + 600), key, "ES256")
    fails(jwt(path, token), "token issued in the future")


def test_jwt_issuer(ec_jwks):
    key, path = ec_jwks
    token = jh.sign(jh.claims(iss="https://iss.example"), key, "ES256")
    ok(jwt(path, token, "--iss", "https://iss.example"))
    ok(jwt(path, token))
    fails(jwt(path, token, "--iss", "https://iss.example/"), "wrong issuer")
    fails(jwt(path, jh.sign(jh.claims(), key, "ES256"), "--iss",
              "https://iss.example"), "wrong issuer")


def test_jwt_audience(ec_jwks):
    key, path = ec_jwks
    single = jh.sign(jh.claims(aud="dept-a"), key, "ES256")
    several = jh.sign(jh.claims(aud=["dept-b", "dept-c"]), key, "ES256")
    ok(jwt(path, single, "--aud", "dept-a"))
    ok(jwt(path, several, "--aud", "dept-c"))
    ok(jwt(path, several, "--aud", "dept-x", "--aud", "dept-b"))
    fails(jwt(path, single, "--aud", "dept-b"), "wrong audience")
    fails(jwt(path, several, "--aud", "dept-a"), "wrong audience")
    fails(jwt(path, jh.sign(jh.claims(), key, "ES256"), "--aud", "dept-a"),
          "wrong audience")


def test_jwt_bad_claim_types(ec_jwks):
    key, path = ec_jwks
    token = jh.sign(jh.claims(exp=str(int(time.time()) + 60)), key, "ES256")
    fails(jwt(path, token), "invalid claim")
    token = jh.sign(b"[1,2]", key, "ES256")
    fails(jwt(path, token), "malformed token")
    assert ok(run("verify", "--jwks", path, stdin=token)) == b"[1,2]"


def test_jwt_signature_checked_first(ec_jwks):
    key, path = ec_jwks
    token = flip_signature(jh.sign(jh.claims(now=0), key, "ES256"))
    fails(jwt(path, token), "bad signature")


# ---- files, secrets, usage ----

def test_missing_key_file_names_it(workdir, ec_jwks):
    missing = str(workdir / "no-such-dir" / "keys.jwks")
    line = fails(run("verify", "--jwks", missing, stdin="x.y.z"),
                 "I/O error")
    assert missing in line
    line = fails(run("sign", "--jwk", missing, "--alg", "ES256"),
                 "I/O error")
    assert missing in line
    line = fails(run("pubkey", "--jwk", missing), "I/O error")
    assert missing in line


def test_invalid_key_file_names_it(workdir):
    path = workdir / "garbage.jwks"
    path.write_text("hello\n")
    proc = run("verify", "--jwks", path, stdin="x.y.z")
    assert proc.returncode == 1 and proc.stdout == b""
    assert str(path) in proc.stderr.decode()


def test_public_key_cannot_sign(cli_keys):
    _, _, pub = cli_keys["EC"]
    proc = run("sign", "--jwk", pub, "--alg", "ES256", stdin=b"x")
    assert proc.returncode == 1 and proc.stdout == b""
    assert proc.stderr.count(b"\n") == 1


def test_errors_never_show_key_material(workdir, cli_keys):
    secret_jwk = dict(cli_keys["EC"][0])
    secret_jwk["x"] = secret_jwk["y"]           # off the curve
    path = jh.write_json(str(workdir / "broken.jwk"), secret_jwk)
    proc = run("sign", "--jwk", path, "--alg", "ES256", stdin=b"x")
    assert proc.returncode == 1 and proc.stderr.count(b"\n") == 1
    assert secret_jwk["d"].encode() not in proc.stderr

    weak = {"kty": "oct", "kid": "weak", "k": jh.b64u(os.urandom(20))}
    path = jh.write_json(str(workdir / "weak.jwk"), weak)
    proc = run("sign", "--jwk", path, "--alg", "HS512", stdin=b"x")
    fails(proc, "key too weak")
    assert weak["k"].encode() not in proc.stderr

    rsa_jwk = dict(cli_keys["RSA"][0])
    rsa_jwk["qi"] = "!!" + rsa_jwk["qi"]
    path = jh.write_json(str(workdir / "bad-rsa.jwk"), rsa_jwk)
    proc = run("sign", "--jwk", path, "--alg", "RS256", stdin=b"x")
    assert proc.returncode == 1
    for member in PRIVATE_MEMBERS - {"k"}:
        assert rsa_jwk[member].encode() not in proc.stderr


def test_sign_wrong_alg_for_key(cli_keys):
    _, priv, _ = cli_keys["EC"]
    fails(run("sign", "--jwk", priv, "--alg", "RS256", stdin=b"x"),
          "alg not allowed for key")


def test_help():
    proc = run("help")
    assert proc.returncode == 0 and b"usage: iamsmart-jose" in proc.stdout
    assert run("--help").stdout == proc.stdout


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["verify"],
    ["verify", "--jwks"],
    ["verify", "--jwks", "K", "extra"],
    ["verify", "--jwks", "K", "--jwks", "K"],
    ["verify", "--jwks", "K", "--alg", "RS1"],
    ["verify", "--jwks", "K", "--alg", "none"],
    ["verify", "--jwks", "K", "--iss", "x"],
    ["verify", "--jwks", "K", "--bogus"],
    ["jwt", "--jwks", "K", "--leeway", "-5"],
    ["jwt", "--jwks", "K", "--leeway", "5s"],
    ["jwt", "--jwks", "K", "--leeway", "99999999999999999999"],
    ["sign", "--jwk", "K"],
    ["sign", "--alg", "ES256"],
    ["sign", "--jwk", "K", "--alg", "ES256", "--alg", "ES384"],
    ["sign", "--jwk", "K", "--alg", "ES256", "--kid", ""],
    ["keygen"],
    ["keygen", "--kty", "DSA"],
    ["keygen", "--kty", "ec"],
    ["pubkey"],
    ["pubkey", "--jwk", "K", "--kid", "x"],
])
def test_usage_errors(cli_keys, args):
    key = cli_keys["EC"][1]
    usage_error(run(*[key if a == "K" else a for a in args], stdin=b"x.y.z"))
