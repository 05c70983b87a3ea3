"""What the simulated iAM Smart platform does, independent of HTTP.

Handlers call in here with parsed input and get content dicts back, or a
ProtocolError carrying the return code.  Nothing in this module looks at
test-only switches except through the Store's admin overrides, which the
real protocol cannot reach.

Automatic versus manual decisions: a client is in automatic mode when an
auto-approve persona is configured for it (command line, config file or
admin API).  Then getQR approves as that persona at once, and e-ME,
profile and step-up tickets are decided callback_delay seconds after they
are initiated, according to the behaviour of the persona that owns the
access token.  Otherwise a browser decides on the approval pages, and a
ticket nobody decides times out after ticket_ttl seconds.

Anonymous e-ME form filling (no login; the sandbox's reading of the
non-public spec): anonymous_initiate gives a ticketID, getQR with that
ticketID claims it once and ends in a code like a login, getToken binds
the access token to the ticket (no openID), and anonymous_result hands
the approving persona's fields over once.
"""

import json
import re
import secrets
import threading
import urllib.parse
import uuid

from . import codes, protocol
from .codes import ProtocolError
from .personas import EME_FIELDS, PROFILE_FIELDS
from .personas import open_id as pairwise_open_id

SOURCES = ("PC_Browser", "Android_Chrome", "Android_Firefox", "Android_Edge",
           "Android_Samsung", "Android_Huawei", "Android_Xiaomi",
           "Android_IMS_InAppBrowser", "iOS_Safari", "iOS_Chrome",
           "iOS_Firefox", "iOS_Edge", "iOS_IMS_InAppBrowser", "App_Link",
           "App_Package", "App_Scheme")
LANGS = ("en-US", "zh-HK", "zh-CN")
STATE_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
BUSINESS_ID_RE = re.compile(r"^[\x21-\x7e]{1,36}$")
NONCE_RE = re.compile(r"^[\x21-\x7e]{1,36}$")

ANON_SCOPE = "eidapi_formFilling"

TICKET_KINDS = {
    # kind: (fields key, allowed fields, scope, unknown-field code,
    #        persona behaviour, {outcome: callback code})
    "eme": ("eMEFields", EME_FIELDS, "eidapi_formFilling",
            codes.EME_UNKNOWN_FIELD, "consent",
            {"approve": codes.OK, "reject": codes.EME_DECLINED,
             "timeout": codes.EME_TIMEOUT}),
    "profile": ("profileFields", PROFILE_FIELDS, "eidapi_profiles",
                codes.PROFILE_UNKNOWN_FIELD, "consent",
                {"approve": codes.OK, "reject": codes.PROFILE_DECLINED,
                 "timeout": codes.PROFILE_TIMEOUT}),
    "stepup": (None, (), None, None, "stepup",
               {"pass": codes.OK, "fail": codes.OK,
                "cancel": codes.STEPUP_CANCELLED,
                "timeout": codes.STEPUP_TIMEOUT}),
}

LOGIN_OUTCOMES = {"reject": codes.LOGIN_REJECTED,
                  "cancel": codes.LOGIN_CANCELLED,
                  "timeout": codes.LOGIN_TIMEOUT}


def add_query(url, **params):
    """Appends params to url, keeping any query it already has."""
    parts = urllib.parse.urlsplit(url)
    extra = urllib.parse.urlencode(params)
    query = parts.query + "&" + extra if parts.query else extra
    return urllib.parse.urlunsplit(parts._replace(query=query))


def _string(payload, name, required=True, max_len=None):
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise ProtocolError(codes.MISSING_PARAMETER, name)
        return None
    if not isinstance(value, str):
        raise ProtocolError(codes.BAD_PARAMETER, "%s must be a string" % name)
    if max_len is not None and len(value) > max_len:
        raise ProtocolError(codes.BAD_PARAMETER,
                            "%s longer than %d" % (name, max_len))
    return value


def _field_list(payload, name, allowed, unknown_code, required):
    value = payload.get(name)
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str)
                                              for v in value):
        raise ProtocolError(codes.BAD_PARAMETER,
                            "%s must be a list of strings" % name)
    if required and not value:
        raise ProtocolError(codes.MISSING_PARAMETER, name)
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise ProtocolError(unknown_code, ", ".join(unknown))
    return list(dict.fromkeys(value))


def _form_details(payload):
    """The optional form name, number and description a request shows."""
    return {k: payload[k] for k in ("formName", "formNum", "formDesc")
            if payload.get(k)}


class Ticket:
    """An e-ME, profile or step-up request awaiting the citizen."""

    def __init__(self, kind, client_id, persona_id, payload, fields,
                 now_ms, ttl_ms):
        self.id = uuid.uuid4().hex
        self.kind = kind
        self.client_id = client_id
        self.persona_id = persona_id
        self.business_id = payload["businessID"]
        self.state = payload.get("state")
        self.redirect_uri = payload["redirectURI"]
        self.source = payload["source"]
        self.lang = payload.get("lang") or "zh-HK"
        self.fields = fields
        self.form = _form_details(payload)
        self.created_ms = now_ms
        self.expires_ms = now_ms + ttl_ms
        self.status = "pending"
        self.outcome = None
        self.delivery = None
        self.done = threading.Event()
        self.timer = None

    def summary(self):
        return {"ticketID": self.id, "kind": self.kind,
                "clientID": self.client_id, "persona": self.persona_id,
                "businessID": self.business_id, "state": self.state,
                "redirectURI": self.redirect_uri, "fields": self.fields,
                "status": self.status, "outcome": self.outcome,
                "delivery": self.delivery, "created_ms": self.created_ms}


class AnonymousTicket:
    """An anonymous e-ME request: initiated by the service without a
    login, then carried through getQR (once), the citizen's choice of
    persona, getToken and getResult (once)."""

    def __init__(self, client_id, payload, fields, now_ms, ttl_ms):
        self.id = uuid.uuid4().hex
        self.kind = "anonymous-eme"
        self.client_id = client_id
        self.business_id = payload["businessID"]
        self.source = payload["source"]
        self.lang = payload.get("lang") or "zh-HK"
        self.fields = fields
        self.form = _form_details(payload)
        self.created_ms = now_ms
        self.expires_ms = now_ms + ttl_ms
        self.state = None
        self.status = "initiated"     # -> "authorizing" -> "retrieved"

    def summary(self):
        return {"ticketID": self.id, "kind": self.kind,
                "clientID": self.client_id, "businessID": self.business_id,
                "state": self.state, "fields": self.fields,
                "status": self.status, "created_ms": self.created_ms,
                "expires_ms": self.expires_ms}


class Platform:
    def __init__(self, settings, store, sender):
        self.settings = settings
        self.store = store
        self.sender = sender

    # ---- helpers ----

    def client(self, client_id):
        return self.settings.clients.get(client_id)

    def persona(self, persona_id):
        return self.settings.personas.get(persona_id)

    def auto_persona(self, client):
        overridden, pid = self.store.auto_approve_override(client.client_id)
        if overridden:
            return pid
        return client.auto_approve or self.settings.auto_approve

    def behaviour(self, persona_id, kind):
        return (self.store.behaviour_override(persona_id, kind)
                or self.persona(persona_id).behaviour[kind])

    def _timer(self, delay, fn, *args):
        t = threading.Timer(delay, fn, args)
        t.daemon = True
        t.start()
        return t

    # ---- request authentication and envelopes ----

    def authenticate(self, header, body, now_ms):
        """The client that signed this request; `header(name)` returns a
        header value or None."""
        cid = header("clientID")
        if not cid:
            raise ProtocolError(codes.MISSING_PARAMETER, "header clientID")
        client = self.client(cid)
        if client is None:
            raise ProtocolError(codes.UNKNOWN_CLIENT, cid[:64])
        method = header("signatureMethod")
        if not method:
            raise ProtocolError(codes.MISSING_PARAMETER,
                                "header signatureMethod")
        if method != protocol.SIGNATURE_METHOD:
            raise ProtocolError(codes.BAD_SIGNATURE_METHOD, method[:32])
        for name in ("timestamp", "nonce", "signature"):
            if not header(name):
                raise ProtocolError(codes.MISSING_PARAMETER, "header " + name)
        ts, nonce = header("timestamp"), header("nonce")
        if not ts.isdigit() or len(ts) > 15:
            raise ProtocolError(codes.BAD_PARAMETER,
                                "timestamp must be epoch milliseconds")
        if not NONCE_RE.match(nonce):
            raise ProtocolError(codes.BAD_PARAMETER,
                                "nonce must be 1-36 printable characters")
        if not protocol.signature_matches(client.secret, cid, method, ts,
                                          nonce, body, header("signature")):
            raise ProtocolError(codes.BAD_SIGNATURE)
        if abs(now_ms - int(ts)) > self.settings.max_skew * 1000:
            raise ProtocolError(codes.DUPLICATE_REQUEST,
                                "timestamp outside the accepted window")
        if not self.store.remember_nonce(cid, nonce, now_ms):
            raise ProtocolError(codes.DUPLICATE_REQUEST, "nonce already used")
        return client

    def open_request(self, client, body, now_ms):
        """(payload dict, CEK) of an encrypted request body."""
        if self.store.take_cek_fault(client.client_id):
            raise ProtocolError(codes.CEK_INVALID, "injected fault")
        try:
            doc = json.loads(body)
        except ValueError:
            raise ProtocolError(codes.BAD_PARAMETER, "body is not JSON")
        if not isinstance(doc, dict) or "content" not in doc:
            raise ProtocolError(codes.MISSING_PARAMETER, "content")
        try:
            parsed = protocol.parse_envelope(doc["content"])
        except protocol.EnvelopeError as e:
            raise ProtocolError(codes.DECRYPTION_ERROR, str(e))
        live = self.store.live_ceks(client.client_id, now_ms)
        for cek in live:
            try:
                plaintext = protocol.open_sealed(cek.key, parsed)
                break
            except protocol.EnvelopeError:
                continue
        else:
            for cek in self.store.retired_ceks(client.client_id):
                try:
                    protocol.open_sealed(cek.key, parsed)
                except protocol.EnvelopeError:
                    continue
                raise ProtocolError(codes.CEK_INVALID,
                                    "CEK revoked or expired")
            if not live:
                raise ProtocolError(codes.CEK_INVALID,
                                    "no live CEK, call getKey")
            raise ProtocolError(codes.DECRYPTION_ERROR,
                                "no live CEK opens the envelope")
        try:
            payload = json.loads(plaintext)
        except ValueError:
            raise ProtocolError(codes.BAD_PARAMETER, "plaintext is not JSON")
        if not isinstance(payload, dict):
            raise ProtocolError(codes.BAD_PARAMETER,
                                "plaintext is not a JSON object")
        return payload, cek.key

    @staticmethod
    def seal_content(cek, content):
        return protocol.seal(cek, json.dumps(
            content, ensure_ascii=False,
            separators=(",", ":")).encode("utf-8"))

    # ---- security ----

    def get_key(self, client, now_ms):
        cek = self.store.issue_cek(client.client_id, now_ms)
        return {"secretKey": protocol.wrap_cek(client.kek, cek.key),
                "pubKey": protocol.b64(client.kek_spki),
                "issueAt": cek.issued_ms,
                "expiresIn": cek.expires_ms - cek.issued_ms}

    def revoke_key(self, client, now_ms):
        self.store.revoke_ceks(client.client_id)
        return {}

    # ---- login ----

    def authorize(self, query, now_ms):
        """Validates a getQR query.  Returns ("redirect", url) or
        ("page", login record).  Errors raise ProtocolError: the request
        cannot be trusted enough to redirect back."""
        q = {}
        for name, values in query.items():
            if len(values) != 1:
                raise ProtocolError(codes.BAD_PARAMETER, "repeated " + name)
            q[name] = values[0]
        cid = _string(q, "clientID", max_len=64)
        client = self.client(cid)
        if client is None:
            raise ProtocolError(codes.UNKNOWN_CLIENT, cid)
        redirect = _string(q, "redirectURI", max_len=2048)
        if redirect not in client.redirect_uris:
            raise ProtocolError(codes.UNREGISTERED_REDIRECT, redirect)
        if _string(q, "responseType") != "code":
            raise ProtocolError(codes.BAD_PARAMETER, "responseType")
        source = _string(q, "source")
        if source not in SOURCES:
            raise ProtocolError(codes.BAD_PARAMETER, "source")
        state = _string(q, "state")
        if not STATE_RE.match(state):
            raise ProtocolError(codes.BAD_PARAMETER,
                                "state must be 1-36 of [A-Za-z0-9_-]")
        lang = _string(q, "lang", required=False) or "zh-HK"
        if lang not in LANGS:
            raise ProtocolError(codes.BAD_PARAMETER, "lang")
        broker = _string(q, "brokerPage", required=False) or "false"
        if broker not in ("true", "false"):
            raise ProtocolError(codes.BAD_PARAMETER, "brokerPage")
        ticket_id = _string(q, "ticketID", required="ticketID" in q,
                            max_len=64)
        scopes = _string(q, "scope", max_len=256).split()
        if not scopes:
            raise ProtocolError(codes.MISSING_PARAMETER, "scope")
        refused = [s for s in scopes if s not in client.scopes]
        if refused:
            raise ProtocolError(codes.INSUFFICIENT_SCOPE, " ".join(refused))
        if ticket_id is not None and ANON_SCOPE not in scopes:
            raise ProtocolError(codes.INSUFFICIENT_SCOPE,
                                "an anonymous e-ME ticket needs scope "
                                + ANON_SCOPE)
        login = {"id": secrets.token_urlsafe(18), "client_id": cid,
                 "redirect_uri": redirect, "state": state,
                 "scope": list(dict.fromkeys(scopes)), "lang": lang,
                 "source": source, "broker_page": broker == "true",
                 "expires_ms": now_ms + int(self.settings.ticket_ttl * 1000)}
        if ticket_id is not None:
            # last check, so that a bad query does not burn the ticket
            ticket = self._claim_anonymous(client, ticket_id, state, now_ms)
            login.update(ticket_id=ticket.id, business_id=ticket.business_id,
                         fields=ticket.fields, form=ticket.form)
        persona = self.auto_persona(client)
        if persona:
            outcome = self.behaviour(persona, "login")
            return "redirect", self.login_result(login, outcome, persona,
                                                 now_ms)
        self.store.put_login(login["id"], login)
        return "page", login

    def login_result(self, login, outcome, persona_id, now_ms):
        """The redirect back to the service for a decided login."""
        if outcome != "approve":
            return add_query(login["redirect_uri"],
                             error_code=LOGIN_OUTCOMES[outcome],
                             state=login["state"])
        code = secrets.token_urlsafe(24)
        self.store.put_code(code, {
            "client_id": login["client_id"], "persona_id": persona_id,
            "scope": login["scope"], "ticket_id": login.get("ticket_id"),
            "expires_ms": now_ms + int(self.settings.code_ttl * 1000)})
        return add_query(login["redirect_uri"], code=code,
                         state=login["state"])

    def decide_login(self, login_id, decision, now_ms):
        """Browser decision "approve:<persona>", "reject", "cancel" or
        "timeout".  None when the login is unknown."""
        login = self.store.pop_login(login_id)
        if login is None:
            return None
        if login["expires_ms"] <= now_ms:
            return self.login_result(login, "timeout", None, now_ms)
        action, _, persona = decision.partition(":")
        if action == "approve" and self.persona(persona):
            return self.login_result(login, "approve", persona, now_ms)
        if action in LOGIN_OUTCOMES:
            return self.login_result(login, action, None, now_ms)
        self.store.put_login(login_id, login)
        raise ProtocolError(codes.BAD_PARAMETER, "decision")

    def get_token(self, client, payload, now_ms):
        code = _string(payload, "code", max_len=256)
        if payload.get("grantType") != "authorization_code":
            raise ProtocolError(codes.BAD_PARAMETER,
                                "grantType must be authorization_code")
        record = self.store.take_code(code, now_ms)
        if record is None or record["client_id"] != client.client_id:
            raise ProtocolError(codes.AUTH_CODE_INVALID)
        persona = self.persona(record["persona_id"])
        token = secrets.token_urlsafe(32)
        ttl = int(self.settings.token_ttl * 1000)
        ticket_id = record.get("ticket_id")
        self.store.put_token(token, {
            "client_id": client.client_id, "persona_id": persona.id,
            "scope": record["scope"], "issued_ms": now_ms,
            "expires_ms": now_ms + ttl, "ticket_id": ticket_id})
        if ticket_id:
            # anonymous: no openID, lastModifiedDate or userType, nothing
            # that would identify the citizen beyond the form data
            return {"accessToken": token, "tokenType": "Bearer",
                    "issueAt": now_ms, "expiresIn": ttl,
                    "scope": " ".join(record["scope"]),
                    "ticketID": ticket_id}
        return {"accessToken": token, "tokenType": "Bearer",
                "issueAt": now_ms, "expiresIn": ttl,
                "openID": self.open_id(client, persona.id),
                "lastModifiedDate": persona.last_modified,
                "userType": persona.user_type,
                "scope": " ".join(record["scope"])}

    @staticmethod
    def open_id(client, persona_id):
        return pairwise_open_id(client.openid_salt, persona_id)

    # ---- profile data ----

    def _token_record(self, client, payload, now_ms):
        token = payload.get("accessToken")
        record = (self.store.get_token(token, now_ms)
                  if isinstance(token, str) and token else None)
        if (record is None or record["client_id"] != client.client_id
                or record.get("ticket_id")):
            # an anonymous token is good for getResult only
            raise ProtocolError(codes.TOKEN_INVALID)
        presented = _string(payload, "openID", max_len=128)
        if presented != self.open_id(client, record["persona_id"]):
            raise ProtocolError(codes.BAD_PARAMETER,
                                "openID does not match the access token")
        return record

    @staticmethod
    def _need_scope(record, scope):
        if scope not in record["scope"]:
            raise ProtocolError(codes.INSUFFICIENT_SCOPE, scope)

    def profiles(self, client, payload, now_ms):
        record = self._token_record(client, payload, now_ms)
        if not client.direct_profile:
            raise ProtocolError(codes.INSUFFICIENT_SCOPE,
                                "direct profile access is for government "
                                "services only")
        pfields = _field_list(payload, "profileFields", PROFILE_FIELDS,
                              codes.PROFILE_UNKNOWN_FIELD, False)
        efields = _field_list(payload, "eMEFields", EME_FIELDS,
                              codes.EME_UNKNOWN_FIELD, False)
        if not pfields and not efields:
            raise ProtocolError(codes.MISSING_PARAMETER,
                                "profileFields or eMEFields")
        if pfields:
            self._need_scope(record, "eidapi_profiles")
        if efields:
            self._need_scope(record, "eidapi_formFilling")
        persona = self.persona(record["persona_id"])
        return persona.fields(list(dict.fromkeys(pfields + efields)))

    # ---- tickets: e-ME, profile, step-up ----

    def initiate(self, kind, client, payload, now_ms):
        fields_key, allowed, scope, unknown_code, _, _ = TICKET_KINDS[kind]
        record = self._token_record(client, payload, now_ms)
        business_id = _string(payload, "businessID")
        if not BUSINESS_ID_RE.match(business_id):
            raise ProtocolError(codes.BAD_PARAMETER,
                                "businessID must be 1-36 printable ASCII")
        if _string(payload, "source") not in SOURCES:
            raise ProtocolError(codes.BAD_PARAMETER, "source")
        redirect = _string(payload, "redirectURI", max_len=2048)
        if redirect not in client.redirect_uris:
            raise ProtocolError(codes.UNREGISTERED_REDIRECT, redirect)
        if not STATE_RE.match(_string(payload, "state")):
            raise ProtocolError(codes.BAD_PARAMETER,
                                "state must be 1-36 of [A-Za-z0-9_-]")
        lang = _string(payload, "lang", required=False)
        if lang is not None and lang not in LANGS:
            raise ProtocolError(codes.BAD_PARAMETER, "lang")
        fields = []
        if fields_key:
            fields = _field_list(payload, fields_key, allowed, unknown_code,
                                 True)
        if kind == "eme":
            _string(payload, "formName", required=False, max_len=255)
            _string(payload, "formNum", required=False, max_len=20)
            _string(payload, "formDesc", required=False, max_len=255)
        if scope:
            self._need_scope(record, scope)
        if not self.store.claim_business_id(client.client_id, business_id):
            raise ProtocolError(codes.DUPLICATE_BUSINESS_ID, business_id)
        ticket = Ticket(kind, client.client_id, record["persona_id"], payload,
                        fields, now_ms, int(self.settings.ticket_ttl * 1000))
        self.store.put_ticket(ticket)
        if self.auto_persona(client):
            self._decide(ticket, self._auto_outcome(ticket),
                         self.settings.callback_delay)
        else:
            ticket.timer = self._timer(self.settings.ticket_ttl,
                                       self._decide, ticket, "timeout", 0)
        return {"authByQR": ticket.source == "PC_Browser",
                "ticketID": ticket.id}

    def _auto_outcome(self, ticket):
        return self.behaviour(ticket.persona_id, TICKET_KINDS[ticket.kind][4])

    def outcomes(self, ticket):
        return tuple(TICKET_KINDS[ticket.kind][5])

    def _decide(self, ticket, outcome, delay):
        """Settles a pending ticket once; the callback follows after
        `delay` seconds on its own thread."""
        with self.store.lock:
            if ticket.status != "pending":
                return False
            ticket.status = "decided"
            ticket.outcome = outcome
            ticket.delivery = "scheduled"
        if ticket.timer is not None:
            ticket.timer.cancel()
        self._timer(delay, self._deliver, ticket)
        return True

    def _deliver(self, ticket):
        try:
            code = TICKET_KINDS[ticket.kind][5][ticket.outcome]
            if (ticket.outcome == "timeout"
                    and not self.settings.timeout_callback):
                ticket.delivery = "skipped"
                return
            content = {"businessID": ticket.business_id,
                       "state": ticket.state}
            if ticket.kind == "stepup" and code == codes.OK:
                content["isPassed"] = ticket.outcome == "pass"
            elif code == codes.OK:
                content.update(
                    self.persona(ticket.persona_id).fields(ticket.fields))
            ticket.delivery = self.sender.send(
                self.client(ticket.client_id), ticket.redirect_uri, code,
                content, ticket.id)
        except Exception as e:
            # a bug here must not leave browsers waiting on done forever
            ticket.delivery = "failed"
            self.store.log({"kind": "callback", "ticketID": ticket.id,
                            "time_ms": protocol.now_ms(),
                            "error": "%s: %s" % (e.__class__.__name__, e)})
        finally:
            ticket.done.set()

    def ticket_view(self, ticket_id):
        """For GET on the approval URL: ("missing", None), ("page",
        ticket) or ("redirect", url) once any callback was attempted."""
        ticket = self.store.get_ticket(ticket_id)
        if ticket is None:
            return "missing", None
        client = self.client(ticket.client_id)
        if ticket.status == "pending":
            if not self.auto_persona(client):
                return "page", ticket
            self._decide(ticket, self._auto_outcome(ticket), 0)
        return "redirect", self._return_url(ticket)

    def ticket_decide(self, ticket_id, outcome):
        ticket = self.store.get_ticket(ticket_id)
        if ticket is None:
            return None
        if outcome not in self.outcomes(ticket):
            raise ProtocolError(codes.BAD_PARAMETER, "decision")
        self._decide(ticket, outcome, 0)
        return self._return_url(ticket)

    def _return_url(self, ticket):
        ticket.done.wait(self.settings.callback_delay
                         + self.sender.worst_case_seconds())
        return add_query(ticket.redirect_uri, state=ticket.state,
                         businessID=ticket.business_id)


    # ---- anonymous e-ME form filling ----

    def anonymous_initiate(self, client, payload, now_ms):
        """POST /api/v1/anonymous/eme/initiateRequest: like the logged-in
        e-ME request without openID/accessToken, redirectURI and state
        (those come with getQR).  Answers {ticketID}."""
        business_id = _string(payload, "businessID")
        if not BUSINESS_ID_RE.match(business_id):
            raise ProtocolError(codes.BAD_PARAMETER,
                                "businessID must be 1-36 printable ASCII")
        if _string(payload, "source") not in SOURCES:
            raise ProtocolError(codes.BAD_PARAMETER, "source")
        lang = _string(payload, "lang", required=False)
        if lang is not None and lang not in LANGS:
            raise ProtocolError(codes.BAD_PARAMETER, "lang")
        fields = _field_list(payload, "eMEFields", EME_FIELDS,
                             codes.EME_UNKNOWN_FIELD, True)
        _string(payload, "formName", required=False, max_len=255)
        _string(payload, "formNum", required=False, max_len=20)
        _string(payload, "formDesc", required=False, max_len=255)
        if ANON_SCOPE not in client.scopes:
            raise ProtocolError(codes.INSUFFICIENT_SCOPE, ANON_SCOPE)
        if not self.store.claim_business_id(client.client_id, business_id):
            raise ProtocolError(codes.DUPLICATE_BUSINESS_ID, business_id)
        ticket = AnonymousTicket(client.client_id, payload, fields, now_ms,
                                 int(self.settings.ticket_ttl * 1000))
        self.store.put_anonymous(ticket)
        return {"ticketID": ticket.id}

    def _claim_anonymous(self, client, ticket_id, state, now_ms):
        """getQR with ticketID: the ticket must be this client's, unused
        and unexpired; it is used from then on, whatever the citizen
        decides."""
        with self.store.lock:
            ticket = self.store.get_anonymous(ticket_id)
            if ticket is None or ticket.client_id != client.client_id:
                raise ProtocolError(codes.BAD_PARAMETER,
                                    "ticketID unknown")
            if ticket.status != "initiated":
                raise ProtocolError(codes.BAD_PARAMETER,
                                    "ticketID already used")
            if ticket.expires_ms <= now_ms:
                raise ProtocolError(codes.EME_TIMEOUT, "ticketID expired")
            ticket.status = "authorizing"
            ticket.state = state
        return ticket

    def anonymous_result(self, client, payload, now_ms):
        """POST /api/v1/anonymous/eme/getResult with {accessToken,
        ticketID} or {accessToken, businessID}: the approved persona's
        e-ME fields, shaped like the logged-in e-ME callback content.
        The access token is spent by a successful call."""
        token = payload.get("accessToken")
        ticket_id = _string(payload, "ticketID", required=False, max_len=64)
        business_id = _string(payload, "businessID", required=False,
                              max_len=36)
        if ticket_id is None and business_id is None:
            raise ProtocolError(codes.MISSING_PARAMETER,
                                "ticketID or businessID")
        with self.store.lock:
            record = (self.store.get_token(token, now_ms)
                      if isinstance(token, str) and token else None)
            if (record is None or record["client_id"] != client.client_id
                    or not record.get("ticket_id")):
                raise ProtocolError(codes.TOKEN_INVALID)
            ticket = self.store.get_anonymous(record["ticket_id"])
            if ticket is None:
                raise ProtocolError(codes.TOKEN_INVALID,
                                    "the ticket of this token is gone")
            if ticket_id is not None and ticket_id != ticket.id:
                raise ProtocolError(codes.BAD_PARAMETER,
                                    "ticketID does not match the access "
                                    "token")
            if business_id is not None and business_id != ticket.business_id:
                raise ProtocolError(codes.BAD_PARAMETER,
                                    "businessID does not match the access "
                                    "token")
            if ticket.expires_ms <= now_ms:
                raise ProtocolError(codes.EME_TIMEOUT, "ticketID expired")
            self.store.drop_token(token)
            ticket.status = "retrieved"
        content = {"businessID": ticket.business_id, "state": ticket.state}
        content.update(self.persona(record["persona_id"]).fields(
            ticket.fields))
        return content
