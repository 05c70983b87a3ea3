/*
 * The Immigration Department adapter (adapters/immd/immd.c, compiled in):
 * travel records requests and replies, good and malformed, and the birth
 * registration form.  Replies follow the sandbox ImmD API.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_adapter_env.h"

#include "../../adapters/sdk/iams_sdk.c"
#include "../../adapters/immd/immd.c"


#define IDNO    "\"idNo\": {\"Identification\": \"XA987654\", " \
                "\"CheckDigit\": \"2\"}"
#define Q       "{\"dataset\": \"immd.travel_records\", \"subject\": \"s\", " \
                IDNO "}"
#define UPDATED "2025-03-01T02:00:00Z"

static const char  good_reply[] =
    "{\"result\": \"FOUND\", \"asAt\": \"2025-03-01T10:00:00+08:00\","
    " \"holder\": {\"nameEn\": \"HO, Wing Kei\", \"nameZh\": \"何永基\","
    "  \"dateOfBirth\": \"1975-11-02\"},"
    " \"period\": {\"from\": \"2024-01-01\", \"to\": \"2024-12-31\"},"
    " \"records\": [{\"direction\": \"D\", \"date\": \"2024-02-09\","
    "   \"controlPoint\": \"HKIA\"},"
    "  {\"direction\": \"A\", \"date\": \"2024-02-15\","
    "   \"controlPoint\": \"HZMB\"}]}";


static iams_adapter *
load_immd(test_env *t)
{
    return test_load_table(t, iams_adapter_entry(), "immd", NULL);
}


static void
test_immd_request(void **state)
{
    test_env                       t;
    iams_adapter                  *a;
    json_t                        *body;
    iams_adapter_backend_request   req;

    (void) state;

    test_env_init(&t);
    a = load_immd(&t);

    req = test_request(&t, a, "{\"dataset\": \"immd.travel_records\", "
                       "\"subject\": \"s\", " IDNO ", \"params\": "
                       "{\"from\": \"20240101\", \"to\": \"20241231\"}}");
    assert_string_equal(req.path, "/travel-records/v1/search");
    body = test_json(req.body, req.body_len);
    assert_string_equal(test_str(body, "docType"), "HKIC");
    assert_string_equal(test_str(body, "docNo"), "XA9876542");
    assert_string_equal(test_str(body, "from"), "2024-01-01");
    assert_string_equal(test_str(body, "to"), "2024-12-31");
    json_decref(body);

    /* the period is optional */
    req = test_request(&t, a, Q);
    body = test_json(req.body, req.body_len);
    assert_null(json_object_get(body, "from"));
    json_decref(body);

    /* without a released HKID, ImmD knows the citizen by account */
    req = test_request(&t, a, "{\"dataset\": \"immd.travel_records\", "
                       "\"subject\": \"sub-i\"}");
    body = test_json(req.body, req.body_len);
    assert_string_equal(test_str(body, "docType"), "ACCOUNT");
    assert_string_equal(test_str(body, "docNo"), "sub-i");
    json_decref(body);

    assert_string_equal(test_request_fails(&t, a,
                            "{\"dataset\": \"immd.travel_records\", "
                            "\"subject\": \"s\", " IDNO ", \"params\": "
                            "{\"from\": \"2024-01-01\"}}",
                            IAMS_ADAPTER_ERR_INVALID_INPUT),
                        "map_request: invalid_input: params.from and "
                        "params.to must be YYYYMMDD dates");

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_immd_reply(void **state)
{
    json_t        *d, *m;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_immd(&t);

    d = test_response(&t, a, Q, 200, good_reply);

    assert_int_equal(json_integer_value(test_field(d,
                         "immd.travel_records.count", "ImmD", UPDATED)), 2);
    assert_string_equal(json_string_value(test_field(d,
                            "immd.travel_records.period_to", "ImmD",
                            UPDATED)), "20241231");

    m = test_field(d, "immd.travel_records.movements", "ImmD", UPDATED);
    assert_string_equal(test_str(json_array_get(m, 0), "direction"),
                        "departure");
    assert_string_equal(test_str(json_array_get(m, 1), "direction"),
                        "arrival");
    assert_string_equal(test_str(json_array_get(m, 1), "date"), "20240215");
    assert_string_equal(test_str(json_array_get(m, 1), "control_point"),
                        "HZMB");

    assert_string_equal(test_str(test_field(d, "enName", "ImmD", UPDATED),
                                 "UnstructuredName"), "HO, Wing Kei");
    assert_string_equal(json_string_value(test_field(d, "birthDate", "ImmD",
                                                     UPDATED)), "19751102");
    json_decref(d);

    /* no movements in the period is an answer, not an error */
    d = test_response(&t, a, Q, 200,
                      "{\"result\": \"FOUND\", \"asAt\": "
                      "\"2025-03-01T02:00:00Z\", \"period\": {\"from\": "
                      "\"2024-01-01\", \"to\": \"2024-12-31\"}, "
                      "\"records\": []}");
    assert_int_equal(json_integer_value(test_field(d,
                         "immd.travel_records.count", "ImmD", UPDATED)), 0);
    json_decref(d);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_immd_malformed(void **state)
{
    size_t          i;
    test_env        t;
    iams_adapter   *a;

    static const struct {
        int                   status;
        const char           *body;
        iams_adapter_status   want;
    } cases[] = {
        { 200, "{\"result\": \"NOT_MATCHED\"}", IAMS_ADAPTER_ERR_NOT_FOUND },
        { 400, "{\"result\": \"INVALID_REQUEST\"}", IAMS_ADAPTER_ERR_BACKEND },
        { 200, "{\"result\": \"SUSPENDED\"}", IAMS_ADAPTER_ERR_BACKEND },
        { 502, "<html>Bad gateway</html>", IAMS_ADAPTER_ERR_BACKEND },
        { 200, "{}", IAMS_ADAPTER_ERR_BAD_REPLY },
        { 200, "{\"result\": \"FOUND\"}", IAMS_ADAPTER_ERR_BAD_REPLY },
        /* a local time without its offset is ambiguous */
        { 200, "{\"result\": \"FOUND\", \"asAt\": \"2025-03-01T10:00:00\"}",
          IAMS_ADAPTER_ERR_BAD_REPLY },
        { 200, "{\"result\": \"FOUND\", \"asAt\": \"2025-03-01T02:00:00Z\","
               " \"period\": {\"from\": \"2024-01-01\", \"to\": "
               "\"2024-12-31\"}}", IAMS_ADAPTER_ERR_BAD_REPLY },
        { 200, "{\"result\": \"FOUND\", \"asAt\": \"2025-03-01T02:00:00Z\","
               " \"period\": {\"from\": \"2024-01-01\"}, \"records\": []}",
          IAMS_ADAPTER_ERR_BAD_REPLY },
        { 200, "{\"result\": \"FOUND\", \"asAt\": \"2025-03-01T02:00:00Z\","
               " \"period\": {\"from\": \"2024-01-01\", \"to\": "
               "\"2024-12-31\"}, \"records\": [{\"direction\": \"X\", "
               "\"date\": \"2024-02-09\", \"controlPoint\": \"HKIA\"}]}",
          IAMS_ADAPTER_ERR_BAD_REPLY },
        { 200, "{\"result\": \"FOUND\", \"asAt\": \"2025-03-01T02:00:00Z\","
               " \"period\": {\"from\": \"2024-01-01\", \"to\": "
               "\"2024-12-31\"}, \"records\": [{\"direction\": \"A\", "
               "\"date\": \"2024-02-09\", \"controlPoint\": \"hkia\"}]}",
          IAMS_ADAPTER_ERR_BAD_REPLY },
        /* movements out of order */
        { 200, "{\"result\": \"FOUND\", \"asAt\": \"2025-03-01T02:00:00Z\","
               " \"period\": {\"from\": \"2024-01-01\", \"to\": "
               "\"2024-12-31\"}, \"records\": [{\"direction\": \"A\", "
               "\"date\": \"2024-02-09\", \"controlPoint\": \"HKIA\"}, "
               "{\"direction\": \"D\", \"date\": \"2024-02-08\", "
               "\"controlPoint\": \"HKIA\"}]}", IAMS_ADAPTER_ERR_BAD_REPLY },
        { 200, "{\"result\": \"FOUND\", \"asAt\": \"2025-03-01T02:00:00Z\","
               " \"period\": {\"from\": \"2024-01-01\", \"to\": "
               "\"2024-12-31\"}, \"records\": [], \"holder\": "
               "{\"dateOfBirth\": \"02/11/1975\"}}",
          IAMS_ADAPTER_ERR_BAD_REPLY },
    };

    (void) state;

    test_env_init(&t);
    a = load_immd(&t);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        (void) test_reply_fails(&t, a, Q, cases[i].status, cases[i].body,
                                cases[i].want);
    }

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_birth_registration_form(void **state)
{
    json_t        *f, *p;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_immd(&t);

    f = test_form(&t, a, "{\"form\": \"immd.birth_registration\", "
        "\"fields\": {"
        FIELD("enName", "{\"UnstructuredName\": \"WONG, Mei Ling\"}") ", "
        FIELD("idNo", "{\"Identification\": \"K345678\", "
                      "\"CheckDigit\": \"1\"}") ", "
        FIELD("birthDate", "\"19440315\"") ", "
        FIELD("gender", "\"F\"") ", "
        FIELD("maritalStatus", "\"Widowed\"") ", "
        FIELD("homeTelNumber", "{\"CountryCode\": \"852\", "
                               "\"SubscriberNumber\": \"27123456\"}") ", "
        FIELD("residentialAddress",
              "{\"ChiPremisesAddress\": {\"ChiBlock\": {\"BlockDescriptor\":"
              " \"座\", \"BlockNo\": \"B\"}, \"ChiEstate\": {\"EstateName\": "
              "\"順景邨\"}, \"ChiDistrict\": {\"DcDistrict\": \"KT\"}, "
              "\"Region\": \"KLN\", \"Chi3dAddress\": {\"ChiFloor\": "
              "{\"Floor\": \"8\"}, \"ChiUnit\": {\"UnitDescriptor\": \"室\", "
              "\"UnitNo\": \"12\"}}}}")
        "}}");

    p = json_object_get(json_object_get(f, "payload"), "informant");
    assert_string_equal(test_str(p, "surnameEng"), "WONG");
    assert_string_equal(test_str(p, "givenNameEng"), "Mei Ling");
    assert_string_equal(test_str(p, "hkic"), "K345678(1)");
    assert_string_equal(test_str(p, "dateOfBirth"), "15-03-1944");
    assert_string_equal(test_str(p, "maritalStatus"), "W");
    assert_string_equal(test_str(p, "phone"), "27123456");

    /* the Chinese address, largest part first, in three lines */
    p = json_object_get(p, "address");
    assert_string_equal(test_str(p, "line1"), "九龍觀塘");
    assert_string_equal(test_str(p, "line2"), "順景邨");
    assert_string_equal(test_str(p, "line3"), "B座8樓12室");
    assert_null(json_object_get(f, "missing"));
    json_decref(f);

    /* a four-line English address keeps the rest in the third line */
    f = test_form(&t, a, "{\"form\": \"immd.birth_registration\", "
        "\"fields\": {"
        FIELD("residentialAddress",
              "{\"EngPremisesAddress\": {\"BuildingName\": \"Harbour View "
              "Court\", \"EngBlock\": {\"BlockDescriptor\": \"Block\", "
              "\"BlockNo\": \"2\"}, \"EngStreet\": {\"StreetName\": "
              "\"King's Road\", \"BuildingNoFrom\": \"123\"}, "
              "\"EngDistrict\": {\"DcDistrict\": \"EST\"}, \"Region\": "
              "\"HK\", \"Eng3dAddress\": {\"EngFloor\": {\"Floor\": \"12\"},"
              " \"EngUnit\": {\"UnitDescriptor\": \"Flat\", \"UnitNo\": "
              "\"A\"}}}}")
        "}}");
    p = json_object_get(json_object_get(json_object_get(f, "payload"),
                                        "informant"), "address");
    assert_string_equal(test_str(p, "line1"), "Flat A, 12/F, Block 2");
    assert_string_equal(test_str(p, "line2"), "Harbour View Court");
    assert_string_equal(test_str(p, "line3"),
                        "123 King's Road, Eastern, Hong Kong");

    p = json_pack("[sss]", "informant.surnameEng", "informant.hkic",
                  "informant.phone");
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
        cmocka_unit_test(test_immd_request),
        cmocka_unit_test(test_immd_reply),
        cmocka_unit_test(test_immd_malformed),
        cmocka_unit_test(test_birth_registration_form),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
