"""
Consented data exchange, end to end: real nginx with the TD, ImmD, RVD
and REO adapters in front of the department sandbox, real Redis, the
iAM Smart sandbox as the platform, a scripted citizen on the gateway's
consent pages and requesting departments that sign their credentials.

What the data must look like is computed here from the sandbox's own
files (personas.json, records.json), never copied from the gateway's
answers.
"""

import concurrent.futures
import hashlib
import json
import re
import time

import pytest

from exchange_support import (  # noqa: F401  (fixtures)
    CONSENTS, DATASETS, ID_RE, PERSONAS, RECORDS, check_record, credential,
    durable_redis, exchange_keys, exchange_stack, kill_redis, restart_redis,
    shared_exchange, td_last_updated, utc, xstack)
from login_support import DEFAULT_PERSONA

IMMD = DATASETS["ImmD"]
RVD = DATASETS["RVD"]
TD = DATASETS["TD"]
REO = DATASETS["REO"]
ACCOUNT = RECORDS["RVD"][DEFAULT_PERSONA]["accounts"][0]["accountNo"]


def expected_rvd(persona=DEFAULT_PERSONA):
    """The RVD data set as the RVD sandbox holds it for persona."""
    rec = RECORDS["RVD"][persona]
    acct = rec["accounts"][0]
    status = {"A": "active", "S": "suspended", "C": "closed"}[acct["status"]]
    return utc(rec["lastUpdate"]), {
        "rvd.rates_account.account_number": acct["accountNo"],
        "rvd.rates_account.status": status,
    }


def expected_immd(persona=DEFAULT_PERSONA):
    rec = RECORDS["ImmD"][persona]
    prof = PERSONAS[persona]["profile"]
    return rec, {"birthDate": prof["birthDate"],
                 "enName": prof["enName"]}


def expected_td(persona=DEFAULT_PERSONA):
    rec = RECORDS["TD"][persona]
    return td_last_updated(persona), {
        "td.driving_licence.licence_number": rec["licenceNo"],
    }


def assert_fields(item, dataset, source, last_updated, values):
    """A released data set: every field carries its source department and
    freshness; the values given must be there as the department has
    them."""
    assert item["dataset"] == dataset, item
    fields = item["fields"]
    assert fields, item
    for name, f in fields.items():
        assert set(f) == {"value", "source", "last_updated"}, (name, f)
        assert f["source"] == source, (name, f)
        if last_updated is not None:
            assert f["last_updated"] == last_updated, (name, f)
    for name, value in values.items():
        assert fields[name]["value"] == value, (name, fields.get(name))


def assert_denied(r, reason):
    """A 403 with the reason and no data at all."""
    assert r.status == 403, r
    assert r.header("Content-Type", "").startswith("application/json"), r
    assert r.json() == {"error": "consent_denied", "reason": reason}, r


def released_bytes(raw_body, dataset):
    """The exact bytes of one released data set in the answer as the
    requester received them (the audit's sha256 must be theirs, so that
    "a requester can prove what it received by hashing its copy"): the
    value of its member of "items", cut out of the raw body."""
    text = raw_body.decode("utf-8")
    key = json.dumps(dataset) + ":"
    start = text.index('"items":{') + len('"items":{')
    start = text.index(key, start) + len(key)
    _, end = json.JSONDecoder().raw_decode(text, start)
    return text[start:end].encode("utf-8")


# ---- the whole journey ----

def test_idp_journey_grant_exchange_prefill_revoke(xstack):
    """Log in, grant TD an ImmD and an RVD data set for an IDP application
    (and TD's own licence, for the form), exchange returns both with
    provenance, prefill fills the TD form, revoke, the next exchange is
    403; every decision audited once."""
    c = xstack.citizen()
    audit = xstack.audit()

    # the consent page shows who asks, why, and which department holds what
    terms = {"requester": "TD", "service": "td.idp", "purpose": "idp",
             "purpose_en": "Apply for an International Driving Permit",
             "purpose_zh": "申請國際駕駛許可證",
             "items": ",".join((IMMD, RVD, TD)), "days": 90, "max_uses": 3,
             "data_life_days": 30}
    page, csrf, text = c.consent_page(**terms)
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    body = page.text
    for s in ("TD", "td.idp", terms["purpose_en"], terms["purpose_zh"],
              IMMD + " &mdash; ImmD", RVD + " &mdash; RVD",
              TD + " &mdash; TD"):
        assert s in body, s
    assert re.match(r"^[0-9a-f]{32}$", csrf)

    granted = int(time.time())
    cid = c.grant(items=(IMMD, RVD, TD))
    rec = c.consent(cid)
    assert "citizen" not in rec
    assert rec["status"] == "ACTIVE" and rec["use_count"] == 0
    assert rec["requester"] == {"department": "TD", "service": "td.idp",
                                "subject": c.subjects["TD"]}
    assert {s["department"]: (s["subject"], s["items"])
            for s in rec["sources"]} == {
        "ImmD": (c.subjects["ImmD"], [IMMD]),
        "RVD": (c.subjects["RVD"], [RVD]),
        "TD": (c.subjects["TD"], [TD])}
    assert rec["purpose"] == {"code": "idp", "text": {
        "en": terms["purpose_en"], "zh-HK": terms["purpose_zh"]}}
    assert rec["max_uses"] == 3 and rec["data_life"] == 30 * 86400
    assert abs(rec["expires"] - (granted + 90 * 86400)) <= 5
    assert [x["id"] for x in c.consents()] == [cid]
    assert c.consents()[0]["status"] == "ACTIVE"

    # TD asks for the ImmD and RVD data sets
    r = xstack.exchange(cid, [IMMD, RVD], subject=c.subjects["TD"])
    assert r.status == 200, r
    ans = r.json()
    assert ans["consent"] == cid
    assert re.match(r"^[0-9a-f]{32}$", ans["request_id"])
    # the RVD data set, with its provenance
    when, values = expected_rvd()
    assert_fields(ans["items"][RVD], RVD, "RVD", when, values)
    # ... and the ImmD one: the persona's name and date of birth, and
    # the travel records ImmD holds
    assert ans["errors"] == {}, ans["errors"]
    rec_immd, values = expected_immd()
    assert_fields(ans["items"][IMMD], IMMD, "ImmD", None, values)
    immd = {k: v["value"] for k, v in ans["items"][IMMD]["fields"].items()}
    moves = immd["immd.travel_records.movements"]
    assert immd["immd.travel_records.count"] == len(moves) > 0
    held = {r[1].replace("-", "") for r in rec_immd["records"]}
    assert {m["date"] for m in moves} <= held, moves

    # one record per source, the same in the file and the stream, the
    # hash that of the bytes TD received
    recs = audit.records(cid, wait_for=2)
    assert len(recs) == 2, recs
    assert {x["request_id"] for x in recs} == {ans["request_id"]}
    by_source = {x["source"]: x for x in recs}
    assert set(by_source) == {"ImmD", "RVD"}
    for dept, dataset in (("RVD", RVD), ("ImmD", IMMD)):
        check_record(by_source[dept], "released", cid,
                     citizen=c.subjects["TD"])
        assert by_source[dept]["items"] == [dataset]

    # prefill: e-ME data approved in the app, TD's licence through the
    # same consent, mapped to TD's form with the source of every field
    page = c.browser.navigate(xstack.url(
        "/prefill?form=td.idp_application&consent=%s&purpose=idp" % cid))
    assert page.response.status == 200, page
    hops = [(u.split("?")[0].split("/", 3)[-1], x.status)
            for u, x in page.chain]
    assert hops[0] == ("prefill", 302), hops
    assert hops[1][0].startswith("approve/") and hops[1][1] == 302, hops
    assert hops[2] == ("iamsmart/platform", 302), hops
    form = page.response.json()
    assert form["form"] == "td.idp_application"
    td_rec = RECORDS["TD"][DEFAULT_PERSONA]
    prof = PERSONAS[DEFAULT_PERSONA]["profile"]
    p = form["payload"]
    assert p["surname"] == prof["enName"]["UnstructuredName"].split(",")[0]
    assert p["hkidNo"] == "%s(%s)" % (prof["idNo"]["Identification"],
                                      prof["idNo"]["CheckDigit"])
    assert p["drivingLicenceNo"] == td_rec["licenceNo"]
    assert not form.get("missing"), form
    assert form["sources"]["idNo"]["source"] == "iAM Smart"
    assert form["sources"]["td.driving_licence.licence_number"] == {
        "source": "TD", "last_updated": expected_td()[0]}
    recs = audit.records(cid, wait_for=3)
    assert len(recs) == 3, recs
    check_record(recs[-1], "released", cid, citizen=c.subjects["TD"])
    assert recs[-1]["source"] == "TD" and recs[-1]["items"] == [TD]

    # revoke: the very next exchange is refused, with no data
    assert c.change(cid, "revoke") == {"id": cid, "status": "REVOKED"}
    r = xstack.exchange(cid, [RVD])
    assert_denied(r, "consent revoked")
    recs = audit.records(cid, wait_for=4)
    assert len(recs) == 4, recs
    assert ACCOUNT.encode() not in r.body
    check_record(recs[-1], "denied", cid, citizen=c.subjects["TD"])
    assert recs[-1]["source"] is None and recs[-1]["items"] == [RVD]
    assert recs[-1]["reason"] == "consent revoked"

    # the citizen sees the revocation, the uses, and every release
    rec = c.consent(cid)
    assert rec["status"] == "REVOKED" and rec["use_count"] == 2
    assert rec["last_used"] >= granted
    mine = c.get_json(CONSENTS + "data")
    assert {h["department"]["code"] for h in mine["holders"]} == \
        set(DATASETS)
    assert [x["id"] for x in mine["consents"]] == [cid]
    assert sorted(x["request_id"] for x in mine["releases"]) == \
        sorted(x["request_id"] for x in recs)
    assert all("citizen" not in x for x in mine["releases"])



def test_audit_hash_is_that_of_the_bytes_received(xstack):
    """Each release's sha256 is of the exact bytes of that data set in
    the answer, so that the requester can prove what it received by
    hashing its copy: for ASCII data (RVD) and for data with Chinese
    text (ImmD's chName, REO's constituency names)."""
    c = xstack.citizen()
    cid = c.grant(items=(RVD, IMMD, REO), max_uses=0)
    r = xstack.exchange(cid, [RVD, IMMD, REO])
    assert r.status == 200, r
    ans = r.json()
    recs = {x["source"]: x for x in xstack.audit().records(cid, wait_for=3)}
    got = {}
    for dept, dataset in (("RVD", RVD), ("ImmD", IMMD), ("REO", REO)):
        received = released_bytes(r.body, dataset)
        assert json.loads(received) == ans["items"][dataset]
        got[dept] = (recs[dept]["sha256"],
                     hashlib.sha256(received).hexdigest())
    assert all(a == b for a, b in got.values()), got


# ---- the citizen's controls ----

def test_a_consent_shows_its_usage(xstack):
    """GET /my/consents/<id>: the record with "usage", the audit entries
    of this consent (releases and denials), without the citizen."""
    c = xstack.citizen()
    cid = c.grant(items=(RVD, REO), max_uses=0)
    assert xstack.exchange(cid, [RVD, REO]).status == 200
    assert_denied(xstack.exchange(cid, [TD]), "item not covered: " + TD)
    recs = xstack.audit().records(cid, wait_for=3)
    rec = c.consent(cid)
    assert rec["use_count"] == 1
    assert sorted((u["request_id"], u["source"] or "", u["outcome"])
                  for u in rec["usage"]) == \
        sorted((x["request_id"], x["source"] or "", x["outcome"])
               for x in recs), rec["usage"]
    assert all("citizen" not in u for u in rec["usage"])


def test_pause_and_resume(xstack):
    c = xstack.citizen()
    cid = c.grant(items=(RVD,), max_uses=0)
    assert xstack.exchange(cid, [RVD]).status == 200

    assert c.change(cid, "pause") == {"id": cid, "status": "PAUSED"}
    assert_denied(xstack.exchange(cid, [RVD]), "consent paused")
    assert c.consent(cid)["status"] == "PAUSED"
    assert c.change(cid, "pause", expect=409)["error"] == \
        "consent not active"

    assert c.change(cid, "resume") == {"id": cid, "status": "ACTIVE"}
    assert xstack.exchange(cid, [RVD]).status == 200
    assert c.change(cid, "resume", expect=409)["error"] == \
        "consent not paused"

    # revoking a paused consent is final
    c.change(cid, "pause")
    assert c.change(cid, "revoke")["status"] == "REVOKED"
    assert c.change(cid, "resume", expect=409)["error"] == "consent revoked"
    assert_denied(xstack.exchange(cid, [RVD]), "consent revoked")

    recs = xstack.audit().records(cid, wait_for=5)
    assert [x["outcome"] for x in recs] == \
        ["released", "denied", "released", "denied"], recs
    assert [x["reason"] for x in recs if x["reason"]] == \
        ["consent paused", "consent revoked"]


def test_expiry(xstack):
    """A consent is refused from its expiry on, and shown as expired,
    before any housekeeping.  The shortest lifetime the page offers is a
    day, so the stored record is moved back in time instead of waiting:
    granted a minute ago, expiring two seconds from now."""
    c = xstack.citizen()
    cid = c.grant(items=(RVD,), max_uses=0)
    key = "iamsmart:consent:v1:{%s}" % cid
    with xstack.redis() as rc:
        rec = json.loads(rc.command("GET", key))
        now = int(time.time())
        rec.update(created=now - 60, not_before=now - 60,
                   status_changed=now - 60, expires=now + 2)
        rc.command("SET", key, json.dumps(rec, separators=(",", ":"),
                                          sort_keys=True,
                                          ensure_ascii=False))
    assert xstack.exchange(cid, [RVD]).status == 200
    assert c.consent(cid)["status"] == "ACTIVE"

    time.sleep(max(0.0, now + 2 - time.time()) + 0.2)
    assert_denied(xstack.exchange(cid, [RVD]), "consent expired")
    assert c.consent(cid)["status"] == "EXPIRED"
    assert c.change(cid, "pause", expect=409)["error"] == "consent expired"
    assert_denied(xstack.exchange(cid, [RVD]), "consent expired")

    recs = xstack.audit().records(cid, wait_for=3)
    assert [(x["outcome"], x["reason"]) for x in recs] == [
        ("released", None), ("denied", "consent expired"),
        ("denied", "consent expired")]


def test_use_limit(xstack):
    c = xstack.citizen()
    cid = c.grant(items=(RVD, REO), max_uses=2)
    for _ in range(2):
        r = xstack.exchange(cid, [RVD, REO])
        assert r.status == 200 and set(r.json()["items"]) == {RVD, REO}, r
    assert_denied(xstack.exchange(cid, [RVD]), "use limit reached")
    assert_denied(xstack.exchange(cid, [REO]), "use limit reached")
    rec = c.consent(cid)
    assert rec["use_count"] == 2 and rec["status"] == "ACTIVE"
    recs = xstack.audit().records(cid, wait_for=6)
    assert sorted((x["outcome"], x["source"] or "-") for x in recs) == [
        ("denied", "-"), ("denied", "-"), ("released", "REO"),
        ("released", "REO"), ("released", "RVD"), ("released", "RVD")]


def test_state_changes_need_the_consent_page(xstack):
    """A grant or a change needs the page's CSRF token and a same-site
    request; a browser (not a JSON client) is sent to the consent."""
    c = xstack.citizen()
    _, csrf, text = c.consent_page(
        requester="TD", service="td.idp", purpose="idp", purpose_en="x",
        purpose_zh="x", items=RVD)
    r = c.post(CONSENTS, {"terms": text})
    assert r.status == 403 and r.json()["error"] == "forbidden", r
    r = c.post(CONSENTS, {"csrf": "0" * 32, "terms": text})
    assert r.status == 403, r
    r = c.post(CONSENTS, {"csrf": csrf, "terms": text},
               headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403, r
    assert c.consents() == []

    r = c.post(CONSENTS, {"csrf": csrf, "terms": text}, json_client=False)
    assert r.status == 303, r
    cid = r.header("Location").rsplit("/", 1)[-1]
    assert ID_RE.match(cid) and r.header("Location").endswith(CONSENTS
                                                              + cid), r

    r = c.post(CONSENTS + cid + "/revoke", {"csrf": csrf},
               headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403, r
    assert xstack.exchange(cid, [RVD]).status == 200

    # another citizen's session cannot see or change it
    other = xstack.citizen("wong-mei-ling")
    assert other.get(CONSENTS + cid).status == 404
    assert other.change(cid, "revoke", expect=404)
    assert c.consent(cid)["status"] == "ACTIVE"


def test_the_list_shows_every_consent(xstack):
    """However many consents a citizen has granted, the list shows them
    all (up to the documented maximum), as does "my data"."""
    c = xstack.citizen("lee-siu-ming", link=False)
    ids = [c.grant(items=(RVD,), purpose="p%d" % i) for i in range(20)]
    listed = c.consents()
    assert sorted(x["id"] for x in listed) == sorted(ids)
    assert {x["purpose"]["code"] for x in listed} == \
        {"p%d" % i for i in range(20)}
    assert sorted(x["id"] for x in c.get_json(CONSENTS + "data")
                  ["consents"]) == sorted(ids)


# ---- what a consent releases, and to whom ----

def test_consent_for_a_never_releases_b(xstack):
    c = xstack.citizen()
    cid = c.grant(items=(RVD,), max_uses=0)
    for items, bad in (([REO], REO), ([RVD, REO], REO), ([TD, RVD], TD),
                       (["rvd.rates_accoun"], "rvd.rates_accoun"),
                       (["rvd.rates_account_x"], "rvd.rates_account_x"),
                       (["reo.rates_account"], "reo.rates_account")):
        r = xstack.exchange(cid, items)
        assert_denied(r, "item not covered: " + bad)
        assert ACCOUNT.encode() not in r.body
    # no case folding either: not even an item name
    r = xstack.exchange(cid, ["rvd.Rates_account"])
    assert r.status == 400 and ACCOUNT.encode() not in r.body, r
    # a consented subset is fine, and uses were not counted for refusals
    r = xstack.exchange(cid, [RVD])
    assert r.status == 200 and list(r.json()["items"]) == [RVD], r
    assert c.consent(cid)["use_count"] == 1

    recs = xstack.audit().records(cid, wait_for=7)
    assert [x["outcome"] for x in recs] == ["denied"] * 6 + ["released"]
    for x in recs[:6]:
        check_record(x, "denied", cid, citizen=c.subjects["TD"])
        assert x["reason"].startswith("item not covered: ")


def test_requester_x_cannot_use_requester_ys_consent(xstack):
    c = xstack.citizen()
    for_td = c.grant(items=(RVD,), max_uses=0)
    for_rvd = c.grant(requester="RVD", service="rvd.rates_concession",
                      purpose="concession", items=(TD,), max_uses=0)

    # RVD, properly authenticated, with TD's consent (and TD's details)
    assert_denied(xstack.exchange(for_td, [RVD], department="RVD",
                                  subject=c.subjects["TD"]),
                  "wrong requester")
    assert_denied(xstack.exchange(for_td, [RVD], department="RVD",
                                  service="rvd.rates_concession",
                                  subject=c.subjects["RVD"]),
                  "wrong requester")
    # TD with RVD's consent
    assert_denied(xstack.exchange(for_rvd, [TD], department="TD",
                                  service="rvd.rates_concession",
                                  purpose="concession",
                                  subject=c.subjects["RVD"]),
                  "wrong requester")
    # the right department through another of its services
    assert_denied(xstack.exchange(for_td, [RVD], service="td.elicence"),
                  "wrong requester")
    # the right requester naming another citizen (or another
    # department's pseudonym of this one)
    other = xstack.keys.subject("TD", "wong-mei-ling")
    assert_denied(xstack.exchange(for_td, [RVD], subject=other),
                  "wrong subject")
    assert_denied(xstack.exchange(for_td, [RVD],
                                  subject=c.subjects["RVD"]),
                  "wrong subject")
    # ... and the requester check comes first: nothing about the consent
    # leaks, not even its purpose or its items
    assert_denied(xstack.exchange(for_td, [REO], department="REO",
                                  service="reo.voter_enquiry",
                                  purpose="other"),
                  "wrong requester")
    assert_denied(xstack.exchange(for_td, [RVD], purpose="idp-x"),
                  "wrong purpose")

    # both still work for their own requesters
    assert xstack.exchange(for_td, [RVD]).status == 200
    r = xstack.exchange(for_rvd, [TD], department="RVD",
                        service="rvd.rates_concession",
                        purpose="concession", subject=c.subjects["RVD"])
    assert r.status == 200, r
    assert_fields(r.json()["items"][TD], TD, "TD", expected_td()[0],
                  expected_td()[1])

    recs = xstack.audit().records(for_td, wait_for=8)
    assert [(x["requester"], x["outcome"], x["reason"]) for x in recs] == [
        ("RVD", "denied", "wrong requester"),
        ("RVD", "denied", "wrong requester"),
        ("TD", "denied", "wrong requester"),
        ("TD", "denied", "wrong subject"),
        ("TD", "denied", "wrong subject"),
        ("REO", "denied", "wrong requester"),
        ("TD", "denied", "wrong purpose"),
        ("TD", "released", None)], recs
    rvd_recs = xstack.audit().records(for_rvd, wait_for=2)
    assert [(x["requester"], x["outcome"]) for x in rvd_recs] == [
        ("TD", "denied"), ("RVD", "released")]
    assert rvd_recs[1]["source"] == "TD"


def test_unknown_consent(xstack):
    audit = xstack.audit()
    missing = "AAAAAAAAAAAAAAAAAAAAAA"
    assert_denied(xstack.exchange(missing, [RVD]), "no consent")
    recs = audit.records(missing, wait_for=1)
    assert len(recs) == 1
    check_record(recs[0], "denied", missing)
    assert recs[0]["reason"] == "no consent"
    # a malformed id is no consent either, and is not written to the trail
    before = len(audit.file_records())
    assert_denied(xstack.exchange("../../etc/passwd", [RVD]), "no consent")
    after = audit.file_records()
    assert len(after) == before + 1 and after[-1]["consent"] is None


# ---- the requester's credential ----

def _bad_credentials(keys):
    now = int(time.time())
    return {
        "none": False,
        "not a JWT": "not-a-jwt",
        "stranger's key, TD's kid": credential(keys, "TD",
                                               key=keys.stranger),
        "RVD's key claiming TD": credential(keys, "TD",
                                           key=keys.client["RVD"]),
        "department without client_keys": credential(
            keys, "ImmD", key=keys.client["TD"]),
        "iss != sub": credential(keys, "TD", sub="RVD"),
        "wrong audience": credential(keys, "TD", aud="https://other.test"),
        "expired": credential(keys, "TD", now=now - 400),
        "lifetime over 300 s": credential(keys, "TD", lifetime=301),
        "no iat": credential(keys, "TD", iat=None),
        "unknown department": credential(keys, "FEHD",
                                         key=keys.client["TD"]),
    }


def test_exchange_needs_a_valid_department_credential(xstack):
    c = xstack.citizen()
    cid = c.grant(items=(RVD,), max_uses=0)
    audit = xstack.audit()
    before = len(audit.file_records())
    for name, token in _bad_credentials(xstack.keys).items():
        r = xstack.exchange(cid, [RVD], token=token)
        assert r.status == 401, (name, r)
        assert r.json()["error"] == "invalid_client", (name, r)
        assert b"rates" not in r.body
    # nobody authenticated, nothing decided: no audit entry, no use
    assert len(audit.file_records()) == before
    assert c.consent(cid)["use_count"] == 0
    assert xstack.exchange(cid, [RVD]).status == 200


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]",
    {"subject": "x", "service": "td.idp", "purpose": "idp", "items": [RVD]},
    {"consent": "AAAAAAAAAAAAAAAAAAAAAA", "subject": "x",
     "service": "td.idp", "purpose": "idp", "items": []},
    {"consent": "AAAAAAAAAAAAAAAAAAAAAA", "subject": "x",
     "service": "td.idp", "purpose": "idp", "items": ["no dot"]},
    {"consent": "AAAAAAAAAAAAAAAAAAAAAA", "subject": "x",
     "service": "td.idp", "purpose": "idp", "items": [RVD] * 33},
])
def test_malformed_exchange_requests(xstack, body):
    r = xstack.exchange(None, (), body=body)
    assert r.status == 400, r
    assert "error" in r.json()


# ---- concurrency ----

def test_concurrent_exchanges_never_exceed_the_limit(xstack):
    """20 exchanges at once on a consent with max_uses 5: exactly 5 are
    released, 15 refused, and the trail says exactly that."""
    c = xstack.citizen()
    cid = c.grant(items=(RVD, REO), max_uses=5)
    tokens = [credential(xstack.keys, "TD") for _ in range(20)]

    def one(i):
        return xstack.exchange(cid, [RVD, REO], token=tokens[i],
                               timeout=20.0)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))

    ok = [r for r in results if r.status == 200]
    refused = [r for r in results if r.status != 200]
    assert len(ok) == 5, [r.status for r in results]
    assert len(refused) == 15
    for r in refused:
        assert_denied(r, "use limit reached")
    for r in ok:
        assert set(r.json()["items"]) == {RVD, REO}, r

    with xstack.redis() as rc:
        assert rc.command("GET", "iamsmart:consent:v1:{%s}:uses" % cid) \
            == b"5"
    assert c.consent(cid)["use_count"] == 5

    recs = xstack.audit().records(cid, wait_for=25)
    assert len(recs) == 25, recs
    released = [x for x in recs if x["outcome"] == "released"]
    denied = [x for x in recs if x["outcome"] == "denied"]
    assert sorted(x["source"] for x in released) == ["REO"] * 5 + ["RVD"] * 5
    assert len({x["request_id"] for x in released}) == 5
    assert {x["request_id"] for x in released} == \
        {r.json()["request_id"] for r in ok}
    assert len(denied) == 15
    assert {x["reason"] for x in denied} == {"use limit reached"}
    assert len({x["request_id"] for x in recs}) == 20


# ---- durability ----

def _grant_then_kill(exchange_stack, redis):
    stack = exchange_stack(redis=redis)
    c = stack.citizen()
    cid = c.grant(items=(RVD,), max_uses=0)     # acknowledged: 201
    kill_redis(redis)
    restart_redis(redis)
    return stack, c, cid


def _exchange_once_redis_is_back(stack, cid, items, timeout=10.0):
    """The gateway reconnects on its own; until it has, it answers 503."""
    deadline = time.monotonic() + timeout
    while True:
        r = stack.exchange(cid, items)
        if r.status != 503 or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def test_acknowledged_grant_and_revocation_survive_sigkill(exchange_stack):
    """Redis with appendonly yes and appendfsync always (see
    exchange_support.durable_redis): a grant the citizen saw confirmed,
    and then a revocation, each followed at once by SIGKILL and a
    restart."""
    redis = durable_redis().start()
    try:
        stack, c, cid = _grant_then_kill(exchange_stack, redis)
        r = _exchange_once_redis_is_back(stack, cid, [RVD])
        assert r.status == 200, r
        assert c.consent(cid)["status"] == "ACTIVE"

        assert c.change(cid, "revoke")["status"] == "REVOKED"
        kill_redis(redis)
        restart_redis(redis)
        r = _exchange_once_redis_is_back(stack, cid, [RVD])
        assert_denied(r, "consent revoked")
        rec = c.consent(cid)
        assert rec["status"] == "REVOKED" and rec["use_count"] == 1
        # the audit stream survived too
        audit = stack.audit()
        assert [x["outcome"] for x in audit.stream_records(cid)] == \
            ["released", "denied"]
    finally:
        redis.stop()


def test_without_aof_sigkill_loses_the_grant(exchange_stack):
    """The control: with snapshots off and no append-only file, the same
    SIGKILL loses an acknowledged grant.  This is what the durability
    settings are for."""
    redis = durable_redis(appendonly=False).start()
    try:
        stack, c, cid = _grant_then_kill(exchange_stack, redis)
        r = _exchange_once_redis_is_back(stack, cid, [RVD])
        assert_denied(r, "no consent")
    finally:
        redis.stop()
