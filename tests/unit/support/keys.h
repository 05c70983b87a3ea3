/*
 * Key fixtures for the JOSE unit tests: the private keys of RFC 7515
 * Appendix A and RFC 8037, keys generated on the fly, and key sets built
 * from their public halves.  Helpers fail the running test on error; the
 * caller frees what they return.
 */

#ifndef IAMS_TEST_KEYS_H
#define IAMS_TEST_KEYS_H

#include <iamsmart/jose.h>

extern const char  iams_test_jwk_rsa[];      /* RFC 7515 A.2, 2048 bits */
extern const char  iams_test_jwk_p256[];     /* RFC 7515 A.3 */
extern const char  iams_test_jwk_p521[];     /* RFC 7515 A.4 */
extern const char  iams_test_jwk_ed25519[];  /* RFC 8037 A.1 */
extern const char  iams_test_jwk_oct[];      /* RFC 7515 A.1, 64 octets */

/* iams_jwk_parse_private on a NUL-terminated text. */
iams_jwk *iams_test_private_key(const char *text);

/* A fresh key from OpenSSL ("EC" with a curve name, "RSA" with bits as a
 * decimal string, "ED25519" with NULL), passed through PEM and
 * iams_jwk_parse_private. */
iams_jwk *iams_test_generated_key(const char *type, const char *param);

/* A private key fit for alg (RSA and P-256/P-521 from the RFC, P-384
 * generated, oct of 64 octets).  The same key on every call per family. */
iams_jwk *iams_test_key_for_alg(iams_alg alg);

/* The key's public JWK (oct keys keep "k"); caller decrefs. */
json_t *iams_test_public_jwk(const iams_jwk *key);

/* A key set of the given JWK objects (NULL-terminated; references are
 * stolen), parsed with iams_jwks_parse, which must succeed. */
iams_jwks *iams_test_set(json_t *first, ...);

/* Parses text with iams_jwks_parse; returns the status, *out on success. */
iams_status iams_test_parse_set(const char *text, iams_jwks **out,
    iams_err *err);

#endif /* IAMS_TEST_KEYS_H */
