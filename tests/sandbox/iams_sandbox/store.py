"""All mutable state of the sandbox, behind one lock.

Protocol state: per-client CEKs (live and retired), seen nonces,
authorisation codes, access tokens, claimed businessIDs, pending login
approvals, tickets and anonymous e-ME tickets.  Test state: fault
injection, admin overrides and a ring buffer of recent requests and
callbacks.

With a state file, CEKs, access tokens and businessIDs survive a restart
so that a gateway's cached CEK and sessions stay valid across
`make demo` restarts.  Codes, nonces, tickets and test state are
deliberately not persisted: they live seconds to minutes.
"""

import collections
import json
import os
import tempfile
import threading

from . import protocol

MAX_LIVE_CEKS = 32
MAX_LOG = 1000
STATE_VERSION = 1


class Cek:
    __slots__ = ("key", "issued_ms", "expires_ms")

    def __init__(self, key, issued_ms, expires_ms):
        self.key = key
        self.issued_ms = issued_ms
        self.expires_ms = expires_ms


class Faults:
    """Injected failures; every field is consumed or read under the
    store lock."""

    def __init__(self):
        self.latency_ms = {}        # endpoint path or "*" -> ms
        self.fail_next = {}         # endpoint path or "*" -> [count, status]
        self.cek_faults = {}        # client id or "*" -> count

    def snapshot(self):
        return {"latency_ms": dict(self.latency_ms),
                "fail_next": {k: {"count": v[0], "status": v[1]}
                              for k, v in self.fail_next.items()},
                "cek_faults": dict(self.cek_faults)}


class Store:
    def __init__(self, settings):
        self.settings = settings
        self.lock = threading.RLock()
        self._initial_tunables = {}
        self._reset_protocol_state()
        self._reset_test_state()
        self._log = collections.deque(maxlen=MAX_LOG)
        self._seq = 0
        if settings.state_file:
            self._load()

    def _reset_protocol_state(self):
        ids = self.settings.clients
        self._ceks = {cid: [] for cid in ids}
        self._retired = {cid: collections.deque(maxlen=64) for cid in ids}
        self._nonces = {cid: {} for cid in ids}
        self._nonce_pruned_ms = 0
        self._codes = {}
        self._tokens = {}
        self._business_ids = {cid: set() for cid in ids}
        self._logins = {}
        self._tickets = collections.OrderedDict()
        self._anonymous = collections.OrderedDict()

    def _reset_test_state(self):
        self.faults = Faults()
        self._auto_approve = {}     # client id or "*" -> persona id or None
        self._behaviour = {}        # persona id -> {kind: value}

    # ---- CEKs ----

    def issue_cek(self, client_id, now_ms):
        cek = Cek(protocol.new_cek(), now_ms,
                  now_ms + int(self.settings.cek_ttl * 1000))
        with self.lock:
            live = self._ceks[client_id]
            live.append(cek)
            while len(live) > MAX_LIVE_CEKS:
                self._retired[client_id].append(live.pop(0))
            self._save()
        return cek

    def live_ceks(self, client_id, now_ms):
        """Unexpired CEKs, newest first; expired ones move to retired."""
        with self.lock:
            live = self._ceks[client_id]
            for cek in [c for c in live if c.expires_ms <= now_ms]:
                live.remove(cek)
                self._retired[client_id].append(cek)
            return list(reversed(live))

    def retired_ceks(self, client_id):
        with self.lock:
            return list(self._retired[client_id])

    def revoke_ceks(self, client_id):
        with self.lock:
            self._retired[client_id].extend(self._ceks[client_id])
            self._ceks[client_id] = []
            self._save()

    # ---- replay protection ----

    def remember_nonce(self, client_id, nonce, now_ms):
        """False when the nonce was seen within the replay window.  A nonce
        older than the window cannot come back: its timestamp would be
        rejected as stale first."""
        window = int(self.settings.max_skew * 2000)
        with self.lock:
            if now_ms - self._nonce_pruned_ms > 1000:
                for seen in self._nonces.values():
                    old = [n for n, t in seen.items() if now_ms - t > window]
                    for n in old:
                        del seen[n]
                self._nonce_pruned_ms = now_ms
            seen = self._nonces[client_id]
            if nonce in seen:
                return False
            seen[nonce] = now_ms
            return True

    # ---- authorisation codes and access tokens ----

    def put_code(self, code, record):
        with self.lock:
            self._codes[code] = record

    def take_code(self, code, now_ms):
        """Single use: the code is gone after this call, valid or not."""
        with self.lock:
            for c in [c for c, r in self._codes.items()
                      if r["expires_ms"] <= now_ms]:
                del self._codes[c]
            return self._codes.pop(code, None)

    def put_token(self, token, record):
        with self.lock:
            self._tokens[token] = record
            self._save()

    def get_token(self, token, now_ms):
        with self.lock:
            record = self._tokens.get(token)
            if record is not None and record["expires_ms"] <= now_ms:
                del self._tokens[token]
                record = None
            return record

    def drop_token(self, token):
        with self.lock:
            if self._tokens.pop(token, None) is not None:
                self._save()

    def claim_business_id(self, client_id, business_id):
        with self.lock:
            used = self._business_ids[client_id]
            if business_id in used:
                return False
            used.add(business_id)
            self._save()
            return True

    # ---- pending browser approvals ----

    def put_login(self, txn_id, record):
        with self.lock:
            self._logins[txn_id] = record

    def pop_login(self, txn_id):
        with self.lock:
            return self._logins.pop(txn_id, None)

    def put_ticket(self, ticket):
        with self.lock:
            self._tickets[ticket.id] = ticket
            while len(self._tickets) > 10000:
                self._tickets.popitem(last=False)

    def get_ticket(self, ticket_id):
        with self.lock:
            return self._tickets.get(ticket_id)

    def put_anonymous(self, ticket):
        with self.lock:
            self._anonymous[ticket.id] = ticket
            while len(self._anonymous) > 10000:
                self._anonymous.popitem(last=False)

    def get_anonymous(self, ticket_id):
        with self.lock:
            return self._anonymous.get(ticket_id)

    def recent_anonymous(self, limit):
        with self.lock:
            return list(self._anonymous.values())[-limit:]

    def recent_tickets(self, limit):
        with self.lock:
            return list(self._tickets.values())[-limit:]

    # ---- admin overrides ----

    def set_auto_approve(self, client_id, persona_id):
        with self.lock:
            self._auto_approve[client_id or "*"] = persona_id

    def auto_approve_override(self, client_id):
        """(True, persona-or-None) when an admin override applies."""
        with self.lock:
            for key in (client_id, "*"):
                if key in self._auto_approve:
                    return True, self._auto_approve[key]
            return False, None

    def set_behaviour(self, persona_id, kind, value):
        with self.lock:
            self._behaviour.setdefault(persona_id, {})[kind] = value

    def behaviour_override(self, persona_id, kind):
        with self.lock:
            return self._behaviour.get(persona_id, {}).get(kind)

    def snapshot_overrides(self):
        with self.lock:
            return {"auto_approve": dict(self._auto_approve),
                    "behaviour": {k: dict(v)
                                  for k, v in self._behaviour.items()}}

    def remember_tunables(self, names):
        self._initial_tunables = {n: getattr(self.settings, n) for n in names}

    def reset(self, protocol_state):
        with self.lock:
            self._reset_test_state()
            for name, value in self._initial_tunables.items():
                setattr(self.settings, name, value)
            self._log.clear()
            if protocol_state:
                self._reset_protocol_state()
                self._save()

    # ---- fault injection ----

    def take_forced_failure(self, path):
        """HTTP status to fail this request with, or None."""
        with self.lock:
            for key in (path, "*"):
                entry = self.faults.fail_next.get(key)
                if entry:
                    entry[0] -= 1
                    if entry[0] <= 0:
                        del self.faults.fail_next[key]
                    return entry[1]
            return None

    def latency_for(self, path):
        with self.lock:
            lat = self.faults.latency_ms
            return lat.get(path, lat.get("*", 0)) / 1000.0

    def take_cek_fault(self, client_id):
        with self.lock:
            for key in (client_id, "*"):
                n = self.faults.cek_faults.get(key, 0)
                if n > 0:
                    if n == 1:
                        del self.faults.cek_faults[key]
                    else:
                        self.faults.cek_faults[key] = n - 1
                    return True
            return False

    # ---- request log ----

    def log(self, entry):
        with self.lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._log.append(entry)
            return entry

    def recent_log(self, limit=100, path=None, kind=None):
        with self.lock:
            items = [e for e in self._log
                     if (path is None or e.get("path") == path)
                     and (kind is None or e.get("kind") == kind)]
        return items[-limit:] if limit else items

    # ---- persistence ----

    def _save(self):
        path = self.settings.state_file
        if not path:
            return
        doc = {
            "version": STATE_VERSION,
            "ceks": {cid: [{"key": protocol.b64(c.key),
                            "issued_ms": c.issued_ms,
                            "expires_ms": c.expires_ms} for c in live]
                     for cid, live in self._ceks.items()},
            "tokens": self._tokens,
            "business_ids": {cid: sorted(ids)
                             for cid, ids in self._business_ids.items()},
        }
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                   prefix=".sandbox-state-")
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)

    def _load(self):
        try:
            with open(self.settings.state_file) as f:
                doc = json.load(f)
        except FileNotFoundError:
            return
        if doc.get("version") != STATE_VERSION:
            raise ValueError("%s: unsupported state version" %
                             self.settings.state_file)
        for cid, live in doc.get("ceks", {}).items():
            if cid in self._ceks:
                self._ceks[cid] = [
                    Cek(protocol.b64decode_strict(c["key"]), c["issued_ms"],
                        c["expires_ms"]) for c in live]
        self._tokens = {t: r for t, r in doc.get("tokens", {}).items()
                        if r.get("client_id") in self._ceks}
        for cid, ids in doc.get("business_ids", {}).items():
            if cid in self._business_ids:
                self._business_ids[cid] = set(ids)
