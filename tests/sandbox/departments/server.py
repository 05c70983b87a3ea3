#!/usr/bin/python3
"""Sandbox backends of the departments that have adapters: ImmD, TD, RVD,
LCSD, REO, and FEHD (the SDK guide's example).

One small HTTP server, standard library only, that behaves like plausible
department APIs: JSON in and out, each department with its own paths, field
names, date formats and error conventions (see README.md beside this
file).  Citizens are the sandbox personas (../personas.json); what a
department returns about them (names, dates of birth, addresses) is derived
from the persona, so that exchange data lines up with e-ME data, and
records.json holds what only the department knows.

A department identifies a citizen by the HKID (when the citizen's consent
releases it) or by the gateway's pairwise subject once the citizen has
linked an account: POST /sandbox/link, or --link at start-up.

    /usr/bin/python3 tests/sandbox/departments/server.py --port 9100
    # prints: listening on http://127.0.0.1:9100

Every department lives under its own prefix (/td/, /immd/, /rvd/, /lcsd/,
/reo/, /fehd/); --dept restricts the server to some of them.
"""

import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
DEPARTMENTS = ("ImmD", "TD", "RVD", "LCSD", "REO", "FEHD")
BODY_MAX = 1024 * 1024

HKID_RE = re.compile(r"^[A-Z]{1,2}[0-9]{6}[0-9A]$")
HKID_BRACKETS_RE = re.compile(r"^([A-Z]{1,2}[0-9]{6})\(([0-9A])\)$")
DDMMYYYY_RE = re.compile(r"^[0-3][0-9]/[01][0-9]/[12][0-9]{3}$")
ISO_DATE_RE = re.compile(r"^[12][0-9]{3}-[01][0-9]-[0-3][0-9]$")


def hkid_check_digit(ident):
    """The HKID check digit of 'A123456' or 'XA123456'."""
    chars = ident if len(ident) == 8 else " " + ident
    total = 0
    for i, ch in enumerate(chars):
        value = 36 if ch == " " else (
            int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10)
        total += value * (9 - i)
    digit = 11 - total % 11
    return "0" if digit == 11 else "A" if digit == 10 else str(digit)


def hkid_brackets_ok(text):
    m = HKID_BRACKETS_RE.match(text or "")
    return bool(m) and hkid_check_digit(m.group(1)) == m.group(2)


class Citizens:
    """The personas and the departments' records, plus account links."""

    def __init__(self, personas_path, records_path):
        with open(personas_path, encoding="utf-8") as f:
            self.personas = {p["id"]: p for p in json.load(f)["personas"]}
        with open(records_path, encoding="utf-8") as f:
            self.records = json.load(f)
        self.by_hkid = {}
        for pid, p in self.personas.items():
            idno = p["profile"]["idNo"]
            self.by_hkid[idno["Identification"] + idno["CheckDigit"]] = pid
        self.links = {d: {} for d in DEPARTMENTS}
        self.lock = threading.Lock()

    def link(self, dept, subject, persona):
        if dept not in self.links:
            raise ValueError("unknown department %r" % dept)
        if persona not in self.personas:
            raise ValueError("unknown persona %r" % persona)
        if not subject or len(subject) > 256:
            raise ValueError("subject must be 1 to 256 characters")
        with self.lock:
            self.links[dept][subject] = persona

    def reset(self):
        with self.lock:
            for d in self.links:
                self.links[d].clear()

    def by_hkid_or_link(self, dept, hkid=None, subject=None):
        """The persona id, or None."""
        if hkid:
            return self.by_hkid.get(hkid)
        if subject:
            with self.lock:
                return self.links[dept].get(subject)
        return None

    def record(self, dept, pid):
        return self.records.get(dept, {}).get(pid)

    def profile(self, pid):
        return self.personas[pid]["profile"]

    def eme(self, pid):
        return self.personas[pid]["eME"]


def surname_given(persona_profile):
    full = persona_profile["enName"]["UnstructuredName"]
    surname, _, given = full.partition(",")
    return surname.strip(), given.strip()


def ymd(yyyymmdd, sep="-"):
    return sep.join((yyyymmdd[:4], yyyymmdd[4:6], yyyymmdd[6:]))


def dmy(yyyymmdd):
    return "/".join((yyyymmdd[6:], yyyymmdd[4:6], yyyymmdd[:4]))


def td_address(address):
    """TD keeps addresses by part, in the language it was given in."""
    if "FreeFormatAddress" in address:
        a = address["FreeFormatAddress"]
        return {"lines": [a[k] for k in ("AddressLine1", "AddressLine2",
                                         "AddressLine3") if k in a]}
    zh = "ChiPremisesAddress" in address
    a = address["ChiPremisesAddress" if zh else "EngPremisesAddress"]
    p = "Chi" if zh else "Eng"
    out = {
        "flat": a.get(p + "3dAddress", {}).get(p + "Unit", {}).get("UnitNo"),
        "floor": a.get(p + "3dAddress", {}).get(p + "Floor", {}).get("Floor"),
        "block": a.get(p + "Block", {}).get("BlockNo"),
        "building": a.get("BuildingName"),
        "estate": a.get(p + "Estate", {}).get("EstateName"),
        "streetNo": a.get(p + "Street", {}).get("BuildingNoFrom"),
        "street": a.get(p + "Street", {}).get("StreetName"),
        "district": a.get(p + "District", {}).get("DcDistrict"),
        "region": a.get("Region"),
        "lang": "zh" if zh else "en",
    }
    return {k: v for k, v in out.items() if v is not None}


class Reply(Exception):
    """Ends a request with a status and a JSON (or raw) body."""

    def __init__(self, status, body, content_type="application/json"):
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type


def need(cond, status, body):
    if not cond:
        raise Reply(status, body)


def form_errors(errors):
    if errors:
        raise Reply(422, {"errors": errors})


class Departments:
    """The department APIs: (dept, method, path) -> handler(body), which
    answers (status, body)."""

    def __init__(self, citizens):
        self.c = citizens
        self.serial = 0
        self.routes = {
            ("TD", "POST", "/api/v2/licence/enquiry"): self.td_enquiry,
            ("TD", "POST", "/api/v2/idp/applications"): self.td_idp,
            ("ImmD", "POST", "/travel-records/v1/search"): self.immd_search,
            ("ImmD", "POST", "/birth-registration/v1/informants"):
                self.immd_informant,
            ("REO", "POST", "/api/v1/voter-enquiry"): self.reo_enquiry,
            ("REO", "POST", "/api/v1/registrations"): self.reo_register,
            ("RVD", "POST", "/api/v1/accounts/search"): self.rvd_search,
            ("RVD", "POST", "/api/v1/concessions"): self.rvd_concession,
            ("LCSD", "POST", "/smartplay/api/v1/profiles"): self.lcsd_profile,
            ("FEHD", "POST", "/api/v1/renewals"): self.fehd_renewal,
        }

    def next_ref(self, prefix):
        with self.c.lock:
            self.serial += 1
            return "%s%06d" % (prefix, self.serial)

    def handle(self, dept, method, path, body):
        route = self.routes.get((dept, method, path))
        if route is not None:
            return route(body)
        m = re.match(r"^/api/v1/licence-holders/([A-Za-z0-9_-]{1,128})"
                     r"/licences$", path)
        if dept == "FEHD" and m:
            need(method == "GET", 405, {"error": "GET only"})
            return self.fehd_licences(m.group(1))
        raise Reply(404, {"error": "no such resource"})

    # ---- Transport Department ----

    def td_enquiry(self, body):
        kind, value = body.get("idType"), body.get("idValue")
        need(kind in ("HKID", "ACCOUNT") and isinstance(value, str), 400,
             {"status": "BAD_REQUEST", "message": "idType and idValue"})
        pid = self.c.by_hkid_or_link("TD", hkid=value if kind == "HKID"
                                     else None,
                                     subject=value if kind == "ACCOUNT"
                                     else None)
        rec = self.c.record("TD", pid) if pid else None
        need(rec is not None, 404, {"status": "NOT_FOUND",
                                    "message": "no driving licence"})
        prof = self.c.profile(pid)
        surname, given = surname_given(prof)
        data = {
            "licenceNo": rec["licenceNo"],
            "licenceStatus": rec["licenceStatus"],
            "classes": rec["classes"],
            "issueDate": rec["issueDate"],
            "expiryDate": rec["expiryDate"],
            "holder": {"surname": surname, "givenNames": given,
                       "chineseName": prof["chName"]["ChineseName"],
                       "dob": dmy(prof["birthDate"]), "sex": prof["gender"]},
            "address": td_address(self.c.eme(pid)["residentialAddress"]),
        }
        return 200, {"status": "OK", "lastUpdated": rec["lastUpdated"],
                     "data": data}

    def td_idp(self, p):
        errors = {}
        for k in ("surname", "hkidNo", "dateOfBirth", "drivingLicenceNo"):
            if not isinstance(p.get(k), str) or not p.get(k):
                errors[k] = "required"
        if "hkidNo" not in errors and not hkid_brackets_ok(p["hkidNo"]):
            errors["hkidNo"] = "format A123456(7)"
        if "dateOfBirth" not in errors \
                and not DDMMYYYY_RE.match(p["dateOfBirth"]):
            errors["dateOfBirth"] = "format DD/MM/YYYY"
        form_errors(errors)
        pid = self.c.by_hkid.get(p["hkidNo"].replace("(", "")
                                 .replace(")", ""))
        rec = self.c.record("TD", pid) if pid else None
        if rec is None or rec["licenceNo"] != p["drivingLicenceNo"]:
            form_errors({"drivingLicenceNo": "does not match the holder"})
        if rec["licenceStatus"] != "VALID":
            form_errors({"drivingLicenceNo": "licence is not valid"})
        return 201, {"applicationNo": self.next_ref("IDP")}

    # ---- Immigration Department ----

    def immd_search(self, body):
        kind, number = body.get("docType"), body.get("docNo")
        need(isinstance(number, str)
             and ((kind == "HKIC" and HKID_RE.match(number))
                  or kind == "ACCOUNT"), 400,
             {"result": "INVALID_REQUEST", "reason": "docType, docNo"})
        for k in ("from", "to"):
            need(k not in body or (isinstance(body[k], str)
                                   and ISO_DATE_RE.match(body[k])), 400,
                 {"result": "INVALID_REQUEST", "reason": k})
        pid = self.c.by_hkid_or_link(
            "ImmD", hkid=number if kind == "HKIC" else None,
            subject=number if kind == "ACCOUNT" else None)
        rec = self.c.record("ImmD", pid) if pid else None
        if rec is None:
            return 200, {"result": "NOT_MATCHED"}
        start = body.get("from", "2023-03-01")
        end = body.get("to", "2025-02-28")
        prof = self.c.profile(pid)
        moves = [{"direction": d, "date": day, "controlPoint": cp}
                 for d, day, cp in rec["records"] if start <= day <= end]
        return 200, {
            "result": "FOUND",
            "asAt": rec["asAt"],
            "holder": {"nameEn": prof["enName"]["UnstructuredName"],
                       "nameZh": prof["chName"]["ChineseName"],
                       "dateOfBirth": ymd(prof["birthDate"])},
            "period": {"from": start, "to": end},
            "records": moves,
        }

    def immd_informant(self, p):
        informant = p.get("informant") if isinstance(p.get("informant"),
                                                     dict) else {}
        errors = {}
        for k in ("surnameEng", "hkic", "phone"):
            if not isinstance(informant.get(k), str) or not informant.get(k):
                errors["informant." + k] = "required"
        address = informant.get("address")
        if not isinstance(address, dict) or not address.get("line1"):
            errors["informant.address.line1"] = "required"
        if "informant.hkic" not in errors \
                and not hkid_brackets_ok(informant["hkic"]):
            errors["informant.hkic"] = "format A123456(7)"
        form_errors(errors)
        return 201, {"bookingRef": self.next_ref("BR")}

    # ---- Registration and Electoral Office ----

    def reo_enquiry(self, body):
        hkid, link = body.get("hkid"), body.get("linkRef")
        need(isinstance(hkid, str) != isinstance(link, str), 400,
             {"error": "BAD_REQUEST"})
        if link is not None:
            pid = self.c.by_hkid_or_link("REO", subject=link)
            need(pid is not None, 404, {"error": "UNKNOWN_REFERENCE"})
        else:
            pid = self.c.by_hkid.get(hkid)
        rec = self.c.record("REO", pid) if pid else None
        if rec is None:
            return 200, {"registered": False, "asAt": "20250301T100000"}
        prof = self.c.profile(pid)
        name = prof["enName"]["UnstructuredName"].replace(",", "").upper()
        return 200, {
            "registered": True,
            "asAt": rec["asAt"],
            "voter": {"nameEng": name,
                      "nameChi": prof["chName"]["ChineseName"],
                      "sex": prof["gender"], "address": rec["address"],
                      "gc": rec["gc"], "dcca": rec["dcca"]},
            "register": rec["register"],
        }

    def reo_register(self, p):
        errors = {}
        for k in ("hkidNo", "surnameEng", "sex", "dateOfBirth"):
            if not isinstance(p.get(k), str) or not p.get(k):
                errors[k] = "required"
        if "hkidNo" not in errors and not hkid_brackets_ok(p["hkidNo"]):
            errors["hkidNo"] = "format A123456(7)"
        if p.get("sex") not in ("M", "F"):
            errors["sex"] = "M or F"
        if "dateOfBirth" not in errors \
                and not DDMMYYYY_RE.match(p["dateOfBirth"]):
            errors["dateOfBirth"] = "format DD/MM/YYYY"
        addr = p.get("residentialAddress")
        if not isinstance(addr, dict) or not (
                addr.get("lines") or (addr.get("district")
                                      and (addr.get("street")
                                           or addr.get("estate")
                                           or addr.get("building")))):
            errors["residentialAddress"] = \
                "lines, or a district and a street, estate or building"
        if p.get("languagePreference") not in (None, "E", "C"):
            errors["languagePreference"] = "E or C"
        form_errors(errors)
        return 201, {"registrationNo": self.next_ref("VR")}

    # ---- Rating and Valuation Department ----

    def rvd_search(self, body):
        hkid, ref = body.get("hkid"), body.get("payerRef")
        need(isinstance(hkid, str) or isinstance(ref, str), 400,
             {"error": "hkid or payerRef"})
        pid = self.c.by_hkid_or_link("RVD", hkid=hkid, subject=ref)
        rec = self.c.record("RVD", pid) if pid else None
        need(rec is not None, 404, {"error": "UNKNOWN_PAYER"})
        name = self.c.profile(pid)["enName"]["UnstructuredName"]
        return 200, {"payer": {"name": name.replace(",", "").upper()},
                     "accounts": rec["accounts"],
                     "lastUpdate": rec["lastUpdate"]}

    def rvd_concession(self, p):
        errors = {}
        for k in ("accountNo", "ratepayerName", "hkidNo", "contactTel"):
            if not isinstance(p.get(k), str) or not p.get(k):
                errors[k] = "required"
        form_errors(errors)
        accounts = [a["accountNo"] for r in self.c.records["RVD"].values()
                    for a in r["accounts"]]
        if p["accountNo"] not in accounts:
            form_errors({"accountNo": "no such rates account"})
        return 201, {"applicationNo": self.next_ref("RC")}

    # ---- Leisure and Cultural Services Department ----

    def lcsd_profile(self, p):
        errors = {}
        for k in ("nameEng", "gender", "dateOfBirth", "mobile", "email"):
            if not isinstance(p.get(k), str) or not p.get(k):
                errors[k] = "required"
        if p.get("gender") not in ("MALE", "FEMALE"):
            errors["gender"] = "MALE or FEMALE"
        if "dateOfBirth" not in errors \
                and not ISO_DATE_RE.match(p["dateOfBirth"]):
            errors["dateOfBirth"] = "format YYYY-MM-DD"
        doc = p.get("idDocument")
        if not isinstance(doc, dict) or doc.get("type") != "HKID" \
                or not hkid_brackets_ok(doc.get("number")):
            errors["idDocument"] = "type HKID and a number A123456(7)"
        if "mobile" not in errors \
                and not re.match(r"^\+[0-9]{6,20}$", p["mobile"]):
            errors["mobile"] = "international format, +852..."
        form_errors(errors)
        return 201, {"profileId": self.next_ref("SP"),
                     "status": "PENDING_VERIFICATION"}

    # ---- Food and Environmental Hygiene Department ----

    def fehd_licences(self, ref):
        pid = self.c.by_hkid_or_link("FEHD",
                                     hkid=ref if HKID_RE.match(ref) else None,
                                     subject=None if HKID_RE.match(ref)
                                     else ref)
        rec = self.c.record("FEHD", pid) if pid else None
        need(rec is not None, 404, {"error": "no such licence holder"})
        name = self.c.profile(pid)["enName"]["UnstructuredName"]
        return 200, {"holder": {"name": name.replace(",", "")},
                     "licences": rec["licences"],
                     "updatedAt": rec["updatedAt"]}

    def fehd_renewal(self, p):
        errors = {}
        for k in ("licenceNo", "applicantName"):
            if not isinstance(p.get(k), str) or not p.get(k):
                errors[k] = "required"
        form_errors(errors)
        numbers = [lic["licenceNo"] for r in self.c.records["FEHD"].values()
                   for lic in r["licences"]]
        if p["licenceNo"] not in numbers:
            form_errors({"licenceNo": "no such licence"})
        return 201, {"applicationNo": self.next_ref("FR")}


class Faults:
    """Injected answers: the next `count` requests to a department."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = {}

    def add(self, dept, status, body, content_type, count):
        with self.lock:
            self.pending[dept] = [status, body, content_type, count]

    def take(self, dept):
        with self.lock:
            f = self.pending.get(dept)
            if not f:
                return None
            f[3] -= 1
            if f[3] <= 0:
                del self.pending[dept]
            return f[:3]

    def reset(self):
        with self.lock:
            self.pending.clear()


def make_handler(server_state):
    citizens, departments, faults, enabled = server_state

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # kept-alive requests must not wait for Nagle's 40 ms
        disable_nagle_algorithm = True
        server_version = "iams-departments/1"

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(),
                                          fmt % args))

        def send(self, status, body, content_type="application/json"):
            if isinstance(body, (dict, list)):
                data = json.dumps(body, ensure_ascii=False).encode()
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = body
            self.send_response(status)
            self.send_header("Content-Type", content_type
                             if content_type != "application/json"
                             else "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n > BODY_MAX:
                raise Reply(413, {"error": "body too large"})
            return self.rfile.read(n) if n else b""

        def json_body(self, raw):
            if not raw:
                return {}
            ctype = self.headers.get("Content-Type", "")
            if "json" not in ctype:
                raise Reply(415, {"error": "application/json expected"})
            try:
                body = json.loads(raw)
            except ValueError:
                raise Reply(400, {"error": "body is not JSON"})
            if not isinstance(body, dict):
                raise Reply(400, {"error": "body is not an object"})
            return body

        def admin(self, method, path, body):
            if self.client_address[0] not in ("127.0.0.1", "::1"):
                raise Reply(403, {"error": "loopback only"})
            if method == "GET" and path == "/sandbox/health":
                return 200, {"status": "ok",
                             "departments": sorted(enabled)}
            if method == "GET" and path == "/sandbox/personas":
                return 200, {pid: {"hkid": h} for h, pid
                             in citizens.by_hkid.items()}
            if method == "POST" and path == "/sandbox/link":
                try:
                    citizens.link(body.get("dept"), body.get("subject"),
                                  body.get("persona"))
                except ValueError as e:
                    raise Reply(400, {"error": str(e)})
                return 200, {"ok": True}
            if method == "POST" and path == "/sandbox/fault":
                dept = body.get("dept")
                status = body.get("status", 503)
                if dept not in DEPARTMENTS or not isinstance(status, int) \
                        or not 100 <= status <= 599:
                    raise Reply(400, {"error": "dept and status"})
                faults.add(dept, status,
                           body.get("body", "<html>Service Unavailable"
                                            "</html>"),
                           body.get("content_type", "text/html"),
                           int(body.get("count", 1)))
                return 200, {"ok": True}
            if method == "POST" and path == "/sandbox/reset":
                citizens.reset()
                faults.reset()
                return 200, {"ok": True}
            raise Reply(404, {"error": "no such admin resource"})

        def dispatch(self, method):
            try:
                raw = self.read_body()
                path = self.path.split("?", 1)[0]
                if path.startswith("/sandbox/"):
                    status, body = self.admin(method, path,
                                              self.json_body(raw))
                    return self.send(status, body)
                prefix, _, rest = path[1:].partition("/")
                dept = {d.lower(): d for d in enabled}.get(prefix)
                if dept is None:
                    raise Reply(404, {"error": "no such department"})
                fault = faults.take(dept)
                if fault is not None:
                    return self.send(fault[0], fault[1], fault[2])
                status, body = departments.handle(dept, method, "/" + rest,
                                                  self.json_body(raw))
                self.send(status, body)
            except Reply as r:
                self.send(r.status, r.body, r.content_type)

        def do_GET(self):
            self.dispatch("GET")

        def do_POST(self):
            self.dispatch("POST")

    return Handler


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9100,
                    help="0 picks a free port")
    ap.add_argument("--dept", action="append", default=[],
                    help="serve only this department (repeatable)")
    ap.add_argument("--link", action="append", default=[],
                    metavar="DEPT:SUBJECT=PERSONA",
                    help="a linked account, as POST /sandbox/link makes")
    ap.add_argument("--personas",
                    default=os.path.join(os.path.dirname(HERE),
                                         "personas.json"))
    ap.add_argument("--records", default=os.path.join(HERE, "records.json"))
    args = ap.parse_args(argv)

    names = {d.lower(): d for d in DEPARTMENTS}
    try:
        enabled = [names[d.lower()] for d in args.dept] or list(DEPARTMENTS)
        citizens = Citizens(args.personas, args.records)
        for spec in args.link:
            dept, _, rest = spec.partition(":")
            subject, _, persona = rest.rpartition("=")
            citizens.link(names.get(dept.lower()), subject, persona)
    except (KeyError, ValueError, OSError) as e:
        sys.stderr.write("configuration error: %s\n" % e)
        return 2

    class Server(ThreadingHTTPServer):
        request_queue_size = 128
        address_family = (socket.AF_INET6 if ":" in args.host
                          else socket.AF_INET)

    state = (citizens, Departments(citizens), Faults(), enabled)
    httpd = Server((args.host, args.port), make_handler(state))
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(
        target=httpd.shutdown, daemon=True).start())

    host, port = httpd.server_address[:2]
    print("listening on http://%s:%d" % (
        "[%s]" % host if ":" in host else host, port), flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
