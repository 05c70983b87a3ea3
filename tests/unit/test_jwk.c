/*
 * JWK, JWK Set and PEM key parsing, the key use rules of
 * iams_jwk_check_alg, generation and export.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <iamsmart/encoding.h>
#include <iamsmart/jose.h>

#include "support/keys.h"
#include "support/vectors.h"


/* Parses a JSON document (reference stolen) as a key set; frees the set
 * unless out is given. */
static iams_status
parse_doc(json_t *doc, iams_jwks **out, iams_err *err)
{
    char         *text;
    iams_jwks    *set;
    iams_status   rc;

    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);
    json_decref(doc);

    set = NULL;
    rc = iams_jwks_parse(text, strlen(text), &set, err);
    free(text);

    if (rc != IAMS_OK) {
        assert_null(set);
    }

    if (out != NULL) {
        *out = set;

    } else {
        iams_jwks_free(set);
    }

    return rc;
}


/* The public JWK of a private fixture with one member replaced. */
static json_t *
public_with(const char *fixture, const char *member, json_t *value)
{
    json_t    *jwk;
    iams_jwk  *key;

    key = iams_test_private_key(fixture);
    jwk = iams_test_public_jwk(key);
    iams_jwk_free(key);

    if (member != NULL) {
        if (value == NULL) {
            json_object_del(jwk, member);

        } else {
            json_object_set_new(jwk, member, value);
        }
    }

    return jwk;
}


/* PEM text of a public or private key. */
static char *
pem_of(EVP_PKEY *pkey, int private_key)
{
    BIO   *bio;
    char  *data, *pem;
    long   len;

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);

    if (private_key) {
        assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0,
                                                  NULL, NULL), 1);

    } else {
        assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    }

    len = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t) len);
    assert_non_null(pem);
    BIO_free(bio);

    return pem;
}


static void
test_alg_names(void **state)
{
    int          a;
    const char  *name;

    (void) state;

    for (a = IAMS_ALG_UNKNOWN + 1; a < IAMS_ALG_COUNT; a++) {
        name = iams_alg_name((iams_alg) a);
        assert_int_equal(iams_alg_from_name(name, strlen(name)), a);
    }

    assert_string_equal(iams_alg_name(IAMS_ALG_EDDSA), "EdDSA");
    assert_string_equal(iams_alg_name(IAMS_ALG_PS384), "PS384");
    assert_string_equal(iams_alg_name(IAMS_ALG_UNKNOWN), "unknown");
    assert_string_equal(iams_alg_name(IAMS_ALG_COUNT), "unknown");

    assert_int_equal(iams_alg_from_name("none", 4), IAMS_ALG_UNKNOWN);
    assert_int_equal(iams_alg_from_name("rs256", 5), IAMS_ALG_UNKNOWN);
    assert_int_equal(iams_alg_from_name("EDDSA", 5), IAMS_ALG_UNKNOWN);
    assert_int_equal(iams_alg_from_name("RS256 ", 6), IAMS_ALG_UNKNOWN);
    assert_int_equal(iams_alg_from_name("RS25", 4), IAMS_ALG_UNKNOWN);
    assert_int_equal(iams_alg_from_name("RS256", 4), IAMS_ALG_UNKNOWN);
    assert_int_equal(iams_alg_from_name("", 0), IAMS_ALG_UNKNOWN);
}


static void
test_parse_each_kty(void **state)
{
    iams_err         err;
    iams_jwk        *gen;
    iams_jwks       *set;
    const iams_jwk  *k;
    static const struct {
        const char  *fixture;
        iams_kty     kty;
    } cases[] = {
        { iams_test_jwk_rsa, IAMS_KTY_RSA },
        { iams_test_jwk_p256, IAMS_KTY_EC },
        { iams_test_jwk_p521, IAMS_KTY_EC },
        { iams_test_jwk_ed25519, IAMS_KTY_OKP },
        { iams_test_jwk_oct, IAMS_KTY_OCT },
    };
    size_t  i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(parse_doc(public_with(cases[i].fixture, "kid",
                                               json_string("k1")),
                                   &set, &err), IAMS_OK);
        assert_int_equal(iams_jwks_count(set), 1);
        k = iams_jwks_get(set, 0);
        assert_int_equal(iams_jwk_kty(k), cases[i].kty);
        assert_string_equal(iams_jwk_kid(k), "k1");
        assert_null(iams_jwks_get(set, 1));
        iams_jwks_free(set);
    }

    /* a single JWK without kid */
    assert_int_equal(parse_doc(public_with(iams_test_jwk_p256, NULL, NULL),
                               &set, &err), IAMS_OK);
    assert_null(iams_jwk_kid(iams_jwks_get(set, 0)));
    iams_jwks_free(set);

    /* P-384 through a generated key */
    gen = iams_test_generated_key("EC", "P-384");
    assert_int_equal(parse_doc(iams_test_public_jwk(gen), &set, &err),
                     IAMS_OK);
    assert_int_equal(iams_jwk_check_alg(iams_jwks_get(set, 0),
                                        IAMS_ALG_ES384, 0, &err), IAMS_OK);
    iams_jwks_free(set);
    iams_jwk_free(gen);
}


static void
test_pem_public_keys(void **state)
{
    char        *pem, *multi, *rsa_pem;
    json_t      *doc;
    size_t       len;
    iams_err     err;
    EVP_PKEY    *ec, *ed;
    iams_jwks   *set;

    (void) state;

    doc = iams_test_load_vector_json(
        "wycheproof/rsa_signature_2048_sha256_test.json");
    rsa_pem = strdup(json_string_value(json_object_get(
        json_array_get(json_object_get(doc, "testGroups"), 0),
        "publicKeyPem")));
    json_decref(doc);

    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(ec);
    assert_non_null(ed);

    pem = pem_of(ec, 0);
    len = strlen(rsa_pem) + strlen(pem) + 64;
    multi = malloc(len + 1024);
    assert_non_null(multi);
    snprintf(multi, len + 1024, "\n  %s%s", rsa_pem, pem);
    free(pem);
    pem = pem_of(ed, 0);
    strcat(multi, pem);
    free(pem);

    assert_int_equal(iams_test_parse_set(multi, &set, &err), IAMS_OK);
    assert_int_equal(iams_jwks_count(set), 3);
    assert_int_equal(iams_jwk_kty(iams_jwks_get(set, 0)), IAMS_KTY_RSA);
    assert_int_equal(iams_jwk_kty(iams_jwks_get(set, 1)), IAMS_KTY_EC);
    assert_int_equal(iams_jwk_kty(iams_jwks_get(set, 2)), IAMS_KTY_OKP);
    assert_null(iams_jwk_kid(iams_jwks_get(set, 0)));
    assert_int_equal(iams_jwk_check_alg(iams_jwks_get(set, 1),
                                        IAMS_ALG_ES256, 0, &err), IAMS_OK);
    iams_jwks_free(set);

    /* a BEGIN line with leading blanks would be skipped by the PEM reader:
     * the whole set is refused instead of losing a key */
    pem = strstr(multi + 10, "-----BEGIN");
    assert_non_null(pem);
    memmove(pem + 1, pem, strlen(pem) + 1);
    pem[0] = ' ';
    assert_int_equal(iams_test_parse_set(multi, &set, &err),
                     IAMS_ERR_KEY_INVALID);
    free(multi);

    /* a private key is not a public key file */
    pem = pem_of(ec, 1);
    assert_int_equal(iams_test_parse_set(pem, &set, &err),
                     IAMS_ERR_KEY_INVALID);
    free(pem);

    /* nor is a truncated block */
    pem = pem_of(ec, 0);
    pem[strlen(pem) / 2] = '\0';
    assert_int_equal(iams_test_parse_set(pem, &set, &err),
                     IAMS_ERR_KEY_INVALID);
    free(pem);

    assert_int_equal(iams_test_parse_set("-----BEGIN PUBLIC KEY-----\n"
                                         "AAAA\n-----END PUBLIC KEY-----\n",
                                         &set, &err),
                     IAMS_ERR_KEY_INVALID);

    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    free(rsa_pem);
}


static void
test_pem_unsupported_curve(void **state)
{
    char      *pem;
    iams_err   err;
    EVP_PKEY  *k1;
    iams_jwk  *key;
    iams_jwks *set;

    (void) state;

    k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    assert_non_null(k1);

    pem = pem_of(k1, 0);
    assert_int_equal(iams_test_parse_set(pem, &set, &err),
                     IAMS_ERR_KEY_INVALID);
    free(pem);

    pem = pem_of(k1, 1);
    assert_int_equal(iams_jwk_parse_private(pem, strlen(pem), &key, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_null(key);
    free(pem);

    EVP_PKEY_free(k1);
}


static void
test_small_rsa_rejected(void **state)
{
    char      *pem, *n, *e;
    BIGNUM    *bn_n, *bn_e;
    size_t     nlen, elen;
    iams_err   err;
    EVP_PKEY  *small;
    iams_jwk  *key;
    iams_jwks *set;
    unsigned char  buf[256];

    (void) state;

    small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    assert_non_null(small);

    /* as a JWK */
    bn_n = bn_e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(small, "n", &bn_n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(small, "e", &bn_e), 1);
    nlen = (size_t) BN_bn2bin(bn_n, buf);
    n = iams_test_b64url(buf, nlen);
    elen = (size_t) BN_bn2bin(bn_e, buf);
    e = iams_test_b64url(buf, elen);

    assert_int_equal(parse_doc(json_pack("{s:s,s:s,s:s}", "kty", "RSA",
                                         "n", n, "e", e), NULL, &err),
                     IAMS_ERR_KEY_WEAK);
    assert_non_null(strstr(err.detail, "1024"));

    /* as a PEM public key and a PEM private key */
    pem = pem_of(small, 0);
    assert_int_equal(iams_test_parse_set(pem, &set, &err), IAMS_ERR_KEY_WEAK);
    free(pem);

    pem = pem_of(small, 1);
    assert_int_equal(iams_jwk_parse_private(pem, strlen(pem), &key, &err),
                     IAMS_ERR_KEY_WEAK);
    free(pem);

    free(n);
    free(e);
    BN_free(bn_n);
    BN_free(bn_e);
    EVP_PKEY_free(small);
}


static void
test_ec_point_checks(void **state)
{
    char           *s;
    json_t         *jwk;
    size_t          len;
    iams_err        err;
    unsigned char  *y;

    (void) state;

    /* y with its last bit flipped: the point leaves the curve */
    jwk = public_with(iams_test_jwk_p256, NULL, NULL);
    y = iams_test_unb64url(json_string_value(json_object_get(jwk, "y")),
                           &len);
    y[len - 1] ^= 0x01;
    s = iams_test_b64url(y, len);
    json_object_set_new(jwk, "y", json_string(s));
    assert_int_equal(parse_doc(jwk, NULL, &err), IAMS_ERR_KEY_INVALID);
    free(s);

    /* coordinates one octet short (leading zero dropped) */
    s = iams_test_b64url(y + 1, len - 1);
    assert_int_equal(parse_doc(public_with(iams_test_jwk_p256, "y",
                                           json_string(s)), NULL, &err),
                     IAMS_ERR_KEY_INVALID);
    free(s);
    free(y);

    /* P-521 coordinates under a P-256 label */
    assert_int_equal(parse_doc(public_with(iams_test_jwk_p521, "crv",
                                           json_string("P-256")),
                               NULL, &err),
                     IAMS_ERR_KEY_INVALID);

    /* the point at infinity is not encodable; all-zero x and y is off */
    s = iams_test_b64url((const unsigned char *)
                         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                         "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 32);
    jwk = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256",
                    "x", s, "y", s);
    assert_int_equal(parse_doc(jwk, NULL, &err), IAMS_ERR_KEY_INVALID);
    free(s);
}


static void
test_malformed_members(void **state)
{
    iams_err   err;
    size_t     i;
    json_t    *cases[18];

    (void) state;

    i = 0;
    cases[i++] = public_with(iams_test_jwk_rsa, "kty", json_string("rsa"));
    cases[i++] = public_with(iams_test_jwk_rsa, "kty", json_integer(1));
    cases[i++] = public_with(iams_test_jwk_rsa, "kty", NULL);
    cases[i++] = public_with(iams_test_jwk_rsa, "n", NULL);
    cases[i++] = public_with(iams_test_jwk_rsa, "e", json_integer(65537));
    cases[i++] = public_with(iams_test_jwk_rsa, "e", json_string("AQAB=="));
    cases[i++] = public_with(iams_test_jwk_rsa, "e", json_string("AQAC"));
    cases[i++] = public_with(iams_test_jwk_rsa, "e", json_string(""));
    cases[i++] = public_with(iams_test_jwk_p256, "crv",
                             json_string("secp256k1"));
    cases[i++] = public_with(iams_test_jwk_p256, "crv", NULL);
    cases[i++] = public_with(iams_test_jwk_p256, "x", json_string("AA+A"));
    cases[i++] = public_with(iams_test_jwk_ed25519, "crv",
                             json_string("X25519"));
    cases[i++] = public_with(iams_test_jwk_ed25519, "crv",
                             json_string("Ed448"));
    cases[i++] = public_with(iams_test_jwk_ed25519, "x",
                             json_string("AAAA"));
    cases[i++] = public_with(iams_test_jwk_oct, "k", json_string(""));
    cases[i++] = public_with(iams_test_jwk_oct, "kid", json_integer(7));
    cases[i++] = public_with(iams_test_jwk_oct, "use", json_true());
    cases[i++] = public_with(iams_test_jwk_oct, "alg", json_null());

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err.status = IAMS_OK;
        assert_int_equal(parse_doc(cases[i], NULL, &err),
                         IAMS_ERR_KEY_INVALID);
        assert_int_equal(err.status, IAMS_ERR_KEY_INVALID);
        assert_true(err.detail[0] != '\0');
    }

    /* key_ops must be an array of distinct strings */
    assert_int_equal(parse_doc(public_with(iams_test_jwk_oct, "key_ops",
                                           json_string("verify")),
                               NULL, &err), IAMS_ERR_KEY_INVALID);
    assert_int_equal(parse_doc(public_with(iams_test_jwk_oct, "key_ops",
                                           json_pack("[i]", 1)),
                               NULL, &err), IAMS_ERR_KEY_INVALID);
    assert_int_equal(parse_doc(public_with(iams_test_jwk_oct, "key_ops",
                                           json_pack("[s,s]", "verify",
                                                     "verify")),
                               NULL, &err), IAMS_ERR_KEY_INVALID);

    /* the detail names the key by position */
    assert_int_equal(parse_doc(json_pack("{s:[o,o]}", "keys",
                                         public_with(iams_test_jwk_oct,
                                                     "kid",
                                                     json_string("a")),
                                         public_with(iams_test_jwk_oct,
                                                     "kid",
                                                     json_string("b"))),
                               NULL, &err), IAMS_OK);
    assert_int_equal(parse_doc(json_pack("{s:[o,o]}", "keys",
                                         public_with(iams_test_jwk_oct,
                                                     "kid",
                                                     json_string("a")),
                                         public_with(iams_test_jwk_oct,
                                                     "k", NULL)),
                               NULL, &err), IAMS_ERR_KEY_INVALID);
    assert_non_null(strstr(err.detail, "key 1"));
}


static void
test_duplicate_kid(void **state)
{
    iams_err    err;
    iams_jwks  *set;

    (void) state;

    assert_int_equal(parse_doc(json_pack("{s:[o,o]}", "keys",
                                         public_with(iams_test_jwk_p256,
                                                     "kid",
                                                     json_string("same")),
                                         public_with(iams_test_jwk_rsa,
                                                     "kid",
                                                     json_string("same"))),
                               NULL, &err),
                     IAMS_ERR_KEY_DUPLICATE_KID);

    /* kids differing only in case are different kids */
    assert_int_equal(parse_doc(json_pack("{s:[o,o]}", "keys",
                                         public_with(iams_test_jwk_p256,
                                                     "kid",
                                                     json_string("Same")),
                                         public_with(iams_test_jwk_rsa,
                                                     "kid",
                                                     json_string("same"))),
                               &set, &err), IAMS_OK);
    assert_int_equal(iams_jwks_count(set), 2);
    iams_jwks_free(set);

    /* keys without kid never collide */
    assert_int_equal(parse_doc(json_pack("{s:[o,o]}", "keys",
                                         public_with(iams_test_jwk_p256,
                                                     NULL, NULL),
                                         public_with(iams_test_jwk_rsa,
                                                     NULL, NULL)),
                               &set, &err), IAMS_OK);
    iams_jwks_free(set);
}


static void
test_set_bounds(void **state)
{
    int         i;
    char       *big;
    json_t     *keys;
    iams_err    err;
    iams_jwks  *set;

    (void) state;

    assert_int_equal(iams_test_parse_set("{\"keys\":[]}", &set, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_int_equal(iams_test_parse_set("{\"keys\":{}}", &set, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_int_equal(iams_test_parse_set("{\"foo\":1}", &set, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_int_equal(iams_test_parse_set("{\"keys\":[1]}", &set, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_int_equal(iams_test_parse_set("{\"keys\":[", &set, &err),
                     IAMS_ERR_JSON);
    assert_int_equal(iams_test_parse_set("[]", &set, &err), IAMS_ERR_JSON);
    assert_int_equal(iams_test_parse_set("", &set, &err), IAMS_ERR_JSON);

    for (i = IAMS_JWKS_MAX_KEYS; i <= IAMS_JWKS_MAX_KEYS + 1; i++) {
        int  j;

        keys = json_array();

        for (j = 0; j < i; j++) {
            json_array_append_new(keys, json_pack("{s:s,s:s}", "kty", "oct",
                                                  "k", "AAAA"));
        }

        assert_int_equal(parse_doc(json_pack("{s:o}", "keys", keys), &set,
                                   &err),
                         i == IAMS_JWKS_MAX_KEYS ? IAMS_OK
                                                 : IAMS_ERR_KEY_INVALID);

        if (set != NULL) {
            assert_int_equal(iams_jwks_count(set), IAMS_JWKS_MAX_KEYS);
            iams_jwks_free(set);
        }
    }

    big = malloc(IAMS_JWK_MAX_FILE + 2);
    assert_non_null(big);
    memset(big, ' ', IAMS_JWK_MAX_FILE + 1);
    memcpy(big, "{\"keys\":[]}", 11);
    assert_int_equal(iams_jwks_parse(big, IAMS_JWK_MAX_FILE + 1, &set, &err),
                     IAMS_ERR_TOO_LARGE);
    free(big);
}


static void
test_public_parse_drops_private_members(void **state)
{
    json_t     *out;
    iams_err    err;
    iams_jwks  *set;
    const iams_jwk  *k;

    (void) state;

    assert_int_equal(iams_test_parse_set(iams_test_jwk_rsa, &set, &err),
                     IAMS_OK);
    k = iams_jwks_get(set, 0);

    out = iams_jwk_to_json(k, 1);
    assert_non_null(out);
    assert_non_null(json_object_get(out, "n"));
    assert_null(json_object_get(out, "d"));
    assert_null(json_object_get(out, "p"));
    json_decref(out);

    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_RS256, 1, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_RS256, 0, &err),
                     IAMS_OK);
    iams_jwks_free(set);

    assert_int_equal(iams_test_parse_set(iams_test_jwk_ed25519, &set, &err),
                     IAMS_OK);
    out = iams_jwk_to_json(iams_jwks_get(set, 0), 1);
    assert_null(json_object_get(out, "d"));
    json_decref(out);
    iams_jwks_free(set);
}


/* check_alg for one key over every algorithm: ok lists the algs that fit. */
static void
expect_fits(const iams_jwk *key, iams_alg_set ok, int for_sign)
{
    int       a;
    iams_err  err;

    for (a = IAMS_ALG_UNKNOWN + 1; a < IAMS_ALG_COUNT; a++) {
        if (ok & IAMS_ALG_BIT(a)) {
            if (iams_jwk_check_alg(key, (iams_alg) a, for_sign, &err)
                != IAMS_OK)
            {
                fail_msg("%s refused: %s", iams_alg_name((iams_alg) a),
                         err.detail);
            }

        } else {
            assert_int_equal(iams_jwk_check_alg(key, (iams_alg) a, for_sign,
                                                &err),
                             IAMS_ERR_ALG_KEY_MISMATCH);
        }
    }
}


static void
test_check_alg_kty_and_curve(void **state)
{
    iams_err   err;
    iams_jwk  *key;
    iams_alg_set  rsa = IAMS_ALG_BIT(IAMS_ALG_RS256)
                        | IAMS_ALG_BIT(IAMS_ALG_RS384)
                        | IAMS_ALG_BIT(IAMS_ALG_RS512)
                        | IAMS_ALG_BIT(IAMS_ALG_PS256)
                        | IAMS_ALG_BIT(IAMS_ALG_PS384)
                        | IAMS_ALG_BIT(IAMS_ALG_PS512);

    (void) state;

    key = iams_test_private_key(iams_test_jwk_rsa);
    expect_fits(key, rsa, 0);
    expect_fits(key, rsa, 1);
    iams_jwk_free(key);

    key = iams_test_private_key(iams_test_jwk_p256);
    expect_fits(key, IAMS_ALG_BIT(IAMS_ALG_ES256), 0);
    iams_jwk_free(key);

    key = iams_test_generated_key("EC", "P-384");
    expect_fits(key, IAMS_ALG_BIT(IAMS_ALG_ES384), 1);
    iams_jwk_free(key);

    key = iams_test_private_key(iams_test_jwk_p521);
    expect_fits(key, IAMS_ALG_BIT(IAMS_ALG_ES512), 0);
    iams_jwk_free(key);

    key = iams_test_private_key(iams_test_jwk_ed25519);
    expect_fits(key, IAMS_ALG_BIT(IAMS_ALG_EDDSA), 0);
    iams_jwk_free(key);

    key = iams_test_private_key(iams_test_jwk_oct);
    expect_fits(key, IAMS_ALG_SET_HMAC, 0);
    expect_fits(key, IAMS_ALG_SET_HMAC, 1);

    assert_int_equal(iams_jwk_check_alg(key, IAMS_ALG_UNKNOWN, 0, &err),
                     IAMS_ERR_ALG_UNSUPPORTED);
    assert_int_equal(iams_jwk_check_alg(key, IAMS_ALG_COUNT, 0, &err),
                     IAMS_ERR_ALG_UNSUPPORTED);
    iams_jwk_free(key);
}


static void
test_check_alg_hmac_key_length(void **state)
{
    char       *k, text[256];
    iams_err    err;
    iams_jwk   *key;
    unsigned char  secret[64];
    static const struct {
        size_t  len;
        int     hs256, hs384, hs512;
    } cases[] = {
        { 31, 0, 0, 0 }, { 32, 1, 0, 0 }, { 47, 1, 0, 0 }, { 48, 1, 1, 0 },
        { 63, 1, 1, 0 }, { 64, 1, 1, 1 },
    };
    size_t  i;

    (void) state;

    memset(secret, 0x5a, sizeof(secret));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        k = iams_test_b64url(secret, cases[i].len);
        snprintf(text, sizeof(text), "{\"kty\":\"oct\",\"k\":\"%s\"}", k);
        free(k);

        key = iams_test_private_key(text);

        assert_int_equal(iams_jwk_check_alg(key, IAMS_ALG_HS256, 0, &err),
                         cases[i].hs256 ? IAMS_OK : IAMS_ERR_KEY_WEAK);
        assert_int_equal(iams_jwk_check_alg(key, IAMS_ALG_HS384, 0, &err),
                         cases[i].hs384 ? IAMS_OK : IAMS_ERR_KEY_WEAK);
        assert_int_equal(iams_jwk_check_alg(key, IAMS_ALG_HS512, 1, &err),
                         cases[i].hs512 ? IAMS_OK : IAMS_ERR_KEY_WEAK);
        iams_jwk_free(key);
    }
}


/* A key set of the oct fixture with one metadata member set. */
static const iams_jwk *
oct_with(const char *member, json_t *value, iams_jwks **set)
{
    iams_err  err;

    assert_int_equal(parse_doc(public_with(iams_test_jwk_oct, member, value),
                               set, &err), IAMS_OK);

    return iams_jwks_get(*set, 0);
}


static void
test_check_alg_use_ops_and_alg(void **state)
{
    iams_err         err;
    iams_jwks       *set;
    const iams_jwk  *k;

    (void) state;

    k = oct_with("use", json_string("sig"), &set);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 0, &err),
                     IAMS_OK);
    iams_jwks_free(set);

    k = oct_with("use", json_string("enc"), &set);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 0, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 1, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    iams_jwks_free(set);

    k = oct_with("use", json_string("Sig"), &set);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 0, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    iams_jwks_free(set);

    k = oct_with("key_ops", json_pack("[s]", "verify"), &set);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 0, &err),
                     IAMS_OK);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 1, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    iams_jwks_free(set);

    k = oct_with("key_ops", json_pack("[s]", "sign"), &set);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 0, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 1, &err),
                     IAMS_OK);
    iams_jwks_free(set);

    k = oct_with("key_ops", json_pack("[s,s]", "encrypt", "decrypt"), &set);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 0, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    iams_jwks_free(set);

    k = oct_with("key_ops", json_array(), &set);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 0, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    iams_jwks_free(set);

    k = oct_with("alg", json_string("HS384"), &set);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS384, 0, &err),
                     IAMS_OK);
    assert_int_equal(iams_jwk_check_alg(k, IAMS_ALG_HS256, 0, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    iams_jwks_free(set);

    /* an alg we do not implement keeps the key out of every use */
    k = oct_with("alg", json_string("A256KW"), &set);
    expect_fits(k, 0, 0);
    iams_jwks_free(set);

    k = oct_with("alg", json_string("none"), &set);
    expect_fits(k, 0, 0);
    iams_jwks_free(set);
}


static void
test_private_jwk_parsing(void **state)
{
    char       *text;
    json_t     *jwk;
    iams_err    err;
    iams_jwk   *key;
    static const char  *crt[] = { "p", "q", "dp", "dq", "qi" };
    size_t      i;

    (void) state;

    /* RSA with only n, e, d still signs */
    jwk = json_loads(iams_test_jwk_rsa, 0, NULL);

    for (i = 0; i < 5; i++) {
        json_object_del(jwk, crt[i]);
    }

    text = json_dumps(jwk, 0);
    key = iams_test_private_key(text);
    expect_fits(key, IAMS_ALG_SET_ASYMMETRIC & ~(IAMS_ALG_BIT(IAMS_ALG_ES256)
                                               | IAMS_ALG_BIT(IAMS_ALG_ES384)
                                               | IAMS_ALG_BIT(IAMS_ALG_ES512)
                                               | IAMS_ALG_BIT(IAMS_ALG_EDDSA)),
                1);
    iams_jwk_free(key);
    free(text);
    json_decref(jwk);

    /* only some CRT members */
    jwk = json_loads(iams_test_jwk_rsa, 0, NULL);
    json_object_del(jwk, "qi");
    text = json_dumps(jwk, 0);
    assert_int_equal(iams_jwk_parse_private(text, strlen(text), &key, &err),
                     IAMS_ERR_KEY_INVALID);
    free(text);
    json_decref(jwk);

    /* a public JWK is no private key */
    jwk = public_with(iams_test_jwk_p256, NULL, NULL);
    text = json_dumps(jwk, 0);
    assert_int_equal(iams_jwk_parse_private(text, strlen(text), &key, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_non_null(strstr(err.detail, "\"d\""));
    free(text);
    json_decref(jwk);

    /* d of one key with x, y of another */
    jwk = json_loads(iams_test_jwk_p256, 0, NULL);
    json_object_set_new(jwk, "d", json_string(
        "AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM"));
    text = json_dumps(jwk, 0);
    assert_int_equal(iams_jwk_parse_private(text, strlen(text), &key, &err),
                     IAMS_ERR_KEY_INVALID);
    free(text);
    json_decref(jwk);

    jwk = json_loads(iams_test_jwk_ed25519, 0, NULL);
    json_object_set_new(jwk, "x", json_string(
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURs"));
    text = json_dumps(jwk, 0);
    assert_int_equal(iams_jwk_parse_private(text, strlen(text), &key, &err),
                     IAMS_ERR_KEY_INVALID);
    free(text);
    json_decref(jwk);

    /* RSA d that does not belong to n */
    jwk = json_loads(iams_test_jwk_rsa, 0, NULL);
    for (i = 0; i < 5; i++) {
        json_object_del(jwk, crt[i]);
    }
    json_object_set_new(jwk, "d", json_string("AQAB"));
    text = json_dumps(jwk, 0);
    assert_int_equal(iams_jwk_parse_private(text, strlen(text), &key, &err),
                     IAMS_ERR_KEY_INVALID);
    free(text);
    json_decref(jwk);

    assert_int_equal(iams_jwk_parse_private("[]", 2, &key, &err),
                     IAMS_ERR_JSON);
    assert_int_equal(iams_jwk_parse_private("{\"kty\":\"EC\"}", 12, &key,
                                            &err), IAMS_ERR_KEY_INVALID);
}


static void
test_private_pem_parsing(void **state)
{
    BIO        *bio;
    char       *pem, *data, *path;
    long        len;
    iams_err    err;
    EVP_PKEY   *ec;
    iams_jwk   *key;

    (void) state;

    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);

    /* PKCS#8 */
    pem = pem_of(ec, 1);
    assert_non_null(strstr(pem, "BEGIN PRIVATE KEY"));
    assert_int_equal(iams_jwk_parse_private(pem, strlen(pem), &key, &err),
                     IAMS_OK);
    assert_int_equal(iams_jwk_kty(key), IAMS_KTY_EC);
    assert_null(iams_jwk_kid(key));
    expect_fits(key, IAMS_ALG_BIT(IAMS_ALG_ES256), 1);
    iams_jwk_free(key);

    /* from a file */
    path = iams_test_temp_file(pem, strlen(pem));
    assert_int_equal(iams_jwk_load_private_file(path, &key, &err), IAMS_OK);
    iams_jwk_free(key);
    unlink(path);
    free(path);
    free(pem);

    /* traditional "EC PRIVATE KEY" */
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, ec, NULL,
                                                          NULL, 0, NULL,
                                                          NULL), 1);
    len = BIO_get_mem_data(bio, &data);
    assert_non_null(strstr(data, "BEGIN EC PRIVATE KEY"));
    assert_int_equal(iams_jwk_parse_private(data, (size_t) len, &key, &err),
                     IAMS_OK);
    iams_jwk_free(key);
    BIO_free(bio);

    /* encrypted: refused, never prompts */
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, ec,
                                                   EVP_aes_256_cbc(), NULL,
                                                   0, NULL, "secret"), 1);
    len = BIO_get_mem_data(bio, &data);
    assert_int_equal(iams_jwk_parse_private(data, (size_t) len, &key, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_null(key);
    BIO_free(bio);

    /* a public key is not a private key */
    pem = pem_of(ec, 0);
    assert_int_equal(iams_jwk_parse_private(pem, strlen(pem), &key, &err),
                     IAMS_ERR_KEY_INVALID);
    free(pem);

    EVP_PKEY_free(ec);
}


/* Generated key: exported, re-imported, signs and verifies. */
static void
check_generated(iams_kty kty, iams_alg alg, const char *kid)
{
    char         *text, *token;
    size_t        len;
    json_t       *pub, *priv;
    iams_jws      jws;
    iams_err      err;
    iams_jwk     *key, *again;
    iams_jwks    *set;

    if (iams_jwk_generate(kty, kid, &key, &err) != IAMS_OK) {
        fail_msg("generate: %s", err.detail);
    }

    assert_int_equal(iams_jwk_kty(key), kty);

    if (kid) {
        assert_string_equal(iams_jwk_kid(key), kid);
    } else {
        assert_null(iams_jwk_kid(key));
    }

    pub = iams_jwk_to_json(key, 0);
    priv = iams_jwk_to_json(key, 1);
    assert_non_null(pub);
    assert_non_null(priv);

    if (kty == IAMS_KTY_OCT) {
        assert_null(json_object_get(pub, "k"));
        assert_non_null(json_object_get(priv, "k"));

    } else {
        assert_null(json_object_get(pub, "d"));
        assert_non_null(json_object_get(priv, "d"));
    }

    if (kid) {
        assert_string_equal(json_string_value(json_object_get(pub, "kid")),
                            kid);
    }

    if (kty == IAMS_KTY_RSA) {
        unsigned char  *n;

        n = iams_test_unb64url(json_string_value(json_object_get(pub, "n")),
                               &len);
        assert_int_equal(len, 3072 / 8);
        free(n);
    }

    text = json_dumps(priv, 0);
    assert_int_equal(iams_jwk_parse_private(text, strlen(text), &again,
                                            &err), IAMS_OK);
    free(text);

    /* the re-imported private key signs; the exported public one verifies */
    assert_int_equal(iams_jws_sign(again, alg, NULL, "JWT",
                                   (const unsigned char *) "{}", 2, &token,
                                   &len, &err), IAMS_OK);

    text = json_dumps(kty == IAMS_KTY_OCT ? priv : pub, 0);
    assert_int_equal(iams_jwks_parse(text, strlen(text), &set, &err),
                     IAMS_OK);
    free(text);

    assert_int_equal(iams_jws_parse(token, len, &jws, &err), IAMS_OK);
    assert_int_equal(iams_jws_verify(&jws, set, IAMS_ALG_BIT(alg), NULL,
                                     &err), IAMS_OK);

    iams_jws_clear(&jws);
    iams_jwks_free(set);
    free(token);
    json_decref(pub);
    json_decref(priv);
    iams_jwk_free(again);
    iams_jwk_free(key);
}


static void
test_generate_and_export(void **state)
{
    iams_err   err;
    iams_jwk  *key;

    (void) state;

    check_generated(IAMS_KTY_EC, IAMS_ALG_ES256, "ec-1");
    check_generated(IAMS_KTY_OKP, IAMS_ALG_EDDSA, NULL);
    check_generated(IAMS_KTY_OCT, IAMS_ALG_HS512, "hmac");
    check_generated(IAMS_KTY_RSA, IAMS_ALG_PS256, "rsa-1");

    assert_int_equal(iams_jwk_generate((iams_kty) 99, NULL, &key, &err),
                     IAMS_ERR_INTERNAL);
    assert_null(key);
}


static void
test_to_json_keeps_metadata(void **state)
{
    char        *text;
    json_t      *in, *out, *x;
    iams_err     err;
    iams_jwks   *set;

    (void) state;

    in = public_with(iams_test_jwk_p521, NULL, NULL);
    json_object_set_new(in, "kid", json_string("k-521"));
    json_object_set_new(in, "use", json_string("sig"));
    json_object_set_new(in, "alg", json_string("ES512"));
    json_object_set_new(in, "key_ops", json_pack("[s]", "verify"));
    json_object_set_new(in, "x5t", json_string("ignored"));
    x = json_object_get(in, "x");
    json_incref(x);

    text = json_dumps(in, 0);
    assert_int_equal(iams_jwks_parse(text, strlen(text), &set, &err),
                     IAMS_OK);
    free(text);

    out = iams_jwk_to_json(iams_jwks_get(set, 0), 0);
    assert_string_equal(json_string_value(json_object_get(out, "kty")),
                        "EC");
    assert_string_equal(json_string_value(json_object_get(out, "crv")),
                        "P-521");
    assert_true(json_equal(json_object_get(out, "x"), x));
    assert_true(json_equal(json_object_get(out, "y"),
                           json_object_get(in, "y")));
    assert_string_equal(json_string_value(json_object_get(out, "kid")),
                        "k-521");
    assert_string_equal(json_string_value(json_object_get(out, "use")),
                        "sig");
    assert_string_equal(json_string_value(json_object_get(out, "alg")),
                        "ES512");
    assert_true(json_equal(json_object_get(out, "key_ops"),
                           json_object_get(in, "key_ops")));
    assert_null(json_object_get(out, "x5t"));

    json_decref(out);
    json_decref(x);
    json_decref(in);
    iams_jwks_free(set);
}


static void
test_load_file(void **state)
{
    char        *path, *big;
    iams_err     err;
    iams_jwks   *set;
    static const char  bad[] =
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2Vj==\"}]}";

    (void) state;

    path = iams_test_temp_file(iams_test_jwk_oct, strlen(iams_test_jwk_oct));
    assert_int_equal(iams_jwks_load_file(path, &set, &err), IAMS_OK);
    assert_int_equal(iams_jwks_count(set), 1);
    iams_jwks_free(set);
    unlink(path);
    free(path);

    assert_int_equal(iams_jwks_load_file("/nonexistent/keys.json", &set,
                                         &err), IAMS_ERR_IO);
    assert_null(set);
    assert_int_equal(strncmp(err.detail, "cannot open", 11), 0);

    /* the detail never quotes the file */
    path = iams_test_temp_file(bad, strlen(bad));
    assert_int_equal(iams_jwks_load_file(path, &set, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_null(strstr(err.detail, "c2Vj"));
    unlink(path);
    free(path);

    big = malloc(IAMS_JWK_MAX_FILE + 1);
    assert_non_null(big);
    memset(big, ' ', IAMS_JWK_MAX_FILE + 1);
    path = iams_test_temp_file(big, IAMS_JWK_MAX_FILE + 1);
    assert_int_equal(iams_jwks_load_file(path, &set, &err),
                     IAMS_ERR_TOO_LARGE);
    unlink(path);
    free(path);
    free(big);
}


static void
test_merge(void **state)
{
    iams_err    err;
    iams_jwks  *a, *b, *c, *d;

    (void) state;

    assert_int_equal(parse_doc(public_with(iams_test_jwk_p256, "kid",
                                           json_string("a")), &a, &err),
                     IAMS_OK);
    assert_int_equal(parse_doc(json_pack("{s:[o,o]}", "keys",
                                         public_with(iams_test_jwk_rsa,
                                                     "kid",
                                                     json_string("b")),
                                         public_with(iams_test_jwk_oct,
                                                     NULL, NULL)),
                               &b, &err), IAMS_OK);
    assert_int_equal(parse_doc(public_with(iams_test_jwk_ed25519, "kid",
                                           json_string("a")), &c, &err),
                     IAMS_OK);
    assert_int_equal(parse_doc(public_with(iams_test_jwk_p521, NULL, NULL),
                               &d, &err), IAMS_OK);

    assert_int_equal(iams_jwks_merge(a, &b, &err), IAMS_OK);
    assert_null(b);
    assert_int_equal(iams_jwks_count(a), 3);
    assert_string_equal(iams_jwk_kid(iams_jwks_get(a, 1)), "b");

    /* a clash leaves both sets as they were */
    assert_int_equal(iams_jwks_merge(a, &c, &err),
                     IAMS_ERR_KEY_DUPLICATE_KID);
    assert_non_null(c);
    assert_int_equal(iams_jwks_count(a), 3);
    assert_int_equal(iams_jwks_count(c), 1);

    /* keys without kid merge freely */
    assert_int_equal(iams_jwks_merge(a, &d, &err), IAMS_OK);
    assert_int_equal(iams_jwks_count(a), 4);

    iams_jwks_free(a);
    iams_jwks_free(c);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_parse_each_kty),
        cmocka_unit_test(test_pem_public_keys),
        cmocka_unit_test(test_pem_unsupported_curve),
        cmocka_unit_test(test_small_rsa_rejected),
        cmocka_unit_test(test_ec_point_checks),
        cmocka_unit_test(test_malformed_members),
        cmocka_unit_test(test_duplicate_kid),
        cmocka_unit_test(test_set_bounds),
        cmocka_unit_test(test_public_parse_drops_private_members),
        cmocka_unit_test(test_check_alg_kty_and_curve),
        cmocka_unit_test(test_check_alg_hmac_key_length),
        cmocka_unit_test(test_check_alg_use_ops_and_alg),
        cmocka_unit_test(test_private_jwk_parsing),
        cmocka_unit_test(test_private_pem_parsing),
        cmocka_unit_test(test_generate_and_export),
        cmocka_unit_test(test_to_json_keeps_metadata),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_merge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
