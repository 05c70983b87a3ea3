/*
 * Private to the JOSE sources (sig.c, jwk*.c, jwks.c, jws.c, jwt.c): the
 * algorithm table, the curve table and the layout of a key.
 *
 * A key is immutable once parsing or generation returns it.  If you add a
 * member to struct iams_jwk, also handle it in iams_jwk_free (jwk.c), in
 * iams_jwk_from_json (jwk_json.c) and in iams_jwk_to_json (jwk_export.c).
 */

#ifndef IAMSMART_JOSE_INTERNAL_H
#define IAMSMART_JOSE_INTERNAL_H

#include <openssl/evp.h>

#include <iamsmart/jose.h>


/* OpenSSL's own ceiling for RSA moduli; larger keys are refused at load. */
#define IAMS_RSA_MAX_BITS  16384


typedef enum {
    IAMS_FAMILY_RSA = 1,        /* RSASSA-PKCS1-v1_5 */
    IAMS_FAMILY_PSS,            /* RSASSA-PSS, MGF1 same hash, salt = hash */
    IAMS_FAMILY_EC,             /* ECDSA, raw R||S */
    IAMS_FAMILY_EDDSA,          /* Ed25519 */
    IAMS_FAMILY_HMAC
} iams_alg_family;

typedef enum {
    IAMS_CRV_NONE = 0,
    IAMS_CRV_P256,
    IAMS_CRV_P384,
    IAMS_CRV_P521,
    IAMS_CRV_ED25519
} iams_crv;

typedef struct {
    const char       *name;
    iams_alg_family   family;
    const char       *md;          /* OpenSSL digest name; NULL for EdDSA */
    size_t            hash_len;
    iams_crv          crv;         /* the curve ES* and EdDSA require */
} iams_alg_info;

typedef struct {
    const char       *jwk_name;    /* "P-256" */
    const char       *group;       /* OpenSSL group name */
    size_t            size;        /* coordinate and scalar octets */
    iams_kty          kty;
} iams_crv_info;

#define IAMS_KEY_OP_SIGN    0x01u
#define IAMS_KEY_OP_VERIFY  0x02u
#define IAMS_KEY_OP_OTHER   0x04u

struct iams_jwk {
    iams_kty          kty;
    iams_crv          crv;
    EVP_PKEY         *pkey;        /* RSA, EC, OKP; owned */
    unsigned char    *k;           /* oct secret; owned, cleansed on free */
    size_t            k_len;
    int               has_private;

    char             *kid;         /* owned, NUL-terminated, or NULL */
    size_t            kid_len;
    char             *use;         /* as given, or NULL when absent */
    char             *alg_name;    /* as given, or NULL when absent */
    iams_alg          alg;         /* IAMS_ALG_UNKNOWN when absent or not a
                                      JWS algorithm we implement */
    json_t           *key_ops;     /* as given (array), or NULL */
    unsigned          key_ops_mask;
};

struct iams_jwks {
    iams_jwk        **keys;
    size_t            nkeys;
};


/* NULL for IAMS_ALG_UNKNOWN and out-of-range values. */
const iams_alg_info *iams_alg_info_get(iams_alg alg);

/* NULL for IAMS_CRV_NONE. */
const iams_crv_info *iams_crv_info_get(iams_crv crv);

/* The curve named by a JWK "crv", or IAMS_CRV_NONE. */
iams_crv iams_crv_from_jwk_name(const char *name, size_t len);

/* The curve of an OpenSSL EC group name, or IAMS_CRV_NONE. */
iams_crv iams_crv_from_group(const char *group);

/*
 * Builds a key from one JWK object.  with_private: 0 keeps only the public
 * part (and k of oct keys), 1 requires the private members.  index >= 0
 * names the key's position in a set in err->detail.
 */
iams_status iams_jwk_from_json(const json_t *obj, int with_private,
    long index, iams_jwk **out, iams_err *err);

/* Wraps an EVP_PKEY (ownership moves to the key, also on failure) after
 * checking its type, curve and size. */
iams_status iams_jwk_from_pkey(EVP_PKEY *pkey, int has_private,
    iams_jwk **out, iams_err *err);

/* Looks alg up (IAMS_ERR_ALG_UNSUPPORTED) and checks that key's kty and
 * curve fit its family (IAMS_ERR_ALG_KEY_MISMATCH). */
iams_status iams_sig_fit(iams_alg alg, const iams_jwk *key,
    const iams_alg_info **info, iams_err *err);

/* Clears the OpenSSL error queue, keeping the first reason for a detail;
 * never leaves errors behind for the next user of the thread's queue. */
const char *iams_openssl_reason(char *buf, size_t size);

#endif /* IAMSMART_JOSE_INTERNAL_H */
