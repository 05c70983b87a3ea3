/*
 * JWT claims: payload parsing, exp/nbf/iat with leeway at their exact
 * boundaries, NumericDate types, iss and aud.
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


static iams_status
check(const char *claims_json, const iams_jwt_policy *policy, time_t now)
{
    json_t       *claims;
    iams_err      err;
    iams_status   rc;
    json_error_t  jerr;

    claims = json_loads(claims_json, 0, &jerr);

    if (claims == NULL) {
        fail_msg("fixture: %s", jerr.text);
    }

    err.status = IAMS_OK;
    rc = iams_jwt_check(claims, policy, now, &err);
    assert_int_equal(rc, rc == IAMS_OK ? IAMS_OK : err.status);
    json_decref(claims);

    return rc;
}


static const iams_jwt_policy  none = { NULL, NULL, 0, 0 };
static const iams_jwt_policy  lee10 = { NULL, NULL, 0, 10 };


static void
test_exp_boundaries(void **state)
{
    (void) state;

    /* valid strictly before exp */
    assert_int_equal(check("{\"exp\":1000}", &none, 999), IAMS_OK);
    assert_int_equal(check("{\"exp\":1000}", &none, 1000),
                     IAMS_ERR_EXPIRED);
    assert_int_equal(check("{\"exp\":1000}", &none, 1001),
                     IAMS_ERR_EXPIRED);

    /* leeway extends it by exactly that many seconds */
    assert_int_equal(check("{\"exp\":1000}", &lee10, 1009), IAMS_OK);
    assert_int_equal(check("{\"exp\":1000}", &lee10, 1010),
                     IAMS_ERR_EXPIRED);

    /* fractional NumericDate */
    assert_int_equal(check("{\"exp\":1000.5}", &none, 1000), IAMS_OK);
    assert_int_equal(check("{\"exp\":1000.5}", &none, 1001),
                     IAMS_ERR_EXPIRED);
    assert_int_equal(check("{\"exp\":1000.5}", &lee10, 1010), IAMS_OK);
    assert_int_equal(check("{\"exp\":1000.5}", &lee10, 1011),
                     IAMS_ERR_EXPIRED);
    assert_int_equal(check("{\"exp\":1.0005e3}", &none, 1000), IAMS_OK);

    /* extremes neither wrap nor truncate */
    assert_int_equal(check("{\"exp\":9223372036854775807}", &lee10,
                           2000000000), IAMS_OK);
    assert_int_equal(check("{\"exp\":1e300}", &lee10, 2000000000), IAMS_OK);
    assert_int_equal(check("{\"exp\":-9223372036854775807}", &lee10, 0),
                     IAMS_ERR_EXPIRED);
    assert_int_equal(check("{\"exp\":0}", &none, 0), IAMS_ERR_EXPIRED);
}


static void
test_nbf_boundaries(void **state)
{
    (void) state;

    /* valid from nbf on */
    assert_int_equal(check("{\"nbf\":1000}", &none, 999),
                     IAMS_ERR_NOT_YET_VALID);
    assert_int_equal(check("{\"nbf\":1000}", &none, 1000), IAMS_OK);

    assert_int_equal(check("{\"nbf\":1000}", &lee10, 989),
                     IAMS_ERR_NOT_YET_VALID);
    assert_int_equal(check("{\"nbf\":1000}", &lee10, 990), IAMS_OK);

    assert_int_equal(check("{\"nbf\":1000.5}", &none, 1000),
                     IAMS_ERR_NOT_YET_VALID);
    assert_int_equal(check("{\"nbf\":1000.5}", &none, 1001), IAMS_OK);

    assert_int_equal(check("{\"nbf\":9223372036854775807}", &lee10,
                           2000000000), IAMS_ERR_NOT_YET_VALID);
}


static void
test_iat_boundaries(void **state)
{
    iams_jwt_policy  lee5 = { NULL, NULL, 0, 5 };

    (void) state;

    assert_int_equal(check("{\"iat\":1000}", &none, 1000), IAMS_OK);
    assert_int_equal(check("{\"iat\":1000}", &none, 999),
                     IAMS_ERR_IAT_FUTURE);
    assert_int_equal(check("{\"iat\":1000}", &lee5, 995), IAMS_OK);
    assert_int_equal(check("{\"iat\":1000}", &lee5, 994),
                     IAMS_ERR_IAT_FUTURE);
    assert_int_equal(check("{\"iat\":1000.25}", &none, 1000),
                     IAMS_ERR_IAT_FUTURE);
    assert_int_equal(check("{\"iat\":1}", &none, 2000000000), IAMS_OK);
}


static void
test_all_dates_together(void **state)
{
    static const char  token[] = "{\"iat\":100,\"nbf\":100,\"exp\":200}";

    (void) state;

    assert_int_equal(check(token, &none, 99), IAMS_ERR_NOT_YET_VALID);
    assert_int_equal(check(token, &none, 100), IAMS_OK);
    assert_int_equal(check(token, &none, 199), IAMS_OK);
    assert_int_equal(check(token, &none, 200), IAMS_ERR_EXPIRED);

    /* no dates at all: nothing to enforce */
    assert_int_equal(check("{}", &none, 12345), IAMS_OK);
}


static void
test_dates_must_be_numbers(void **state)
{
    size_t  i;
    char    text[64];
    static const char  *names[] = { "exp", "nbf", "iat" };
    static const char  *values[] = {
        "\"2000000000\"", "true", "false", "null", "[1]", "{}",
    };
    size_t  j;

    (void) state;

    for (i = 0; i < 3; i++) {
        for (j = 0; j < sizeof(values) / sizeof(values[0]); j++) {
            snprintf(text, sizeof(text), "{\"%s\":%s}", names[i], values[j]);
            assert_int_equal(check(text, &lee10, 1000), IAMS_ERR_BAD_CLAIM);
        }
    }
}


static void
test_issuer(void **state)
{
    iams_jwt_policy  p = { "https://issuer.example", NULL, 0, 0 };

    (void) state;

    assert_int_equal(check("{\"iss\":\"https://issuer.example\"}", &p, 1),
                     IAMS_OK);
    assert_int_equal(check("{}", &p, 1), IAMS_ERR_BAD_ISSUER);
    assert_int_equal(check("{\"iss\":\"https://issuer.example/\"}", &p, 1),
                     IAMS_ERR_BAD_ISSUER);
    assert_int_equal(check("{\"iss\":\"https://issuer.exampl\"}", &p, 1),
                     IAMS_ERR_BAD_ISSUER);
    assert_int_equal(check("{\"iss\":\"HTTPS://issuer.example\"}", &p, 1),
                     IAMS_ERR_BAD_ISSUER);
    assert_int_equal(check("{\"iss\":\"\"}", &p, 1), IAMS_ERR_BAD_ISSUER);
    assert_int_equal(check("{\"iss\":[\"https://issuer.example\"]}", &p, 1),
                     IAMS_ERR_BAD_CLAIM);
    assert_int_equal(check("{\"iss\":7}", &p, 1), IAMS_ERR_BAD_CLAIM);

    /* no issuer in the policy: iss is not looked at */
    assert_int_equal(check("{\"iss\":7}", &none, 1), IAMS_OK);
}


static void
test_audience(void **state)
{
    static const char *const  auds[] = { "dept-a", "dept-b" };
    iams_jwt_policy  p = { NULL, auds, 2, 0 };

    (void) state;

    assert_int_equal(check("{\"aud\":\"dept-a\"}", &p, 1), IAMS_OK);
    assert_int_equal(check("{\"aud\":\"dept-b\"}", &p, 1), IAMS_OK);
    assert_int_equal(check("{\"aud\":[\"x\",\"dept-b\"]}", &p, 1), IAMS_OK);
    assert_int_equal(check("{\"aud\":[\"dept-a\"]}", &p, 1), IAMS_OK);

    assert_int_equal(check("{\"aud\":\"dept-c\"}", &p, 1),
                     IAMS_ERR_BAD_AUDIENCE);
    assert_int_equal(check("{\"aud\":\"dept-ab\"}", &p, 1),
                     IAMS_ERR_BAD_AUDIENCE);
    assert_int_equal(check("{\"aud\":\"dept-\"}", &p, 1),
                     IAMS_ERR_BAD_AUDIENCE);
    assert_int_equal(check("{\"aud\":[]}", &p, 1), IAMS_ERR_BAD_AUDIENCE);
    assert_int_equal(check("{\"aud\":[\"x\",\"y\"]}", &p, 1),
                     IAMS_ERR_BAD_AUDIENCE);
    assert_int_equal(check("{}", &p, 1), IAMS_ERR_BAD_AUDIENCE);

    assert_int_equal(check("{\"aud\":5}", &p, 1), IAMS_ERR_BAD_CLAIM);
    assert_int_equal(check("{\"aud\":{\"a\":\"dept-a\"}}", &p, 1),
                     IAMS_ERR_BAD_CLAIM);
    assert_int_equal(check("{\"aud\":[\"dept-a\",5]}", &p, 1),
                     IAMS_ERR_BAD_CLAIM);

    /* naudiences 0: aud is not looked at */
    assert_int_equal(check("{\"aud\":5}", &none, 1), IAMS_OK);
}


static void
test_bad_arguments(void **state)
{
    json_t           *arr;
    iams_err          err;
    iams_jwt_policy   neg = { NULL, NULL, 0, -1 };

    (void) state;

    arr = json_array();
    assert_int_equal(iams_jwt_check(arr, &none, 1, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(arr);

    assert_int_equal(check("{}", &neg, 1), IAMS_ERR_INTERNAL);
}


static void
test_claims_from_token(void **state)
{
    char             *token;
    size_t            len, i;
    json_t           *claims;
    iams_jws          jws;
    iams_err          err;
    iams_jwk         *key;
    iams_jwks        *set;
    static const char *const  aud[] = { "td" };
    iams_jwt_policy   p = { "https://gw.example", aud, 1, 30 };
    static const char  payload[] =
        "{\"iss\":\"https://gw.example\",\"aud\":[\"td\",\"immd\"],"
        "\"sub\":\"pairwise-1\",\"iat\":1700000000,\"exp\":1700000300}";
    static const char  *not_objects[] = {
        "[]", "\"claims\"", "42", "not json", "{\"a\":1,\"a\":2}", "",
    };

    (void) state;

    key = iams_test_key_for_alg(IAMS_ALG_EDDSA);
    set = iams_test_set(iams_test_public_jwk(key), NULL);

    assert_int_equal(iams_jws_sign(key, IAMS_ALG_EDDSA, NULL, "JWT",
                                   (const unsigned char *) payload,
                                   strlen(payload), &token, &len, &err),
                     IAMS_OK);
    assert_int_equal(iams_jws_parse(token, len, &jws, &err), IAMS_OK);
    assert_int_equal(iams_jws_verify(&jws, set, IAMS_ALG_SET_ASYMMETRIC,
                                     NULL, &err), IAMS_OK);
    assert_int_equal(iams_jwt_claims(&jws, &claims, &err), IAMS_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")),
                        "pairwise-1");

    assert_int_equal(iams_jwt_check(claims, &p, 1700000100, &err), IAMS_OK);
    assert_int_equal(iams_jwt_check(claims, &p, 1700000329, &err), IAMS_OK);
    assert_int_equal(iams_jwt_check(claims, &p, 1700000330, &err),
                     IAMS_ERR_EXPIRED);
    assert_int_equal(iams_jwt_check(claims, &p, 1699999969, &err),
                     IAMS_ERR_IAT_FUTURE);

    json_decref(claims);
    iams_jws_clear(&jws);
    free(token);

    /* payloads that are not a JSON object */
    for (i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
        assert_int_equal(iams_jws_sign(key, IAMS_ALG_EDDSA, NULL, NULL,
                                       (const unsigned char *) not_objects[i],
                                       strlen(not_objects[i]), &token, &len,
                                       &err), IAMS_OK);
        assert_int_equal(iams_jws_parse(token, len, &jws, &err), IAMS_OK);
        claims = (json_t *) &err;
        assert_int_equal(iams_jwt_claims(&jws, &claims, &err),
                         IAMS_ERR_MALFORMED);
        assert_null(claims);
        iams_jws_clear(&jws);
        free(token);
    }

    iams_jwks_free(set);
    iams_jwk_free(key);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_exp_boundaries),
        cmocka_unit_test(test_nbf_boundaries),
        cmocka_unit_test(test_iat_boundaries),
        cmocka_unit_test(test_all_dates_together),
        cmocka_unit_test(test_dates_must_be_numbers),
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_claims_from_token),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
