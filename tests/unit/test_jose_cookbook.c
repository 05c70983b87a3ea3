/*
 * Published JWS examples: RFC 7515 Appendix A.1-A.4 (embedded below), the
 * RFC 7520 section 4 cookbook and the RFC 8037 Ed25519 example (read from
 * $IAMSMART_VECTORS/jose-cookbook).  Each verifies through the public API;
 * the deterministic ones (RSASSA-PKCS1-v1_5, HMAC, Ed25519) must also sign
 * to exactly the published token.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <iamsmart/jose.h>

#include "support/keys.h"
#include "support/vectors.h"


/* The JWT payload shared by A.1-A.3: {"iss":"joe",\r\n "exp":1300819380,
 * \r\n "http://example.com/is_root":true} */
#define RFC7515_PAYLOAD_B64                                                  \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"  \
    "LmNvbS9pc19yb290Ijp0cnVlfQ"

static const char  rfc7515_a1[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    RFC7515_PAYLOAD_B64
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static const char  rfc7515_a2[] =
    "eyJhbGciOiJSUzI1NiJ9."
    RFC7515_PAYLOAD_B64
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm"
    "4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f"
    "_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOL"
    "n6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUT"
    "I8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

static const char  rfc7515_a3[] =
    "eyJhbGciOiJFUzI1NiJ9."
    RFC7515_PAYLOAD_B64
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQx"
    "fKTUJqPP3-Kg6NU1Q";

static const char  rfc7515_a4[] =
    "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA."
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-"
    "KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7"
    "iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";


/* Verifies token against the public half of the private key text and
 * returns the parsed JWS (caller clears). */
static void
verify_with(const char *token, iams_jwk *key, iams_alg alg, iams_jws *jws)
{
    iams_err         err;
    iams_jwks       *set;
    const iams_jwk  *used;

    set = iams_test_set(iams_test_public_jwk(key), NULL);

    if (iams_jws_parse(token, strlen(token), jws, &err) != IAMS_OK) {
        fail_msg("parse: %s", err.detail);
    }

    assert_int_equal(jws->alg, alg);

    if (iams_jws_verify(jws, set, IAMS_ALG_BIT(alg), &used, &err)
        != IAMS_OK)
    {
        fail_msg("verify: %s", err.detail);
    }

    assert_non_null(used);

    /* one flipped signature bit fails */
    jws->sig[jws->sig_len / 2] ^= 0x01;
    assert_int_equal(iams_jws_verify(jws, set, IAMS_ALG_BIT(alg), NULL,
                                     &err), IAMS_ERR_BAD_SIGNATURE);
    jws->sig[jws->sig_len / 2] ^= 0x01;

    iams_jwks_free(set);
}


/* Signs payload with key and alg and checks the result verifies. */
static char *
sign_and_reverify(iams_jwk *key, iams_alg alg, const char *kid,
    const char *typ, const unsigned char *payload, size_t payload_len)
{
    char      *token;
    size_t     len;
    iams_jws   jws;
    iams_err   err;

    if (iams_jws_sign(key, alg, kid, typ, payload, payload_len, &token, &len,
                      &err) != IAMS_OK)
    {
        fail_msg("sign: %s", err.detail);
    }

    assert_int_equal(strlen(token), len);

    verify_with(token, key, alg, &jws);
    assert_int_equal(jws.payload_len, payload_len);
    assert_memory_equal(jws.payload, payload, payload_len);
    iams_jws_clear(&jws);

    return token;
}


static void
test_rfc7515_a1_hs256(void **state)
{
    json_t          *claims;
    iams_jws         jws;
    iams_err         err;
    iams_jwk        *key;
    iams_jwt_policy  policy = { "joe", NULL, 0, 0 };

    (void) state;

    key = iams_test_private_key(iams_test_jwk_oct);
    verify_with(rfc7515_a1, key, IAMS_ALG_HS256, &jws);

    assert_int_equal(iams_jwt_claims(&jws, &claims, &err), IAMS_OK);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")),
                     1300819380);
    assert_int_equal(iams_jwt_check(claims, &policy, 1300819379, &err),
                     IAMS_OK);
    assert_int_equal(iams_jwt_check(claims, &policy, 1300819380, &err),
                     IAMS_ERR_EXPIRED);

    json_decref(claims);
    iams_jws_clear(&jws);
    iams_jwk_free(key);
}


static void
test_rfc7515_a2_rs256(void **state)
{
    char      *token;
    iams_jws   jws;
    iams_jwk  *key;

    (void) state;

    key = iams_test_private_key(iams_test_jwk_rsa);
    verify_with(rfc7515_a2, key, IAMS_ALG_RS256, &jws);

    /* {"alg":"RS256"} is exactly our header without kid and typ, and
     * RSASSA-PKCS1-v1_5 is deterministic */
    token = sign_and_reverify(key, IAMS_ALG_RS256, NULL, NULL, jws.payload,
                              jws.payload_len);
    assert_string_equal(token, rfc7515_a2);

    free(token);
    iams_jws_clear(&jws);
    iams_jwk_free(key);
}


static void
test_rfc7515_a3_es256(void **state)
{
    char      *token;
    iams_jws   jws;
    iams_jwk  *key;

    (void) state;

    key = iams_test_private_key(iams_test_jwk_p256);
    verify_with(rfc7515_a3, key, IAMS_ALG_ES256, &jws);
    assert_int_equal(jws.sig_len, 64);

    /* ECDSA is randomised: our signature differs but must verify */
    token = sign_and_reverify(key, IAMS_ALG_ES256, NULL, NULL, jws.payload,
                              jws.payload_len);
    assert_string_not_equal(token, rfc7515_a3);

    free(token);
    iams_jws_clear(&jws);
    iams_jwk_free(key);
}


static void
test_rfc7515_a4_es512(void **state)
{
    char      *token;
    iams_jws   jws;
    iams_jwk  *key;

    (void) state;

    key = iams_test_private_key(iams_test_jwk_p521);
    verify_with(rfc7515_a4, key, IAMS_ALG_ES512, &jws);
    assert_int_equal(jws.sig_len, 132);
    assert_int_equal(jws.payload_len, 7);
    assert_memory_equal(jws.payload, "Payload", 7);

    token = sign_and_reverify(key, IAMS_ALG_ES512, NULL, NULL, jws.payload,
                              jws.payload_len);

    free(token);
    iams_jws_clear(&jws);
    iams_jwk_free(key);
}


/*
 * One cookbook file: its input key (with private members) must serve as a
 * public key set (private members ignored) that verifies output.compact,
 * the decoded payload must be input.payload, and when deterministic our
 * signature must reproduce output.compact exactly.
 */
static void
run_cookbook(const char *file, iams_alg alg, int deterministic)
{
    char        *token, *text;
    json_t      *doc, *jwk;
    iams_jws     jws;
    iams_err     err;
    iams_jwk    *key;
    iams_jwks   *set;
    const char  *compact, *payload;

    doc = iams_test_load_vector_json(file);
    jwk = json_object_get(json_object_get(doc, "input"), "key");
    compact = json_string_value(json_object_get(json_object_get(doc,
                                                                "output"),
                                                "compact"));
    payload = json_string_value(json_object_get(json_object_get(doc, "input"),
                                                "payload"));
    assert_non_null(jwk);
    assert_non_null(compact);
    assert_non_null(payload);

    text = json_dumps(jwk, JSON_COMPACT);
    assert_non_null(text);

    assert_int_equal(iams_jwks_parse(text, strlen(text), &set, &err),
                     IAMS_OK);
    assert_int_equal(iams_jwk_parse_private(text, strlen(text), &key, &err),
                     IAMS_OK);
    free(text);

    /* the public set kept no private member */
    if (iams_jwk_kty(key) != IAMS_KTY_OCT) {
        json_t  *pub = iams_jwk_to_json(iams_jwks_get(set, 0), 1);

        assert_null(json_object_get(pub, "d"));
        json_decref(pub);
    }

    assert_int_equal(iams_jws_parse(compact, strlen(compact), &jws, &err),
                     IAMS_OK);
    assert_int_equal(jws.alg, alg);
    assert_int_equal(jws.payload_len, strlen(payload));
    assert_memory_equal(jws.payload, payload, jws.payload_len);

    if (iams_jws_verify(&jws, set, IAMS_ALG_SET_ALL, NULL, &err) != IAMS_OK) {
        fail_msg("%s: %s", file, err.detail);
    }

    iams_jws_clear(&jws);

    token = sign_and_reverify(key, alg, NULL, NULL,
                              (const unsigned char *) payload,
                              strlen(payload));

    if (deterministic) {
        assert_string_equal(token, compact);
    }

    free(token);
    iams_jwks_free(set);
    iams_jwk_free(key);
    json_decref(doc);
}


static void
test_rfc7520_4_1_rs256(void **state)
{
    (void) state;
    run_cookbook("jose-cookbook/jws_4_1.rsa_v15_signature.json",
                 IAMS_ALG_RS256, 1);
}


static void
test_rfc7520_4_2_ps384(void **state)
{
    (void) state;
    run_cookbook("jose-cookbook/jws_4_2.rsa-pss_signature.json",
                 IAMS_ALG_PS384, 0);
}


static void
test_rfc7520_4_3_es512(void **state)
{
    (void) state;
    run_cookbook("jose-cookbook/jws_4_3.ecdsa_signature.json",
                 IAMS_ALG_ES512, 0);
}


static void
test_rfc7520_4_4_hs256(void **state)
{
    (void) state;
    run_cookbook("jose-cookbook/jws_4_4.hmac-sha2_integrity_protection.json",
                 IAMS_ALG_HS256, 1);
}


static void
test_rfc8037_ed25519(void **state)
{
    (void) state;
    run_cookbook("jose-cookbook/curve25519_jws.json", IAMS_ALG_EDDSA, 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_rfc7515_a1_hs256),
        cmocka_unit_test(test_rfc7515_a2_rs256),
        cmocka_unit_test(test_rfc7515_a3_es256),
        cmocka_unit_test(test_rfc7515_a4_es512),
        cmocka_unit_test(test_rfc7520_4_1_rs256),
        cmocka_unit_test(test_rfc7520_4_2_ps384),
        cmocka_unit_test(test_rfc7520_4_3_es512),
        cmocka_unit_test(test_rfc7520_4_4_hs256),
        cmocka_unit_test(test_rfc8037_ed25519),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
