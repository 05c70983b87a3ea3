"""Delivery of platform callbacks (e-ME, profile and step-up results).

A callback is an HTTP POST to the ticket's registered redirectURI with
the JSON body

    {"txID", "code", "message",
     "content": envelope(JSON {businessID, state, ...}),
     "secretKey": Base64(RSA-PKCS1v1.5(KEK, CEK))}

Every callback carries a freshly issued CEK that also becomes one of the
client's live CEKs, so a gateway must unwrap secretKey rather than use a
cached key.  The POST carries the same signature headers as a request to
the platform (clientID, signatureMethod, timestamp, nonce, signature over
the exact body with the client secret): the real platform may rely on
TLS client certificates instead, and a gateway can check either.

A 2xx answer counts as delivered.  Otherwise the POST is retried with new
timestamp and nonce after 0.5 s, 1 s, 2 s ... up to callback_attempts
times.  Redirects are not followed.
"""

import http.client
import json
import time
import urllib.parse
import uuid

from . import codes, protocol


def _post(url, body, headers, timeout):
    parts = urllib.parse.urlsplit(url)
    conn_cls = (http.client.HTTPSConnection if parts.scheme == "https"
                else http.client.HTTPConnection)
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request("POST", target, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


class CallbackSender:
    def __init__(self, settings, store):
        self.settings = settings
        self.store = store

    def build(self, client, code, content):
        cek = self.store.issue_cek(client.client_id, protocol.now_ms())
        plaintext = json.dumps(content, ensure_ascii=False,
                               separators=(",", ":")).encode("utf-8")
        doc = {"txID": uuid.uuid4().hex, "code": code,
               "message": codes.message(code),
               "content": protocol.seal(cek.key, plaintext),
               "secretKey": protocol.wrap_cek(client.kek, cek.key)}
        return json.dumps(doc, separators=(",", ":")).encode("utf-8")

    def send(self, client, url, code, content, ticket_id):
        """Blocks until delivered or out of attempts; returns
        "delivered" or "failed"."""
        body = self.build(client, code, content)
        attempts = max(1, self.settings.callback_attempts)
        for attempt in range(1, attempts + 1):
            headers = protocol.signed_headers(client.client_id, client.secret,
                                              body)
            entry = {"kind": "callback", "time_ms": protocol.now_ms(),
                     "method": "POST", "url": url, "ticketID": ticket_id,
                     "client_id": client.client_id, "code": code,
                     "attempt": attempt, "nonce": headers["nonce"],
                     "timestamp": headers["timestamp"]}
            try:
                status = _post(url, body, headers,
                               self.settings.callback_timeout)
                entry["status"] = status
            except (OSError, http.client.HTTPException) as e:
                status = None
                entry["error"] = str(e) or e.__class__.__name__
            self.store.log(entry)
            if status is not None and 200 <= status < 300:
                return "delivered"
            if attempt < attempts:
                time.sleep(0.5 * 2 ** (attempt - 1))
        return "failed"

    def worst_case_seconds(self):
        """How long send() can take, for browsers waiting on it."""
        n = max(1, self.settings.callback_attempts)
        backoff = sum(0.5 * 2 ** i for i in range(n - 1))
        return n * (self.settings.callback_timeout + 1) + backoff
