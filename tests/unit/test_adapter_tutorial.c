/*
 * The SDK guide's example adapter (adapters/tutorial/fehd.c, compiled in):
 * the tests docs/adapters.md tells a department to write, step by step.
 * Replies follow the sandbox FEHD API.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_adapter_env.h"

#include "../../adapters/sdk/iams_sdk.c"
#include "../../adapters/tutorial/fehd.c"


#define Q_SUB   "{\"dataset\": \"fehd.food_licence\", \"subject\": " \
                "\"sub-F_1\"}"
#define Q_HKID  "{\"dataset\": \"fehd.food_licence\", \"subject\": " \
                "\"sub-F_1\", \"idNo\": {\"Identification\": \"R234567\", " \
                "\"CheckDigit\": \"5\"}}"
#define UPDATED "2024-12-01T01:00:00Z"

static const char  two_licences[] =
    "{\"holder\": {\"name\": \"CHEUNG Ka Yan\"},"
    " \"licences\": [{\"licenceNo\": \"2-654321\", \"type\": "
    "\"LIGHT_REFRESHMENT\", \"premises\": [\"Shop 3, G/F, 20 Temple Street\","
    " \"Yau Ma Tei, Kowloon\"], \"validUntil\": \"30/06/2025\", \"status\": "
    "\"VALID\"},"
    " {\"licenceNo\": \"7-000888\", \"type\": \"FOOD_FACTORY\", \"premises\": "
    "[\"Unit 5, 3/F, 8 Kwai Hei Street\", \"Kwai Chung\"], \"validUntil\": "
    "\"31/12/2025\", \"status\": \"VALID\"}],"
    " \"updatedAt\": \"2024-12-01 09:00:00\"}";


/* Step 4 of the guide: the request. */
static void
test_tutorial_request(void **state)
{
    test_env                       t;
    iams_adapter                  *a;
    iams_adapter_backend_request   req;

    (void) state;

    test_env_init(&t);
    a = test_load_table(&t, iams_adapter_entry(), "fehd", NULL);

    req = test_request(&t, a, Q_HKID);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/api/v1/licence-holders/R2345675/"
                        "licences");
    assert_int_equal(req.body_len, 0);

    req = test_request(&t, a, Q_SUB);
    assert_string_equal(req.path, "/api/v1/licence-holders/sub-F_1/"
                        "licences");

    /* a subject that would need escaping in a path is refused */
    assert_string_equal(test_request_fails(&t, a,
                            "{\"dataset\": \"fehd.food_licence\", "
                            "\"subject\": \"../admin\"}",
                            IAMS_ADAPTER_ERR_INVALID_INPUT),
                        "map_request: invalid_input: subject is not "
                        "base64url");
    iams_adapter_unload(a);

    a = test_load_table(&t, iams_adapter_entry(), "fehd",
                        "{\"api_prefix\": \"/licensing\"}");
    req = test_request(&t, a, Q_SUB);
    assert_string_equal(req.path, "/licensing/licence-holders/sub-F_1/"
                        "licences");
    iams_adapter_unload(a);

    test_env_free(&t);
}


/* Step 5: the reply, good. */
static void
test_tutorial_reply(void **state)
{
    json_t        *d, *v;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = test_load_table(&t, iams_adapter_entry(), "fehd", NULL);

    d = test_response(&t, a, Q_HKID, 200, two_licences);
    assert_string_equal(json_string_value(test_field(d,
                            "fehd.food_licence.licence_number", "FEHD",
                            UPDATED)), "2-654321");
    assert_string_equal(json_string_value(test_field(d,
                            "fehd.food_licence.licence_type", "FEHD",
                            UPDATED)), "light_refreshment_restaurant");
    assert_string_equal(json_string_value(test_field(d,
                            "fehd.food_licence.expiry_date", "FEHD",
                            UPDATED)), "20250630");
    v = test_field(d, "fehd.food_licence.premises_address", "FEHD", UPDATED);
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/FreeFormatAddress/AddressLine2")),
                        "Yau Ma Tei, Kowloon");
    assert_string_equal(test_str(test_field(d, "enName", "FEHD", UPDATED),
                                 "UnstructuredName"), "CHEUNG, Ka Yan");
    json_decref(d);

    /* params pick one licence of several */
    d = test_response(&t, a, "{\"dataset\": \"fehd.food_licence\", "
                      "\"subject\": \"s\", \"params\": {\"licence_number\": "
                      "\"7-000888\"}}", 200, two_licences);
    assert_string_equal(json_string_value(test_field(d,
                            "fehd.food_licence.licence_type", "FEHD",
                            UPDATED)), "food_factory");
    json_decref(d);

    iams_adapter_unload(a);
    test_env_free(&t);
}


/* Step 6: the replies a backend should not send, and the ones that mean
 * "no record". */
static void
test_tutorial_bad_replies(void **state)
{
    size_t          i;
    test_env        t;
    iams_adapter   *a;

    static const struct {
        int                   status;
        const char           *body;
        iams_adapter_status   want;
        const char           *message;
    } cases[] = {
        { 404, "{\"error\": \"no such licence holder\"}",
          IAMS_ADAPTER_ERR_NOT_FOUND,
          "map_response: not_found: backend answered HTTP 404" },
        { 200, "{\"licences\": [], \"updatedAt\": \"2024-12-01 09:00:00\"}",
          IAMS_ADAPTER_ERR_NOT_FOUND,
          "map_response: not_found: the holder has no such licence" },
        { 500, "oops", IAMS_ADAPTER_ERR_BACKEND, NULL },
        { 200, "{\"licences\": []}", IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: \"updatedAt\" is missing or not "
          "YYYY-MM-DD hh:mm:ss" },
        { 200, "{\"licences\": {}, \"updatedAt\": \"2024-12-01 09:00:00\"}",
          IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: \"licences\" is not an array" },
        { 200, "{\"licences\": [{\"licenceNo\": \"1\", \"validUntil\": "
               "\"2025-06-30\"}], \"updatedAt\": \"2024-12-01 09:00:00\"}",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { 200, "{\"licences\": [{\"licenceNo\": \"1\", \"validUntil\": "
               "\"30/06/2025\", \"type\": \"CASINO\"}], \"updatedAt\": "
               "\"2024-12-01 09:00:00\"}",
          IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: unknown licence type" },
        { 200, "{\"licences\": [{\"licenceNo\": \"1\", \"validUntil\": "
               "\"30/06/2025\", \"premises\": [\"a\", \"b\", \"c\", \"d\"]}],"
               " \"updatedAt\": \"2024-12-01 09:00:00\"}",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { 200, "{\"licences\": [{\"licenceNo\": \"1\", \"validUntil\": "
               "\"30/06/2025\", \"premises\": \"G/F\"}], \"updatedAt\": "
               "\"2024-12-01 09:00:00\"}", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { 200, "{\"licences\"", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
    };

    (void) state;

    test_env_init(&t);
    a = test_load_table(&t, iams_adapter_entry(), "fehd", NULL);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char  *msg;

        msg = test_reply_fails(&t, a, Q_SUB, cases[i].status, cases[i].body,
                               cases[i].want);
        if (cases[i].message != NULL) {
            assert_string_equal(msg, cases[i].message);
        }
    }

    iams_adapter_unload(a);
    test_env_free(&t);
}


/* Step 7: the form. */
static void
test_tutorial_form(void **state)
{
    json_t        *f, *p;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = test_load_table(&t, iams_adapter_entry(), "fehd", NULL);

    f = test_form(&t, a, "{\"form\": \"fehd.licence_renewal\", \"fields\": {"
        FIELD("enName", "{\"UnstructuredName\": \"CHEUNG, Ka Yan\"}") ", "
        FIELD("chName", "{\"ChineseName\": \"張嘉欣\"}") ", "
        FIELD("officeTelNumber", "{\"CountryCode\": \"852\", "
                                 "\"SubscriberNumber\": \"21234567\"}") ", "
        FIELD("residentialAddress", "{\"FreeFormatAddress\": "
                                    "{\"AddressLine1\": \"Flat F, 20/F\"}}")
        ", \"fehd.food_licence.licence_number\": {\"value\": \"7-000888\", "
        "\"source\": \"FEHD\", \"last_updated\": \"2024-12-01T01:00:00Z\"}"
        "}}");

    p = json_object_get(f, "payload");
    assert_string_equal(test_str(p, "licenceNo"), "7-000888");
    assert_string_equal(test_str(p, "applicantName"), "CHEUNG Ka Yan");
    assert_string_equal(test_str(p, "applicantNameChi"), "張嘉欣");
    assert_string_equal(test_str(p, "contactPhone"), "21234567");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(p, "correspondenceAddress"), 0)),
                        "Flat F, 20/F");
    assert_null(json_object_get(p, "email"));
    assert_null(json_object_get(f, "missing"));
    json_decref(f);

    f = test_form(&t, a, "{\"form\": \"fehd.licence_renewal\", "
                  "\"fields\": {}}");
    p = json_pack("[ss]", "licenceNo", "applicantName");
    assert_true(json_equal(json_object_get(f, "missing"), p));
    json_decref(p);
    json_decref(f);

    iams_adapter_unload(a);
    test_env_free(&t);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_tutorial_request),
        cmocka_unit_test(test_tutorial_reply),
        cmocka_unit_test(test_tutorial_bad_replies),
        cmocka_unit_test(test_tutorial_form),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
