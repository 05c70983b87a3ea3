"""
Keys and tokens for bench/jwt.sh, made with python3-cryptography through the
test suite's own JWS helper (tests/integration/jose_helper.py).

usage: gen_tokens.py OUTDIR [COUNT]

Writes OUTDIR/es256.jwks and OUTDIR/rs256.jwks (public keys for nginx), and
for each of es256 and rs256: <alg>.one (one token) and <alg>.many (COUNT
distinct tokens, default 10000), one token per line, valid for two hours.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "integration"))

import jose_helper as jh  # noqa: E402


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    now = int(time.time())
    keys = {"es256": (jh.Key.generate("EC", kid="bench-ec"), "ES256"),
            "rs256": (jh.Key.generate("RSA", kid="bench-rsa"), "RS256")}
    for name, (key, alg) in keys.items():
        jh.write_jwks(os.path.join(out, name + ".jwks"), [key])
        toks = [jh.sign(jh.claims(sub="bench-user-%05d" % i, now=now,
                                  lifetime=7200, iss="https://bench.invalid",
                                  aud="bench"), key, alg)
                for i in range(count)]
        with open(os.path.join(out, name + ".many"), "w") as f:
            f.write("\n".join(toks) + "\n")
        with open(os.path.join(out, name + ".one"), "w") as f:
            f.write(toks[0] + "\n")


if __name__ == "__main__":
    main()
