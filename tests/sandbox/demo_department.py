#!/usr/bin/python3
"""A demo department backend behind the gateway's one-click login bridge.

It does what a real department service must do with a bridged request:
verify the gateway's assertion (X-Iamsmart-Assertion, a compact JWS) with
the keys the gateway publishes at /.well-known/jwks.json, check iss, aud,
exp, iat and that `sub` matches the subject header, and only then trust
the pairwise subject.  It shows what it received: the subject and the
verified claims (HTML for browsers; JSON for paths ending in ".json",
"?format=json" or "Accept: application/json").  A request whose assertion
does not verify gets 401 and the reason.

The verification uses python3-cryptography only, a library the gateway
does not use, so the tests that run behind it check the gateway's
signatures independently.  docs/bridging.md walks through the same steps.

    /usr/bin/python3 tests/sandbox/demo_department.py --port 9081 \\
        --name TD --title "Transport Department" \\
        --audience https://td.example.gov.hk --issuer https://gateway.example \\
        --jwks-url http://127.0.0.1:8080/.well-known/jwks.json \\
        [--subject-header X-Iamsmart-Subject] \\
        [--assertion-header X-Iamsmart-Assertion] \\
        [--high-value /td/high/] [--portal /]

--high-value PREFIX: requests under PREFIX are a "high-value action" that
the department accepts only from a citizen whose assertion records a face
recognition (amr holds "fr"); the gateway makes sure it is recent
(iamsmart_require_fr).  GET shows a confirmation form, POST performs it.

Keys: fetched on first use, kept for the JWKS's Cache-Control max-age (at
most --max-cache seconds); an assertion with an unknown kid makes one
refetch, at most once every --min-refetch seconds, so made-up kids cannot
make the department hammer the gateway.  GET /__health answers without
verification.  Loopback only.
"""

import argparse
import base64
import html
import json
import re
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    encode_dss_signature

MAX_TOKEN = 8192
MAX_JWKS = 64 * 1024
MAX_LIFETIME = 60           # the gateway's assertions live at most 60 s

_CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48),
           "P-521": (ec.SECP521R1, 66)}
# alg -> (key type, hash, curve for ES)
_ALGS = {"ES256": ("EC", hashes.SHA256, "P-256"),
         "ES384": ("EC", hashes.SHA384, "P-384"),
         "ES512": ("EC", hashes.SHA512, "P-521"),
         "RS256": ("RSA", hashes.SHA256, None),
         "RS384": ("RSA", hashes.SHA384, None),
         "RS512": ("RSA", hashes.SHA512, None),
         "PS256": ("RSA", hashes.SHA256, None),
         "PS384": ("RSA", hashes.SHA384, None),
         "PS512": ("RSA", hashes.SHA512, None),
         "EdDSA": ("OKP", None, None)}


class Rejected(Exception):
    """The assertion is not acceptable; str() says why."""


# ---- JOSE, on python3-cryptography ----

def b64url_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise Rejected("bad base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(jwk, name):
    return int.from_bytes(b64url_decode(jwk[name]), "big")


def public_key(jwk):
    """The python3-cryptography public key of a JWK (EC, RSA, Ed25519)."""
    kty = jwk.get("kty")
    if kty == "EC":
        curve = _CURVES.get(jwk.get("crv"))
        if curve is None:
            raise Rejected("unsupported curve")
        return ec.EllipticCurvePublicNumbers(
            _int(jwk, "x"), _int(jwk, "y"), curve[0]()).public_key()
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk, "e"),
                                    _int(jwk, "n")).public_key()
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(
            b64url_decode(jwk["x"]))
    raise Rejected("unsupported key type")


def verify_signature(alg, jwk, signing_input, sig):
    """Raises Rejected unless sig is alg's signature of signing_input under
    the JWK.  The JWK decides which algorithm it may be used with."""
    if alg not in _ALGS:
        raise Rejected("algorithm %r not accepted" % alg)
    kty, hash_cls, crv = _ALGS[alg]
    if jwk.get("kty") != kty or jwk.get("alg", alg) != alg:
        raise Rejected("key %r is not for %s" % (jwk.get("kid"), alg))
    key = public_key(jwk)
    try:
        if kty == "EC":
            size = _CURVES[crv][1]
            if jwk.get("crv") != crv or len(sig) != 2 * size:
                raise Rejected("bad %s signature" % alg)
            # JWS carries R || S; python3-cryptography wants DER
            der = encode_dss_signature(int.from_bytes(sig[:size], "big"),
                                       int.from_bytes(sig[size:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hash_cls()))
        elif alg.startswith("RS"):
            key.verify(sig, signing_input, padding.PKCS1v15(), hash_cls())
        elif alg.startswith("PS"):
            key.verify(sig, signing_input,
                       padding.PSS(mgf=padding.MGF1(hash_cls()),
                                   salt_length=hash_cls.digest_size),
                       hash_cls())
        else:
            key.verify(sig, signing_input)
    except InvalidSignature:
        raise Rejected("bad signature") from None


def parse_jws(token):
    """(header, payload bytes, signing input, signature) of a compact JWS."""
    if len(token) > MAX_TOKEN:
        raise Rejected("assertion too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise Rejected("not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError:
        raise Rejected("bad header") from None
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise Rejected("bad header")
    if "crit" in header:
        raise Rejected("unsupported critical header")
    return (header, b64url_decode(parts[1]),
            (parts[0] + "." + parts[1]).encode("ascii"),
            b64url_decode(parts[2]))


def check_claims(claims, issuer, audience, now, leeway=5):
    """The claim checks a department makes; raises Rejected."""
    if not isinstance(claims, dict):
        raise Rejected("claims are not an object")
    for name in ("iss", "sub", "aud"):
        if name not in claims:
            raise Rejected("no %s" % name)
    for name in ("exp", "iat", "auth_time"):
        if not isinstance(claims.get(name), int) \
                or isinstance(claims.get(name), bool):
            raise Rejected("no numeric %s" % name)
    if claims["iss"] != issuer:
        raise Rejected("issuer %r is not %r" % (claims["iss"], issuer))
    aud = claims["aud"]
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise Rejected("audience %r is not ours (%r)" % (aud, audience))
    if claims["exp"] <= now - leeway:
        raise Rejected("expired %d s ago" % (now - claims["exp"]))
    if claims["iat"] > now + leeway:
        raise Rejected("issued in the future")
    if claims["exp"] - claims["iat"] > MAX_LIFETIME:
        raise Rejected("lifetime longer than %d s" % MAX_LIFETIME)
    if claims["auth_time"] > claims["iat"]:
        raise Rejected("auth_time after iat")
    if not isinstance(claims.get("amr"), list):
        raise Rejected("no amr")


class KeySet:
    """The gateway's published keys, fetched from its JWKS URL."""

    def __init__(self, url, max_cache=300, min_refetch=10, timeout=5):
        self.url = url
        self.max_cache = max_cache
        self.min_refetch = min_refetch
        self.timeout = timeout
        self.lock = threading.Lock()
        self.keys = {}
        self.expires = 0.0
        self.last_forced = -1e9
        self.fetches = 0

    def _fetch(self):
        req = urllib.request.Request(self.url, headers={
            "Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            body = r.read(MAX_JWKS + 1)
            cache_control = r.headers.get("Cache-Control", "")
        if len(body) > MAX_JWKS:
            raise ValueError("JWKS larger than %d bytes" % MAX_JWKS)
        keys = {}
        for jwk in json.loads(body)["keys"]:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str) \
                    and jwk.get("use", "sig") == "sig":
                keys[jwk["kid"]] = jwk
        m = re.search(r"max-age=(\d+)", cache_control)
        ttl = min(int(m.group(1)), self.max_cache) if m else self.max_cache
        self.keys = keys
        self.expires = time.monotonic() + ttl
        self.fetches += 1

    def key(self, kid):
        """The JWK with this kid; refetches once when the set is stale or
        the kid is new (rate-limited)."""
        with self.lock:
            now = time.monotonic()
            try:
                if now >= self.expires:
                    self._fetch()
                elif kid not in self.keys \
                        and now - self.last_forced >= self.min_refetch:
                    self.last_forced = now
                    self._fetch()
            except (OSError, ValueError, KeyError, TypeError) as e:
                if not self.keys:
                    raise Rejected("cannot fetch the gateway's keys: %s"
                                   % e) from None
                sys.stderr.write("department: keeping cached keys (%s)\n"
                                 % e)
            jwk = self.keys.get(kid)
        if jwk is None:
            raise Rejected("unknown kid %r" % kid)
        return jwk


def verify_assertion(token, keyset, issuer, audience, subject=None,
                     now=None, leeway=5):
    """(header, claims) of a valid assertion; raises Rejected."""
    header, payload, signing_input, sig = parse_jws(token)
    if header.get("typ") not in (None, "JWT"):
        raise Rejected("typ %r" % header.get("typ"))
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise Rejected("no kid")
    jwk = keyset.key(kid) if isinstance(keyset, KeySet) else keyset.get(kid)
    if jwk is None:
        raise Rejected("unknown kid %r" % kid)
    verify_signature(header["alg"], jwk, signing_input, sig)
    try:
        claims = json.loads(payload)
    except ValueError:
        raise Rejected("claims are not JSON") from None
    check_claims(claims, issuer, audience,
                 int(time.time()) if now is None else now, leeway)
    if subject is not None and claims["sub"] != subject:
        raise Rejected("sub does not match the subject header")
    return header, claims


# ---- HTTP ----

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:46rem;"
          "margin:2rem auto;padding:0 1rem;color:#1b1b1b}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;"
          "padding:.3rem .6rem;text-align:left;vertical-align:top}"
          "code{word-break:break-all}.ok{color:#2b6b4f}.bad{color:#a32}"
          "a.button,button{display:inline-block;padding:.5rem 1rem;"
          "background:#2b6b4f;color:#fff;border:0;border-radius:.3rem;"
          "text-decoration:none;font-size:1rem;cursor:pointer}")


def _e(value):
    return html.escape(str(value), quote=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iams-demo-department/1"

    def _header_values(self, name):
        return self.headers.get_all(name) or []

    def _identity_headers(self):
        """Every header the gateway is responsible for, as received."""
        cfg = self.server.cfg
        names = {cfg.subject_header.lower(), cfg.assertion_header.lower()}
        out = {}
        for k, v in self.headers.items():
            if k.lower() in names or k.lower().startswith("x-iamsmart-"):
                out.setdefault(k, []).append(v)
        return out

    def _wants_json(self):
        path = urllib.parse.urlsplit(self.path)
        return (path.path.endswith(".json")
                or "format=json" in path.query.split("&")
                or "application/json" in self.headers.get("Accept", ""))

    def _send(self, status, body, ctype):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > 65536:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def _serve(self):
        cfg = self.server.cfg
        if self.path == "/__health":
            return self._send(200, '{"status":"ok"}', "application/json")
        try:
            form = self._read_body() if self.command == "POST" else b""
        except ValueError:
            return self._send(413, '{"error":"body too large"}',
                              "application/json")
        subjects = self._header_values(cfg.subject_header)
        assertions = self._header_values(cfg.assertion_header)
        record = {"department": cfg.name, "method": self.command,
                  "path": self.path,
                  "identity_headers": self._identity_headers()}
        try:
            if len(subjects) != 1 or len(assertions) != 1:
                raise Rejected("expected one %s and one %s header, got %d "
                               "and %d" % (cfg.subject_header,
                                           cfg.assertion_header,
                                           len(subjects), len(assertions)))
            header, claims = verify_assertion(
                assertions[0], self.server.keyset, cfg.issuer, cfg.audience,
                subject=subjects[0], leeway=cfg.leeway)
        except Rejected as e:
            record["error"] = str(e)
            return self._reply(401, record)
        record.update(subject=subjects[0], header=header, claims=claims,
                      verified=True)
        if cfg.high_value and self.path.startswith(cfg.high_value):
            record["high_value"] = True
            if "fr" not in claims["amr"]:
                record["error"] = ("this action needs a face recognition "
                                   "(amr has no \"fr\")")
                return self._reply(403, record)
            record["action_done"] = self.command == "POST"
            record["form"] = form.decode("utf-8", "replace")
        return self._reply(200, record)

    def _reply(self, status, record):
        if self._wants_json():
            return self._send(status, json.dumps(record, indent=1),
                              "application/json")
        return self._send(status, self._page(status, record),
                          "text/html; charset=utf-8")

    def _page(self, status, rec):
        cfg = self.server.cfg
        out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>%s</title><style>%s</style></head><body>"
               % (_e(cfg.title), _STYLE),
               "<p><a href=\"%s\">&larr; Portal</a></p>" % _e(cfg.portal),
               "<h1>%s</h1><p>%s</p>" % (_e(cfg.title), _e(cfg.service))]
        if status == 401:
            out.append("<p class=\"bad\">The gateway's assertion was not "
                       "accepted: %s</p>" % _e(rec["error"]))
        elif status == 403:
            out.append("<p class=\"bad\">%s</p>" % _e(rec["error"]))
        else:
            out.append("<p class=\"ok\">Signed in with iAM Smart. The "
                       "assertion's signature was verified with the "
                       "gateway's published keys (kid <code>%s</code>, %s)."
                       "</p>" % (_e(rec["header"].get("kid")),
                                 _e(rec["header"]["alg"])))
            if rec.get("action_done"):
                out.append("<p class=\"ok\"><strong>High-value action "
                           "done.</strong> It was accepted because a recent "
                           "face recognition is recorded.</p>")
            elif rec.get("high_value"):
                out.append("<form method=\"post\" action=\"%s\"><p>This is "
                           "a high-value action. You verified your face "
                           "just now.</p><input type=\"hidden\" name=\"confirm\""
                           " value=\"yes\"><button type=\"submit\">Confirm"
                           "</button></form>"
                           % _e(urllib.parse.urlsplit(rec["path"]).path))
            elif cfg.high_value:
                out.append("<p><a class=\"button\" href=\"%saction\">"
                           "High-value action (needs face recognition)</a>"
                           "</p>" % _e(cfg.high_value))
            out.append("<h2>What %s received</h2><table>" % _e(cfg.name))
            out.append("<tr><th>pairwise subject</th><td><code>%s</code>"
                       "</td></tr>" % _e(rec["subject"]))
            for k, v in rec["claims"].items():
                if k in ("iat", "exp", "auth_time"):
                    v = "%s (%s UTC)" % (v, time.strftime(
                        "%Y-%m-%d %H:%M:%S", time.gmtime(v)))
                elif not isinstance(v, str):
                    v = json.dumps(v)
                out.append("<tr><th>%s</th><td><code>%s</code></td></tr>"
                           % (_e(k), _e(v)))
            out.append("</table>")
        out.append("</body></html>\n")
        return "".join(out)

    do_GET = do_POST = do_HEAD = _serve

    def log_message(self, fmt, *args):
        if not self.server.cfg.quiet:
            sys.stderr.write("%s: %s\n" % (self.server.cfg.name, fmt % args))


class DepartmentServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cfg):
        self.cfg = cfg
        self.keyset = KeySet(cfg.jwks_url, cfg.max_cache, cfg.min_refetch)
        super().__init__((cfg.host, cfg.port), Handler)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True, help="department NAME")
    ap.add_argument("--title", help="shown on the page (default NAME)")
    ap.add_argument("--service", default="A demo online service",
                    help="one line under the title")
    ap.add_argument("--audience", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--jwks-url", required=True)
    ap.add_argument("--subject-header", default="X-Iamsmart-Subject")
    ap.add_argument("--assertion-header", default="X-Iamsmart-Assertion")
    ap.add_argument("--high-value", metavar="PREFIX")
    ap.add_argument("--portal", default="/")
    ap.add_argument("--leeway", type=int, default=5)
    ap.add_argument("--max-cache", type=int, default=300)
    ap.add_argument("--min-refetch", type=float, default=10)
    ap.add_argument("--quiet", action="store_true")
    cfg = ap.parse_args(argv)
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the demo department listens on loopback only")
    cfg.title = cfg.title or cfg.name
    return cfg


def main(argv=None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    server = DepartmentServer(cfg)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("%s listening on http://%s:%d" % (cfg.name, cfg.host,
                                            server.server_address[1]),
          flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
