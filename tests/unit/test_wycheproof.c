/*
 * Wycheproof signature and MAC vectors through iams_sig_verify, the exact
 * primitive iams_jws_verify calls.  Keys are built from each group's JWK
 * (or, for HMAC, a JWK made from the test's key) with iams_jwks_parse, so
 * key parsing is exercised with the same data.
 *
 * Every test of every listed file runs; "valid" must verify, "invalid"
 * must not, "acceptable" (e.g. PKCS#1 v1.5 DigestInfo without the NULL
 * parameter) may go either way.  One place where JWS rules differ from the
 * raw primitive: the HMAC files hold groups whose tagSize is shorter than
 * the hash (truncated tags).  JWS (RFC 7518 section 3.2) compares the full
 * HMAC output, so a truncated tag must be rejected even when Wycheproof
 * calls it valid; those tests assert the rejection.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/jose.h>

#include "support/vectors.h"


typedef struct {
    const char  *file;
    iams_alg     alg;
    size_t       hash_bits;    /* HMAC: the untruncated tag size */
} suite;

typedef struct {
    size_t  run, valid, invalid, acceptable, truncated;
} tally;

static size_t  total_run;


static iams_jwks *
group_keys(const json_t *group, const json_t *test, const suite *s)
{
    char          *text, *k;
    size_t         klen;
    json_t        *jwk;
    iams_err       err;
    iams_jwks     *set;
    unsigned char *key;

    if (s->hash_bits != 0) {
        key = iams_test_hex(json_string_value(json_object_get(test, "key")),
                            &klen);
        k = iams_test_b64url(key, klen);
        jwk = json_pack("{s:s,s:s}", "kty", "oct", "k", k);
        free(key);
        free(k);

    } else {
        jwk = json_object_get(group, "publicKeyJwk");

        if (jwk == NULL) {
            jwk = json_object_get(group, "keyJwk");
        }

        assert_non_null(jwk);
        json_incref(jwk);
    }

    text = json_dumps(jwk, JSON_COMPACT);
    assert_non_null(text);
    json_decref(jwk);

    if (iams_jwks_parse(text, strlen(text), &set, &err) != IAMS_OK) {
        fail_msg("%s: group key rejected: %s", s->file, err.detail);
    }

    free(text);

    return set;
}


static void
check_vector(const json_t *group, const json_t *test, const iams_jwks *set,
    const suite *s, tally *t)
{
    int             truncated;
    long            tc;
    size_t          msg_len, sig_len;
    iams_err        err;
    const char     *result, *sig_member;
    iams_status     rc;
    unsigned char  *msg, *sig;

    tc = (long) json_integer_value(json_object_get(test, "tcId"));
    result = json_string_value(json_object_get(test, "result"));
    sig_member = s->hash_bits ? "tag" : "sig";

    msg = iams_test_hex(json_string_value(json_object_get(test, "msg")),
                        &msg_len);
    sig = iams_test_hex(json_string_value(json_object_get(test, sig_member)),
                        &sig_len);

    rc = iams_sig_verify(s->alg, iams_jwks_get(set, 0), msg, msg_len, sig,
                         sig_len, &err);

    assert_true(rc == IAMS_OK || rc == IAMS_ERR_BAD_SIGNATURE);

    truncated = s->hash_bits != 0
                && (size_t) json_integer_value(json_object_get(group,
                                                               "tagSize"))
                   < s->hash_bits;

    if (truncated) {
        if (rc != IAMS_ERR_BAD_SIGNATURE) {
            fail_msg("%s tcId %ld: truncated tag accepted", s->file, tc);
        }

        t->truncated++;

    } else if (strcmp(result, "valid") == 0) {
        if (rc != IAMS_OK) {
            fail_msg("%s tcId %ld: valid vector rejected: %s", s->file, tc,
                     err.detail);
        }

        t->valid++;

    } else if (strcmp(result, "invalid") == 0) {
        if (rc != IAMS_ERR_BAD_SIGNATURE) {
            fail_msg("%s tcId %ld: invalid vector accepted", s->file, tc);
        }

        t->invalid++;

    } else {
        assert_string_equal(result, "acceptable");
        t->acceptable++;
    }

    t->run++;

    free(msg);
    free(sig);
}


static void
run_suite(void **state)
{
    size_t        g, i;
    tally         t;
    json_t       *doc, *groups, *group, *tests;
    iams_jwks    *set;
    const suite  *s = *state;

    memset(&t, 0, sizeof(t));

    doc = iams_test_load_vector_json(s->file);
    groups = json_object_get(doc, "testGroups");
    assert_true(json_array_size(groups) > 0);

    for (g = 0; g < json_array_size(groups); g++) {
        group = json_array_get(groups, g);
        tests = json_object_get(group, "tests");
        set = NULL;

        for (i = 0; i < json_array_size(tests); i++) {
            if (set == NULL || s->hash_bits != 0) {
                iams_jwks_free(set);
                set = group_keys(group, json_array_get(tests, i), s);
            }

            check_vector(group, json_array_get(tests, i), set, s, &t);
        }

        iams_jwks_free(set);
    }

    /* every vector the file announces was run */
    assert_int_equal(t.run,
                     (size_t) json_integer_value(json_object_get(
                                                 doc, "numberOfTests")));
    assert_int_equal(t.run, t.valid + t.invalid + t.acceptable + t.truncated);
    assert_true(t.valid > 0);
    assert_true(t.invalid > 0);

    print_message("%s: %zu run (%zu valid, %zu invalid, %zu acceptable, "
                  "%zu truncated-tag rejected)\n", s->file, t.run, t.valid,
                  t.invalid, t.acceptable, t.truncated);

    total_run += t.run;

    json_decref(doc);
}


static suite  suites[] = {
    { "wycheproof/ecdsa_secp256r1_sha256_p1363_test.json", IAMS_ALG_ES256,
      0 },
    { "wycheproof/ecdsa_secp384r1_sha384_p1363_test.json", IAMS_ALG_ES384,
      0 },
    { "wycheproof/ecdsa_secp521r1_sha512_p1363_test.json", IAMS_ALG_ES512,
      0 },
    { "wycheproof/rsa_signature_2048_sha256_test.json", IAMS_ALG_RS256, 0 },
    { "wycheproof/rsa_signature_2048_sha384_test.json", IAMS_ALG_RS384, 0 },
    { "wycheproof/rsa_signature_2048_sha512_test.json", IAMS_ALG_RS512, 0 },
    { "wycheproof/rsa_pss_2048_sha256_mgf1_32_test.json", IAMS_ALG_PS256,
      0 },
    { "wycheproof/rsa_pss_2048_sha384_mgf1_48_test.json", IAMS_ALG_PS384,
      0 },
    { "wycheproof/ed25519_test.json", IAMS_ALG_EDDSA, 0 },
    { "wycheproof/hmac_sha256_test.json", IAMS_ALG_HS256, 256 },
    { "wycheproof/hmac_sha384_test.json", IAMS_ALG_HS384, 384 },
    { "wycheproof/hmac_sha512_test.json", IAMS_ALG_HS512, 512 },
};


static void
test_all_suites_ran(void **state)
{
    size_t   i, expected;
    json_t  *doc;

    (void) state;

    expected = 0;

    for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        doc = iams_test_load_vector_json(suites[i].file);
        expected += (size_t) json_integer_value(json_object_get(
                                                doc, "numberOfTests"));
        json_decref(doc);
    }

    print_message("wycheproof: %zu vectors run in total\n", total_run);
    assert_int_equal(total_run, expected);
}


#define SUITE(name, i)  { name, run_suite, NULL, NULL, &suites[i] }


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        SUITE("wycheproof_ecdsa_p256_sha256_p1363", 0),
        SUITE("wycheproof_ecdsa_p384_sha384_p1363", 1),
        SUITE("wycheproof_ecdsa_p521_sha512_p1363", 2),
        SUITE("wycheproof_rsa_pkcs1_2048_sha256", 3),
        SUITE("wycheproof_rsa_pkcs1_2048_sha384", 4),
        SUITE("wycheproof_rsa_pkcs1_2048_sha512", 5),
        SUITE("wycheproof_rsa_pss_2048_sha256", 6),
        SUITE("wycheproof_rsa_pss_2048_sha384", 7),
        SUITE("wycheproof_ed25519", 8),
        SUITE("wycheproof_hmac_sha256", 9),
        SUITE("wycheproof_hmac_sha384", 10),
        SUITE("wycheproof_hmac_sha512", 11),
        cmocka_unit_test(test_all_suites_ran),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
