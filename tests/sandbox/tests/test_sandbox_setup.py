"""Personas file, make_keys.py and configuration errors."""

import json
import os
import re
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from iams_sandbox.personas import (EME_FIELDS, PROFILE_FIELDS,
                                   hkid_check_digit, load_personas)

PYTHON = "/usr/bin/python3"
SANDBOX_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(SANDBOX_DIR, "iamsmart_sandbox.py")
PERSONAS = os.path.join(SANDBOX_DIR, "personas.json")


@pytest.mark.parametrize("ident,check", [
    ("A123456", "3"),       # the example printed on HK government forms
    ("Z112233", "A"),       # remainder 1: check "A"
    ("XA987654", "2"),      # two-letter prefix
])
def test_hkid_check_digit(ident, check):
    assert hkid_check_digit(ident) == check


def test_hkid_check_digit_covers_all_values():
    seen = {hkid_check_digit("A%06d" % n) for n in range(200)}
    assert seen == set("0123456789A")


def test_personas_file_is_complete():
    personas = load_personas(PERSONAS)
    assert len(personas) >= 4
    behaviours = {p.behaviour["stepup"] for p in personas.values()}
    assert {"pass", "fail", "timeout"} <= behaviours
    years = {int(p.profile["birthDate"][:4]) for p in personas.values()}
    assert min(years) < 1960 and max(years) > 2005   # elderly and youth
    for p in personas.values():
        assert set(PROFILE_FIELDS) <= set(p.profile), p.id
        data = p.fields(EME_FIELDS)
        idno = data["idNo"]
        assert hkid_check_digit(idno["Identification"]) == idno["CheckDigit"]
        assert re.fullmatch(r"(19|20)\d{2}(0[1-9]|1[0-2])\d{2}",
                            data["birthDate"])
        assert data["gender"] in ("M", "F")
        assert data["mobileNumber"]["CountryCode"] == "852"
        assert re.fullmatch(r"[2-9]\d{7}",
                            data["mobileNumber"]["SubscriberNumber"])
        for key in ("residentialAddress", "postalAddress"):
            (kind,) = data[key]
            assert kind in ("EngPremisesAddress", "ChiPremisesAddress",
                            "FreeFormatAddress", "PostBoxAddress")
            if kind.endswith("PremisesAddress"):
                assert data[key][kind]["Region"] in ("HK", "KLN", "NT")


def test_bad_personas_are_refused(tmp_path):
    doc = json.load(open(PERSONAS, encoding="utf-8"))
    doc["personas"][0]["profile"]["idNo"]["CheckDigit"] = "9"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="check digit"):
        load_personas(str(path))
    doc = json.load(open(PERSONAS, encoding="utf-8"))
    doc["personas"][1]["behaviour"]["stepup"] = "sometimes"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="behaviour"):
        load_personas(str(path))


def test_make_keys(tmp_path):
    d = tmp_path / "k"
    out = subprocess.run([PYTHON, os.path.join(SANDBOX_DIR, "make_keys.py"),
                          str(d)], check=True, capture_output=True, text=True)
    assert "kek_private.pem" in out.stdout
    secret = (d / "client_secret").read_bytes()
    assert len(secret.strip()) >= 32 and secret.endswith(b"\n")
    assert stat.S_IMODE(os.stat(d / "kek_private.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "client_secret").st_mode) == 0o600
    priv = serialization.load_pem_private_key(
        (d / "kek_private.pem").read_bytes(), None)
    assert priv.key_size == 2048
    pub = serialization.load_pem_public_key(
        (d / "kek_public.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((d / "kek_cert.pem").read_bytes())
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    assert pub.public_bytes(der, spki) == priv.public_key().public_bytes(
        der, spki) == cert.public_key().public_bytes(der, spki)
    assert cert.extensions.get_extension_for_class(
        x509.KeyUsage).value.key_encipherment
    # repeatable: existing files are kept unless --force
    before = (d / "kek_private.pem").read_bytes()
    subprocess.run([PYTHON, os.path.join(SANDBOX_DIR, "make_keys.py"),
                    str(d)], check=True, capture_output=True)
    assert (d / "kek_private.pem").read_bytes() == before
    assert (d / "client_secret").read_bytes() == secret
    subprocess.run([PYTHON, os.path.join(SANDBOX_DIR, "make_keys.py"),
                    "--force", str(d)], check=True, capture_output=True)
    assert (d / "kek_private.pem").read_bytes() != before


def _run(args):
    return subprocess.run([PYTHON, SCRIPT] + args, capture_output=True,
                          text=True, timeout=20)


def test_config_errors(keys, tmp_path):
    base = ["--port", "0", "--client-id", "x",
            "--client-secret-file", keys["client_secret"],
            "--kek-cert-or-pubkey", keys["kek_public.pem"],
            "--redirect-uri", "http://127.0.0.1:1/cb"]
    r = _run(["--port", "0"])
    assert r.returncode == 2 and "no client registered" in r.stderr
    r = _run(base + ["--auto-approve", "nobody"])
    assert r.returncode == 2 and "nobody" in r.stderr
    r = _run(base[:-2])
    assert r.returncode == 2 and "redirect" in r.stderr
    r = _run(["--port", "0", "--client-id", "x", "--client-secret-file",
              keys["client_secret"], "--kek-cert-or-pubkey",
              keys["kek_private.pem"], "--redirect-uri", "http://h/cb"])
    assert r.returncode == 2 and "KEK" in r.stderr
    r = _run(base + ["--scope", "eidapi_magic"])
    assert r.returncode == 2 and "scopes" in r.stderr
    cfg = tmp_path / "bad.json"
    cfg.write_text("{not json")
    r = _run(["--config", str(cfg)])
    assert r.returncode == 2 and "bad.json" in r.stderr


def test_client_scope_restriction(start_sandbox, keys, listener):
    sb = start_sandbox("--client-id", "narrow", "--client-secret-file",
                       keys["client_secret"], "--kek-cert-or-pubkey",
                       keys["kek_public.pem"], "--redirect-uri",
                       listener.url("/n"), "--scope", "eidapi_auth",
                       client=False)
    c = sb.client(keys, "narrow")
    assert c.login(listener.url("/n"))["scope"] == "eidapi_auth"
    status, _, body = sb.http("GET", c.get_qr_path(
        listener.url("/n"), "s", scope="eidapi_auth eidapi_profiles"))
    assert status == 400 and b"D20012" in body
