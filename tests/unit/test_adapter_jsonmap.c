/*
 * The declarative adapter (adapters/jsonmap/jsonmap.c, compiled in): every
 * feature of a mapping on a test department, the messages for mistakes in
 * a mapping, and the real mapping files of RVD and LCSD
 * (adapters/rvd/rvd.json, adapters/lcsd/lcsd.json).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_adapter_env.h"

#include "../../adapters/sdk/iams_sdk.c"
#include "../../adapters/jsonmap/jsonmap.c"


static const char  mapping[] =
"{\"department\": {\"code\": \"TST\", \"name\": {\"en\": \"Test Office\","
"   \"zh-HK\": \"測試處\"}},"
" \"services\": [{\"id\": \"tst.svc\", \"name\": {\"en\": \"Service\","
"   \"zh-HK\": \"服務\"}, \"themes\": [\"civic\"], \"age_groups\": "
"   [\"adult\"], \"forms\": [\"tst.form\"], \"datasets\": [\"tst.record\"]}],"
" \"datasets\": [{\"id\": \"tst.record\", \"name\": {\"en\": \"Record\","
"   \"zh-HK\": \"紀錄\"},"
"  \"request\": {\"method\": \"POST\","
"   \"path\": \"/v1/people/{subject}/records?year={param.year}\","
"   \"headers\": {\"Accept\": \"application/json\","
"     \"X-Id\": \"{hkid_brackets}\", \"X-Lang\": \"{lang}\"},"
"   \"body\": {\"hkid\": \"{hkid}\", \"ref\": \"ref-{subject}\","
"     \"tags\": [\"{param.tag}\", \"fixed\"], \"n\": 5}},"
"  \"response\": {"
"   \"status\": {\"409\": \"denied\"},"
"   \"error\": {\"pointer\": \"/status\", \"ok\": [\"OK\"],"
"     \"codes\": {\"NO_DATA\": \"not_found\"}, \"default\": "
"     \"backend_error\"},"
"   \"root\": \"/record\", \"root_missing\": \"not_found\","
"   \"last_updated\": {\"pointer\": \"/updated\","
"     \"format\": \"DD/MM/YYYY hh:mm\", \"tz\": 480},"
"   \"fields\": ["
"    {\"name\": \"tst.record.id\", \"type\": \"string\", \"required\": true,"
"     \"pointer\": \"/id\"},"
"    {\"name\": \"tst.record.level\", \"type\": \"string\","
"     \"pointer\": \"/level\", \"values\": {\"1\": \"bronze\", \"2\": "
"     \"silver\"}, \"default\": \"other\"},"
"    {\"name\": \"tst.record.amount\", \"type\": \"number\","
"     \"pointer\": \"/amount\"},"
"    {\"name\": \"tst.record.count\", \"type\": \"integer\","
"     \"pointer\": \"/count\"},"
"    {\"name\": \"tst.record.active\", \"type\": \"boolean\","
"     \"pointer\": \"/active\"},"
"    {\"name\": \"tst.record.member\", \"type\": \"flag\","
"     \"pointer\": \"/member\"},"
"    {\"name\": \"tst.record.since\", \"type\": \"date\","
"     \"pointer\": \"/since\", \"date\": \"DD-MM-YYYY\"},"
"    {\"name\": \"tst.record.seen\", \"type\": \"datetime\","
"     \"pointer\": \"/seen\"},"
"    {\"name\": \"tst.record.tags\", \"type\": \"array\","
"     \"pointer\": \"/tags\"},"
"    {\"name\": \"idNo\", \"type\": \"hkid\", \"pointer\": \"/hkid\"},"
"    {\"name\": \"enName\", \"type\": \"en_name\", \"en_name\": "
"     {\"surname\": \"/person/last\", \"given\": \"/person/first\"}},"
"    {\"name\": \"chName\", \"type\": \"zh_name\","
"     \"pointer\": \"/person/chinese\"},"
"    {\"name\": \"mobileNumber\", \"type\": \"phone\","
"     \"pointer\": \"/person/mobile\"},"
"    {\"name\": \"residentialAddress\", \"type\": \"address\","
"     \"address\": {\"premises\": {\"unit\": \"/addr/flat\","
"      \"floor\": \"/addr/floor\", \"building\": \"/addr/bldg\","
"      \"street\": \"/addr/street\", \"building_no\": \"/addr/no\","
"      \"district\": \"/addr/district\", \"region\": \"/addr/region\"}}},"
"    {\"name\": \"postalAddress\", \"type\": \"address\","
"     \"address\": {\"lines\": [\"/mail/0\", \"/mail/1\"]}},"
"    {\"name\": \"tst.record.office\", \"type\": \"object\","
"     \"pointer\": \"/office\"},"
"    {\"name\": \"tst.record.source_ref\", \"type\": \"string\","
"     \"pointer\": \"/ref\", \"document\": true}]}}],"
" \"forms\": [{\"id\": \"tst.form\", \"name\": {\"en\": \"Form\","
"   \"zh-HK\": \"表格\"}, \"service\": \"tst.svc\", \"fields\": ["
"   {\"name\": \"name.full\", \"from\": \"enName\", \"transform\": "
"    \"en_full\", \"required\": true},"
"   {\"name\": \"name.unstructured\", \"from\": \"enName\","
"    \"transform\": \"en_unstructured\"},"
"   {\"name\": \"name.surname\", \"from\": \"enName\","
"    \"transform\": \"en_surname\"},"
"   {\"name\": \"name.given\", \"from\": \"enName\","
"    \"transform\": \"en_given\"},"
"   {\"name\": \"name.zh\", \"from\": \"chName\", \"transform\": "
"    \"zh_full\"},"
"   {\"name\": \"name.zhSurname\", \"from\": \"chName\","
"    \"transform\": \"zh_surname\"},"
"   {\"name\": \"name.zhGiven\", \"from\": \"chName\","
"    \"transform\": \"zh_given\"},"
"   {\"name\": \"tel.local\", \"from\": [\"officeTelNumber\","
"    \"mobileNumber\"], \"transform\": \"phone_local\"},"
"   {\"name\": \"tel.e164\", \"from\": \"mobileNumber\","
"    \"transform\": \"phone_e164\"},"
"   {\"name\": \"tel.auto\", \"from\": \"mobileNumber\","
"    \"transform\": \"phone_auto\"},"
"   {\"name\": \"id.brackets\", \"from\": \"idNo\", \"transform\": \"hkid\","
"    \"required\": true},"
"   {\"name\": \"id.plain\", \"from\": \"idNo\", \"transform\": "
"    \"hkid_plain\"},"
"   {\"name\": \"addr.lines\", \"type\": \"array\","
"    \"from\": \"residentialAddress\", \"transform\": \"address_lines\"},"
"   {\"name\": \"addr.text\", \"from\": \"residentialAddress\","
"    \"transform\": \"address_text\", \"lang\": \"zh-HK\"},"
"   {\"name\": \"addr.district\", \"from\": \"residentialAddress\","
"    \"transform\": \"district_code\"},"
"   {\"name\": \"addr.districtName\", \"from\": \"residentialAddress\","
"    \"transform\": \"district_name\"},"
"   {\"name\": \"addr.flat\", \"from\": \"residentialAddress\","
"    \"pointer\": \"/EngPremisesAddress/Eng3dAddress/EngUnit/UnitNo\"},"
"   {\"name\": \"dob\", \"from\": \"birthDate\", \"date\": \"DD/MM/YYYY\","
"    \"required\": true},"
"   {\"name\": \"sex\", \"type\": \"integer\", \"from\": \"gender\","
"    \"values\": {\"M\": 1, \"F\": 2}},"
"   {\"name\": \"owner\", \"type\": \"boolean\", \"from\": "
"    \"propertyOwner\", \"transform\": \"flag_bool\"},"
"   {\"name\": \"mail\", \"from\": \"emailAddress\", \"transform\": "
"    \"upper\"},"
"   {\"name\": \"level\", \"from\": \"tst.record.level\","
"    \"values\": {\"bronze\": \"B\"}, \"default\": \"?\"},"
"   {\"name\": \"kind\", \"type\": \"object\", \"const\": {\"code\": \"A1\"}},"
"   {\"name\": \"lang\", \"by_lang\": {\"en\": \"E\", \"zh-HK\": \"C\"}},"
"   {\"name\": \"passport\", \"from\": \"passportNumber\","
"    \"required\": true}]}]}";


#define IDNO    "\"idNo\": {\"Identification\": \"A123456\", " \
                "\"CheckDigit\": \"3\"}"
#define Q       "{\"dataset\": \"tst.record\", \"subject\": \"s-1\", " IDNO \
                ", \"params\": {\"year\": \"2024 Q1\", \"tag\": \"t\"}}"
#define UPDATED "2025-02-28T09:45:00Z"

static const char  good_reply[] =
    "{\"status\": \"OK\", \"updated\": \"28/02/2025 17:45\", \"ref\": \"R9\","
    " \"record\": {\"id\": \"X-1\", \"level\": 2, \"amount\": \"12.5\","
    "  \"count\": \"7\", \"active\": \"Y\", \"member\": true,"
    "  \"since\": \"01-07-2019\", \"seen\": \"2025-01-02T03:04:05+08:00\","
    "  \"tags\": [\"a\"], \"hkid\": \"A123456(3)\","
    "  \"person\": {\"last\": \"chan\", \"first\": \"Tai Man\","
    "   \"chinese\": \"陳大文\", \"mobile\": \"+852 9123 4567\"},"
    "  \"addr\": {\"flat\": \"A\", \"floor\": \"12\", \"bldg\": \"Harbour "
    "View Court\", \"street\": \"King's Road\", \"no\": \"123\","
    "   \"district\": \"EST\", \"region\": \"HK\"},"
    "  \"mail\": [\"P.O. Box 1\", \"Central\"],"
    "  \"office\": {\"FreeFormatAddress\": {\"AddressLine1\": \"1 Queen's "
    "Road\"}}}}";


static iams_adapter *
load_map(test_env *t, const char *map)
{
    return test_load_table(t, iams_adapter_entry(), "tst", map);
}


static void
test_describe_from_mapping(void **state)
{
    size_t         len;
    json_t        *d, *f;
    test_env       t;
    const char    *text;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_map(&t, mapping);

    assert_string_equal(iams_adapter_department(a), "TST");
    text = iams_adapter_describe_json(a, &len);
    d = test_json(text, len);

    /* data set fields as the response mapping declares them */
    f = iams_sdk_pointer(d, "/datasets/0/fields/0");
    assert_string_equal(test_str(f, "name"), "tst.record.id");
    assert_true(json_is_true(json_object_get(f, "required")));
    assert_null(json_object_get(f, "pointer"));

    /* form fields: "from" always a list, type string unless given */
    f = iams_sdk_pointer(d, "/forms/0/fields/7");
    assert_string_equal(test_str(f, "type"), "string");
    assert_int_equal(json_array_size(json_object_get(f, "from")), 2);
    assert_null(json_object_get(iams_sdk_pointer(d, "/forms/0/fields/23"),
                                "from"));
    json_decref(d);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_request_templates(void **state)
{
    json_t                        *body;
    test_env                       t;
    iams_adapter                  *a;
    iams_adapter_backend_request   req;

    (void) state;

    test_env_init(&t);
    a = load_map(&t, mapping);

    req = test_request(&t, a, "{\"dataset\": \"tst.record\", \"subject\": "
                       "\"s/1+x\", \"lang\": \"zh-HK\", " IDNO ", "
                       "\"params\": {\"year\": \"2024 Q1\", \"tag\": \"t\"}}");
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path,
                        "/v1/people/s%2F1%2Bx/records?year=2024%20Q1");
    assert_string_equal(test_header(&req, "X-Id"), "A123456(3)");
    assert_string_equal(test_header(&req, "X-Lang"), "zh-HK");

    body = test_json(req.body, req.body_len);
    assert_string_equal(test_str(body, "hkid"), "A1234563");
    assert_string_equal(test_str(body, "ref"), "ref-s/1+x");
    assert_int_equal(json_array_size(json_object_get(body, "tags")), 2);
    assert_int_equal(json_integer_value(json_object_get(body, "n")), 5);
    json_decref(body);

    /* absent variables: a lone one is left out, an embedded one refuses */
    req = test_request(&t, a, "{\"dataset\": \"tst.record\", \"subject\": "
                       "\"s1\", \"params\": {\"year\": \"2024\"}}");
    assert_null(test_header(&req, "X-Id"));
    assert_string_equal(test_header(&req, "X-Lang"), "en");
    body = test_json(req.body, req.body_len);
    assert_null(json_object_get(body, "hkid"));
    assert_int_equal(json_array_size(json_object_get(body, "tags")), 1);
    json_decref(body);

    assert_string_equal(test_request_fails(&t, a,
                            "{\"dataset\": \"tst.record\", \"subject\": "
                            "\"s1\"}", IAMS_ADAPTER_ERR_INVALID_INPUT),
                        "map_request: invalid_input: the query lacks "
                        "{param.year}, which the request needs");

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_response_mapping(void **state)
{
    json_t        *d, *v;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_map(&t, mapping);

    d = test_response(&t, a, Q, 200, good_reply);

    assert_string_equal(json_string_value(test_field(d, "tst.record.id",
                                                     "TST", UPDATED)),
                        "X-1");
    assert_string_equal(json_string_value(test_field(d, "tst.record.level",
                                                     "TST", UPDATED)),
                        "silver");
    assert_true(json_real_value(test_field(d, "tst.record.amount", "TST",
                                           UPDATED)) == 12.5);
    assert_int_equal(json_integer_value(test_field(d, "tst.record.count",
                                                   "TST", UPDATED)), 7);
    assert_true(json_is_true(test_field(d, "tst.record.active", "TST",
                                        UPDATED)));
    assert_string_equal(json_string_value(test_field(d, "tst.record.member",
                                                     "TST", UPDATED)), "Y");
    assert_string_equal(json_string_value(test_field(d, "tst.record.since",
                                                     "TST", UPDATED)),
                        "20190701");
    assert_string_equal(json_string_value(test_field(d, "tst.record.seen",
                                                     "TST", UPDATED)),
                        "2025-01-01T19:04:05Z");
    assert_string_equal(json_string_value(test_field(d,
                            "tst.record.source_ref", "TST", UPDATED)), "R9");

    v = test_field(d, "idNo", "TST", UPDATED);
    assert_string_equal(test_str(v, "CheckDigit"), "3");
    v = test_field(d, "enName", "TST", UPDATED);
    assert_string_equal(test_str(v, "UnstructuredName"), "CHAN, Tai Man");
    v = test_field(d, "mobileNumber", "TST", UPDATED);
    assert_string_equal(test_str(v, "SubscriberNumber"), "91234567");
    v = test_field(d, "residentialAddress", "TST", UPDATED);
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/EngPremisesAddress/EngStreet/BuildingNoFrom")),
                        "123");
    v = test_field(d, "postalAddress", "TST", UPDATED);
    assert_string_equal(json_string_value(iams_sdk_pointer(v,
                            "/FreeFormatAddress/AddressLine2")), "Central");
    v = test_field(d, "tst.record.office", "TST", UPDATED);
    assert_non_null(json_object_get(v, "FreeFormatAddress"));
    json_decref(d);

    /* an unmapped value takes the default; absent fields are left out */
    d = test_response(&t, a, Q, 200, "{\"status\": \"OK\", \"updated\": "
                      "\"28/02/2025 17:45\", \"record\": {\"id\": \"X-2\", "
                      "\"level\": 9}}");
    assert_string_equal(json_string_value(test_field(d, "tst.record.level",
                                                     "TST", UPDATED)),
                        "other");
    assert_int_equal(json_object_size(json_object_get(d, "fields")), 2);
    json_decref(d);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_response_errors(void **state)
{
    size_t          i;
    char           *body;
    json_t         *r;
    test_env        t;
    iams_adapter   *a;

    static const struct {
        const char           *pointer;     /* what to change in good_reply */
        const char           *key;
        const char           *value;       /* JSON, or NULL to delete */
        iams_adapter_status   want;
        const char           *message;
    } cases[] = {
        { "", "status", "\"NO_DATA\"", IAMS_ADAPTER_ERR_NOT_FOUND,
          "map_response: not_found: the backend reported \"NO_DATA\"" },
        { "", "status", "\"MAINTENANCE\"", IAMS_ADAPTER_ERR_BACKEND,
          "map_response: backend_error: the backend reported "
          "\"MAINTENANCE\"" },
        { "", "record", NULL, IAMS_ADAPTER_ERR_NOT_FOUND,
          "map_response: not_found: the reply holds no record" },
        { "", "updated", "\"2025-02-28 17:45\"", IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: the last-updated time is missing "
          "or not in its format" },
        { "/record", "id", NULL, IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: tst.record.id: required, but the "
          "reply lacks it" },
        { "/record", "id", "7", IAMS_ADAPTER_ERR_BAD_REPLY,
          "map_response: malformed_reply: tst.record.id: not in the format "
          "of its mapping" },
        { "/record", "count", "\"7.5\"", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { "/record", "amount", "\"12,5\"", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { "/record", "active", "\"maybe\"", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { "/record", "member", "\"yes\"", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { "/record", "since", "\"2019-07-01\"", IAMS_ADAPTER_ERR_BAD_REPLY,
          NULL },
        { "/record", "seen", "\"2025-01-02T03:04:05\"",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { "/record", "hkid", "\"A123456(4)\"", IAMS_ADAPTER_ERR_BAD_REPLY,
          NULL },
        { "/record", "tags", "{}", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { "/record", "office", "\"Moon\"", IAMS_ADAPTER_ERR_BAD_REPLY,
          NULL },
        { "/record", "mail", "[7]", IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { "/record/addr", "region", "\"MO\"", IAMS_ADAPTER_ERR_BAD_REPLY,
          NULL },
        { "/record/person", "mobile", "\"call me\"",
          IAMS_ADAPTER_ERR_BAD_REPLY, NULL },
        { "/record/person", "last", "\"\"", IAMS_ADAPTER_ERR_BAD_REPLY,
          NULL },
    };

    (void) state;

    test_env_init(&t);
    a = load_map(&t, mapping);

    (void) test_reply_fails(&t, a, Q, 409, "{}", IAMS_ADAPTER_ERR_DENIED);
    (void) test_reply_fails(&t, a, Q, 410, "{}", IAMS_ADAPTER_ERR_NOT_FOUND);
    (void) test_reply_fails(&t, a, Q, 302, "", IAMS_ADAPTER_ERR_BACKEND);
    (void) test_reply_fails(&t, a, Q, 200, "[]", IAMS_ADAPTER_ERR_BAD_REPLY);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char  *msg;

        r = test_json(good_reply, sizeof(good_reply) - 1);

        if (cases[i].value == NULL) {
            json_object_del(iams_sdk_pointer(r, cases[i].pointer),
                            cases[i].key);

        } else {
            json_object_set_new(iams_sdk_pointer(r, cases[i].pointer),
                                cases[i].key,
                                test_json(cases[i].value,
                                          strlen(cases[i].value)));
        }

        body = json_dumps(r, JSON_COMPACT);
        json_decref(r);

        msg = test_reply_fails(&t, a, Q, 200, body, cases[i].want);
        if (cases[i].message != NULL) {
            assert_string_equal(msg, cases[i].message);
        }

        free(body);
    }

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_form_rules(void **state)
{
    json_t        *f, *p;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = load_map(&t, mapping);

    f = test_form(&t, a, "{\"form\": \"tst.form\", \"lang\": \"zh-HK\", "
        "\"fields\": {"
        FIELD("enName", "{\"UnstructuredName\": \"CHAN, Tai Man\"}") ", "
        FIELD("chName", "{\"ChineseName\": \"歐陽大文\"}") ", "
        FIELD("mobileNumber", "{\"CountryCode\": \"853\", "
                              "\"SubscriberNumber\": \"66123456\"}") ", "
        FIELD("idNo", "{\"Identification\": \"A123456\", "
                      "\"CheckDigit\": \"3\"}") ", "
        FIELD("birthDate", "\"19800101\"") ", "
        FIELD("gender", "\"F\"") ", "
        FIELD("propertyOwner", "\"N\"") ", "
        FIELD("emailAddress", "\"chan@example.com\"") ", "
        FIELD("residentialAddress",
              "{\"EngPremisesAddress\": {\"EngStreet\": {\"StreetName\": "
              "\"Nathan Road\", \"BuildingNoFrom\": \"500\"}, "
              "\"EngDistrict\": {\"DcDistrict\": \"YTM\"}, \"Region\": "
              "\"KLN\", \"Eng3dAddress\": {\"EngUnit\": {\"UnitDescriptor\":"
              " \"Flat\", \"UnitNo\": \"F\"}}}}") ", "
        "\"tst.record.level\": {\"value\": \"gold\", \"source\": \"TST\", "
        "\"last_updated\": \"2025-03-01T00:00:00Z\"}"
        "}}");

    p = json_object_get(f, "payload");
    assert_string_equal(json_string_value(iams_sdk_pointer(p, "/name/full")),
                        "CHAN Tai Man");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/name/unstructured")), "CHAN, Tai Man");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/name/given")), "Tai Man");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/name/zhSurname")), "歐陽");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/name/zhGiven")), "大文");
    assert_string_equal(json_string_value(iams_sdk_pointer(p, "/tel/local")),
                        "66123456");
    assert_string_equal(json_string_value(iams_sdk_pointer(p, "/tel/e164")),
                        "+85366123456");
    assert_string_equal(json_string_value(iams_sdk_pointer(p, "/tel/auto")),
                        "+85366123456");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/id/brackets")), "A123456(3)");
    assert_string_equal(json_string_value(iams_sdk_pointer(p, "/id/plain")),
                        "A1234563");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/addr/lines/0")), "Flat F");
    assert_string_equal(json_string_value(iams_sdk_pointer(p, "/addr/text")),
                        "Flat F, 500 Nathan Road, Yau Tsim Mong, Kowloon");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/addr/district")), "YTM");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/addr/districtName")), "油尖旺");
    assert_string_equal(json_string_value(iams_sdk_pointer(p, "/addr/flat")),
                        "F");
    assert_string_equal(test_str(p, "dob"), "01/01/1980");
    assert_int_equal(json_integer_value(json_object_get(p, "sex")), 2);
    assert_true(json_is_false(json_object_get(p, "owner")));
    assert_string_equal(test_str(p, "mail"), "CHAN@EXAMPLE.COM");
    assert_string_equal(test_str(p, "level"), "?");
    assert_string_equal(json_string_value(iams_sdk_pointer(p, "/kind/code")),
                        "A1");
    assert_string_equal(test_str(p, "lang"), "C");

    p = json_pack("[s]", "passport");
    assert_true(json_equal(json_object_get(f, "missing"), p));
    json_decref(p);
    json_decref(f);

    iams_adapter_unload(a);
    test_env_free(&t);
}


/* The mapping with one change, loaded: init must refuse it with message. */
static void
mapping_refused(const char *pointer, const char *key, const char *value,
    const char *message)
{
    char                *text, expect[1024];
    json_t              *m;
    test_env             t;
    iams_adapter        *a;
    iams_adapter_spec    spec;
    iams_adapter_diag    diag;

    m = test_json(mapping, sizeof(mapping) - 1);

    if (value == NULL) {
        json_object_del(iams_sdk_pointer(m, pointer), key);

    } else {
        json_object_set_new(iams_sdk_pointer(m, pointer), key,
                            test_json(value, strlen(value)));
    }

    text = json_dumps(m, JSON_COMPACT);
    json_decref(m);

    test_env_init(&t);

    memset(&spec, 0, sizeof(spec));
    spec.name = "tst";
    spec.path = "jsonmap.so";
    spec.config = text;
    spec.config_len = strlen(text);

    assert_int_equal(iams_adapter_load_table(iams_adapter_entry(), &spec,
                                             &t.env, &a, &diag),
                     IAMS_ADAPTER_LOAD_INIT);

    snprintf(expect, sizeof(expect), "adapter \"tst\" (jsonmap.so): init "
             "failed: invalid_config: %s", message);
    assert_string_equal(diag.message, expect);

    free(text);
    test_env_free(&t);
}


static void
test_mapping_mistakes(void **state)
{
    (void) state;

    mapping_refused("", "extra", "1",
                    "mapping: unknown member \"extra\"");
    mapping_refused("", "services", NULL,
                    "mapping: \"department\" and \"services\" are required");
    mapping_refused("/datasets/0/request", "method", "\"PUT\"",
                    "datasets[0].request: \"method\" must be \"GET\" or "
                    "\"POST\"");
    mapping_refused("/datasets/0/request", "path", "\"v1/x\"",
                    "datasets[0].request: \"path\" must start with \"/\"");
    mapping_refused("/datasets/0/request", "path", "\"/v1/{hkidd}\"",
                    "datasets[0].request: unknown variable \"hkidd\" (known: "
                    "subject hkid hkid_brackets lang dataset param.NAME)");
    mapping_refused("/datasets/0/request", "path", "\"/v1/{subject\"",
                    "datasets[0].request: unclosed \"{\"");
    mapping_refused("/datasets/0/response", "last_updated", NULL,
                    "datasets[0].response.last_updated: required: "
                    "{\"pointer\", \"format\" (a pattern; RFC 3339 when "
                    "absent), \"tz\" (minutes east of UTC)}");
    mapping_refused("/datasets/0/response/last_updated", "format",
                    "\"MM/YYYY\"",
                    "datasets[0].response.last_updated: required: "
                    "{\"pointer\", \"format\" (a pattern; RFC 3339 when "
                    "absent), \"tz\" (minutes east of UTC)}");
    mapping_refused("/datasets/0/response", "status", "{\"4xx\": "
                    "\"not_found\"}",
                    "datasets[0].response: status \"4xx\" must be an HTTP "
                    "status mapped to one of not_found denied backend_error "
                    "malformed_reply invalid_input");
    mapping_refused("/datasets/0/response/error", "ok", NULL,
                    "datasets[0].response.error: needs \"pointer\", \"ok\" "
                    "(the values that mean success), optional \"codes\" "
                    "(value: outcome) and \"default\"");
    mapping_refused("/datasets/0/response/fields/2", "type", "\"money\"",
                    "datasets[0].response.fields[2]: \"type\" must be one "
                    "of string date datetime integer number boolean flag "
                    "hkid en_name zh_name phone address object array");
    mapping_refused("/datasets/0/response/fields/6", "date", "\"DD.MM\"",
                    "datasets[0].response.fields[6]: \"date\" must be a "
                    "pattern of YYYY, MM, DD and separators, for a field of "
                    "type date");
    mapping_refused("/datasets/0/response/fields/0", "pointer", "\"id\"",
                    "datasets[0].response.fields[0]: \"pointer\" is not a "
                    "JSON pointer");
    mapping_refused("/datasets/0/response/fields/0", "pointer", NULL,
                    "datasets[0].response.fields[0]: needs \"pointer\" (or "
                    "\"en_name\" or \"address\" parts)");
    mapping_refused("/datasets/0/response/fields/0", "default", "\"x\"",
                    "datasets[0].response.fields[0]: \"default\" only goes "
                    "with \"values\"");
    mapping_refused("/datasets/0/response/fields/13/address", "lines",
                    "[\"/a\"]",
                    "datasets[0].response.fields[13]: \"address\" needs one "
                    "of \"lines\" (up to 3 pointers) or \"premises\" "
                    "(pointers by part)");
    mapping_refused("/datasets/0/response/fields/9", "address",
                    "{\"lines\": [\"/a\"]}",
                    "datasets[0].response.fields[9]: a field of type "
                    "address needs \"address\" (and only such a field has "
                    "it)");
    mapping_refused("/datasets/0/response/fields/13/address/premises",
                    "flat", "\"/f\"",
                    "datasets[0].response.fields[13]: premises part \"flat\" "
                    "is not one of unit floor block building estate street "
                    "building_no district region with a JSON pointer");
    mapping_refused("/datasets/0/response/fields/10", "en_name",
                    "{\"given\": \"/g\"}",
                    "datasets[0].response.fields[10]: \"en_name\" must be "
                    "{\"surname\": pointer, \"given\": pointer}, for an "
                    "en_name");
    mapping_refused("/forms/0/fields/0", "from", NULL,
                    "forms[0].fields[0]: needs exactly one of \"from\" "
                    "(canonical fields), \"const\" or \"by_lang\"");
    mapping_refused("/forms/0/fields/0", "transform", "\"titlecase\"",
                    "forms[0].fields[0]: unknown \"transform\" (known: "
                    "en_full en_unstructured en_surname en_given zh_full "
                    "zh_surname zh_given phone_local phone_e164 phone_auto "
                    "hkid hkid_plain address_lines address_text "
                    "district_code district_name flag_bool upper)");
    mapping_refused("/forms/0/fields/23", "by_lang", "{\"en\": \"E\"}",
                    "forms[0].fields[23]: \"by_lang\" must give a value for "
                    "\"en\" and \"zh-HK\"");
    mapping_refused("/forms/0/fields/0", "type", "\"date\"",
                    "forms[0].fields[0]: \"type\" must be one of string "
                    "integer number boolean object array");
    mapping_refused("/forms/0/fields/0", "lang", "\"fr\"",
                    "forms[0].fields[0]: \"lang\" must be \"en\" or "
                    "\"zh-HK\"");
}


/* ---- the RVD and LCSD mapping files ---- */

#define RVD_Q   "{\"dataset\": \"rvd.rates_account\", \"subject\": \"s\", " \
                IDNO "}"


static void
test_rvd_mapping(void **state)
{
    json_t                        *d, *f, *p;
    test_env                       t;
    iams_adapter                  *a;
    iams_adapter_backend_request   req;

    (void) state;

    test_env_init(&t);
    a = test_load_table_file(&t, iams_adapter_entry(), "rvd",
                             "adapters/rvd/rvd.json");
    assert_string_equal(iams_adapter_department(a), "RVD");

    req = test_request(&t, a, RVD_Q);
    assert_string_equal(req.path, "/api/v1/accounts/search");
    assert_string_equal(req.body,
                        "{\"hkid\":\"A1234563\",\"payerRef\":\"s\"}");

    d = test_response(&t, a, RVD_Q, 200,
        "{\"payer\": {\"name\": \"CHAN TAI MAN\"}, \"accounts\": ["
        "{\"accountNo\": \"1-23-45-67890-12\", \"property\": "
        "{\"addressLine1\": \"FLAT A, 12/F\", \"addressLine2\": \"HARBOUR "
        "VIEW COURT\"}, \"rateableValue\": 264000, \"quarterlyRates\": "
        "\"3300.00\", \"status\": \"A\", \"nextDueDate\": \"30/04/2025\", "
        "\"concessionEligible\": \"Y\"}], \"lastUpdate\": "
        "\"2025-01-15T08:00:00+08:00\"}");
    assert_string_equal(json_string_value(test_field(d,
                            "rvd.rates_account.status", "RVD",
                            "2025-01-15T00:00:00Z")), "active");
    assert_true(json_number_value(test_field(d,
                    "rvd.rates_account.quarterly_rates", "RVD",
                    "2025-01-15T00:00:00Z")) == 3300.0);
    assert_string_equal(test_str(test_field(d, "enName", "RVD",
                                            "2025-01-15T00:00:00Z"),
                                 "UnstructuredName"), "CHAN, TAI MAN");

    /* build a form from the account */
    f = json_object_get(d, "fields");
    json_object_set_new(f, "enName", json_pack("{s:{s:s}, s:s, s:s}",
                        "value", "UnstructuredName", "CHAN, Tai Man",
                        "source", "iAM Smart", "last_updated",
                        "2025-03-01T00:00:00Z"));
    json_object_set_new(f, "homeTelNumber", json_pack("{s:{s:s, s:s}, s:s, "
                        "s:s}", "value", "CountryCode", "852",
                        "SubscriberNumber", "23456789", "source", "iAM Smart",
                        "last_updated", "2025-03-01T00:00:00Z"));
    json_object_set_new(d, "form", json_string("rvd.rates_concession"));
    json_object_del(d, "dataset");
    {
        char  *in = json_dumps(d, JSON_COMPACT);

        json_decref(d);
        d = test_form(&t, a, in);
        free(in);
    }

    p = json_object_get(d, "payload");
    assert_string_equal(test_str(p, "accountNo"), "1-23-45-67890-12");
    assert_string_equal(test_str(p, "ratepayerName"), "CHAN Tai Man");
    assert_string_equal(test_str(p, "contactTel"), "23456789");
    assert_string_equal(test_str(p, "replyLanguage"), "ENG");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(p, "propertyAddress"), 1)),
                        "HARBOUR VIEW COURT");
    p = json_pack("[s]", "hkidNo");
    assert_true(json_equal(json_object_get(d, "missing"), p));
    json_decref(p);
    json_decref(d);

    /* no account: not found; a suspended one maps its status */
    (void) test_reply_fails(&t, a, RVD_Q, 200, "{\"payer\": {}, "
                            "\"accounts\": [], \"lastUpdate\": "
                            "\"2025-01-15T08:00:00+08:00\"}",
                            IAMS_ADAPTER_ERR_NOT_FOUND);
    (void) test_reply_fails(&t, a, RVD_Q, 404, "{\"error\": "
                            "\"UNKNOWN_PAYER\"}", IAMS_ADAPTER_ERR_NOT_FOUND);
    (void) test_reply_fails(&t, a, RVD_Q, 200, "{\"accounts\": [{\"accountNo"
                            "\": \"1\", \"status\": \"Z\"}], \"lastUpdate\": "
                            "\"2025-01-15T08:00:00+08:00\"}",
                            IAMS_ADAPTER_ERR_BAD_REPLY);

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_lcsd_mapping(void **state)
{
    json_t        *f, *p;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = test_load_table_file(&t, iams_adapter_entry(), "lcsd",
                             "adapters/lcsd/lcsd.json");

    /* a department of forms only */
    assert_false(iams_adapter_has_dataset(a, "lcsd.smartplay", 14));
    assert_string_equal(test_request_fails(&t, a,
                            "{\"dataset\": \"lcsd.smartplay\", \"subject\": "
                            "\"s\"}", IAMS_ADAPTER_ERR_UNSUPPORTED),
                        "query: data set \"lcsd.smartplay\" is not provided "
                        "by adapter \"lcsd\"");

    f = test_form(&t, a, "{\"form\": \"lcsd.smartplay_profile\", "
        "\"lang\": \"zh-HK\", \"fields\": {"
        FIELD("enName", "{\"UnstructuredName\": \"LEE, Siu Ming\"}") ", "
        FIELD("gender", "\"M\"") ", "
        FIELD("birthDate", "\"20080720\"") ", "
        FIELD("idNo", "{\"Identification\": \"P876543\", "
                      "\"CheckDigit\": \"3\"}") ", "
        FIELD("mobileNumber", "{\"CountryCode\": \"852\", "
                              "\"SubscriberNumber\": \"51234567\"}") ", "
        FIELD("emailAddress", "\"leesiuming@example.com\"") ", "
        FIELD("residentialAddress",
              "{\"EngPremisesAddress\": {\"EngDistrict\": {\"DcDistrict\": "
              "\"ST\"}, \"Region\": \"NT\"}}")
        "}}");

    p = json_object_get(f, "payload");
    assert_string_equal(test_str(p, "nameEng"), "LEE Siu Ming");
    assert_string_equal(test_str(p, "gender"), "MALE");
    assert_string_equal(test_str(p, "dateOfBirth"), "2008-07-20");
    assert_string_equal(json_string_value(iams_sdk_pointer(p,
                            "/idDocument/number")), "P876543(3)");
    assert_string_equal(test_str(p, "mobile"), "+85251234567");
    assert_string_equal(test_str(p, "preferredDistrict"), "ST");
    assert_string_equal(test_str(p, "language"), "TC");
    assert_null(json_object_get(p, "nameChi"));
    assert_null(json_object_get(f, "missing"));
    json_decref(f);

    iams_adapter_unload(a);
    test_env_free(&t);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_describe_from_mapping),
        cmocka_unit_test(test_request_templates),
        cmocka_unit_test(test_response_mapping),
        cmocka_unit_test(test_response_errors),
        cmocka_unit_test(test_form_rules),
        cmocka_unit_test(test_mapping_mistakes),
        cmocka_unit_test(test_rvd_mapping),
        cmocka_unit_test(test_lcsd_mapping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
