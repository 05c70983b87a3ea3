#!/usr/bin/python3
"""Reference client for the iAM Smart protocol, as the sandbox speaks it.

Used by the sandbox tests and meant for departments as a working example
of the wire formats: request signing, getKey with CEK unwrapping and KEK
check, encrypted envelopes with one retry after a D3000x code, and
opening signed, encrypted callbacks.

    from client import Client
    c = Client("http://127.0.0.1:9000", "demo", secret, kek_private_pem)
    code = c.authorize(redirect_uri, state="s1")["code"]   # auto-approve
    token = c.get_token(code).content
    data = c.profiles(token["accessToken"], token["openID"],
                      profile_fields=["idNo", "enName"]).content

Command line (auto-approve must be on in the sandbox):

    client.py --base URL --client-id ID --client-secret-file F \
        --kek-private-key kek_private.pem login --redirect-uri URI
"""

import argparse
import http.client
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cryptography.hazmat.primitives import serialization  # noqa: E402

from iams_sandbox import protocol  # noqa: E402

CEK_ERRORS = ("D30001", "D30002", "D30003", "D30004")
PATHS = {
    "getKey": "/api/v1/security/getKey",
    "revokeKey": "/api/v1/security/revokeKey",
    "getToken": "/api/v1/auth/getToken",
    "profiles": "/api/v1/profiles",
    "eme": "/api/v1/account/eme/initiateRequest",
    "profile": "/api/v1/account/auth/profile/initiateRequest",
    "stepup": "/api/v1/account/stepup/initiateRequest",
    # anonymous e-ME: the sandbox's reading of the non-public spec
    "anonymousEme": "/api/v1/anonymous/eme/initiateRequest",
    "anonymousResult": "/api/v1/anonymous/eme/getResult",
}


class ClientError(Exception):
    pass


class Response:
    """One platform answer: HTTP status, the JSON document, and content
    (decrypted when it was an envelope)."""

    def __init__(self, status, doc, content=None):
        self.status = status
        self.doc = doc
        self.code = doc.get("code") if isinstance(doc, dict) else None
        self.message = doc.get("message") if isinstance(doc, dict) else None
        self.content = content

    @property
    def ok(self):
        return self.status == 200 and self.code == "D00000"

    def __repr__(self):
        return "Response(%s, %s, %r)" % (self.status, self.code, self.message)


class Client:
    def __init__(self, base_url, client_id, client_secret, kek_private,
                 timeout=10.0):
        parts = urllib.parse.urlsplit(base_url)
        self.scheme, self.netloc = parts.scheme, parts.netloc
        self.host, self.port = parts.hostname, parts.port
        self.client_id = client_id
        self.secret = (client_secret.encode() if isinstance(client_secret, str)
                       else client_secret)
        if isinstance(kek_private, bytes):
            kek_private = serialization.load_pem_private_key(kek_private, None)
        self.kek = kek_private
        self.kek_spki = protocol.spki_der(kek_private.public_key())
        self.timeout = timeout
        self.cek = None
        self.cek_expires_ms = 0

    # ---- transport ----

    def request(self, method, path, body=b"", headers=None):
        """(status, headers dict, body bytes); redirects are returned, not
        followed."""
        cls = (http.client.HTTPSConnection if self.scheme == "https"
               else http.client.HTTPConnection)
        conn = cls(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body if method != "GET" else None,
                         headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def signed_post(self, path, body=b"", timestamp=None, nonce=None,
                    headers=None):
        """POST with the signing headers; `headers` overrides any of them
        (tests use this to send bad signatures)."""
        h = protocol.signed_headers(self.client_id, self.secret, body,
                                    timestamp, nonce)
        h.update(headers or {})
        status, _, raw = self.request("POST", path, body, h)
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = {"raw": raw.decode("utf-8", "replace")}
        return Response(status, doc, doc.get("content")
                        if isinstance(doc, dict) else None)

    # ---- keys ----

    def get_key(self):
        r = self.signed_post(PATHS["getKey"])
        if not r.ok:
            raise ClientError("getKey failed: %r" % r)
        c = r.content
        if protocol.b64decode_strict(c["pubKey"]) != self.kek_spki:
            raise ClientError("getKey: pubKey is not our KEK (rotated?)")
        self.cek = protocol.unwrap_cek(self.kek, c["secretKey"])
        self.cek_expires_ms = int(c["issueAt"]) + int(c["expiresIn"])
        return r

    def revoke_key(self):
        return self.signed_post(PATHS["revokeKey"])

    def _fresh_cek(self):
        # refresh a minute early so a request never races the expiry
        if self.cek is None or protocol.now_ms() > self.cek_expires_ms - 60000:
            self.get_key()
        return self.cek

    # ---- encrypted calls ----

    def seal(self, payload, cek=None):
        plaintext = json.dumps(payload, separators=(",", ":")).encode()
        return json.dumps({"content": protocol.seal(
            cek or self._fresh_cek(), plaintext)}).encode()

    def call(self, path, payload, retry=True):
        """Encrypted request; on a D3000x code, fetch a new CEK and retry
        once, as the platform expects."""
        cek = self._fresh_cek()
        r = self.signed_post(path, self.seal(payload, cek))
        if r.code in CEK_ERRORS and retry:
            self.get_key()
            return self.call(path, payload, retry=False)
        if r.ok and isinstance(r.content, str):
            r.content = json.loads(protocol.unseal(cek, r.content))
        return r

    def get_token(self, code):
        return self.call(PATHS["getToken"],
                         {"code": code, "grantType": "authorization_code"})

    def profiles(self, access_token, open_id, profile_fields=(),
                 eme_fields=()):
        return self.call(PATHS["profiles"], {
            "accessToken": access_token, "openID": open_id,
            "profileFields": list(profile_fields),
            "eMEFields": list(eme_fields)})

    def initiate(self, kind, access_token, open_id, business_id,
                 redirect_uri, state, source="PC_Browser", lang="en-US",
                 **extra):
        """kind is "eme", "profile" or "stepup"; extra carries eMEFields,
        profileFields, formName, formNum, formDesc."""
        payload = {"openID": open_id, "accessToken": access_token,
                   "businessID": business_id, "source": source,
                   "redirectURI": redirect_uri, "state": state, "lang": lang}
        payload.update(extra)
        return self.call(PATHS[kind], payload)

    # ---- anonymous e-ME (no prior login) ----

    def anonymous_initiate(self, business_id, eme_fields, source="PC_Browser",
                           lang="en-US", **extra):
        """Returns a Response whose content holds ticketID; extra carries
        formName, formNum, formDesc."""
        payload = {"businessID": business_id, "eMEFields": list(eme_fields),
                   "source": source, "lang": lang}
        payload.update(extra)
        return self.call(PATHS["anonymousEme"], payload)

    def anonymous_result(self, access_token, ticket_id=None,
                         business_id=None):
        payload = {"accessToken": access_token}
        if ticket_id is not None:
            payload["ticketID"] = ticket_id
        if business_id is not None:
            payload["businessID"] = business_id
        return self.call(PATHS["anonymousResult"], payload)

    def anonymous_eme(self, business_id, eme_fields, redirect_uri,
                      state="sandbox", **extra):
        """The whole anonymous flow with auto-approve on: initiate, getQR
        with the ticket, getToken, getResult.  Returns getResult's
        content."""
        r = self.anonymous_initiate(business_id, eme_fields, **extra)
        if not r.ok:
            raise ClientError("anonymous initiateRequest failed: %r" % r)
        ticket = r.content["ticketID"]
        got = self.authorize(redirect_uri, state, ticket_id=ticket,
                             scope="eidapi_formFilling")
        if "code" not in got:
            raise ClientError("anonymous getQR refused: %s"
                              % got.get("error_code"))
        r = self.get_token(got["code"])
        if not r.ok:
            raise ClientError("getToken failed: %r" % r)
        r = self.anonymous_result(r.content["accessToken"], ticket)
        if not r.ok:
            raise ClientError("anonymous getResult failed: %r" % r)
        return r.content

    # ---- browser side of login ----

    def get_qr_path(self, redirect_uri, state, scope="eidapi_auth",
                    source="PC_Browser", lang="en-US", broker_page=False,
                    ticket_id=None):
        query = {"clientID": self.client_id, "responseType": "code",
                 "source": source, "redirectURI": redirect_uri,
                 "scope": scope, "lang": lang, "state": state,
                 "brokerPage": "true" if broker_page else "false"}
        if ticket_id is not None:
            query["ticketID"] = ticket_id
        return "/api/v1/auth/getQR?" + urllib.parse.urlencode(query)

    def authorize(self, redirect_uri, state, **kw):
        """GET getQR as a browser would, without following the redirect.
        Returns the redirect's query (code/error_code, state) plus
        "_location"; raises ClientError when no redirect came back."""
        status, headers, body = self.request(
            "GET", self.get_qr_path(redirect_uri, state, **kw))
        if status != 302:
            raise ClientError("getQR answered %d: %s" % (
                status, body[:200].decode("utf-8", "replace")))
        location = headers["Location"]
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        result = {k: v[0] for k, v in q.items()}
        result["_location"] = location
        return result

    def login(self, redirect_uri, scope="eidapi_auth", state="sandbox"):
        got = self.authorize(redirect_uri, state, scope=scope)
        if "code" not in got:
            raise ClientError("login refused: %s" % got.get("error_code"))
        r = self.get_token(got["code"])
        if not r.ok:
            raise ClientError("getToken failed: %r" % r)
        return r.content

    # ---- callbacks ----

    def verify_callback(self, headers, body, max_skew_ms=300000):
        """True when the callback's signature headers are ours and fresh.
        `headers` is a case-insensitive mapping (e.g. http.server's)."""
        if headers.get("clientID") != self.client_id or headers.get(
                "signatureMethod") != protocol.SIGNATURE_METHOD:
            return False
        ts = headers.get("timestamp", "")
        if not ts.isdigit() or abs(protocol.now_ms() - int(ts)) > max_skew_ms:
            return False
        return protocol.signature_matches(
            self.secret, self.client_id, protocol.SIGNATURE_METHOD, ts,
            headers.get("nonce", ""), body, headers.get("signature", ""))

    def open_callback(self, body):
        """(document, decrypted content) of a callback body; the CEK that
        comes with it is unwrapped and used, never the cached one."""
        doc = json.loads(body)
        cek = protocol.unwrap_cek(self.kek, doc["secretKey"])
        return doc, json.loads(protocol.unseal(cek, doc["content"]))


def main(argv=None):
    p = argparse.ArgumentParser(description="iAM Smart reference client")
    p.add_argument("--base", required=True, help="sandbox base URL")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret-file", required=True)
    p.add_argument("--kek-private-key", required=True)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("getkey", help="fetch and unwrap a CEK")
    login = sub.add_parser("login", help="getQR (auto-approve) + getToken")
    login.add_argument("--redirect-uri", required=True)
    login.add_argument("--scope", default="eidapi_auth eidapi_profiles "
                                          "eidapi_formFilling")
    args = p.parse_args(argv)
    with open(args.client_secret_file, "rb") as f:
        secret = f.read().strip()
    with open(args.kek_private_key, "rb") as f:
        kek = f.read()
    c = Client(args.base, args.client_id, secret, kek)
    if args.command == "getkey":
        r = c.get_key()
        out = dict(r.content, cekBytes=len(c.cek))
    else:
        out = c.login(args.redirect_uri, scope=args.scope)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
