"""
A small, independent JWS/JWK helper on python3-cryptography, so the tests
never rely on the code they test to make their tokens.

    k = Key.generate("RSA", kid="r1")          # or "EC", "OKP", "oct"
    tok = sign({"sub": "alice"}, k, "RS256")   # compact JWS
    write_jwks(path, [k.public_jwk()])

Also builds deliberately broken tokens (alg none, HS256 keyed with a public
key, bad segments) for negative tests.
"""

import base64
import json
import os
import time

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"P-256": (ec.SECP256R1, 32, "256"),
           "P-384": (ec.SECP384R1, 48, "384"),
           "P-521": (ec.SECP521R1, 66, "512")}


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text):
    if isinstance(text, str):
        text = text.encode()
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _uint(n, length=None):
    length = length or max(1, (n.bit_length() + 7) // 8)
    return b64u(n.to_bytes(length, "big"))


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":"))


class Key:
    """A private key with its JWK metadata (kid, alg, use)."""

    def __init__(self, kty, private, kid=None, alg=None, use=None, crv=None):
        self.kty = kty
        self.private = private
        self.kid = kid
        self.alg = alg
        self.use = use
        self.crv = crv

    @classmethod
    def generate(cls, kty, kid=None, bits=2048, crv="P-256", secret=None,
                 alg=None, use=None):
        if kty == "RSA":
            priv = rsa.generate_private_key(public_exponent=65537,
                                            key_size=bits)
            return cls("RSA", priv, kid, alg, use)
        if kty == "EC":
            priv = ec.generate_private_key(_CURVES[crv][0]())
            return cls("EC", priv, kid, alg, use, crv)
        if kty == "OKP":
            return cls("OKP", ed25519.Ed25519PrivateKey.generate(), kid, alg,
                       use, "Ed25519")
        if kty == "oct":
            return cls("oct", secret if secret is not None
                       else os.urandom(32), kid, alg, use)
        raise ValueError("kty " + kty)

    # -- public forms --

    def public_jwk(self, **extra):
        jwk = {"kty": self.kty}
        if self.kty == "RSA":
            pub = self.private.public_key().public_numbers()
            jwk.update(n=_uint(pub.n), e=_uint(pub.e))
        elif self.kty == "EC":
            size = _CURVES[self.crv][1]
            pub = self.private.public_key().public_numbers()
            jwk.update(crv=self.crv, x=_uint(pub.x, size),
                       y=_uint(pub.y, size))
        elif self.kty == "OKP":
            raw = self.private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            jwk.update(crv="Ed25519", x=b64u(raw))
        else:
            jwk.update(k=b64u(self.private))
        for name in ("kid", "alg", "use"):
            if getattr(self, name) is not None:
                jwk[name] = getattr(self, name)
        jwk.update(extra)
        return jwk

    def private_jwk(self):
        jwk = self.public_jwk()
        if self.kty == "RSA":
            p = self.private.private_numbers()
            jwk.update(d=_uint(p.d), p=_uint(p.p), q=_uint(p.q),
                       dp=_uint(p.dmp1), dq=_uint(p.dmq1), qi=_uint(p.iqmp))
        elif self.kty == "EC":
            size = _CURVES[self.crv][1]
            jwk["d"] = _uint(self.private.private_numbers().private_value,
                             size)
        elif self.kty == "OKP":
            jwk["d"] = b64u(self.private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                serialization.NoEncryption()))
        return jwk

    def public_pem(self):
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)

    # -- signing --

    def sign_bytes(self, alg, data):
        if alg.startswith("HS"):
            secret = self.private if self.kty == "oct" else self.public_pem()
            return hmac_sign(secret, alg, data)
        h = _HASHES[alg[2:]]() if alg != "EdDSA" else None
        if alg.startswith("RS"):
            return self.private.sign(data, padding.PKCS1v15(), h)
        if alg.startswith("PS"):
            return self.private.sign(
                data, padding.PSS(mgf=padding.MGF1(h),
                                  salt_length=h.digest_size), h)
        if alg.startswith("ES"):
            size = _CURVES[self.crv][1]
            r, s = decode_dss_signature(self.private.sign(data,
                                                          ec.ECDSA(h)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg == "EdDSA":
            return self.private.sign(data)
        raise ValueError("alg " + alg)


def hmac_sign(secret, alg, data):
    m = hmac.HMAC(secret, _HASHES[alg[2:]]())
    m.update(data)
    return m.finalize()


def sign(claims, key, alg, kid=..., header=None, typ="JWT"):
    """A compact JWS of claims (a dict, or bytes/str used verbatim).

    kid defaults to the key's kid; pass None to omit it or a string to
    override it.  header entries are merged last (they may replace alg)."""
    hdr = {"alg": alg}
    if typ:
        hdr["typ"] = typ
    k = key.kid if kid is ... else kid
    if k is not None:
        hdr["kid"] = k
    hdr.update(header or {})
    return sign_raw(hdr, claims, key, alg)


def sign_raw(header, payload, key, alg):
    """Signs an arbitrary header and payload (each a dict, str or bytes)
    with alg, whatever the header claims."""
    h = header if isinstance(header, (str, bytes)) else compact_json(header)
    p = payload if isinstance(payload, (str, bytes)) else \
        compact_json(payload)
    signing_input = b64u(h) + "." + b64u(p)
    sig = key.sign_bytes(alg, signing_input.encode())
    return signing_input + "." + b64u(sig)


def unsigned(claims, alg="none", kid=None):
    """An unsecured JWS (alg none, empty signature)."""
    hdr = {"alg": alg, "typ": "JWT"}
    if kid:
        hdr["kid"] = kid
    return b64u(compact_json(hdr)) + "." + b64u(compact_json(claims)) + "."


def hs_with_public_key(claims, rsa_key, alg="HS256", kid=...):
    """The classic alg-confusion token: HMAC keyed with the PEM text of an
    RSA public key that the server trusts."""
    hdr = {"alg": alg, "typ": "JWT"}
    k = rsa_key.kid if kid is ... else kid
    if k is not None:
        hdr["kid"] = k
    signing_input = b64u(compact_json(hdr)) + "." + \
        b64u(compact_json(claims))
    sig = hmac_sign(rsa_key.public_pem(), alg, signing_input.encode())
    return signing_input + "." + b64u(sig)


def claims(sub="alice", lifetime=300, now=None, **extra):
    """Typical claims: sub, iat, exp (now + lifetime), plus extra ones;
    pass exp=None etc. to drop one."""
    now = int(time.time()) if now is None else now
    c = {"sub": sub, "iat": now, "exp": now + lifetime}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def jwks(keys, **extra):
    """A JWKS of the public parts of keys (Key objects or JWK dicts)."""
    return {"keys": [k.public_jwk(**extra) if isinstance(k, Key) else k
                     for k in keys]}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
    os.chmod(path, 0o644)
    return path


def write_jwks(path, keys):
    return write_json(path, jwks(keys))


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return path
