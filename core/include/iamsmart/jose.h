/*
 * JOSE: JSON Web Keys (RFC 7517), compact JWS (RFC 7515) and JWT claim
 * checks (RFC 7519), on OpenSSL 3 EVP and jansson only.
 *
 * Security rules this API enforces, so that callers cannot forget them:
 *   - "none" is never accepted, whatever the allowed set says;
 *   - a "crit" header naming any parameter is rejected (we understand no
 *     extension), as is a malformed "crit";
 *   - jwk, jku, x5u and x5c in a token header are ignored: keys come only
 *     from the key set the caller passes;
 *   - a key is used only when its kty (and curve) fits the alg, its own
 *     "alg" (if any) equals the alg, its "use" (if any) is "sig" and its
 *     "key_ops" (if any) contains "verify" (or "sign" for signing);
 *   - RSA keys under 2048 bits and HMAC keys shorter than the hash are
 *     refused at use; EC points must be on their curve at parse time;
 *   - when the token names a kid, only keys with that kid are tried; without
 *     a kid, every fitting key is tried;
 *   - ECDSA signatures are raw R||S of exactly twice the curve size;
 *   - HMAC tags are compared in constant time.
 *
 * Memory: every object returned through an out-parameter or a non-const
 * pointer is owned by the caller and freed with the matching *_free/_clear
 * function.  Const pointers returned by accessors borrow from their parent
 * and live as long as it does.  Objects are immutable after construction and
 * may be shared read-only (e.g. one key set per nginx location).
 */

#ifndef IAMSMART_JOSE_H
#define IAMSMART_JOSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include <iamsmart/status.h>

#define IAMS_JWS_MAX_TOKEN   (16 * 1024)   /* whole compact token */
#define IAMS_JWS_MAX_HEADER  (8 * 1024)    /* decoded protected header */
#define IAMS_JWK_MAX_FILE    (1024 * 1024) /* one key file */
#define IAMS_JWKS_MAX_KEYS   64
#define IAMS_RSA_MIN_BITS    2048


/* ---- algorithms ---- */

typedef enum {
    IAMS_ALG_UNKNOWN = 0,
    IAMS_ALG_RS256, IAMS_ALG_RS384, IAMS_ALG_RS512,
    IAMS_ALG_PS256, IAMS_ALG_PS384, IAMS_ALG_PS512,
    IAMS_ALG_ES256, IAMS_ALG_ES384, IAMS_ALG_ES512,
    IAMS_ALG_EDDSA,
    IAMS_ALG_HS256, IAMS_ALG_HS384, IAMS_ALG_HS512,
    IAMS_ALG_COUNT
} iams_alg;

/* A set of algorithms as a bit mask: bit (1u << alg). */
typedef uint32_t iams_alg_set;

#define IAMS_ALG_BIT(a)  ((iams_alg_set) 1u << (a))

#define IAMS_ALG_SET_ASYMMETRIC                                              \
    (IAMS_ALG_BIT(IAMS_ALG_RS256) | IAMS_ALG_BIT(IAMS_ALG_RS384)             \
     | IAMS_ALG_BIT(IAMS_ALG_RS512) | IAMS_ALG_BIT(IAMS_ALG_PS256)           \
     | IAMS_ALG_BIT(IAMS_ALG_PS384) | IAMS_ALG_BIT(IAMS_ALG_PS512)           \
     | IAMS_ALG_BIT(IAMS_ALG_ES256) | IAMS_ALG_BIT(IAMS_ALG_ES384)           \
     | IAMS_ALG_BIT(IAMS_ALG_ES512) | IAMS_ALG_BIT(IAMS_ALG_EDDSA))

#define IAMS_ALG_SET_HMAC                                                    \
    (IAMS_ALG_BIT(IAMS_ALG_HS256) | IAMS_ALG_BIT(IAMS_ALG_HS384)             \
     | IAMS_ALG_BIT(IAMS_ALG_HS512))

#define IAMS_ALG_SET_ALL  (IAMS_ALG_SET_ASYMMETRIC | IAMS_ALG_SET_HMAC)

/* "RS256" etc. (exact, case-sensitive); IAMS_ALG_UNKNOWN otherwise,
 * including for "none". */
iams_alg iams_alg_from_name(const char *name, size_t len);

/* Static name, or "unknown". */
const char *iams_alg_name(iams_alg alg);


/* ---- keys ---- */

typedef enum {
    IAMS_KTY_RSA = 1,
    IAMS_KTY_EC,
    IAMS_KTY_OKP,
    IAMS_KTY_OCT
} iams_kty;

typedef struct iams_jwk   iams_jwk;    /* one key, public or private */
typedef struct iams_jwks  iams_jwks;   /* an ordered set of keys */

/*
 * Parses a key file's contents: a JWKS ({"keys":[...]}), a single JWK, or one
 * or more PEM public keys ("BEGIN PUBLIC KEY"; PEM keys have no kid).
 * Private members in a JWK are ignored (only the public part is kept), except
 * for "oct" keys, which are secret by nature.  Rejects: unknown kty or curve,
 * off-curve EC points, RSA keys under 2048 bits, malformed members, more than
 * IAMS_JWKS_MAX_KEYS keys, two keys with the same kid, an empty set.
 * Keys with an unknown "use" or "alg" are kept but never used.
 * err->detail names the offending key (index and kid) and member.
 * PEM: every block must be "PUBLIC KEY" (a private key or a certificate is
 * refused, as is a BEGIN line that does not start a line); RSA-PSS-only
 * keys (id-RSASSA-PSS) are not accepted.  Text that is neither PEM nor
 * valid JSON gives IAMS_ERR_JSON; more than IAMS_JWK_MAX_FILE bytes,
 * IAMS_ERR_TOO_LARGE.
 */
iams_status iams_jwks_parse(const char *buf, size_t len, iams_jwks **out,
    iams_err *err);

/* Reads the file (at most IAMS_JWK_MAX_FILE bytes) and parses it as above;
 * err->detail starts with the reason, never with file contents. */
iams_status iams_jwks_load_file(const char *path, iams_jwks **out,
    iams_err *err);

/* Moves every key of *src into dst and frees *src (sets it to NULL), or
 * leaves both unchanged and fails with IAMS_ERR_KEY_DUPLICATE_KID. */
iams_status iams_jwks_merge(iams_jwks *dst, iams_jwks **src, iams_err *err);

size_t iams_jwks_count(const iams_jwks *set);
const iams_jwk *iams_jwks_get(const iams_jwks *set, size_t i);
void iams_jwks_free(iams_jwks *set);

/*
 * Parses a private key for signing: a JWK with its private members (RSA with
 * d, p, q, dp, dq, qi; EC with d; OKP with d; oct with k), or a PEM private
 * key (PKCS#8 or traditional).  Encrypted PEM is refused (no prompt).  The
 * private part is proven to match the public part by a sign/verify round
 * trip.  Other members and rules as for iams_jwks_parse.
 */
iams_status iams_jwk_parse_private(const char *buf, size_t len,
    iams_jwk **out, iams_err *err);
iams_status iams_jwk_load_private_file(const char *path, iams_jwk **out,
    iams_err *err);

/* kty EC: P-256; RSA: 3072 bits; OKP: Ed25519; oct: 64 random octets
 * (fit for HS256 to HS512); kid may be NULL. */
iams_status iams_jwk_generate(iams_kty kty, const char *kid, iams_jwk **out,
    iams_err *err);

void iams_jwk_free(iams_jwk *key);

iams_kty iams_jwk_kty(const iams_jwk *key);

/* NUL-terminated, borrowed from key; NULL when the key has no kid. */
const char *iams_jwk_kid(const iams_jwk *key);

/* Whether this key may be used with alg for verifying (for_sign == 0) or
 * signing (for_sign != 0), by the rules at the top of this file.
 * IAMS_ERR_ALG_KEY_MISMATCH or IAMS_ERR_KEY_WEAK when not. */
iams_status iams_jwk_check_alg(const iams_jwk *key, iams_alg alg,
    int for_sign, iams_err *err);

/* The key as a JWK JSON object (new reference, caller decrefs): public
 * members only unless with_private is set; kid, alg, use and key_ops kept.
 * An oct key's public form has no "k".  NULL on allocation failure. */
json_t *iams_jwk_to_json(const iams_jwk *key, int with_private);


/* ---- signatures (the primitives under JWS) ---- */

/*
 * Verifies sig over input with key under alg's algorithm only: kty must fit,
 * but the key's alg/use/key_ops and size policy are not consulted, so test
 * vectors with any key can run through the exact code path JWS uses.
 * IAMS_OK or IAMS_ERR_BAD_SIGNATURE (wrong length or encoding included).
 */
iams_status iams_sig_verify(iams_alg alg, const iams_jwk *key,
    const unsigned char *input, size_t input_len,
    const unsigned char *sig, size_t sig_len, iams_err *err);

/* Signs; *sig is malloc()ed, caller frees. */
iams_status iams_sig_create(iams_alg alg, const iams_jwk *key,
    const unsigned char *input, size_t input_len,
    unsigned char **sig, size_t *sig_len, iams_err *err);


/* ---- compact JWS ---- */

typedef struct {
    json_t         *header;        /* owned; the protected header object */
    iams_alg        alg;
    const char     *kid;           /* borrowed from header; NULL if none */

    unsigned char  *payload;       /* owned, decoded; NUL-terminated extra */
    size_t          payload_len;

    const char     *signing_input; /* borrowed from the token passed to
                                      iams_jws_parse: valid while it is */
    size_t          signing_input_len;

    unsigned char  *sig;           /* owned, decoded */
    size_t          sig_len;
} iams_jws;

/*
 * Splits and decodes a compact JWS.  Enforces IAMS_JWS_MAX_TOKEN and
 * IAMS_JWS_MAX_HEADER (IAMS_ERR_TOO_LARGE), exactly three strict base64url
 * parts, a JSON-object header with a string "alg" (IAMS_ERR_MALFORMED),
 * "none" in any letter case (IAMS_ERR_ALG_NONE), an alg we implement
 * (IAMS_ERR_ALG_UNSUPPORTED), "crit" (IAMS_ERR_CRIT), and a string "kid"
 * when present.  On failure *jws is left cleared.
 */
iams_status iams_jws_parse(const char *token, size_t len, iams_jws *jws,
    iams_err *err);

void iams_jws_clear(iams_jws *jws);

/*
 * Checks alg against allowed (IAMS_ERR_ALG_NOT_ALLOWED), selects keys by kid
 * (IAMS_ERR_UNKNOWN_KID when the kid matches no key), skips keys that do not
 * fit (IAMS_ERR_ALG_KEY_MISMATCH when none fits), and verifies the signature
 * (IAMS_ERR_BAD_SIGNATURE when no fitting key verifies).
 * IAMS_ERR_KEY_WEAK instead of IAMS_ERR_ALG_KEY_MISMATCH when every
 * candidate was refused only for its size; IAMS_ERR_NO_KEY when keys is
 * NULL.  On success *used (if not NULL) points at the key that verified.
 */
iams_status iams_jws_verify(const iams_jws *jws, const iams_jwks *keys,
    iams_alg_set allowed, const iams_jwk **used, iams_err *err);

/*
 * Produces a compact JWS of payload under key and alg (the key must pass
 * iams_jwk_check_alg for signing).  The header is {"alg", "kid" (the key's
 * kid unless kid is given; omitted when neither), "typ" (if typ != NULL)}.
 * *out is malloc()ed and NUL-terminated; caller frees.
 */
iams_status iams_jws_sign(const iams_jwk *key, iams_alg alg, const char *kid,
    const char *typ, const unsigned char *payload, size_t payload_len,
    char **out, size_t *out_len, iams_err *err);


/* ---- JWT claims ---- */

typedef struct {
    const char         *issuer;        /* exact match when not NULL */
    const char *const  *audiences;     /* any one of them must appear in the
                                          token's aud (string or array) */
    size_t              naudiences;    /* 0: aud not checked */
    long                leeway;        /* seconds, >= 0 */
} iams_jwt_policy;

/* The payload as a JSON object (bounded parse); caller decrefs.
 * IAMS_ERR_MALFORMED when it is not an object. */
iams_status iams_jwt_claims(const iams_jws *jws, json_t **claims,
    iams_err *err);

/*
 * exp and nbf (if present) with leeway; iat (if present) not later than
 * now + leeway; iss and aud per policy.  exp, nbf and iat must be JSON
 * numbers (IAMS_ERR_BAD_CLAIM otherwise); a missing iss or aud fails when the
 * policy asks for one (IAMS_ERR_BAD_ISSUER, IAMS_ERR_BAD_AUDIENCE), one of
 * the wrong JSON type is IAMS_ERR_BAD_CLAIM.  The token is valid while
 * now < exp + leeway and from now + leeway >= nbf on.  claims that are not
 * an object give IAMS_ERR_MALFORMED, a negative leeway IAMS_ERR_INTERNAL.
 */
iams_status iams_jwt_check(const json_t *claims, const iams_jwt_policy *policy,
    time_t now, iams_err *err);

#endif /* IAMSMART_JOSE_H */
