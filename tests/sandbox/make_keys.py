#!/usr/bin/python3
"""Writes test credentials for one online service into a directory:

    client_secret     the HMAC client secret (one line, 43 base64url chars)
    kek_private.pem   RSA-2048 KEK private key, PKCS#8, unencrypted, 0600
    kek_public.pem    its public key (SubjectPublicKeyInfo PEM)
    kek_cert.pem      a self-signed "encipherment certificate" for it

Existing files are kept (so `make demo` is repeatable) unless --force.

    /usr/bin/python3 tests/sandbox/make_keys.py build/demo/keys
"""

import argparse
import datetime
import os
import secrets
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

NAMES = ("client_secret", "kek_private.pem", "kek_public.pem", "kek_cert.pem")


def _write(path, data, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def self_signed(key, common_name):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False,
                key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))


def make_keys(directory, force=False, common_name="iAM Smart sandbox KEK"):
    """Creates the files that are missing (all of them with force) and
    returns {name: path}."""
    os.makedirs(directory, exist_ok=True)
    paths = {n: os.path.join(directory, n) for n in NAMES}
    if force or not os.path.exists(paths["client_secret"]):
        _write(paths["client_secret"],
               (secrets.token_urlsafe(32) + "\n").encode(), 0o600)
    if force or not os.path.exists(paths["kek_private.pem"]):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write(paths["kek_private.pem"], key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), 0o600)
        force = True
    else:
        with open(paths["kek_private.pem"], "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
    if force or not os.path.exists(paths["kek_public.pem"]):
        _write(paths["kek_public.pem"], key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    if force or not os.path.exists(paths["kek_cert.pem"]):
        cert = self_signed(key, common_name)
        _write(paths["kek_cert.pem"],
               cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directory")
    p.add_argument("--force", action="store_true",
                   help="regenerate even if the files exist")
    args = p.parse_args(argv)
    for name, path in make_keys(args.directory, args.force).items():
        print("%s %s" % (name, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
