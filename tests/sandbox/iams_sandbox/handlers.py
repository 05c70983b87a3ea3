"""HTTP front of the sandbox: body framing, routing, signature and
envelope handling around Platform calls, the browser pages and the
loopback-only admin API.

Protocol answers are HTTP 200 with {"txID", "code", "message",
"content"}; content is an envelope for encrypted endpoints, a plain
object for getKey and null on errors.  Only injected faults, framing
errors and unknown paths use other HTTP statuses.
"""

import ipaddress
import json
import sys
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler

from . import codes, pages, protocol
from .codes import ProtocolError
from .config import TUNABLES
from .personas import BEHAVIOURS

MAX_BODY = 1 << 20

GET_QR = "/api/v1/auth/getQR"
STEPUP_APPROVE = "/api/v1/account/stepup/approve"

# path -> (encrypted?, Platform method name, extra leading arguments)
SIGNED_ROUTES = {
    "/api/v1/security/getKey": (False, "get_key", ()),
    "/api/v1/security/revokeKey": (False, "revoke_key", ()),
    "/api/v1/auth/getToken": (True, "get_token", ()),
    "/api/v1/profiles": (True, "profiles", ()),
    "/api/v1/account/eme/initiateRequest": (True, "initiate", ("eme",)),
    "/api/v1/account/auth/profile/initiateRequest":
        (True, "initiate", ("profile",)),
    "/api/v1/account/stepup/initiateRequest": (True, "initiate", ("stepup",)),
    "/api/v1/anonymous/eme/initiateRequest":
        (True, "anonymous_initiate", ()),
    "/api/v1/anonymous/eme/getResult": (True, "anonymous_result", ()),
}

LOGGED_HEADERS = ("clientID", "signatureMethod", "timestamp", "nonce",
                  "signature")


class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iAMSmartSandbox/1.0"
    sys_version = ""

    @property
    def platform(self):
        return self.server.platform

    @property
    def store(self):
        return self.server.platform.store

    def log_message(self, fmt, *args):
        sys.stderr.write("sandbox: %s %s\n" % (self.address_string(),
                                               fmt % args))

    def do_GET(self):
        self._handle(self.command)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # ---- framing ----

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            raise BadRequest("bad Content-Length")
        if int(length) > MAX_BODY:
            raise BadRequest("body larger than %d bytes" % MAX_BODY)
        return self.rfile.read(int(length))

    def _read_chunked(self):
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(64).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise BadRequest("bad chunk size")
            total += size
            if total > MAX_BODY:
                raise BadRequest("body larger than %d bytes" % MAX_BODY)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _send(self, status, body, ctype, headers=()):
        if self._entry is not None:
            self._entry["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, doc):
        self._send(status, json.dumps(doc, ensure_ascii=False,
                                      separators=(",", ":")).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _html(self, status, text):
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8")

    def _redirect(self, url):
        if self._entry is not None:
            self._entry["location"] = url
        self._send(302, b"", "text/plain", (("Location", url),))

    def _coded(self, code, content=None, text=None):
        if self._entry is not None:
            self._entry["code"] = code
        self._json(200, {"txID": uuid.uuid4().hex, "code": code,
                         "message": text or codes.message(code),
                         "content": content})

    # ---- dispatch ----

    def _handle(self, method):
        self._entry = None
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        try:
            body = self._read_body() if method != "GET" else b""
        except BadRequest as e:
            self.close_connection = True
            self._json(413 if "larger" in str(e) else 400, {"error": str(e)})
            return
        try:
            if path.startswith("/sandbox/admin/"):
                self._admin(method, path, url.query, body)
                return
            self._entry = self.store.log(self._log_entry(method, path, body))
            if path.startswith("/api/"):
                self._api(method, path, url.query, body)
            else:
                self._site(method, path, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _log_entry(self, method, path, body):
        entry = {"kind": "request", "time_ms": protocol.now_ms(),
                 "method": method, "path": path,
                 "remote": self.client_address[0], "body_len": len(body)}
        for name in LOGGED_HEADERS:
            value = self.headers.get(name)
            if value is not None:
                entry[name] = value[:128]
        return entry

    def _api(self, method, path, query, body):
        delay = self.store.latency_for(path)
        if delay:
            time.sleep(delay)
        forced = self.store.take_forced_failure(path)
        if forced:
            self._entry["injected"] = True
            self._html(forced, "<html><body><h1>%d</h1><p>injected "
                       "failure</p></body></html>" % forced)
            return
        if path == GET_QR and method == "GET":
            self._get_qr(query)
        elif path == STEPUP_APPROVE and method == "GET":
            ticket_id = urllib.parse.parse_qs(query).get("ticketID", [""])[0]
            self._ticket_get(ticket_id)
        elif path == STEPUP_APPROVE and method == "POST":
            form = self._form(body)
            self._ticket_post(form.get("ticketID", ""),
                              form.get("decision", ""))
        elif path in SIGNED_ROUTES and method == "POST":
            self._signed(path, body)
        elif path in SIGNED_ROUTES or path in (GET_QR, STEPUP_APPROVE):
            self._send(405, b"", "text/plain",
                       (("Allow", "GET" if path == GET_QR else "POST"),))
        else:
            self._json(404, {"error": "unknown endpoint"})

    def _signed(self, path, body):
        now = protocol.now_ms()
        encrypted, name, lead = SIGNED_ROUTES[path]
        fn = getattr(self.platform, name)
        try:
            client = self.platform.authenticate(self.headers.get, body, now)
            self._entry["client_id"] = client.client_id
            if encrypted:
                payload, cek = self.platform.open_request(client, body, now)
                content = self.platform.seal_content(
                    cek, fn(*lead, client, payload, now))
            else:
                content = fn(*lead, client, now) or None
        except ProtocolError as e:
            self._coded(e.code, None, e.text)
            return
        self._coded(codes.OK, content)

    def _get_qr(self, query):
        now = protocol.now_ms()
        qs = urllib.parse.parse_qs(query, keep_blank_values=True)
        self._entry["query"] = {k: v[0][:256] for k, v in qs.items()}
        try:
            kind, result = self.platform.authorize(qs, now)
        except ProtocolError as e:
            self._entry["code"] = e.code
            if "application/json" in self.headers.get("Accept", ""):
                self._json(400, {"code": e.code, "message": e.text})
            else:
                self._html(400, pages.error_page(e.code, e.text))
            return
        if kind == "redirect":
            self._redirect(result)
        else:
            self._html(200, pages.login_page(
                result, self.platform.settings.personas))

    # ---- browser pages ----

    @staticmethod
    def _form(body):
        qs = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return {k: v[0] for k, v in qs.items()}

    def _site(self, method, path, body):
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/":
            self._html(200, pages.index_page(self.platform.settings))
        elif method == "GET" and path == "/sandbox/health":
            self._json(200, {"status": "ok"})
        elif method == "POST" and len(parts) == 3 and parts[:2] == [
                "sandbox", "login"]:
            self._login_post(parts[2], self._form(body).get("decision", ""))
        elif len(parts) == 2 and parts[0] == "approve" and method == "GET":
            self._ticket_get(parts[1])
        elif len(parts) == 2 and parts[0] == "approve" and method == "POST":
            self._ticket_post(parts[1], self._form(body).get("decision", ""))
        else:
            self._html(404, pages.not_found_page("No such page: " + path))

    def _login_post(self, login_id, decision):
        try:
            url = self.platform.decide_login(login_id, decision,
                                             protocol.now_ms())
        except ProtocolError as e:
            self._html(400, pages.error_page(e.code, e.text))
            return
        if url is None:
            self._html(404, pages.not_found_page(
                "This login request is unknown or already decided."))
        else:
            self._redirect(url)

    def _ticket_get(self, ticket_id):
        kind, result = self.platform.ticket_view(ticket_id)
        if kind == "missing":
            self._html(404, pages.not_found_page("Unknown ticketID."))
        elif kind == "page":
            self._html(200, pages.ticket_page(
                result, self.platform.persona(result.persona_id),
                self.platform.outcomes(result)))
        else:
            self._redirect(result)

    def _ticket_post(self, ticket_id, decision):
        try:
            url = self.platform.ticket_decide(ticket_id, decision)
        except ProtocolError as e:
            self._html(400, pages.error_page(e.code, e.text))
            return
        if url is None:
            self._html(404, pages.not_found_page("Unknown ticketID."))
        else:
            self._redirect(url)

    # ---- admin API (loopback only) ----

    def _admin(self, method, path, query, body):
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            self._json(403, {"error": "admin API is loopback-only"})
            return
        name = path[len("/sandbox/admin/"):]
        try:
            if method == "GET":
                doc = self._admin_get(name, urllib.parse.parse_qs(query))
            elif method == "POST":
                try:
                    args = json.loads(body or b"{}")
                except ValueError:
                    raise BadRequest("body is not JSON")
                if not isinstance(args, dict):
                    raise BadRequest("body is not a JSON object")
                doc = self._admin_post(name, args)
            else:
                raise BadRequest("method not allowed")
        except BadRequest as e:
            self._json(400, {"error": str(e)})
            return
        if doc is None:
            self._json(404, {"error": "unknown admin endpoint"})
        else:
            self._json(200, doc)

    def _admin_get(self, name, q):
        store, settings = self.store, self.platform.settings
        if name == "log":
            limit = int(q.get("limit", ["100"])[0])
            return {"entries": store.recent_log(
                limit, q.get("path", [None])[0], q.get("kind", [None])[0])}
        if name == "state":
            return {"clients": sorted(settings.clients),
                    "personas": [p.summary()
                                 for p in settings.personas.values()],
                    "auto_approve": settings.auto_approve,
                    "settings": {n: getattr(settings, n) for n in TUNABLES},
                    "timeout_callback": settings.timeout_callback,
                    "faults": store.faults.snapshot(),
                    "overrides": store.snapshot_overrides()}
        if name == "tickets":
            limit = int(q.get("limit", ["100"])[0])
            return {"tickets": [t.summary()
                                for t in store.recent_tickets(limit)]}
        if name == "anonymous":
            limit = int(q.get("limit", ["100"])[0])
            return {"tickets": [t.summary()
                                for t in store.recent_anonymous(limit)]}
        if name.startswith("tickets/"):
            ticket = (store.get_ticket(name[len("tickets/"):])
                      or store.get_anonymous(name[len("tickets/"):]))
            if ticket is None:
                raise BadRequest("unknown ticket")
            return ticket.summary()
        return None

    def _admin_post(self, name, a):
        store, settings = self.store, self.platform.settings

        def number(key, default=None, kind=float):
            value = a.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest("%s must be a number" % key)
            if value < 0:
                raise BadRequest("%s must not be negative" % key)
            return kind(value)

        def client_key():
            cid = a.get("client_id")
            if cid is not None and cid not in settings.clients:
                raise BadRequest("unknown client_id")
            return cid

        def endpoint():
            ep = a.get("endpoint") or "*"
            if ep != "*" and not (isinstance(ep, str)
                                  and ep.startswith("/api/")):
                raise BadRequest("endpoint must be an /api/ path or *")
            return ep

        with store.lock:
            if name == "latency":
                ms = number("ms", kind=int)
                ep = endpoint()
                if ms:
                    store.faults.latency_ms[ep] = ms
                else:
                    store.faults.latency_ms.pop(ep, None)
            elif name == "fail":
                status = number("status", 500, int)
                if not 400 <= status <= 599:
                    raise BadRequest("status must be 4xx or 5xx")
                store.faults.fail_next[endpoint()] = [
                    number("count", 1, int), status]
            elif name == "cek-fault":
                store.faults.cek_faults[client_key() or "*"] = number(
                    "count", 1, int)
            elif name == "auto-approve":
                pid = a.get("persona")
                if pid is not None and pid not in settings.personas:
                    raise BadRequest("unknown persona")
                store.set_auto_approve(client_key(), pid)
            elif name == "behaviour":
                pid = a.get("persona")
                if pid not in settings.personas:
                    raise BadRequest("unknown persona")
                for kind, allowed in BEHAVIOURS.items():
                    if kind in a:
                        if a[kind] not in allowed:
                            raise BadRequest("%s must be one of %s"
                                             % (kind, ", ".join(allowed)))
                        store.set_behaviour(pid, kind, a[kind])
            elif name == "settings":
                for key in a:
                    if key == "timeout_callback":
                        settings.timeout_callback = bool(a[key])
                    elif key in TUNABLES:
                        setattr(settings, key,
                                number(key, kind=TUNABLES[key][0]))
                    else:
                        raise BadRequest("unknown setting " + key)
            elif name == "reset":
                store.reset(bool(a.get("state")))
            else:
                return None
        return {"ok": True}
