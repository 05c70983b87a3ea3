"""Direct profile fetch (POST /api/v1/profiles)."""

import json
import re
import time

from iams_sandbox.personas import hkid_check_digit

PROFILES = "/api/v1/profiles"


def test_profile_and_eme_fields(do_login, client):
    t = do_login()
    r = client.profiles(t["accessToken"], t["openID"],
                        profile_fields=["idNo", "enName", "chName",
                                        "birthDate", "gender"],
                        eme_fields=["mobileNumber", "residentialAddress",
                                    "emailAddress", "homeTelNumber"])
    assert r.ok, r
    d = r.content
    assert d["idNo"] == {"Identification": "A123456", "CheckDigit": "3"}
    assert d["enName"] == {"UnstructuredName": "CHAN, Tai Man"}
    assert d["chName"] == {"ChineseName": "陳大文"}
    assert d["birthDate"] == "19800101" and d["gender"] == "M"
    assert d["mobileNumber"] == {"CountryCode": "852",
                                 "SubscriberNumber": "91234567"}
    assert re.fullmatch(r"[^@\s]+@[^@\s]+", d["emailAddress"])
    addr = d["residentialAddress"]["EngPremisesAddress"]
    assert addr["Region"] == "HK"
    assert addr["EngDistrict"] == {"DcDistrict": "EST"}
    assert addr["EngStreet"]["StreetName"] == "King's Road"
    assert addr["Eng3dAddress"]["EngUnit"] == {"UnitDescriptor": "Flat",
                                               "UnitNo": "A"}
    assert set(d) == {"idNo", "enName", "chName", "birthDate", "gender",
                      "mobileNumber", "residentialAddress", "emailAddress",
                      "homeTelNumber"}


def test_absent_fields_are_left_out(sandbox, client, listener):
    sandbox.admin("auto-approve", persona="lee-siu-ming")
    t = client.login(listener.url("/login"),
                     scope="eidapi_auth eidapi_formFilling")
    r = client.profiles(t["accessToken"], t["openID"],
                        eme_fields=["officeTelNumber", "passportNumber",
                                    "postalAddress", "idNo"])
    assert r.ok
    assert set(r.content) == {"postalAddress", "idNo"}
    assert "FreeFormatAddress" in r.content["postalAddress"]
    ident = r.content["idNo"]
    assert hkid_check_digit(ident["Identification"]) == ident["CheckDigit"]


def test_token_errors(start_sandbox, keys, listener):
    sb = start_sandbox("--token-ttl", "0.5")
    c = sb.client(keys)
    t = c.login(listener.url("/login"), scope="eidapi_auth eidapi_profiles")
    assert c.profiles("bogus", t["openID"], ["gender"]).code == "D20009"
    r = c.call(PROFILES, {"openID": t["openID"], "profileFields": ["gender"]})
    assert r.code == "D20009"
    assert c.profiles(t["accessToken"], "0" * 64, ["gender"]).code == "D20001"
    assert c.profiles(t["accessToken"], t["openID"], ["gender"]).ok
    time.sleep(0.7)
    assert c.profiles(t["accessToken"], t["openID"],
                      ["gender"]).code == "D20009"


def test_scope_and_field_errors(do_login, client):
    t = do_login(scope="eidapi_auth")
    r = client.profiles(t["accessToken"], t["openID"], ["idNo"])
    assert r.code == "D20012"
    r = client.profiles(t["accessToken"], t["openID"], [], ["mobileNumber"])
    assert r.code == "D20012"
    t = do_login()
    assert client.profiles(t["accessToken"], t["openID"],
                           ["shoeSize"]).code == "D50001"
    assert client.profiles(t["accessToken"], t["openID"], [],
                           ["shoeSize"]).code == "D60001"
    # e-ME only fields are not profile fields
    assert client.profiles(t["accessToken"], t["openID"],
                           ["mobileNumber"]).code == "D50001"
    assert client.profiles(t["accessToken"], t["openID"]).code == "D20002"
    r = client.call(PROFILES, {"accessToken": t["accessToken"],
                               "openID": t["openID"], "profileFields": "idNo"})
    assert r.code == "D20001"


def test_token_of_other_client_is_refused(start_sandbox, keys, keys2,
                                          listener, tmp_path):
    cfg = {"auto_approve": "chan-tai-man", "clients": [
        {"client_id": "a", "client_secret_file": keys["client_secret"],
         "kek_cert_or_pubkey": keys["kek_public.pem"],
         "redirect_uris": [listener.url("/a")]},
        {"client_id": "b", "client_secret_file": keys2["client_secret"],
         "kek_cert_or_pubkey": keys2["kek_public.pem"],
         "redirect_uris": [listener.url("/b")], "direct_profile": False}]}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    sb = start_sandbox("--config", str(tmp_path / "c.json"), client=False,
                       auto=None)
    a, b = sb.client(keys, "a"), sb.client(keys2, "b")
    ta = a.login(listener.url("/a"), scope="eidapi_auth eidapi_profiles")
    assert b.profiles(ta["accessToken"], ta["openID"],
                      ["gender"]).code == "D20009"
    tb = b.login(listener.url("/b"), scope="eidapi_auth eidapi_profiles")
    r = b.profiles(tb["accessToken"], tb["openID"], ["gender"])
    assert r.code == "D20012"                        # not a government client
