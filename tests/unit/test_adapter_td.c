/*
 * The Transport Department adapter (adapters/td/td.c, compiled into this
 * test so that the sanitizers see it): requests, replies good and
 * malformed, the IDP form and the bridge.  Replies follow the sandbox TD
 * API (tests/sandbox/departments/server.py).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_adapter_env.h"

#include "../../adapters/sdk/iams_sdk.c"
#include "../../adapters/td/td.c"


#define Q_HKID  "{\"dataset\": \"td.driving_licence\", \"subject\": " \
                "\"sub-td-1\", \"idNo\": {\"Identification\": \"A123456\"," \
                " \"CheckDigit\": \"3\"}}"
#define Q_SUB   "{\"dataset\": \"td.driving_licence\", \"subject\": " \
                "\"sub-td-1\"}"

#define UPDATED "2025-02-10T01:30:00Z"

static const char  good_reply[] =
    "{\"status\": \"OK\", \"lastUpdated\": \"2025-02-10 09:30:00\","
    " \"data\": {\"licenceNo\": \"DL1234567\", \"licenceStatus\": \"VALID\","
    "  \"classes\": [\"1\", \"2\"], \"issueDate\": \"15/06/2000\","
    "  \"expiryDate\": \"14/06/2030\","
    "  \"holder\": {\"surname\": \"Chan\", \"givenNames\": \"Tai Man\","
    "   \"chineseName\": \"陳大文\", \"dob\": \"01/01/1980\","
    "   \"sex\": \"M\"},"
    "  \"address\": {\"flat\": \"A\", \"floor\": \"12\", \"block\": \"2\","
    "   \"building\": \"Harbour View Court\", \"streetNo\": \"123\","
    "   \"street\": \"King's Road\", \"district\": \"EST\","
    "   \"region\": \"HK\", \"lang\": \"en\"}}}";


static iams_adapter *
load_td(test_env *t, const char *config)
{
    return test_load_table(t, iams_adapter_entry(), "td", config);
}


static void
test_td_request(void **state)
{
    test_env                       t;
    iams_adapter                  *a;
    json_t                        *body;
    iams_adapter_backend_request   req;

    (void) state;

    test_env_init(&t);
    a = load_td(&t, NULL);

    req = test_request(&t, a, Q_HKID);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path, "/api/v2/licence/enquiry");
    assert_string_equal(test_header(&req, "X-TD-Channel"), "iamsmart");
    assert_string_equal(test_header(&req, "Content-Type"),
                        "application/json");
    body = test_json(req.body, req.body_len);
    assert_string_equal(test_str(body, "idType"), "HKID");
    assert_string_equal(test_str(body, "idValue"), "A1234563");
    json_decref(body);

    /* without a released HKID, TD knows the citizen by account */
    req = test_request(&t, a, Q_SUB);
    body = test_json(req.body, req.body_len);
    assert_string_equal(test_str(body, "idType"), "ACCOUNT");
    assert_string_equal(test_str(body, "idValue"), "sub-td-1");
    json_decref(body);

    iams_adapter_unload(a);

    a = load_td(&t, "{\"api_prefix\": \"/licensing/v3\", \"channel\": "
                    "\"portal\"}");
    req = test_request(&t, a, Q_SUB);
    assert_string_equal(req.path, "/licensing/v3/licence/enquiry");
    assert_string_equal(test_header(&req, "X-TD-Channel"), "portal");
    iams_adapter_unload(a);

    test_env_free(&t);
}


static void
test_config(void **state)
{
    test_env                  t;
    iams_adapter             *a;
    iams_adapter_spec         spec;
    iams_adapter_diag         diag;

    (void) state;

    test_env_init(&t);

    memset(&spec, 0, sizeof(spec));
    spec.name = "td";
    spec.path = "td.so";
    spec.config = "{\"api_prefix\": 2}";
    spec.config_len = strlen(spec.config);

    assert_int_equal(iams_adapter_load_table(iams_adapter_entry(), &spec,
                                             &t.env, &a, &diag),
                     IAMS_ADAPTER_LOAD_INIT);
    assert_string_equal(diag.message, "adapter \"td\" (td.so): init failed: "
                        "invalid_config: expected {\"api_prefix\": \"/path\" "
                        "(up to 63 bytes), \"channel\": \"name\" (up to 31 "
                        "bytes)}");

    test_env_free(&t);
}


static void
test_good_reply(void **state)
{
    json_t        *d, *v;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_td(&t, NULL);

    d = test_response(&t, a, Q_HKID, 200, good_reply);

    assert_string_equal(json_string_value(test_field(d,
                            "td.driving_licence.licence_number", "TD",
                            UPDATED)), "DL1234567");
    assert_string_equal(json_string_value(test_field(d,
                            "td.driving_licence.status", "TD", UPDATED)),
                        "valid");
    assert_string_equal(json_string_value(test_field(d,
                            "td.driving_licence.expiry_date", "TD",
                            UPDATED)), "20300614");
    assert_string_equal(json_string_value(test_field(d,
                            "td.driving_licence.issue_date", "TD",
                            UPDATED)), "20000615");
    assert_int_equal(json_array_size(test_field(d,
                         "td.driving_licence.classes", "TD", UPDATED)), 2);

    /* names in iAM Smart's shapes: surname in capitals, then a comma */
    v = test_field(d, "enName", "TD", UPDATED);
    assert_string_equal(test_str(v, "UnstructuredName"), "CHAN, Tai Man");
    v = test_field(d, "chName", "TD", UPDATED);
    assert_string_equal(test_str(v, "ChineseName"), "陳大文");
    assert_string_equal(json_string_value(test_field(d, "birthDate", "TD",
                                                     UPDATED)), "19800101");

    v = test_field(d, "residentialAddress", "TD", UPDATED);
    v = json_object_get(v, "EngPremisesAddress");
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/Eng3dAddress/EngUnit/UnitNo")), "A");
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/EngDistrict/DcDistrict")), "EST");
    assert_string_equal(test_str(v, "Region"), "HK");

    json_decref(d);
    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_chinese_and_free_format_addresses(void **state)
{
    json_t        *d, *v;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_td(&t, NULL);

    d = test_response(&t, a, Q_HKID, 200,
        "{\"status\": \"OK\", \"lastUpdated\": \"2024-09-02 11:05:00\","
        " \"data\": {\"licenceNo\": \"DL0456789\", \"licenceStatus\": "
        "\"EXPIRED\", \"expiryDate\": \"02/09/2026\", \"address\": "
        "{\"flat\": \"12\", \"floor\": \"8\", \"block\": \"B\", \"estate\": "
        "\"順景邨\", \"district\": \"KT\", \"region\": \"KLN\", "
        "\"lang\": \"zh\"}}}");

    v = json_object_get(test_field(d, "residentialAddress", "TD",
                                   "2024-09-02T03:05:00Z"),
                        "ChiPremisesAddress");
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/ChiBlock/BlockDescriptor")), "座");
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/Chi3dAddress/ChiUnit/UnitDescriptor")), "室");
    assert_string_equal(json_string_value(test_field(d,
                            "td.driving_licence.status", "TD",
                            "2024-09-02T03:05:00Z")), "expired");

    /* no holder section: those fields are left out, not invented */
    assert_null(json_object_get(json_object_get(d, "fields"), "enName"));
    json_decref(d);

    d = test_response(&t, a, Q_HKID, 200,
        "{\"status\": \"OK\", \"lastUpdated\": \"2024-09-02 11:05:00\","
        " \"data\": {\"licenceNo\": \"DL1\", \"licenceStatus\": \"VALID\","
        " \"expiryDate\": \"02/09/2026\", \"address\": {\"lines\": "
        "[\"Flat C, 3/F\", \"8 Sha Tin Road\"]}}}");
    v = test_field(d, "residentialAddress", "TD", "2024-09-02T03:05:00Z");
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/FreeFormatAddress/AddressLine2")),
                        "8 Sha Tin Road");
    json_decref(d);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_malformed_replies(void **state)
{
    size_t               i;
    test_env             t;
    iams_adapter        *a;
    iams_adapter_reply   r;

    static const struct {
        int                   status;
        const char           *body;
        iams_adapter_status   want;
        const char           *message;
    } cases[] = {
        { 404, "{\"status\": \"NOT_FOUND\"}", IAMS_ADAPTER_ERR_NOT_FOUND,
          "map_response: not_found: TD holds no driving licence for this "
          "citizen" },
        { 404, "<html>", IAMS_ADAPTER_ERR_NOT_FOUND, NULL },
        { 200, "{\"status\": \"NOT_FOUND\"}", IAMS_ADAPTER_ERR_NOT_FOUND,
          NULL },
        { 200, "{\"status\": \"SYSTEM_BUSY\"}", IAMS_ADAPTER_ERR_BACKEND,
          "map_response: backend_error: TD answered status \"SYSTEM_BUSY\"" },
        { 503, "{}", IAMS_ADAPTER_ERR_BACKEND,
          "map_response: backend_error: backend answered HTTP 503" },
        { 403, "{}", IAMS_ADAPTER_ERR_DENIED, NULL },
        { 200, "{\"data\": {}}", IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: TD answered status \"?\"" },
        { 200, "[1, 2]", IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: backend reply of 6 bytes is not "
          "a JSON object" },
        { 200, "{\"status\": \"OK\", \"data\": {", IAMS_ADAPTER_ERR_BAD_REPLY,
          NULL },
        { 200, "", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { 200, "{\"status\": \"OK\", \"lastUpdated\": \"10/02/2025 09:30\", "
               "\"data\": {\"licenceNo\": \"DL1\"}}",
          IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: reply lacks lastUpdated, data or "
          "data.licenceNo, or has them in the wrong format" },
        { 200, "{\"status\": \"OK\", \"lastUpdated\": \"2025-02-10 09:30:00\""
               ", \"data\": {\"licenceNo\": \"DL1\", \"licenceStatus\": "
               "\"VALID\", \"expiryDate\": \"2030-06-14\"}}",
          IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: licence status, a date, the "
          "holder's sex or the address is not in TD's format" },
        { 200, "{\"status\": \"OK\", \"lastUpdated\": \"2025-02-10 09:30:00\""
               ", \"data\": {\"licenceNo\": \"DL1\", \"licenceStatus\": "
               "\"REVOKED\", \"expiryDate\": \"14/06/2030\"}}",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { 200, "{\"status\": \"OK\", \"lastUpdated\": \"2025-02-10 09:30:00\""
               ", \"data\": {\"licenceNo\": \"DL1\", \"licenceStatus\": "
               "\"VALID\", \"expiryDate\": \"31/02/2030\"}}",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { 200, "{\"status\": \"OK\", \"lastUpdated\": \"2025-02-10 09:30:00\""
               ", \"data\": {\"licenceNo\": \"DL1\", \"licenceStatus\": "
               "\"VALID\", \"expiryDate\": \"14/06/2030\", \"classes\": "
               "[1]}}",
          IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: a licence class is not a "
          "string" },
        { 200, "{\"status\": \"OK\", \"lastUpdated\": \"2025-02-10 09:30:00\""
               ", \"data\": {\"licenceNo\": \"DL1\", \"licenceStatus\": "
               "\"VALID\", \"expiryDate\": \"14/06/2030\", \"holder\": "
               "{\"sex\": \"X\"}}}",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { 200, "{\"status\": \"OK\", \"lastUpdated\": \"2025-02-10 09:30:00\""
               ", \"data\": {\"licenceNo\": \"DL1\", \"licenceStatus\": "
               "\"VALID\", \"expiryDate\": \"14/06/2030\", \"address\": "
               "{\"lines\": [\"a\", \"b\", \"c\", \"d\"]}}}",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { 200, "{\"status\": \"OK\", \"lastUpdated\": \"2025-02-10 09:30:00\""
               ", \"data\": {\"licenceNo\": \"DL1\", \"licenceStatus\": "
               "\"VALID\", \"expiryDate\": \"14/06/2030\", \"address\": {}}}",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
    };

    (void) state;

    test_env_init(&t);
    a = load_td(&t, NULL);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char  *msg;

        r = test_reply(cases[i].status, cases[i].body);
        msg = test_response_fails(&t, a, Q_HKID, &r, cases[i].want);

        if (cases[i].message != NULL) {
            assert_string_equal(msg, cases[i].message);
        }
    }

    /* an HTML maintenance page with 200 */
    r = test_reply_typed(200, "text/html", "<html>maintenance</html>");
    assert_string_equal(test_response_fails(&t, a, Q_HKID, &r,
                                            IAMS_ADAPTER_ERR_BAD_REPLY),
                        "map_response: malformed_reply: backend answered "
                        "text/html, not JSON");

    iams_adapter_unload(a);
    test_env_free(&t);
}


static const char  form_input[] =
    "{\"form\": \"td.idp_application\", \"lang\": \"en\", \"fields\": {"
    " \"enName\": {\"value\": {\"UnstructuredName\": \"CHAN, Tai Man\"},"
    "  \"source\": \"iAM Smart\", \"last_updated\": \"2025-03-01T00:00:00Z\"},"
    " \"chName\": {\"value\": {\"ChineseName\": \"陳大文\"},"
    "  \"source\": \"iAM Smart\", \"last_updated\": \"2025-03-01T00:00:00Z\"},"
    " \"idNo\": {\"value\": {\"Identification\": \"A123456\", "
    "  \"CheckDigit\": \"3\"}, \"source\": \"iAM Smart\","
    "  \"last_updated\": \"2025-03-01T00:00:00Z\"},"
    " \"birthDate\": {\"value\": \"19800101\", \"source\": \"iAM Smart\","
    "  \"last_updated\": \"2025-03-01T00:00:00Z\"},"
    " \"mobileNumber\": {\"value\": {\"CountryCode\": \"86\", "
    "  \"SubscriberNumber\": \"13812345678\"}, \"source\": \"iAM Smart\","
    "  \"last_updated\": \"2025-03-01T00:00:00Z\"},"
    " \"residentialAddress\": {\"value\": {\"FreeFormatAddress\": "
    "  {\"AddressLine1\": \"Flat C, 3/F\", \"AddressLine2\": \"8 Sha Tin "
    "Road\"}}, \"source\": \"TD\", \"last_updated\": \"2025-02-10T01:30:00Z\"},"
    " \"td.driving_licence.licence_number\": {\"value\": \"DL1234567\","
    "  \"source\": \"TD\", \"last_updated\": \"2025-02-10T01:30:00Z\"},"
    " \"td.driving_licence.expiry_date\": {\"value\": \"20300614\","
    "  \"source\": \"TD\", \"last_updated\": \"2025-02-10T01:30:00Z\"}}}";


static void
test_idp_form(void **state)
{
    json_t        *f, *p;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_td(&t, NULL);

    f = test_form(&t, a, form_input);
    p = json_object_get(f, "payload");

    assert_string_equal(test_str(p, "surname"), "CHAN");
    assert_string_equal(test_str(p, "givenNames"), "Tai Man");
    assert_string_equal(test_str(p, "chineseName"), "陳大文");
    assert_string_equal(test_str(p, "hkidNo"), "A123456(3)");
    assert_string_equal(test_str(p, "dateOfBirth"), "01/01/1980");
    assert_string_equal(test_str(p, "drivingLicenceNo"), "DL1234567");
    assert_string_equal(test_str(p, "licenceExpiryDate"), "14/06/2030");
    assert_string_equal(test_str(p, "mobileNo"), "+8613812345678");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(p, "address"), 1)),
                        "8 Sha Tin Road");
    assert_null(json_object_get(p, "email"));
    assert_null(json_object_get(f, "missing"));
    json_decref(f);

    /* nothing to fill from: every required field is reported */
    f = test_form(&t, a, "{\"form\": \"td.idp_application\", \"fields\": {}}");
    assert_int_equal(json_object_size(json_object_get(f, "payload")), 0);
    p = json_pack("[ssss]", "surname", "hkidNo", "dateOfBirth",
                  "drivingLicenceNo");
    assert_true(json_equal(json_object_get(f, "missing"), p));
    json_decref(p);
    json_decref(f);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_bridge(void **state)
{
    size_t                 n;
    test_env               t;
    iams_adapter          *a;
    iams_adapter_diag      diag;
    iams_adapter_header   *h;
    static const char      id[] =
        "{\"department\": \"TD\", \"subject\": \"sub-9\", \"claims\": {}}";

    (void) state;

    test_env_init(&t);
    a = load_td(&t, "{\"channel\": \"one-stop\"}");

    assert_true(iams_adapter_has_bridge(a));
    assert_int_equal(iams_adapter_bridge(a, &t.env, id, strlen(id), &h, &n,
                                         &diag),
                     IAMS_ADAPTER_OK);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].name, "X-TD-Account-Ref");
    assert_string_equal(h[0].value, "sub-9");
    assert_string_equal(h[1].value, "one-stop");

    iams_adapter_unload(a);
    test_env_free(&t);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_td_request),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_good_reply),
        cmocka_unit_test(test_chinese_and_free_format_addresses),
        cmocka_unit_test(test_malformed_replies),
        cmocka_unit_test(test_idp_form),
        cmocka_unit_test(test_bridge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
