#!/usr/bin/python3
"""
Writes the seed corpora of the JOSE fuzz targets:

    tests/fuzz/corpus/fuzz_jws/   compact tokens (fuzz_jws.c)
    tests/fuzz/corpus/fuzz_jwk/   key files: JWKS, JWK, PEM (fuzz_jwk.c)

The generated files are committed, so make test never runs this script; run
it again after changing a seed or the keys below:

    /usr/bin/python3 tests/fuzz/make_corpus.py            # rewrite seeds
    /usr/bin/python3 tests/fuzz/make_corpus.py --c-jwks   # C literal

Tokens are signed with tests/integration/jose_helper.py (python3-
cryptography), never with the code under test.  The valid tokens verify
against the JWKS that fuzz_jws.c embeds (the script stops if that literal
and the keys below disagree) and satisfy its claim policy, so the fuzzer
starts from inputs that reach every stage.  ECDSA and PSS signatures are
randomised: a rerun changes those files, which is harmless.

Only the files named here are rewritten; other files in the corpus
directories (regression inputs saved from fuzzing runs) are left alone.

The private keys below are test keys, published on purpose.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

import jose_helper as jh  # noqa: E402

# The claim policy fuzz_jws.c applies; keep both in step.
NOW = 1700000000
ISS = "https://issuer.fuzz.example"
AUD = "fuzz-aud"

RSA_PEM = b"""-----BEGIN PRIVATE KEY-----
MIIEuwIBADANBgkqhkiG9w0BAQEFAASCBKUwggShAgEAAoIBAQCYS12ZhJGQF3UU
Gi24OzzMwu8gWK5ABbfMIUrgJppXpeMEGZpfxNfqgUlI44ufrCQCHQ0NhsJ6lmO1
Whc0Ib/DVGi/eu/bvb2HEu0i9apSi4PrjNzazD+k+V+mOqIYwTfDtpsuJ4ZVWHbR
MjzXQ/mki22Pz+qWwvpT6q1kS7nGU1CYn0xHFunD5Wxmnzmj72eArCPGrsS/LF20
6qCtKVQHhxG/fCvmTgquwwQBFQol2ZsCi/sN2aLSVPkihv9DzOH6wTTkos31vcp9
wwhezUacwUkwNcYvRZcn8uBG+I5jjmIWE85OrJIjEIxNtkqW78htSliEU1TpYpXE
WUe5XlCfAgMBAAECgf8EnsUa4GBHhgZUs+LzaAmcs3r9O50IEzEsZoOBgyHehT1+
XyOOzECmKt5nxgcScR4OEA1XVBZZWLFuSjdThhR+Ms8npuPI41CY1ONJkCMp6Y4E
I2mXEZGW56ZiUPccwrlv+St71KcWHX1ATwYPg2UgsuH8trX43oRG4osWRBG91s+r
HmZ2cC1e7FR0GbWMiIJl8P8ay5N3f1x8IM9JECcnwtFFSWSFZ8VFFYOG1ebHKb+p
Cjx6rTcQt3ZCUg4M1fHgMr9EDpfyaZvwUNqbzGzuQ6H5y41t2gL4IwwRZYH58hfM
nrQsRv/0MpGtkhpUCqqVOcZBvjiX3LZavpgEockCgYEA1Bxgfh025hGDMStSWPX1
jl0SSCSySkVgWblhtPMu802NzK9F/4yN4BZEp/A4eH0iP0+gA4vgp7UeCYzRu4cs
vOUif677kGKxe+9B0kZhywLONetrM/7dLsJBmRjL252AW/wBCG//FLCJYR9WPEtF
7V/JjASEbGiA/QmORJsdk9cCgYEAt8562XtNlVViVSabKRkYUdCYyC/M7nSVLvr0
BnHciFXkrKQ1Y2fmZKBiq1aDOyZAob1muPsAoQtQpSlAfH3XimciH0YHbPoFzyUn
LGTEJxBP/wLrlbL51f4eD0tc1elhPpu1n0hv/yaVwbO2sDx2ury+vt5YztmVwYjB
+GVKEHkCgYEAiwBdq8fxZiwr0VkWif4Fgdo0VNrXjByS27nE8hQ7vG4icvSZ5rJx
d1ygeX3PRAadHuhLcIeGHeFvYcrK1x3qj4+JYCuH6EMFFLbiZ65//85C3Mr+YgCv
aikbW/0H+0/oAl/PPXxHqYNXRDKJDNI3bSvMpNmA/potjaVpekQ8ydkCgYBoy3Nl
TZSlQKIotDMgkms4Mjr5X69ygMuRlojMp9w5audOuuypeVJ1KrA2ycNWVO/ihy7q
5kisiNv43nUixUi/Yx+kPvP64O2w9ZjJCcaAEx/Y39xbZEhnBlQzGh+a4k2MOZCq
eM1J5sDZSFIvVrnGq9gA0JpHjOyCBCu7KFy62QKBgDfdEqoRF4Z8e6WpzCnhaQJh
PvVjMN00+fgcMhyh50WaPy0Cok4iF5IzsRknRC7JWexqIQ4miLokWuSP/B1tFJvZ
6Vs8RB4+4T+AzmGC/bnaRrMC8HYx3uGRfMYfHId9SVkXwEwGbwTWZyDz04N4Z1cX
ARSZ9CNQzDVAB4/nuVc5
-----END PRIVATE KEY-----
"""

P256_PEM = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgj9F/Mu/SYuEwBW6l
AB+XQzMHl7QbGQIvOCR+IW8y/V+hRANCAASqKWIQlrhgf6567A2C0H3W4aW56ARK
uDBvYdOKvHycZ1x1spg9AZs9Yn/ATu7ItabSmKvGLRLLLBkQI+eK/Swh
-----END PRIVATE KEY-----
"""

P384_PEM = b"""-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDB+l8nO2W264erpYuRM
6aHtS7R5FdAgkIQ0HqumREDfXziaZn2lHY8NpOn8tuuMC5OhZANiAAR7guXSFTK4
wtk6Myql29yPSsu96nKG+Q9sQjbaC4QNtQaiD9X0+jVntpuCny9JWidqCI66fXfO
96KZ72FuJ0qlndDGN5lwmjAdgjezi48yVz1P0LGXqP3CpmsroPHVoP4=
-----END PRIVATE KEY-----
"""

P521_PEM = b"""-----BEGIN PRIVATE KEY-----
MIHuAgEAMBAGByqGSM49AgEGBSuBBAAjBIHWMIHTAgEBBEIBGhkMjZwO/6Ijg1Y3
OO6pb6wX2I8Ujhm86katmeX6y6Pwsc4oRZJQDJR5GELRZKiWQlVwN6z3odUOxG1M
Cn7GVEqhgYkDgYYABAEghMkTYQvHCjTKILMRgq6oy2BbC8mZMLS08TF7WG5eDvE6
fEK6yXrNlW5u4e5y90AUcx+RwVZcERTbyyBNmxqOJgESKP/MB/e00Su6+kOXE6PS
pIyrOCVzyVF+ge+v3tQxVZPHbMA9HuDebzqybUcWab1YERQ9+3+1z4w4zCtg4r5u
GQ==
-----END PRIVATE KEY-----
"""

ED25519_PEM = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEICYpJMOV03/uGbg+qzdagAMlX71yK3dhGsOfDRl32I3E
-----END PRIVATE KEY-----
"""

HS_SECRET = ("Xi792hkzDrAddlcBfoC9vgGIArb_z7S6cGetYqGI7CNFHerWUa_GAkLTLoSLVg"
             "HW-6tLDGFnCK318tqkYUWBVw")

# A key the JWKS does not hold: the "attacker" of the embedded-jwk seed.
ATTACKER_PEM = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1Ygi3E5SBCUTZXnE
gLcKh9u0vykapRlViHAcbbAHEz6hRANCAASRbp1PVZ8YbSj1W5M16Ant760ngzz7
Kvzw96R1WX2evWErxcmGX1w5+ycp+/yQz6BG9NG5gSKjpvPOpg4cE3AT
-----END PRIVATE KEY-----
"""


def load(pem):
    return serialization.load_pem_private_key(pem, password=None)


RSA = jh.Key("RSA", load(RSA_PEM), kid="rsa")
P256 = jh.Key("EC", load(P256_PEM), kid="p256", alg="ES256", use="sig",
              crv="P-256")
P384 = jh.Key("EC", load(P384_PEM), kid="p384", crv="P-384")
P521 = jh.Key("EC", load(P521_PEM), kid="p521", crv="P-521")
ED = jh.Key("OKP", load(ED25519_PEM), kid="ed", crv="Ed25519")
HS = jh.Key("oct", jh.b64u_decode(HS_SECRET), kid="hs")
ATTACKER = jh.Key("EC", load(ATTACKER_PEM), crv="P-256")

# alg -> the JWKS key that verifies it
ALG_KEYS = {
    "RS256": RSA, "RS384": RSA, "RS512": RSA,
    "PS256": RSA, "PS384": RSA, "PS512": RSA,
    "ES256": P256, "ES384": P384, "ES512": P521,
    "EdDSA": ED,
    "HS256": HS, "HS384": HS, "HS512": HS,
}


def fuzz_jwks():
    keys = [RSA.public_jwk(key_ops=["verify"]), P256.public_jwk(),
            P384.public_jwk(), P521.public_jwk(), ED.public_jwk(),
            HS.public_jwk()]
    return {"keys": keys}


def c_literal(obj, width=70):
    text = jh.compact_json(obj).replace('"', '\\"')
    lines = []
    while text:
        cut = min(width, len(text))
        if text[cut - 1] == "\\":
            cut -= 1
        lines.append(text[:cut])
        text = text[cut:]
    return "\n".join('    "%s"' % line for line in lines)


def embedded_jwks():
    """The JWKS literal between the markers in fuzz_jws.c, parsed."""
    with open(os.path.join(HERE, "fuzz_jws.c")) as f:
        src = f.read()
    m = re.search(r"/\* BEGIN JWKS \*/(.*?)/\* END JWKS \*/", src, re.S)
    if m is None:
        sys.exit("fuzz_jws.c: no BEGIN JWKS/END JWKS markers")
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    return json.loads("".join(p.replace('\\"', '"') for p in parts))


def good_claims(**extra):
    c = {"iss": ISS, "aud": AUD, "sub": "fuzz", "iat": NOW - 60,
         "nbf": NOW - 60, "exp": NOW + 3600}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def raw_token(header_text, payload_text, sig=b""):
    return (jh.b64u(header_text) + "." + jh.b64u(payload_text) + "."
            + jh.b64u(sig))


def deep(levels, inner="1"):
    return "[" * levels + inner + "]" * levels


def jws_seeds():
    s = {}

    for alg, key in ALG_KEYS.items():
        s["valid-" + alg] = jh.sign(good_claims(), key, alg)

    s["valid-ES256-nokid"] = jh.sign(good_claims(), P256, "ES256", kid=None)
    s["valid-EdDSA-aud-array"] = jh.sign(
        good_claims(aud=["other", AUD]), ED, "EdDSA")

    s["claims-expired"] = jh.sign(good_claims(exp=NOW - 3600), P256, "ES256")
    s["claims-nbf-future"] = jh.sign(good_claims(nbf=NOW + 3600), ED,
                                     "EdDSA")
    s["claims-exp-string"] = jh.sign(good_claims(exp=str(NOW + 3600)), HS,
                                     "HS256")
    s["claims-exp-huge-real"] = jh.sign_raw(
        {"alg": "HS256", "kid": "hs"},
        '{"iss":"%s","aud":"%s","exp":1e300,"nbf":-1e300,"iat":-0.5}'
        % (ISS, AUD), HS, "HS256")
    s["claims-wrong-iss-aud"] = jh.sign(
        good_claims(iss="https://evil.example", aud=[1, None]), HS, "HS256")
    s["claims-payload-array"] = jh.sign_raw(
        {"alg": "HS256", "kid": "hs"}, "[1,2,3]", HS, "HS256")
    s["claims-payload-deep"] = jh.sign_raw(
        {"alg": "HS256", "kid": "hs"}, '{"a":' + deep(40) + "}", HS,
        "HS256")
    s["claims-payload-dup-key"] = jh.sign_raw(
        {"alg": "HS256", "kid": "hs"},
        '{"exp":%d,"exp":1,"iss":"%s"}' % (NOW + 3600, ISS), HS, "HS256")

    s["unknown-kid"] = jh.sign(good_claims(), P256, "ES256", kid="nobody")
    s["alg-none"] = jh.unsigned(good_claims())
    s["alg-not-string"] = raw_token('{"alg":256,"kid":"hs"}', "{}", b"x")
    s["crit-exp"] = jh.sign(good_claims(), HS, "HS256",
                            header={"crit": ["exp"], "exp": NOW})
    s["crit-empty-array"] = jh.sign(good_claims(), HS, "HS256",
                                    header={"crit": []})
    s["jwk-header-ignored"] = jh.sign(
        good_claims(), ATTACKER, "ES256",
        header={"jwk": ATTACKER.public_jwk()})
    s["alg-confusion-hs256-rsa-pem"] = jh.hs_with_public_key(good_claims(),
                                                             RSA)
    s["alg-key-mismatch"] = jh.sign(good_claims(), HS, "HS256", kid="p256")

    es = jh.sign(good_claims(), P256, "ES256").split(".")
    raw = jh.b64u_decode(es[2])
    der = encode_der_sig(raw[:32], raw[32:])
    s["es256-der-signature"] = es[0] + "." + es[1] + "." + jh.b64u(der)
    rs = jh.sign(good_claims(), RSA, "RS256").split(".")
    bad = bytearray(jh.b64u_decode(rs[2]))
    bad[-1] ^= 1
    s["rs256-bad-signature"] = rs[0] + "." + rs[1] + "." + jh.b64u(bytes(bad))

    hs = jh.sign(good_claims(), HS, "HS256")
    h, p, sig = hs.split(".")
    s["b64-padding"] = h + "." + p + "=." + sig
    s["b64-noncanonical-tail"] = noncanonical(h) + "." + p + "." + sig
    s["header-dup-alg"] = raw_token('{"alg":"none","alg":"HS256"}', "{}",
                                    b"x")
    s["header-deep"] = raw_token('{"alg":"HS256","x":' + deep(40) + "}",
                                 "{}", b"x")
    s["header-nul-escape"] = raw_token('{"alg":"HS256","kid":"h\\u0000s"}',
                                       "{}", b"x")
    s["header-huge"] = jh.sign(good_claims(), HS, "HS256",
                               header={"x": "A" * 9000})
    s["token-too-large"] = jh.sign(good_claims(pad="B" * 17000), HS, "HS256")

    return s


def noncanonical(b64):
    """The same bytes with a non-zero unused bit in the last character."""
    assert len(b64) % 4 in (2, 3), "no unused bits to set"
    alphabet = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_")
    return b64[:-1] + alphabet[alphabet.index(b64[-1]) + 1]


def encode_der_sig(r, s):
    def integer(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80:
            b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def pem_public(key):
    return key.private.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_private(key, fmt):
    return key.private.private_bytes(serialization.Encoding.PEM, fmt,
                                     serialization.NoEncryption())


def json_text(obj):
    return json.dumps(obj, indent=2)


def jwk_seeds():
    s = {}
    pkcs8 = serialization.PrivateFormat.PKCS8
    trad = serialization.PrivateFormat.TraditionalOpenSSL

    s["jwks-fuzz"] = json_text(fuzz_jwks())
    s["jwk-rsa-public"] = json_text(RSA.public_jwk())
    s["jwk-ec-p384-public"] = json_text(P384.public_jwk())
    s["jwk-okp-public"] = json_text(ED.public_jwk())
    s["jwk-oct"] = json_text(HS.public_jwk(alg="HS512", use="sig"))
    s["jwk-rsa-private"] = json_text(RSA.private_jwk())
    s["jwk-ec-p256-private"] = json_text(P256.private_jwk())
    s["jwk-ec-p521-private"] = json_text(P521.private_jwk())
    s["jwk-okp-private"] = json_text(ED.private_jwk())

    no_crt = {k: v for k, v in RSA.private_jwk().items()
              if k not in ("p", "q", "dp", "dq", "qi")}
    s["jwk-rsa-private-no-crt"] = json_text(no_crt)

    mixed = P256.private_jwk()
    mixed["d"] = ATTACKER.private_jwk()["d"]
    s["jwk-ec-private-mismatched-d"] = json_text(mixed)

    s["pem-rsa-public"] = pem_public(RSA)
    s["pem-ec-p521-public"] = pem_public(P521)
    s["pem-ed25519-public"] = pem_public(ED)
    s["pem-multi-public"] = pem_public(RSA) + pem_public(P256) \
        + pem_public(ED)
    s["pem-rsa-private-pkcs8"] = pem_private(RSA, pkcs8)
    s["pem-rsa-private-traditional"] = pem_private(RSA, trad)
    s["pem-ec-private-sec1"] = pem_private(P384, trad)
    s["pem-ed25519-private"] = pem_private(ED, pkcs8)
    s["pem-truncated"] = pem_public(RSA)[:200]

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    s["pem-rsa-1024-public"] = weak.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    s["jwk-rsa-1024"] = json_text(jh.Key("RSA", weak, kid="weak")
                                  .public_jwk())

    k256 = jh.Key("EC", ec.generate_private_key(ec.SECP256K1()), kid="k1",
                  crv="P-256").public_jwk()
    k256["crv"] = "secp256k1"
    s["jwk-ec-secp256k1"] = json_text(k256)

    off = P256.public_jwk()
    y = int.from_bytes(jh.b64u_decode(off["y"]), "big")
    off["y"] = jh.b64u((y ^ 1).to_bytes(32, "big"))
    s["jwk-ec-off-curve"] = json_text(off)

    short = P256.public_jwk()
    short["x"] = short["x"][:-2]
    s["jwk-ec-x-short"] = json_text(short)

    s["jwks-duplicate-kid"] = json_text(
        {"keys": [P256.public_jwk(), P384.public_jwk(kid="p256")]})
    s["jwks-empty"] = json_text({"keys": []})
    s["jwks-keys-not-array"] = json_text({"keys": P256.public_jwk()})
    s["jwks-65-keys"] = json_text(
        {"keys": [{"kty": "oct", "kid": "k%d" % i, "k": HS_SECRET}
                  for i in range(65)]})
    s["jwks-deep"] = '{"keys":[' + deep(40, "{}") + "]}"
    s["jwk-unknown-kty"] = json_text({"kty": "DSA", "kid": "d", "y": "AQAB"})
    s["jwk-okp-x25519"] = json_text(
        {"kty": "OKP", "crv": "X25519", "kid": "x",
         "x": jh.b64u(bytes(32))})
    s["jwk-policy-members"] = json_text(
        {"keys": [ED.public_jwk(use="enc"),
                  P384.public_jwk(kid="p384b", alg="RS256"),
                  P521.public_jwk(key_ops=["sign", "verify", "bogus"]),
                  HS.public_jwk(kid="hs1", k=jh.b64u(b"x"))]})
    s["jwk-dup-member"] = '{"kty":"oct","k":"%s","kty":"RSA"}' % HS_SECRET

    padded = RSA.public_jwk()
    padded["n"] += "=="
    s["jwk-rsa-n-padded"] = json_text(padded)
    e_huge = RSA.public_jwk()
    e_huge["e"] = jh.b64u(b"\xff" * 300)
    s["jwk-rsa-e-huge"] = json_text(e_huge)

    return s


def write_corpus(name, seeds):
    out = os.path.join(HERE, "corpus", name)
    os.makedirs(out, exist_ok=True)
    for seed, data in sorted(seeds.items()):
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(out, seed), "wb") as f:
            f.write(data)
    print("%s: %d seeds" % (out, len(seeds)))


def main():
    if sys.argv[1:] == ["--c-jwks"]:
        print(c_literal(fuzz_jwks()))
        return
    if sys.argv[1:]:
        sys.exit("usage: make_corpus.py [--c-jwks]")
    if embedded_jwks() != fuzz_jwks():
        sys.exit("fuzz_jws.c embeds another JWKS: paste the output of "
                 "--c-jwks between its markers")
    write_corpus("fuzz_jws", jws_seeds())
    write_corpus("fuzz_jwk", jwk_seeds())


if __name__ == "__main__":
    main()
