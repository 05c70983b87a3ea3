"""Command line and JSON configuration.

Every setting can come from the command line or from a JSON file given
with --config; the command line wins.  The file may register several
online services ("clients"); the --client-id family of options registers
one more.  See README.md for the file format.
"""

import argparse
import hashlib
import json
import os

from . import protocol
from .personas import load_personas

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PERSONAS = os.path.join(HERE, "personas.json")
ALL_SCOPES = ("eidapi_auth", "eidapi_profiles", "eidapi_formFilling",
              "eidapi_sign", "eidapi_fr")

# name -> (type, default, help); shared by argparse and the JSON file.
TUNABLES = {
    "code_ttl": (float, 60.0, "authorisation code lifetime, seconds"),
    "token_ttl": (float, 3600.0, "access token lifetime, seconds"),
    "cek_ttl": (float, 86400.0, "CEK lifetime, seconds"),
    "ticket_ttl": (float, 600.0,
                   "lifetime of a pending approval (login page, e-ME, "
                   "profile or step-up ticket), seconds"),
    "max_skew": (float, 300.0,
                 "accepted |timestamp - now| of signed requests, seconds"),
    "callback_delay": (float, 0.2,
                       "delay before an automatic decision is called "
                       "back, seconds"),
    "callback_timeout": (float, 5.0, "HTTP timeout of one callback POST"),
    "callback_attempts": (int, 3, "callback POST attempts before giving up"),
}


class ConfigError(Exception):
    pass


class ClientConfig:
    """One registered online service."""

    def __init__(self, client_id, secret, kek, redirect_uris, scopes,
                 direct_profile, openid_salt, auto_approve):
        self.client_id = client_id
        self.secret = secret
        self.kek = kek
        self.kek_spki = protocol.spki_der(kek)
        self.redirect_uris = tuple(redirect_uris)
        self.scopes = frozenset(scopes)
        self.direct_profile = direct_profile
        self.openid_salt = openid_salt
        self.auto_approve = auto_approve


class Settings:
    def __init__(self):
        self.host = "127.0.0.1"
        self.port = 0
        self.personas = {}
        self.personas_path = DEFAULT_PERSONAS
        self.state_file = None
        self.timeout_callback = True
        self.auto_approve = None
        self.clients = {}
        for name, (_, default, _) in TUNABLES.items():
            setattr(self, name, default)


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError("cannot read %s %s: %s" % (what, path, e))


def _resolve(base, path):
    return path if os.path.isabs(path) else os.path.join(base, path)


def _client(raw, base):
    cid = raw.get("client_id")
    if not cid or not isinstance(cid, str) or len(cid) > 64:
        raise ConfigError("client_id missing or longer than 64 chars")
    if "client_secret" in raw:
        secret = raw["client_secret"].encode("utf-8")
    elif "client_secret_file" in raw:
        path = _resolve(base, raw["client_secret_file"])
        secret = _read(path, "client secret file").strip()
    else:
        raise ConfigError("client %s: no client_secret(_file)" % cid)
    if not secret:
        raise ConfigError("client %s: empty client secret" % cid)
    kek_path = raw.get("kek_cert_or_pubkey")
    if not kek_path:
        raise ConfigError("client %s: no kek_cert_or_pubkey" % cid)
    kek_path = _resolve(base, kek_path)
    try:
        kek = protocol.load_kek_public(_read(kek_path, "KEK"))
    except ValueError as e:
        raise ConfigError("client %s: KEK %s: %s" % (cid, kek_path, e))
    uris = raw.get("redirect_uris") or []
    if not uris:
        raise ConfigError("client %s: no redirect URI registered" % cid)
    scopes = raw.get("scopes") or ALL_SCOPES
    bad = set(scopes) - set(ALL_SCOPES)
    if bad:
        raise ConfigError("client %s: unknown scopes %s" % (cid, sorted(bad)))
    salt = raw.get("openid_salt")
    salt = (salt.encode("utf-8") if salt else
            hashlib.sha256(b"iams-sandbox-openid|" + cid.encode()).digest())
    return ClientConfig(cid, secret, kek, uris, scopes,
                        bool(raw.get("direct_profile", True)), salt,
                        raw.get("auto_approve"))


def build_parser():
    p = argparse.ArgumentParser(
        prog="iamsmart_sandbox.py",
        description="iAM Smart platform sandbox (protocol simulator)")
    p.add_argument("--config", help="JSON configuration file")
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port, 0 = any free one")
    p.add_argument("--client-id", help="register one online service")
    p.add_argument("--client-secret-file",
                   help="file holding that service's client secret")
    p.add_argument("--kek-cert-or-pubkey",
                   help="PEM certificate or public key of its RSA KEK")
    p.add_argument("--redirect-uri", action="append", default=[],
                   help="registered redirect/callback URI (repeatable)")
    p.add_argument("--scope", action="append", default=[],
                   help="scope the service may request (repeatable; "
                        "default: all)")
    p.add_argument("--personas", help="personas JSON file")
    p.add_argument("--auto-approve", metavar="PERSONA_ID",
                   help="approve every login as this persona and decide "
                        "e-ME/profile/step-up tickets automatically")
    p.add_argument("--state-file",
                   help="persist CEKs, tokens and businessIDs here")
    p.add_argument("--timeout-callback", choices=("deliver", "none"),
                   help="whether a timed-out ticket is called back with "
                        "its timeout code (default deliver)")
    for name, (typ, default, text) in TUNABLES.items():
        p.add_argument("--" + name.replace("_", "-"), type=typ,
                       help="%s (default %s)" % (text, default))
    return p


def load(argv):
    args = build_parser().parse_args(argv)
    settings = Settings()
    raw = {}
    base = os.getcwd()
    if args.config:
        try:
            raw = json.loads(_read(args.config, "config file"))
        except ValueError as e:
            raise ConfigError("%s: %s" % (args.config, e))
        base = os.path.dirname(os.path.abspath(args.config))

    def pick(name, default=None):
        value = getattr(args, name, None)
        if value is None:
            value = raw.get(name, default)
        return value

    settings.host = pick("host", settings.host)
    settings.port = int(pick("port", settings.port))
    personas_path = pick("personas")
    settings.personas_path = (_resolve(base, personas_path)
                              if personas_path else DEFAULT_PERSONAS)
    state = pick("state_file")
    settings.state_file = _resolve(base, state) if state else None
    tc = pick("timeout_callback", "deliver")
    settings.timeout_callback = tc in ("deliver", True)
    for name, (typ, default, _) in TUNABLES.items():
        value = typ(pick(name, default))
        if value < 0:
            raise ConfigError("%s must not be negative" % name)
        setattr(settings, name, value)
    settings.auto_approve = pick("auto_approve")

    clients = [_client(c, base) for c in raw.get("clients", [])]
    if args.client_id:
        if not (args.client_secret_file and args.kek_cert_or_pubkey):
            raise ConfigError("--client-id needs --client-secret-file and "
                              "--kek-cert-or-pubkey")
        clients.append(_client({
            "client_id": args.client_id,
            "client_secret_file": os.path.abspath(args.client_secret_file),
            "kek_cert_or_pubkey": os.path.abspath(args.kek_cert_or_pubkey),
            "redirect_uris": args.redirect_uri,
            "scopes": args.scope or None}, base))
    if not clients:
        raise ConfigError("no client registered (use --client-id ... or "
                          "--config)")
    for c in clients:
        if c.client_id in settings.clients:
            raise ConfigError("client %s registered twice" % c.client_id)
        settings.clients[c.client_id] = c

    try:
        settings.personas = load_personas(settings.personas_path)
    except ValueError as e:
        raise ConfigError("personas: %s" % e)
    wanted = [settings.auto_approve] + [c.auto_approve for c in clients]
    for pid in wanted:
        if pid and pid not in settings.personas:
            raise ConfigError("auto-approve persona %s is not in %s" % (
                pid, settings.personas_path))
    return settings
