"""
e-ME form filling (iamsmart_prefill), end to end: the TD adapter says
what its IDP application form needs; the gateway asks the platform (the
sandbox, deciding by persona) for the e-ME and profile fields, the
citizen approves in the "app", the platform calls back, and the data
sets come from the department through the consent the link names,
checked, counted and audited exactly as an exchange.

Expected values come from the sandbox's own files (personas.json,
records.json).
"""

import re
import time
import urllib.parse

import harness
from exchange_support import (  # noqa: F401  (fixtures)
    DATASETS, PERSONAS, PLATFORM_CB, RECORDS, check_record, exchange_keys,
    shared_exchange, td_last_updated, xstack)
from login_support import DEFAULT_PERSONA, Browser

FORM = "td.idp_application"
TD = DATASETS["TD"]
RVD = DATASETS["RVD"]
DECLINING = "lam-chi-wai"           # e-ME requests: reject
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EME_ONLY = ("idNo", "mobileNumber", "emailAddress")
EMAIL = PERSONAS[DEFAULT_PERSONA]["eME"]["emailAddress"]


def prefill_url(stack, consent=None, purpose="idp", form=FORM):
    q = {"form": form}
    if consent is not None:
        q.update(consent=consent, purpose=purpose)
    return stack.url("/prefill?" + urllib.parse.urlencode(q))


def prefill(stack, citizen, consent=None, purpose="idp", form=FORM):
    """Runs the whole approval round trip; returns the final Page, after
    checking each hop: the gateway sends the browser to the platform's
    approval page, the platform back to the callback URL, the gateway back
    to the form with the ticket."""
    page = citizen.browser.navigate(prefill_url(stack, consent, purpose,
                                                form))
    hops = [(urllib.parse.urlsplit(u), r) for u, r in page.chain]
    assert len(hops) == 3, page.chain
    assert hops[0][0].path == "/prefill" and hops[0][1].status == 302
    assert hops[1][0].port == stack.sandbox.port
    assert hops[1][0].path.startswith("/approve/"), hops[1][0]
    assert hops[2][0].path == PLATFORM_CB, hops[2][0]
    last = urllib.parse.urlsplit(page.url)
    q = urllib.parse.parse_qs(last.query)
    assert last.path == "/prefill" and q["form"] == [form], page.url
    assert q["ticket"] == urllib.parse.parse_qs(hops[2][0].query)[
        "businessID"], page.url
    if consent is not None:
        assert q["consent"] == [consent] and q["purpose"] == [purpose]
    return page


def expected_payload(persona=DEFAULT_PERSONA, licence=True):
    """The TD form's payload, from the persona's profile and e-ME data
    and TD's record (TD's formats: DD/MM/YYYY, A123456(3))."""
    p = PERSONAS[persona]
    prof, eme = p["profile"], p["eME"]
    surname, _, given = prof["enName"]["UnstructuredName"].partition(",")
    bd = prof["birthDate"]
    out = {
        "surname": surname.strip(),
        "givenNames": given.strip(),
        "chineseName": prof["chName"]["ChineseName"],
        "hkidNo": "%s(%s)" % (prof["idNo"]["Identification"],
                              prof["idNo"]["CheckDigit"]),
        "dateOfBirth": "%s/%s/%s" % (bd[6:], bd[4:6], bd[:4]),
        "mobileNo": eme["mobileNumber"]["SubscriberNumber"],
        "email": eme["emailAddress"],
    }
    if licence:
        rec = RECORDS["TD"][persona]
        out["drivingLicenceNo"] = rec["licenceNo"]
        out["licenceExpiryDate"] = rec["expiryDate"]
    return out


def check_payload(form, persona=DEFAULT_PERSONA, licence=True):
    assert form["form"] == FORM
    payload = form["payload"]
    for name, value in expected_payload(persona, licence).items():
        assert payload.get(name) == value, (name, payload.get(name))
    # the address, in TD's lines, from the e-ME residential address
    addr = PERSONAS[persona]["eME"]["residentialAddress"]
    building = addr["EngPremisesAddress"]["BuildingName"]
    assert isinstance(payload["address"], list)
    assert any(building in line for line in payload["address"]), payload
    return payload


def test_prefill_fills_the_td_form_from_eme_and_consented_data(xstack):
    c = xstack.citizen()
    cid = c.grant(items=(TD,), max_uses=0)
    before = time.time()
    page = prefill(xstack, c, cid)
    assert page.response.status == 200, page
    assert page.response.header("Cache-Control") == "no-store"
    form = page.response.json()
    check_payload(form)
    assert not form.get("missing"), form

    # every canonical field says where it came from and how fresh it is
    src = form["sources"]
    for name in EME_ONLY:
        assert src[name]["source"] == "iAM Smart", (name, src[name])
        assert RFC3339_MS.match(src[name]["last_updated"]), src[name]
    td_fields = [n for n in src if n.startswith(TD + ".")]
    assert "td.driving_licence.licence_number" in td_fields
    for name in td_fields:
        assert src[name]["source"] == "TD", (name, src[name])
        assert src[name]["last_updated"] == td_last_updated(), src[name]
    for name in ("enName", "birthDate"):          # both could give these
        assert src[name]["source"] in ("iAM Smart", "TD"), src[name]

    # the platform was asked for exactly the fields the form needs
    log = [e for e in xstack.sandbox.log(
        path="/api/v1/account/eme/initiateRequest")
        if e.get("time_ms", 0) >= before * 1000 - 1000]
    assert [e.get("code") for e in log] == ["D00000"], log

    # the licence came through the consent: counted and audited
    assert c.consent(cid)["use_count"] == 1
    recs = xstack.audit().records(cid, wait_for=1)
    assert len(recs) == 1, recs
    check_record(recs[0], "released", cid, citizen=c.subjects["TD"])
    assert recs[0]["source"] == "TD" and recs[0]["items"] == [TD]


def test_prefill_without_a_consent_reports_what_is_missing(xstack):
    c = xstack.citizen()
    page = prefill(xstack, c)
    assert page.response.status == 200, page
    form = page.response.json()
    payload = check_payload(form, licence=False)
    assert "drivingLicenceNo" not in payload
    assert form["missing"] == ["drivingLicenceNo"], form
    assert {v["source"] for v in form["sources"].values()} == {"iAM Smart"}
    assert not any(n.startswith(TD) for n in form["sources"])


def test_prefill_through_a_revoked_consent_is_refused(xstack):
    c = xstack.citizen()
    cid = c.grant(items=(TD,), max_uses=0)
    c.change(cid, "revoke")
    page = prefill(xstack, c, cid)
    r = page.response
    assert r.status == 403, r
    assert r.json() == {"error": "consent_denied",
                        "reason": "consent revoked"}, r
    assert RECORDS["TD"][DEFAULT_PERSONA]["licenceNo"].encode() not in r.body
    assert EMAIL.encode() not in r.body
    recs = xstack.audit().records(cid, wait_for=1)
    assert [(x["outcome"], x["reason"]) for x in recs] == [
        ("denied", "consent revoked")]


def test_prefill_checks_the_consent_like_an_exchange(xstack):
    c = xstack.citizen()
    # a consent for another data set does not release TD's: the form is
    # filled with what the platform gave and says what is missing
    other = c.grant(items=(RVD,), max_uses=0)
    r = prefill(xstack, c, other).response
    assert r.status == 200, r
    form = r.json()
    check_payload(form, licence=False)
    assert form["missing"] == ["drivingLicenceNo"], form
    assert RECORDS["TD"][DEFAULT_PERSONA]["licenceNo"].encode() not in r.body
    assert not any(n.startswith("rvd.") for n in form["sources"]), form
    assert c.consent(other)["use_count"] == 0
    assert xstack.audit().records(other) == []
    # the purpose must be the consent's
    cid = c.grant(items=(TD,), max_uses=1)
    r = prefill(xstack, c, cid, purpose="other").response
    assert r.status == 403 and r.json()["reason"] == "wrong purpose", r
    # and every prefill is a use
    assert prefill(xstack, c, cid).response.status == 200
    r = prefill(xstack, c, cid).response
    assert r.status == 403 and r.json()["reason"] == "use limit reached", r
    recs = xstack.audit().records(cid, wait_for=3)
    assert [(x["outcome"], x["reason"]) for x in recs] == [
        ("denied", "wrong purpose"), ("released", None),
        ("denied", "use limit reached")]


def test_declined_in_the_app(xstack):
    c = xstack.citizen(DECLINING, link=False)
    page = prefill(xstack, c)
    r = page.response
    assert r.status == 403, r
    body = r.json()
    assert body["error"] == "declined", body
    assert "payload" not in body


def test_a_ticket_is_for_its_own_session_and_used_once(xstack):
    c = xstack.citizen()
    stop = lambda url: "ticket=" in url                       # noqa: E731
    page = c.browser.navigate(prefill_url(xstack), stop=stop)
    assert page.response.status == 302, page
    back = urllib.parse.urljoin(page.url, page.response.header("Location"))
    assert "ticket=" in back

    # another citizen's session cannot open it (the platform's callback
    # was delivered before the platform sent the browser back)
    intruder = xstack.citizen("wong-mei-ling", link=False)
    r = intruder.browser.navigate(back).response
    assert r.status == 403 and r.json()["error"] == "not_yours", r
    assert EMAIL.encode() not in r.body

    # a fresh round trip works, and its ticket cannot be replayed
    page = prefill(xstack, c)
    assert page.response.status == 200, page
    assert EMAIL.encode() in page.response.body
    for accept in ("application/json", "text/html"):
        r = c.browser.request("GET", page.url, headers={"Accept": accept})
        assert r.status == 404 and r.json()["error"] == "no_data", r
        assert EMAIL.encode() not in r.body


def test_the_form_waits_for_a_late_approval(xstack):
    """The citizen has not decided in the app yet: the ticket's page
    says so (202; browsers get a page that asks again) and shows the
    data once the platform has called back."""
    c = xstack.citizen()
    xstack.sandbox.admin("auto-approve", persona=None)      # manual mode
    page = c.browser.navigate(prefill_url(xstack),
                              stop=lambda url: "/approve/" in url)
    approve = urllib.parse.urljoin(page.url,
                                   page.response.header("Location"))
    ticket_id = urllib.parse.urlsplit(approve).path.rsplit("/", 1)[-1]
    r = harness.http_request(xstack.sandbox.port,
                             "/sandbox/admin/tickets/" + ticket_id)
    assert r.status == 200 and r.json()["status"] == "pending", r
    waiting = prefill_url(xstack) + "&ticket=" + r.json()["businessID"]

    r = c.browser.request("GET", waiting,
                          headers={"Accept": "application/json"})
    assert r.status == 202 and r.json()["error"] == "pending", r
    r = c.browser.request("GET", waiting)
    assert r.status == 202 and r.header("Refresh") == "2", r
    assert r.header("Content-Type").startswith("text/html"), r
    assert EMAIL.encode() not in r.body

    # the citizen approves; the platform calls back, then sends the
    # browser back through the gateway to the form
    page = c.browser.navigate(approve, method="POST",
                              body="decision=approve", headers={
                                  "Content-Type":
                                  "application/x-www-form-urlencoded"})
    assert page.response.status == 200, page
    assert urllib.parse.urlsplit(page.url).query.endswith(
        "ticket=" + urllib.parse.parse_qs(
            urllib.parse.urlsplit(waiting).query)["ticket"][0]), page.url
    check_payload(page.response.json(), licence=False)
    # the waiting page, asking again, now finds the data used up
    r = c.browser.request("GET", waiting,
                          headers={"Accept": "application/json"})
    assert r.status == 404, r


def test_unknown_and_missing_forms(xstack):
    c = xstack.citizen(link=False)
    r = c.browser.navigate(xstack.url("/prefill?form=td.nope")).response
    assert r.status == 404 and r.json()["error"] == "unknown_form", r
    r = c.browser.navigate(xstack.url("/prefill")).response
    assert r.status == 400 and r.json()["error"] == "invalid_request", r
    r = c.browser.request("GET", xstack.url("/prefill?form=%s&ticket=%s"
                                            % (FORM, "x" * 10)),
                          headers={"Accept": "application/json"})
    assert r.status == 404 and r.json()["error"] == "no_data", r
    r = c.browser.request("GET", xstack.url("/prefill?form=%s&ticket=%s"
                                            % (FORM, "a%20b")))
    assert r.status == 400, r


def test_prefill_needs_a_session(xstack):
    """Without a session the citizen is sent to log in first (and comes
    back to the form afterwards)."""
    b = Browser()
    r = b.request("GET", prefill_url(xstack))
    assert r.status == 302, r
    assert urllib.parse.urlsplit(r.header("Location")).path == \
        "/api/v1/auth/getQR", r
