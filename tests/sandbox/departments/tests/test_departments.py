"""The department sandbox (tests/sandbox/departments/server.py) and the
built adapters against it, through build/bin/iamsmart-adapter: exchange
data that lines up with the citizen's e-ME data, forms that the
department's own API accepts, typed errors for malformed replies, the
catalogue and the TD bridge."""

import json

import pytest

from conftest import (EME_SOURCE, eme_fields, query, start_sandbox,
                      stop_sandbox, values)


HKID_A = "A1234563"


# ---- the backends themselves ----

def test_health_lists_departments(sandbox):
    status, body = sandbox.request("GET", "/sandbox/health")
    assert status == 200
    assert body["departments"] == ["FEHD", "ImmD", "LCSD", "REO", "RVD",
                                   "TD"]


def test_one_department_only():
    sb = start_sandbox("--dept", "td")
    try:
        assert sb.post("/td/api/v2/licence/enquiry",
                       {"idType": "HKID", "idValue": HKID_A})[0] == 200
        assert sb.post("/reo/api/v1/voter-enquiry",
                       {"hkid": HKID_A})[0] == 404
    finally:
        stop_sandbox(sb)


def test_td_enquiry(sandbox):
    status, body = sandbox.post("/td/api/v2/licence/enquiry",
                                {"idType": "HKID", "idValue": HKID_A})
    assert status == 200
    assert body["status"] == "OK"
    assert body["data"]["licenceNo"] == "DL1234567"
    assert body["data"]["holder"]["dob"] == "01/01/1980"

    status, body = sandbox.post("/td/api/v2/licence/enquiry",
                                {"idType": "ACCOUNT", "idValue": "nobody"})
    assert (status, body["status"]) == (404, "NOT_FOUND")

    assert sandbox.post("/td/api/v2/licence/enquiry",
                        {"idType": "PASSPORT"})[0] == 400
    assert sandbox.request("POST", "/td/api/v2/licence/enquiry", b"{",
                           "application/json")[0] == 400
    assert sandbox.request("POST", "/td/api/v2/licence/enquiry", b"{}",
                           "text/plain")[0] == 415
    assert sandbox.request("GET", "/td/api/v2/nothing")[0] == 404


def test_links_identify_by_subject(sandbox):
    assert sandbox.post("/sandbox/link", {"dept": "TD", "subject": "sub-w",
                                          "persona": "wong-mei-ling"})[0] \
        == 200
    status, body = sandbox.post("/td/api/v2/licence/enquiry",
                                {"idType": "ACCOUNT", "idValue": "sub-w"})
    assert status == 200
    assert body["data"]["licenceNo"] == "DL0456789"

    # a link is per department
    assert sandbox.post("/reo/api/v1/voter-enquiry",
                        {"linkRef": "sub-w"})[0] == 404

    assert sandbox.post("/sandbox/link", {"dept": "XX", "subject": "s",
                                          "persona": "wong-mei-ling"})[0] \
        == 400


def test_links_from_the_command_line():
    sb = start_sandbox("--link", "REO:sub-link=chan-tai-man")
    try:
        status, body = sb.post("/reo/api/v1/voter-enquiry",
                               {"linkRef": "sub-link"})
        assert status == 200 and body["registered"] is True
    finally:
        stop_sandbox(sb)


def test_faults_are_injected_once(sandbox):
    assert sandbox.post("/sandbox/fault", {"dept": "TD", "status": 503,
                                           "count": 1})[0] == 200
    status, body = sandbox.post("/td/api/v2/licence/enquiry",
                                {"idType": "HKID", "idValue": HKID_A})
    assert status == 503 and "Service Unavailable" in body
    assert sandbox.post("/td/api/v2/licence/enquiry",
                        {"idType": "HKID", "idValue": HKID_A})[0] == 200


# ---- exchange data through the adapters ----

@pytest.mark.parametrize("pid", ["chan-tai-man", "wong-mei-ling",
                                 "cheung-ka-yan", "ho-wing-kei"])
def test_td_licence_lines_up_with_eme(sandbox, cli, personas, records, pid):
    p = personas[pid]
    r = cli("fetch", "TD", query("td.driving_licence", p),
            ["--backend", sandbox.url + "/td"])
    assert r.code == 0, r.stderr

    v = values(r.json)
    rec = records["TD"][pid]
    assert v["td.driving_licence.licence_number"] == rec["licenceNo"]
    assert v["td.driving_licence.status"] == rec["licenceStatus"].lower()

    # TD's copy of who the citizen is equals the citizen's e-ME data
    for name in ("enName", "chName", "birthDate", "gender"):
        assert v[name] == p["profile"][name], name
    assert v["residentialAddress"] == p["eME"]["residentialAddress"]

    for f in r.json["fields"].values():
        assert f["source"] == "TD"
    assert r.json["fields"]["enName"]["last_updated"].endswith("Z")


def test_td_not_found_and_by_link(sandbox, cli, personas):
    r = cli("fetch", "TD", query("td.driving_licence",
                                 personas["lee-siu-ming"]),
            ["--backend", sandbox.url + "/td"])
    assert r.code == 1
    assert r.stderr.startswith("not_found: ")

    sandbox.post("/sandbox/link", {"dept": "TD", "subject": "sub-chan",
                                   "persona": "chan-tai-man"})
    r = cli("fetch", "TD", query("td.driving_licence", subject="sub-chan"),
            ["--backend", sandbox.url + "/td"])
    assert r.code == 0, r.stderr
    assert values(r.json)["td.driving_licence.licence_number"] == "DL1234567"


@pytest.mark.parametrize("pid", ["chan-tai-man", "wong-mei-ling",
                                 "lee-siu-ming"])
def test_immd_travel_records(sandbox, cli, personas, records, pid):
    p = personas[pid]
    r = cli("fetch", "ImmD",
            query("immd.travel_records", p,
                  params={"from": "20240301", "to": "20241231"}),
            ["--backend", sandbox.url + "/immd"])
    assert r.code == 0, r.stderr

    v = values(r.json)
    expect = [m for m in records["ImmD"][pid]["records"]
              if "2024-03-01" <= m[1] <= "2024-12-31"]
    assert v["immd.travel_records.count"] == len(expect)
    assert [(m["direction"][0].upper(), m["date"], m["control_point"])
            for m in v["immd.travel_records.movements"]] \
        == [(d, day.replace("-", ""), cp) for d, day, cp in expect]
    assert v["immd.travel_records.period_from"] == "20240301"
    for name in ("enName", "chName", "birthDate"):
        assert v[name] == p["profile"][name]


def test_immd_by_linked_account(sandbox, cli, personas):
    r = cli("fetch", "ImmD", query("immd.travel_records", subject="sub-w"),
            ["--backend", sandbox.url + "/immd"])
    assert r.code == 1
    assert r.stderr.startswith("not_found: ")

    sandbox.post("/sandbox/link", {"dept": "ImmD", "subject": "sub-w",
                                   "persona": "wong-mei-ling"})
    r = cli("fetch", "ImmD", query("immd.travel_records", subject="sub-w"),
            ["--backend", sandbox.url + "/immd"])
    assert r.code == 0, r.stderr
    v = values(r.json)
    assert v["immd.travel_records.count"] == 2
    assert v["chName"] == personas["wong-mei-ling"]["profile"]["chName"]


@pytest.mark.parametrize("pid,registered", [("chan-tai-man", True),
                                            ("wong-mei-ling", True),
                                            ("lee-siu-ming", False),
                                            ("lam-chi-wai", False)])
def test_reo_voter_particulars(sandbox, cli, personas, pid, registered):
    p = personas[pid]
    r = cli("fetch", "REO", query("reo.voter_particulars", p),
            ["--backend", sandbox.url + "/reo"])
    assert r.code == 0, r.stderr

    v = values(r.json)
    assert v["reo.voter_particulars.registered"] is registered
    if registered:
        assert v["chName"] == p["profile"]["chName"]
        assert v["gender"] == p["profile"]["gender"]
        assert v["reo.voter_particulars.constituency"]["code"].startswith(
            "LC")
    else:
        assert set(v) == {"reo.voter_particulars.registered"}


def test_rvd_rates_account_with_jsonmap(sandbox, cli, personas):
    r = cli("fetch", "RVD", query("rvd.rates_account",
                                  personas["chan-tai-man"]),
            ["--backend", sandbox.url + "/rvd"])
    assert r.code == 0, r.stderr

    v = values(r.json)
    assert v["rvd.rates_account.account_number"] == "1-23-45-67890-12"
    assert v["rvd.rates_account.status"] == "active"
    assert v["rvd.rates_account.quarterly_rates"] == 3300
    assert v["rvd.rates_account.next_due_date"] == "20250430"
    assert v["rvd.rates_account.concession_eligible"] == "Y"
    assert v["enName"] == {"UnstructuredName": "CHAN, TAI MAN"}
    assert r.json["fields"]["enName"]["last_updated"] \
        == "2025-01-15T00:00:00Z"

    # an owner of no property, and a stranger
    for pid in ("wong-mei-ling", "lee-siu-ming"):
        r = cli("fetch", "RVD", query("rvd.rates_account", personas[pid]),
                ["--backend", sandbox.url + "/rvd"])
        assert r.code == 1 and r.stderr.startswith("not_found: "), pid


def test_fehd_tutorial_adapter(sandbox, cli, personas):
    p = personas["cheung-ka-yan"]
    r = cli("fetch", "FEHD", query("fehd.food_licence", p,
                                   params={"licence_number": "7-000888"}),
            ["--backend", sandbox.url + "/fehd"])
    assert r.code == 0, r.stderr
    v = values(r.json)
    assert v["fehd.food_licence.licence_type"] == "food_factory"
    assert v["fehd.food_licence.expiry_date"] == "20251231"
    assert v["enName"] == p["profile"]["enName"]

    sandbox.post("/sandbox/link", {"dept": "FEHD", "subject": "sub-C_1",
                                   "persona": "chan-tai-man"})
    r = cli("fetch", "FEHD", query("fehd.food_licence", subject="sub-C_1"),
            ["--backend", sandbox.url + "/fehd"])
    assert r.code == 0, r.stderr
    assert values(r.json)["fehd.food_licence.licence_number"] == "2-123456"


@pytest.mark.parametrize("fault,expect", [
    ({"status": 503}, "backend_error"),
    ({"status": 500, "body": "{}", "content_type": "application/json"},
     "backend_error"),
    ({"status": 200, "body": "{\"status\": \"OK\", \"data\": ",
      "content_type": "application/json"}, "malformed_reply"),
    ({"status": 200, "body": "<html>maintenance</html>"}, "malformed_reply"),
    ({"status": 200, "body": "{\"status\": \"OK\", \"lastUpdated\": "
      "\"yesterday\", \"data\": {}}", "content_type": "application/json"},
     "malformed_reply"),
])
@pytest.mark.parametrize("dept,dataset", [("TD", "td.driving_licence"),
                                          ("REO", "reo.voter_particulars"),
                                          ("RVD", "rvd.rates_account"),
                                          ("FEHD", "fehd.food_licence")])
def test_malformed_replies_are_typed_errors(sandbox, cli, personas, dept,
                                            dataset, fault, expect):
    fault = dict(fault, dept=dept)
    assert sandbox.post("/sandbox/fault", fault)[0] == 200
    r = cli("fetch", dept, query(dataset, personas["chan-tai-man"]),
            ["--backend", sandbox.url + "/" + dept.lower()])
    assert r.code == 1
    assert r.stderr.startswith(expect + ": "), r.stderr


# ---- forms the departments accept ----

def form_input(form, persona, data=None, lang="en"):
    fields = eme_fields(persona)
    if data is not None:
        fields.update(data["fields"])
    return json.dumps({"form": form, "fields": fields, "lang": lang})


def submit(sandbox, cli, dept, form, persona, path, data=None, lang="en"):
    r = cli("form", dept, form_input(form, persona, data, lang))
    assert r.code == 0, r.stderr
    assert r.json["form"] == form
    return r.json, sandbox.post(path, r.json["payload"])


def fetch(sandbox, cli, dept, dataset, persona):
    r = cli("fetch", dept, query(dataset, persona),
            ["--backend", sandbox.url + "/" + dept.lower()])
    assert r.code == 0, r.stderr
    return r.json


def test_td_idp_form(sandbox, cli, personas):
    p = personas["chan-tai-man"]
    data = fetch(sandbox, cli, "TD", "td.driving_licence", p)
    out, (status, body) = submit(sandbox, cli, "TD", "td.idp_application", p,
                                 "/td/api/v2/idp/applications", data)
    assert "missing" not in out
    assert out["payload"]["dateOfBirth"] == "01/01/1980"
    assert out["payload"]["hkidNo"] == "A123456(3)"
    assert out["payload"]["address"][0] == "Flat A, 12/F, Block 2"
    assert status == 201, body
    assert body["applicationNo"].startswith("IDP")

    # a suspended licence: the adapter fills the form, TD refuses it
    p = personas["cheung-ka-yan"]
    data = fetch(sandbox, cli, "TD", "td.driving_licence", p)
    _, (status, body) = submit(sandbox, cli, "TD", "td.idp_application", p,
                               "/td/api/v2/idp/applications", data)
    assert status == 422
    assert body["errors"]["drivingLicenceNo"] == "licence is not valid"

    # without the licence data set the form says what is missing
    r = cli("form", "TD", form_input("td.idp_application", p))
    assert r.json["missing"] == ["drivingLicenceNo"]


@pytest.mark.parametrize("pid", ["chan-tai-man", "wong-mei-ling",
                                 "lee-siu-ming", "cheung-ka-yan",
                                 "ho-wing-kei", "lam-chi-wai"])
def test_forms_of_every_persona(sandbox, cli, personas, pid):
    p = personas[pid]

    out, (status, body) = submit(sandbox, cli, "ImmD",
                                 "immd.birth_registration", p,
                                 "/immd/birth-registration/v1/informants")
    assert status == 201, (out, body)

    out, (status, body) = submit(sandbox, cli, "REO",
                                 "reo.voter_registration", p,
                                 "/reo/api/v1/registrations", lang="zh-HK")
    assert status == 201, (out, body)
    assert out["payload"]["languagePreference"] == "C"

    out, (status, body) = submit(sandbox, cli, "LCSD",
                                 "lcsd.smartplay_profile", p,
                                 "/lcsd/smartplay/api/v1/profiles")
    assert status == 201, (out, body)
    assert out["payload"]["idDocument"]["type"] == "HKID"
    assert out["payload"]["preferredDistrict"] == \
        list(p["eME"]["residentialAddress"].values())[0][
            "EngDistrict" if "EngPremisesAddress"
            in p["eME"]["residentialAddress"] else "ChiDistrict"][
            "DcDistrict"]


def test_rvd_and_fehd_forms(sandbox, cli, personas):
    p = personas["chan-tai-man"]

    data = fetch(sandbox, cli, "RVD", "rvd.rates_account", p)
    out, (status, body) = submit(sandbox, cli, "RVD", "rvd.rates_concession",
                                 p, "/rvd/api/v1/concessions", data,
                                 lang="zh-HK")
    assert status == 201, body
    assert out["payload"]["contactTel"] == "91234567"
    assert out["payload"]["replyLanguage"] == "CHI"
    assert out["payload"]["ownerOccupier"] is True

    data = fetch(sandbox, cli, "FEHD", "fehd.food_licence", p)
    out, (status, body) = submit(sandbox, cli, "FEHD",
                                 "fehd.licence_renewal", p,
                                 "/fehd/api/v1/renewals", data)
    assert status == 201, body
    assert out["payload"]["applicantName"] == "CHAN Tai Man"


def test_exchange_data_from_another_department_fills_a_form(sandbox, cli,
                                                            personas):
    """TD's address, not the e-ME one, when only TD's data is given."""
    p = personas["wong-mei-ling"]
    data = fetch(sandbox, cli, "TD", "td.driving_licence", p)
    assert data["fields"]["residentialAddress"]["source"] == "TD"

    fields = dict(data["fields"])
    fields["idNo"] = {"value": p["profile"]["idNo"], "source": EME_SOURCE,
                      "last_updated": "2025-03-01T00:00:00Z"}
    r = cli("form", "REO", json.dumps({"form": "reo.voter_registration",
                                       "fields": fields}))
    assert r.code == 0, r.stderr
    assert r.json["payload"]["residentialAddress"]["estate"] == "順景邨"
    assert r.json["payload"]["residentialAddress"]["language"] == "C"


# ---- metadata ----

def test_catalogue_of_all_adapters(cli):
    from conftest import ADAPTERS, ADAPTER_OF, CLI, ROOT
    import os
    import subprocess

    argv = [CLI, "catalogue"]
    for dept, (so, mapping, _) in sorted(ADAPTER_OF.items()):
        spec = os.path.join(ADAPTERS, so)
        if mapping:
            spec += "=" + os.path.join(ROOT, mapping)
        argv.append(spec)

    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    cat = json.loads(out.stdout)

    assert sorted(d["code"] for d in cat["departments"]) == \
        ["FEHD", "ImmD", "LCSD", "REO", "RVD", "TD"]
    assert len(cat["services"]) == 11
    travel = [t for t in cat["themes"] if t["id"] == "travel"][0]
    assert sorted(travel["services"]) == ["immd.travel_records", "td.idp"]
    assert travel["name"]["zh-HK"] == "旅遊及出行"
    child = [a for a in cat["age_groups"] if a["id"] == "child"][0]
    assert sorted(child["services"]) == ["lcsd.smartplay", "lcsd.urbtix"]

    out = subprocess.run(argv + ["--theme", "civic"], capture_output=True,
                         text=True, timeout=30)
    assert sorted(s["id"] for s in json.loads(out.stdout)["services"]) == \
        ["reo.voter_enquiry", "reo.voter_registration"]


def test_form_inputs_and_bridge(cli):
    r = cli("inputs", "RVD", extra=["--form", "rvd.rates_concession"])
    assert r.code == 0, r.stderr
    assert r.json == {
        "profileFields": ["enName", "chName", "idNo"],
        "eMEFields": ["mobileNumber", "homeTelNumber", "emailAddress",
                      "postalAddress", "residentialAddress",
                      "propertyOwner"],
        "datasets": ["rvd.rates_account"],
    }

    r = cli("bridge", "TD", json.dumps({"department": "TD",
                                        "subject": "sub-123"}))
    assert r.code == 0, r.stderr
    assert r.stdout == "X-TD-Account-Ref: sub-123\nX-TD-Channel: iamsmart\n"

    r = cli("bridge", "REO", json.dumps({"department": "REO",
                                         "subject": "sub-123"}))
    assert r.code == 1 and r.stderr.startswith("unsupported: ")
