"""Wire-level crypto of the iAM Smart protocol, shared by the sandbox and
the reference client.  Nothing here knows about HTTP or state.

Request signature (every server-to-server POST and every callback):

    msg = clientID + signatureMethod + timestamp + nonce + body   (bytes)
    signature header = URLEncode(Base64(HMAC-SHA256(clientSecret, msg)))

The client secret is used as the HMAC key byte for byte (UTF-8 of the
secret string, never base64-decoded).  Base64 is the standard alphabet
with padding; URL encoding turns "+", "/" and "=" into %2B, %2F, %3D.

Envelope (request bodies, response content, callback content):

    Base64( uint32_be(12) || IV[12] || AES-256-GCM ciphertext || tag[16] )

with no additional authenticated data and a fresh random IV per message.

CEK transport: secretKey = Base64(RSAES-PKCS1-v1_5(KEK public key, CEK)),
CEK being 32 random bytes.  pubKey = Base64(DER SubjectPublicKeyInfo).
"""

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SIGNATURE_METHOD = "HmacSHA256"
CEK_LEN = 32
IV_LEN = 12
TAG_LEN = 16
MAX_NONCE_LEN = 36


class EnvelopeError(Exception):
    """An envelope that is malformed ("format") or does not authenticate
    under the key tried ("auth")."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind


def now_ms():
    return int(time.time() * 1000)


def new_nonce():
    return uuid.uuid4().hex


def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text):
    """Standard base64 with padding; anything else raises ValueError."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError as e:
            raise ValueError("non-ASCII base64") from e
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise ValueError(str(e)) from e


# ---- request signatures ----

def signature_b64(secret, client_id, method, timestamp, nonce, body):
    """Base64 HMAC over the concatenation; header values as sent."""
    msg = b"".join((client_id.encode("utf-8"), method.encode("utf-8"),
                    str(timestamp).encode("utf-8"), nonce.encode("utf-8"),
                    body))
    return b64(hmac.new(secret, msg, hashlib.sha256).digest())


def signature_header(secret, client_id, method, timestamp, nonce, body):
    return urllib.parse.quote(
        signature_b64(secret, client_id, method, timestamp, nonce, body),
        safe="")


def signature_matches(secret, client_id, method, timestamp, nonce, body,
                      presented):
    """Accepts the URL-encoded form and, leniently, the raw base64 form
    (unquote leaves "+" alone, so raw base64 survives it)."""
    expected = signature_b64(secret, client_id, method, timestamp, nonce,
                             body).encode("ascii")
    got = urllib.parse.unquote(presented).encode("utf-8", "replace")
    return hmac.compare_digest(expected, got)


def signed_headers(client_id, secret, body, timestamp=None, nonce=None):
    """The five signing headers plus Content-Type, for a request or a
    callback whose body is `body` (bytes)."""
    ts = str(now_ms() if timestamp is None else timestamp)
    nonce = new_nonce() if nonce is None else nonce
    return {
        "Content-Type": "application/json",
        "clientID": client_id,
        "signatureMethod": SIGNATURE_METHOD,
        "timestamp": ts,
        "nonce": nonce,
        "signature": signature_header(secret, client_id, SIGNATURE_METHOD,
                                      ts, nonce, body),
    }


# ---- envelopes ----

def seal(cek, plaintext):
    iv = os.urandom(IV_LEN)
    ct = AESGCM(cek).encrypt(iv, plaintext, None)
    return b64(struct.pack(">I", IV_LEN) + iv + ct)


def parse_envelope(text):
    """Checks the framing and returns (iv, ciphertext_with_tag)."""
    if not isinstance(text, str) or not text:
        raise EnvelopeError("format", "content is not a base64 string")
    try:
        raw = b64decode_strict(text)
    except ValueError as e:
        raise EnvelopeError("format", "content is not base64: %s" % e)
    if len(raw) < 4 + IV_LEN + TAG_LEN:
        raise EnvelopeError("format", "envelope too short")
    (iv_len,) = struct.unpack(">I", raw[:4])
    if iv_len != IV_LEN:
        raise EnvelopeError("format",
                            "IV length prefix is %d, not 12" % iv_len)
    return raw[4:4 + IV_LEN], raw[4 + IV_LEN:]


def open_sealed(cek, parsed):
    iv, ct = parsed
    try:
        return AESGCM(cek).decrypt(iv, ct, None)
    except InvalidTag:
        raise EnvelopeError("auth", "GCM tag mismatch")


def unseal(cek, text):
    return open_sealed(cek, parse_envelope(text))


# ---- keys ----

def new_cek():
    return os.urandom(CEK_LEN)


def load_kek_public(pem):
    """An RSA public key from a PEM certificate or a PEM public key."""
    if b"-----BEGIN CERTIFICATE-----" in pem:
        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("KEK is not an RSA key")
    if key.key_size < 2048:
        raise ValueError("KEK is RSA-%d, at least 2048 needed" % key.key_size)
    return key


def spki_der(public_key):
    return public_key.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def wrap_cek(kek_public, cek):
    return b64(kek_public.encrypt(cek, padding.PKCS1v15()))


def unwrap_cek(kek_private, secret_key_b64):
    cek = kek_private.decrypt(b64decode_strict(secret_key_b64),
                              padding.PKCS1v15())
    if len(cek) != CEK_LEN:
        raise ValueError("unwrapped CEK is %d bytes, not 32" % len(cek))
    return cek
