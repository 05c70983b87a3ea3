/*
 * The Registration and Electoral Office adapter (adapters/reo/reo.c,
 * compiled in): voter particulars, registered or not, malformed replies,
 * and the voter registration form's structured address.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_adapter_env.h"

#include "../../adapters/sdk/iams_sdk.c"
#include "../../adapters/reo/reo.c"


#define Q       "{\"dataset\": \"reo.voter_particulars\", \"subject\": " \
                "\"sub-r\"}"
#define UPDATED "2025-03-01T02:00:00Z"

static const char  registered[] =
    "{\"registered\": true, \"asAt\": \"20250301T100000\","
    " \"voter\": {\"nameEng\": \"CHAN TAI MAN\", \"nameChi\": \"陳大文\","
    "  \"sex\": \"M\", \"address\": [\"FLAT A, 12/F, BLOCK 2\","
    "  \"HARBOUR VIEW COURT\", \"123 KING'S ROAD\"],"
    "  \"gc\": {\"code\": \"LC2\", \"nameEng\": \"Hong Kong Island East\","
    "   \"nameChi\": \"香港島東\"},"
    "  \"dcca\": {\"code\": \"C03\", \"nameEng\": \"North Point\","
    "   \"nameChi\": \"北角\"}},"
    " \"register\": {\"year\": 2024, \"status\": \"PROVISIONAL\"}}";


static iams_adapter *
load_reo(test_env *t)
{
    return test_load_table(t, iams_adapter_entry(), "reo", NULL);
}


static void
test_reo_request(void **state)
{
    test_env                       t;
    iams_adapter                  *a;
    json_t                        *body;
    iams_adapter_backend_request   req;

    (void) state;

    test_env_init(&t);
    a = load_reo(&t);

    req = test_request(&t, a, Q);
    assert_string_equal(req.path, "/api/v1/voter-enquiry");
    body = test_json(req.body, req.body_len);
    assert_string_equal(test_str(body, "linkRef"), "sub-r");
    assert_null(json_object_get(body, "hkid"));
    json_decref(body);

    req = test_request(&t, a, "{\"dataset\": \"reo.voter_particulars\", "
                       "\"subject\": \"sub-r\", \"idNo\": {\"Identification\":"
                       " \"A123456\", \"CheckDigit\": \"3\"}}");
    body = test_json(req.body, req.body_len);
    assert_string_equal(test_str(body, "hkid"), "A1234563");
    assert_null(json_object_get(body, "linkRef"));
    json_decref(body);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_reo_replies(void **state)
{
    json_t        *d, *v;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_reo(&t);

    d = test_response(&t, a, Q, 200, registered);
    assert_true(json_is_true(test_field(d,
                    "reo.voter_particulars.registered", "REO", UPDATED)));
    v = test_field(d, "reo.voter_particulars.constituency", "REO", UPDATED);
    assert_string_equal(test_str(v, "code"), "LC2");
    assert_string_equal(test_str(v, "zh-HK"), "香港島東");
    assert_string_equal(json_string_value(test_field(d,
                            "reo.voter_particulars.register_status", "REO",
                            UPDATED)), "provisional");
    assert_int_equal(json_integer_value(test_field(d,
                         "reo.voter_particulars.register_year", "REO",
                         UPDATED)), 2024);
    v = test_field(d, "reo.voter_particulars.registered_address", "REO",
                   UPDATED);
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/FreeFormatAddress/AddressLine3")),
                        "123 KING'S ROAD");
    assert_string_equal(test_str(test_field(d, "enName", "REO", UPDATED),
                                 "UnstructuredName"), "CHAN, TAI MAN");
    json_decref(d);

    /* not registered: an answer with one field */
    d = test_response(&t, a, Q, 200, "{\"registered\": false, \"asAt\": "
                      "\"20250301T100000\"}");
    assert_int_equal(json_object_size(json_object_get(d, "fields")), 1);
    assert_true(json_is_false(test_field(d,
                    "reo.voter_particulars.registered", "REO", UPDATED)));
    json_decref(d);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_reo_malformed(void **state)
{
    size_t          i;
    char           *body;
    json_t         *r;
    test_env        t;
    iams_adapter   *a;

    static const struct {
        const char  *pointer_parent;
        const char  *key;
        const char  *value;                  /* JSON */
    } breaks[] = {
        { "",          "asAt",       "\"2025-03-01 10:00\"" },
        { "",          "registered", "\"Y\"" },
        { "",          "voter",      "null" },
        { "/voter",    "gc",         "{\"code\": \"LC2\"}" },
        { "/voter",    "sex",        "\"U\"" },
        { "/voter",    "address",    "[\"1\", \"2\", \"3\", \"4\"]" },
        { "/voter",    "address",    "[]" },
        { "/register", "status",     "\"DRAFT\"" },
        { "/register", "year",       "\"2024\"" },
    };

    (void) state;

    test_env_init(&t);
    a = load_reo(&t);

    (void) test_reply_fails(&t, a, Q, 404, "{\"error\": "
                            "\"UNKNOWN_REFERENCE\"}",
                            IAMS_ADAPTER_ERR_NOT_FOUND);
    (void) test_reply_fails(&t, a, Q, 500, "{}", IAMS_ADAPTER_ERR_BACKEND);
    (void) test_reply_fails(&t, a, Q, 200, "\"registered\"",
                            IAMS_ADAPTER_ERR_BAD_REPLY);

    for (i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        r = test_json(registered, sizeof(registered) - 1);

        json_object_set_new(breaks[i].pointer_parent[0]
                            ? json_object_get(r, breaks[i].pointer_parent + 1)
                            : r,
                            breaks[i].key,
                            test_json(breaks[i].value,
                                      strlen(breaks[i].value)));

        body = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(r);

        (void) test_reply_fails(&t, a, Q, 200, body,
                                IAMS_ADAPTER_ERR_BAD_REPLY);
        free(body);
    }

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_registration_form(void **state)
{
    json_t        *f, *p, *addr;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_reo(&t);

    f = test_form(&t, a, "{\"form\": \"reo.voter_registration\", \"lang\": "
        "\"zh-HK\", \"fields\": {"
        FIELD("idNo", "{\"Identification\": \"XA987654\", "
                      "\"CheckDigit\": \"2\"}") ", "
        FIELD("enName", "{\"UnstructuredName\": \"HO, Wing Kei\"}") ", "
        FIELD("chName", "{\"ChineseName\": \"何永基\"}") ", "
        FIELD("gender", "\"M\"") ", "
        FIELD("birthDate", "\"19751102\"") ", "
        FIELD("mobileNumber", "{\"CountryCode\": \"852\", "
                              "\"SubscriberNumber\": \"98765432\"}") ", "
        FIELD("postalAddress", "{\"PostBoxAddress\": {\"PoBoxNo\": \"88\", "
                               "\"PostOffice\": \"Tuen Mun Post Office\", "
                               "\"Region\": \"NT\"}}") ", "
        FIELD("residentialAddress",
              "{\"ChiPremisesAddress\": {\"BuildingName\": \"海濱大廈\", "
              "\"ChiStreet\": {\"StreetName\": \"青山公路\", "
              "\"BuildingNoFrom\": \"88\"}, \"ChiDistrict\": {\"DcDistrict\":"
              " \"TM\"}, \"Region\": \"NT\", \"Chi3dAddress\": {\"ChiFloor\":"
              " {\"Floor\": \"15\"}, \"ChiUnit\": {\"UnitDescriptor\": "
              "\"室\", \"UnitNo\": \"D\"}}}}")
        "}}");

    p = json_object_get(f, "payload");
    assert_string_equal(test_str(p, "hkidNo"), "XA987654(2)");
    assert_string_equal(test_str(p, "surnameEng"), "HO");
    assert_string_equal(test_str(p, "otherNamesEng"), "Wing Kei");
    assert_string_equal(test_str(p, "dateOfBirth"), "02/11/1975");
    assert_string_equal(test_str(p, "mobile"), "98765432");
    assert_string_equal(test_str(p, "languagePreference"), "C");

    addr = json_object_get(p, "residentialAddress");
    assert_string_equal(test_str(addr, "language"), "C");
    assert_string_equal(test_str(addr, "flat"), "D");
    assert_string_equal(test_str(addr, "floor"), "15");
    assert_string_equal(test_str(addr, "building"), "海濱大廈");
    assert_string_equal(test_str(addr, "street"), "青山公路");
    assert_string_equal(test_str(addr, "streetNo"), "88");
    assert_string_equal(test_str(addr, "district"), "TM");

    addr = json_object_get(p, "correspondenceAddress");
    assert_string_equal(json_string_value(json_array_get(addr, 0)),
                        "P.O. Box 88");
    assert_null(json_object_get(f, "missing"));
    json_decref(f);

    /* a post box is no residence */
    f = test_form(&t, a, "{\"form\": \"reo.voter_registration\", "
        "\"fields\": {"
        FIELD("residentialAddress", "{\"PostBoxAddress\": {\"PoBoxNo\": "
                                    "\"1\"}}")
        "}}");
    assert_null(json_object_get(json_object_get(f, "payload"),
                                "residentialAddress"));
    assert_string_equal(test_str(json_object_get(f, "payload"),
                                 "languagePreference"), "E");
    assert_int_equal(json_array_size(json_object_get(f, "missing")), 5);
    json_decref(f);

    iams_adapter_unload(a);
    test_env_free(&t);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_reo_request),
        cmocka_unit_test(test_reo_replies),
        cmocka_unit_test(test_reo_malformed),
        cmocka_unit_test(test_registration_form),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
