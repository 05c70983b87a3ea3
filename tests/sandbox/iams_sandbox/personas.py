"""Test citizens ("personas"): loading, validation and field projection.

A persona file is JSON: {"personas": [PERSONA, ...]} where PERSONA is

    {"id": "chan-tai-man", "label": "Chan Tai Man (adult)",
     "userType": "iAM Smart+", "lastModifiedDate": <epoch ms>,
     "behaviour": {"login": "approve", "consent": "approve",
                   "stepup": "pass"},
     "profile": {idNo, enName, chName, chNameVerified, birthDate, gender},
     "eME": {prefix, maritalStatus, homeTelNumber, ..., carOwner}}

Every idNo must carry the check digit the HKID algorithm gives, so a
gateway that validates HKIDs accepts sandbox data.
"""

import hashlib
import hmac
import json
import re

PROFILE_FIELDS = ("idNo", "enName", "chName", "chNameVerified", "birthDate",
                  "gender")
EME_ONLY_FIELDS = ("prefix", "maritalStatus", "homeTelNumber",
                   "officeTelNumber", "mobileNumber", "emailAddress",
                   "residentialAddress", "postalAddress", "educationLevel",
                   "passportNumber", "passportExpiry", "employmentStatus",
                   "propertyOwner", "carOwner")
EME_FIELDS = PROFILE_FIELDS + EME_ONLY_FIELDS

BEHAVIOURS = {
    "login": ("approve", "reject", "cancel", "timeout"),
    "consent": ("approve", "reject", "timeout"),
    "stepup": ("pass", "fail", "cancel", "timeout"),
}
DEFAULT_BEHAVIOUR = {"login": "approve", "consent": "approve",
                     "stepup": "pass"}

_HKID_RE = re.compile(r"^([A-Z]{1,2})([0-9]{6})$")
_DATE_RE = re.compile(r"^[0-9]{8}$")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def hkid_check_digit(identification):
    """Check digit for "A123456" or "AB123456": weights 9..2 over the
    eight characters (a single-letter prefix is padded with a space worth
    36; letters are worth A=10 .. Z=35), remainder mod 11, 11 - r, where
    10 is written "A" and 11 is "0"."""
    m = _HKID_RE.match(identification)
    if not m:
        raise ValueError("HKID must be 1-2 capital letters and 6 digits")
    letters, digits = m.groups()
    values = [36] if len(letters) == 1 else []
    values += [ord(c) - ord("A") + 10 for c in letters]
    values += [int(c) for c in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1)))
    check = 11 - total % 11
    return {10: "A", 11: "0"}.get(check, str(check))


def open_id(salt, persona_id):
    """Per-service pseudonym: the same persona gets a different, stable
    openID at every client because each client has its own salt."""
    return hmac.new(salt, persona_id.encode("utf-8"),
                    hashlib.sha256).hexdigest()


class Persona:
    def __init__(self, raw):
        self.id = raw["id"]
        self.label = raw.get("label", self.id)
        self.user_type = raw.get("userType", "iAM Smart")
        self.last_modified = int(raw.get("lastModifiedDate", 0))
        self.behaviour = dict(DEFAULT_BEHAVIOUR)
        self.behaviour.update(raw.get("behaviour", {}))
        self.profile = raw.get("profile", {})
        self.eme = raw.get("eME", {})

    def fields(self, names):
        """The requested fields this persona has; absent ones are left
        out rather than sent empty."""
        out = {}
        for name in names:
            if name in self.profile:
                out[name] = self.profile[name]
            elif name in self.eme:
                out[name] = self.eme[name]
        return out

    def summary(self):
        return {"id": self.id, "label": self.label,
                "userType": self.user_type, "behaviour": self.behaviour}


def _validate(raw):
    pid = raw.get("id")
    if not isinstance(pid, str) or not _ID_RE.match(pid):
        raise ValueError("persona id %r must match %s" % (pid, _ID_RE.pattern))
    where = "persona %s" % pid
    for kind, value in raw.get("behaviour", {}).items():
        if kind not in BEHAVIOURS or value not in BEHAVIOURS[kind]:
            raise ValueError("%s: bad behaviour %s=%r" % (where, kind, value))
    profile = raw.get("profile", {})
    unknown = (set(profile) - set(PROFILE_FIELDS)) | (
        set(raw.get("eME", {})) - set(EME_ONLY_FIELDS))
    if unknown:
        raise ValueError("%s: unknown fields %s" % (where, sorted(unknown)))
    idno = profile.get("idNo")
    if idno is not None:
        ident = idno.get("Identification", "")
        if hkid_check_digit(ident) != idno.get("CheckDigit"):
            raise ValueError("%s: HKID %s has check digit %s, not %r" % (
                where, ident, hkid_check_digit(ident), idno.get("CheckDigit")))
    for key in ("birthDate",):
        if key in profile and not _DATE_RE.match(profile[key]):
            raise ValueError("%s: %s must be YYYYMMDD" % (where, key))


def load_personas(path):
    """An ordered dict id -> Persona; raises ValueError naming the file."""
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
        personas = {}
        for raw in doc["personas"]:
            _validate(raw)
            if raw["id"] in personas:
                raise ValueError("duplicate persona id %s" % raw["id"])
            personas[raw["id"]] = Persona(raw)
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise ValueError("%s: %s" % (path, e)) from e
    if not personas:
        raise ValueError("%s: no personas" % path)
    return personas
