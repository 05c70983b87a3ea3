/*
 * The gateway side of the adapter contract, driven by an "echo" adapter
 * linked into the test whose outputs the test chooses: describe writes its
 * configuration, map_request writes params.out, map_response writes the
 * reply body, map_form writes the field ech.test.out, bridge writes
 * claims.out.  So every rule of describe, of the backend request
 * description, of canonical data and of form and bridge output is checked
 * with the exact message an operator would read, plus timing, the output
 * budget, log hygiene, form inputs and the catalogue.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_adapter_env.h"


/* ---- the echo adapter ---- */

static iams_adapter_status
echo_init(iams_adapter_call *call, const char *config, size_t len,
    void **state)
{
    char  *copy;

    (void) call;

    copy = malloc(len + 1);
    if (copy == NULL) {
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    memcpy(copy, config, len);
    copy[len] = '\0';
    *state = copy;

    return IAMS_ADAPTER_OK;
}


static void
echo_fini(void *state)
{
    free(state);
}


static iams_adapter_status
echo_describe(iams_adapter_call *call)
{
    const char  *text = call->state;

    return iams_adapter_set_output(call, text, strlen(text));
}


/* Outputs the string value (borrowed from doc), then drops doc. */
static iams_adapter_status
echo_string(iams_adapter_call *call, json_t *doc, const json_t *v)
{
    iams_adapter_status  rc;

    if (!json_is_string(v)) {
        json_decref(doc);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "nothing to echo");
    }

    rc = iams_adapter_set_output(call, json_string_value(v),
                                 json_string_length(v));
    json_decref(doc);

    return rc;
}


static iams_adapter_status
echo_map_request(iams_adapter_call *call, const char *query, size_t len)
{
    json_t  *q, *params;

    q = json_loadb(query, len, 0, NULL);
    params = json_object_get(q, "params");

    if (json_is_true(json_object_get(params, "big"))) {
        json_decref(q);

        /* more than one call may allocate */
        if (iams_adapter_alloc(call, IAMS_ADAPTER_OUTPUT_MAX / 2) == NULL
            || iams_adapter_alloc(call, IAMS_ADAPTER_OUTPUT_MAX / 2 + 1)
               == NULL)
        {
            return IAMS_ADAPTER_ERR_NOMEM;
        }

        return IAMS_ADAPTER_ERR_INTERNAL;
    }

    if (json_is_true(json_object_get(params, "log"))) {
        iams_adapter_log(call, IAMS_ADAPTER_LOG_INFO,
                         "line one\nforged line\x1b[0m");
    }

    return echo_string(call, q, json_object_get(params, "out"));
}


static iams_adapter_status
echo_map_response(iams_adapter_call *call, const char *query, size_t len,
    const iams_adapter_reply *reply)
{
    struct timespec  start, now;

    (void) query;
    (void) len;

    if (reply->status == 299) {
        /* a slow adapter: about 3 ms of work */
        clock_gettime(CLOCK_MONOTONIC, &start);

        do {
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while ((now.tv_sec - start.tv_sec) * 1000000000L
                 + (now.tv_nsec - start.tv_nsec) < 3000000L);
    }

    return iams_adapter_set_output(call, reply->body, reply->body_len);
}


static iams_adapter_status
echo_map_form(iams_adapter_call *call, const char *input, size_t len)
{
    json_t  *in;

    in = json_loadb(input, len, 0, NULL);

    return echo_string(call, in,
                       json_object_get(json_object_get(json_object_get(in,
                                           "fields"), "ech.test.out"),
                                       "value"));
}


static iams_adapter_status
echo_bridge(iams_adapter_call *call, const char *identity, size_t len)
{
    json_t  *id;

    id = json_loadb(identity, len, 0, NULL);

    return echo_string(call, id,
                       json_object_get(json_object_get(id, "claims"), "out"));
}


static const iams_adapter_v1  echo_table = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "echo",
    .department = NULL,
    .version = "0.1",
    .init = echo_init,
    .fini = echo_fini,
    .describe = echo_describe,
    .map_request = echo_map_request,
    .map_response = echo_map_response,
    .map_form = echo_map_form,
    .bridge = echo_bridge,
};


static const char  echo_describe_json[] =
    "{\"department\": {\"code\": \"ECH\", \"name\": {\"en\": \"Echo Office\","
    "  \"zh-HK\": \"回音處\"}},"
    " \"services\": [{\"id\": \"ech.renewal\", \"annex\": 7,"
    "  \"name\": {\"en\": \"Renewal\", \"zh-HK\": \"續期\"},"
    "  \"themes\": [\"transport\", \"travel\"],"
    "  \"age_groups\": [\"adult\", \"elderly\"],"
    "  \"forms\": [\"ech.apply\"], \"datasets\": [\"ech.test\"]},"
    "  {\"id\": \"ech.enquiry\", \"name\": {\"en\": \"Enquiry\","
    "   \"zh-HK\": \"查詢\"}, \"themes\": [\"civic\"],"
    "   \"age_groups\": [\"youth\"]}],"
    " \"datasets\": [{\"id\": \"ech.test\", \"name\": {\"en\": \"Test\","
    "  \"zh-HK\": \"測試\"}, \"fields\": ["
    "   {\"name\": \"ech.test.value\", \"type\": \"string\","
    "    \"required\": true},"
    "   {\"name\": \"birthDate\", \"type\": \"date\"},"
    "   {\"name\": \"ech.test.count\", \"type\": \"integer\"},"
    "   {\"name\": \"residentialAddress\", \"type\": \"address\"}]}],"
    " \"forms\": [{\"id\": \"ech.apply\", \"name\": {\"en\": \"Apply\","
    "  \"zh-HK\": \"申請\"}, \"service\": \"ech.renewal\", \"fields\": ["
    "   {\"name\": \"surname\", \"type\": \"string\", \"required\": true,"
    "    \"from\": [\"enName\", \"td.driving_licence.holder\"]},"
    "   {\"name\": \"dob\", \"type\": \"string\","
    "    \"from\": [\"birthDate\"]},"
    "   {\"name\": \"tel\", \"type\": \"string\","
    "    \"from\": [\"mobileNumber\", \"homeTelNumber\"]},"
    "   {\"name\": \"addr\", \"type\": \"array\","
    "    \"from\": [\"residentialAddress\", \"ech.test.value\","
    "               \"enName\"]}]}]}";


static iams_adapter *
echo_load(test_env *t, const char *describe)
{
    return test_load_table(t, &echo_table, "ech", describe);
}


/* ---- describe ---- */

/* Loads echo with describe = base changed at pointer-ish path by set,
 * which must be refused with message. */
static void
describe_refused(const char *describe, const char *message)
{
    char                      expect[2048];
    test_env                  t;
    iams_adapter             *a;
    iams_adapter_spec         spec;
    iams_adapter_diag         diag;
    iams_adapter_load_status  st;

    test_env_init(&t);

    memset(&spec, 0, sizeof(spec));
    spec.name = "ech";
    spec.path = "(linked)";
    spec.config = describe;
    spec.config_len = strlen(describe);

    st = iams_adapter_load_table(&echo_table, &spec, &t.env, &a, &diag);

    assert_int_equal(st, IAMS_ADAPTER_LOAD_DESCRIBE);
    assert_null(a);

    snprintf(expect, sizeof(expect), "adapter \"ech\" ((linked)): invalid "
             "describe output: %s", message);
    assert_string_equal(diag.message, expect);

    test_env_free(&t);
}


/* The base describe with one change, as text (caller frees). */
static char *
describe_with(const char *pointer_parent, const char *key, json_t *value)
{
    char    *text;
    json_t  *d, *parent;
    size_t   i;
    char     part[64];
    const char  *p, *slash;

    d = test_json(echo_describe_json, sizeof(echo_describe_json) - 1);
    parent = d;

    for (p = pointer_parent; *p == '/'; p = slash) {
        p++;
        slash = strchr(p, '/');
        if (slash == NULL) {
            slash = p + strlen(p);
        }

        snprintf(part, sizeof(part), "%.*s", (int) (slash - p), p);

        if (json_is_array(parent)) {
            i = (size_t) atoi(part);
            parent = json_array_get(parent, i);

        } else {
            parent = json_object_get(parent, part);
        }

        assert_non_null(parent);
    }

    if (value == NULL) {
        json_object_del(parent, key);

    } else {
        json_object_set_new(parent, key, value);
    }

    text = json_dumps(d, JSON_COMPACT);
    json_decref(d);

    return text;
}


static void
refused_with(const char *parent, const char *key, json_t *value,
    const char *message)
{
    char  *text;

    text = describe_with(parent, key, value);
    describe_refused(text, message);
    free(text);
}


static void
test_describe_vocabulary(void **state)
{
    (void) state;

    refused_with("/services/0", "themes", json_pack("[s]", "sport"),
                 "services[0].themes[0]: unknown theme \"sport\" (known: "
                 "business civic education employment environment family "
                 "health housing immigration leisure public_safety "
                 "social_welfare tax transport travel)");

    refused_with("/services/1", "age_groups", json_pack("[s]", "teen"),
                 "services[1].age_groups[0]: unknown age group \"teen\" "
                 "(known: child youth adult elderly)");

    refused_with("/services/0", "themes", json_pack("[ss]", "travel",
                                                    "travel"),
                 "services[0].themes[1]: \"travel\" is listed twice");

    refused_with("/services/0", "themes", json_array(),
                 "services[0].themes: must be an array of 1 to 15 entries");

    refused_with("/services/0", "age_group", json_pack("[s]", "adult"),
                 "services[0]: unknown member \"age_group\"");
}


static void
test_describe_names(void **state)
{
    (void) state;

    refused_with("/services/0", "name", json_pack("{s:s}", "en", "Renewal"),
                 "services[0].name: lacks a Chinese (\"zh-HK\") name");

    refused_with("/department", "name", json_pack("{s:s, s:s}", "zh-HK",
                                                  "回音處", "en", ""),
                 "department.name: lacks an English (\"en\") name");

    refused_with("/forms/0", "name", json_pack("{s:s, s:s, s:s}", "en", "A",
                                               "zh-HK", "甲", "fr", "A"),
                 "forms[0].name: unknown language \"fr\"");

    refused_with("/department", "code", json_string("E1"),
                 "department.code: must be 2 to 8 letters, such as \"TD\" "
                 "or \"ImmD\"");
}


static void
test_describe_ids_and_references(void **state)
{
    (void) state;

    refused_with("/datasets/0", "id", json_string("td.test"),
                 "datasets[0].id: must be \"ech.<name>\" with <name> of "
                 "a-z, 0-9 and _");

    refused_with("/services/1", "id", json_string("ech.renewal"),
                 "services[1].id: \"ech.renewal\" is declared twice");

    refused_with("/forms/0", "service", json_string("ech.nope"),
                 "forms[0].service: no service \"ech.nope\" is declared");

    refused_with("/services/0", "forms", json_pack("[s]", "ech.nope"),
                 "services[0].forms[0]: no form \"ech.nope\" is declared");

    refused_with("/services/0", "datasets", json_pack("[s]", "td.licence"),
                 "services[0].datasets[0]: no data set \"td.licence\" is "
                 "declared");

    refused_with("", "services", json_array(),
                 "services: must be an array of 1 to 64 entries");

    refused_with("/services/0", "annex", json_integer(0),
                 "services[0].annex: must be the service's number in the "
                 "annex, 1 to 999");

    refused_with("/services/0", "url", json_string("http://x.example"),
                 "services[0].url: must be an https:// URL of at most 512 "
                 "bytes");

    refused_with("", "extra", json_true(),
                 "describe: unknown member \"extra\"");
}


static void
test_describe_fields(void **state)
{
    (void) state;

    refused_with("/datasets/0/fields/1", "type", json_string("string"),
                 "datasets[0].fields[1].type: birthDate is of type date");

    refused_with("/datasets/0/fields/0", "name",
                 json_string("ech.other.value"),
                 "datasets[0].fields[0].name: must be an iAM Smart profile "
                 "or e-ME field name, or \"ech.test.<field>\" with <field> "
                 "of a-z, 0-9 and _");

    refused_with("/datasets/0/fields/2", "name",
                 json_string("ech.test.value"),
                 "datasets[0].fields[2].name: \"ech.test.value\" is declared "
                 "twice");

    refused_with("/datasets/0/fields/2", "type", json_string("money"),
                 "datasets[0].fields[2].type: unknown type (known: string "
                 "date datetime integer number boolean flag hkid en_name "
                 "zh_name phone address object array)");

    refused_with("/forms/0/fields/0", "from", json_pack("[s]", "notAField"),
                 "forms[0].fields[0].from[0]: not a canonical field name");

    refused_with("/forms/0/fields/1", "type", json_string("date"),
                 "forms[0].fields[1].type: must be one of string integer "
                 "number boolean object array");

    refused_with("/forms/0/fields/1", "name", json_string("1dob"),
                 "forms[0].fields[1].name: must be 1 to 64 of A-Z, a-z, "
                 "0-9, _, . and -, starting with a letter");

    refused_with("/forms/0/fields/1", "required", json_string("yes"),
                 "forms[0].fields[1].required: not a boolean");
}


static iams_adapter_status
never_called(iams_adapter_call *call, const char *q, size_t len)
{
    (void) call;
    (void) q;
    (void) len;

    abort();
}


static void
test_table_checks(void **state)
{
    test_env                  t;
    iams_adapter             *a;
    iams_adapter_v1           table;
    iams_adapter_spec         spec;
    iams_adapter_diag         diag;
    char                      expect[256];

    (void) state;

    test_env_init(&t);

    memset(&spec, 0, sizeof(spec));
    spec.name = "ech";
    spec.path = "/x/ech.so";
    spec.config = echo_describe_json;
    spec.config_len = sizeof(echo_describe_json) - 1;

    /* an adapter from a newer minor may use hooks this gateway lacks */
    table = echo_table;
    table.abi_minor = IAMS_ADAPTER_ABI_MINOR + 1;
    assert_int_equal(iams_adapter_load_table(&table, &spec, &t.env, &a,
                                             &diag),
                     IAMS_ADAPTER_LOAD_ABI);
    assert_string_equal(diag.message, "adapter \"ech\" (/x/ech.so): built "
                        "for ABI 1.1, gateway provides 1.0");

    table = echo_table;
    table.struct_size = 16;
    assert_int_equal(iams_adapter_load_table(&table, &spec, &t.env, &a,
                                             &diag),
                     IAMS_ADAPTER_LOAD_SIZE);
    snprintf(expect, sizeof(expect), "adapter \"ech\" (/x/ech.so): table of "
             "16 bytes is smaller than the %zu bytes of ABI 1.0 (built for "
             "ABI 1.0, gateway provides 1.0)", sizeof(iams_adapter_v1));
    assert_string_equal(diag.message, expect);

    table = echo_table;
    table.name = "Echo!";
    assert_int_equal(iams_adapter_load_table(&table, &spec, &t.env, &a,
                                             &diag),
                     IAMS_ADAPTER_LOAD_BAD_TABLE);
    assert_string_equal(diag.message, "adapter \"ech\" (/x/ech.so): table "
                        "name must be 1 to 32 of a-z, 0-9, _ and -");

    table = echo_table;
    table.department = "TD";
    assert_int_equal(iams_adapter_load_table(&table, &spec, &t.env, &a,
                                             &diag),
                     IAMS_ADAPTER_LOAD_DESCRIBE);
    assert_string_equal(diag.message, "adapter \"ech\" (/x/ech.so): invalid "
                        "describe output: department.code: \"ECH\" differs "
                        "from the adapter table's \"TD\"");

    table = echo_table;
    table.map_response = NULL;
    assert_int_equal(iams_adapter_load_table(&table, &spec, &t.env, &a,
                                             &diag),
                     IAMS_ADAPTER_LOAD_DESCRIBE);
    assert_string_equal(diag.message, "adapter \"ech\" (/x/ech.so): invalid "
                        "describe output: declares data sets but lacks the "
                        "map_request or map_response hook");

    table = echo_table;
    table.map_form = NULL;
    table.map_request = never_called;
    assert_int_equal(iams_adapter_load_table(&table, &spec, &t.env, &a,
                                             &diag),
                     IAMS_ADAPTER_LOAD_DESCRIBE);
    assert_string_equal(diag.message, "adapter \"ech\" (/x/ech.so): invalid "
                        "describe output: declares forms but lacks the "
                        "map_form hook");

    test_env_free(&t);
}


static void
test_describe_accessors(void **state)
{
    size_t         len;
    test_env       t;
    iams_adapter  *a;
    json_t        *d, *in;
    const char    *text;

    (void) state;

    test_env_init(&t);
    a = echo_load(&t, echo_describe_json);

    assert_string_equal(iams_adapter_department(a), "ECH");
    assert_string_equal(iams_adapter_version(a), "0.1");
    assert_true(iams_adapter_has_bridge(a));
    assert_true(iams_adapter_has_dataset(a, "ech.testx", 8));
    assert_false(iams_adapter_has_dataset(a, "ech.tes", 7));
    assert_false(iams_adapter_has_form(a, "ech.test", 8));

    text = iams_adapter_describe_json(a, &len);
    assert_int_equal(len, strlen(text));
    assert_null(strchr(text, '\n'));
    d = test_json(text, len);
    assert_string_equal(test_str(json_object_get(d, "department"), "code"),
                        "ECH");
    json_decref(d);

    /* what the gateway gathers before filling ech.apply */
    text = iams_adapter_form_inputs(a, "ech.apply", 9, &len);
    assert_non_null(text);
    in = test_json(text, len);
    d = json_pack("{s:[ss], s:[sss], s:[ss]}",
                  "profileFields", "enName", "birthDate",
                  "eMEFields", "mobileNumber", "homeTelNumber",
                  "residentialAddress",
                  "datasets", "td.driving_licence", "ech.test");
    assert_true(json_equal(in, d));
    json_decref(d);
    json_decref(in);

    assert_null(iams_adapter_form_inputs(a, "ech.nope", 8, &len));

    iams_adapter_unload(a);
    test_env_free(&t);
}


/* ---- map_request ---- */

static iams_adapter_status
request(test_env *t, const iams_adapter *a, const char *out_json,
    iams_adapter_backend_request *req, iams_adapter_diag *diag)
{
    char    *query;
    json_t  *q;
    iams_adapter_status  rc;

    q = json_pack("{s:s, s:s, s:{s:s}}", "dataset", "ech.test", "subject",
                  "sub-AbC_123", "params", "out", out_json);
    query = json_dumps(q, JSON_COMPACT);
    json_decref(q);

    rc = iams_adapter_map_request(a, &t->env, query, strlen(query), req,
                                  diag);
    free(query);

    return rc;
}


static void
request_refused(test_env *t, const iams_adapter *a, const char *out_json,
    const char *message)
{
    iams_adapter_diag              diag;
    iams_adapter_backend_request   req;

    assert_int_equal(request(t, a, out_json, &req, &diag),
                     IAMS_ADAPTER_ERR_OUTPUT);
    assert_string_equal(diag.message, message);
}


static void
test_request_contract(void **state)
{
    test_env                       t;
    iams_adapter                  *a;
    iams_adapter_diag              diag;
    iams_adapter_backend_request   req;

    (void) state;

    test_env_init(&t);
    a = echo_load(&t, echo_describe_json);

    assert_int_equal(request(&t, a, "{\"method\": \"GET\", \"path\": "
                             "\"/v1/records/sub-AbC_123?lang=en&x=%20\", "
                             "\"headers\": {\"Accept\": "
                             "\"application/json\"}}", &req, &diag),
                     IAMS_ADAPTER_OK);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/v1/records/sub-AbC_123?lang=en&x=%20");
    assert_int_equal(req.nheaders, 1);
    assert_string_equal(req.headers[0].name, "Accept");
    assert_string_equal(req.headers[0].value, "application/json");
    assert_int_equal(req.body_len, 0);
    assert_string_equal(req.body, "");

    /* a JSON body is sent compact, as application/json */
    assert_int_equal(request(&t, a, "{\"method\": \"POST\", \"path\": "
                             "\"/v1/search\", \"body\": {\"ref\": \"x\", "
                             "\"n\": [1, 2]}}", &req, &diag),
                     IAMS_ADAPTER_OK);
    assert_string_equal(req.body, "{\"ref\":\"x\",\"n\":[1,2]}");
    assert_int_equal(req.body_len, strlen(req.body));
    assert_int_equal(req.nheaders, 1);
    assert_string_equal(req.headers[0].name, "Content-Type");
    assert_string_equal(req.headers[0].value, "application/json");
    assert_non_null(strstr(req.json, "\"/v1/search\""));

    /* the adapter's own content type is kept */
    assert_int_equal(request(&t, a, "{\"method\": \"POST\", \"path\": \"/f\","
                             " \"headers\": {\"content-type\": "
                             "\"application/x-www-form-urlencoded\"}, "
                             "\"body\": \"a=1&b=2\"}", &req, &diag),
                     IAMS_ADAPTER_OK);
    assert_int_equal(req.nheaders, 1);
    assert_string_equal(req.body, "a=1&b=2");

    request_refused(&t, a, "{\"method\": \"DELETE\", \"path\": \"/x\"}",
                    "map_request output: \"method\" must be \"GET\" or "
                    "\"POST\"");

    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/a/../b\"}",
                    "map_request output: \"path\" must be an absolute path "
                    "of at most 2048 URI characters, without \".\" or "
                    "\"..\" segments");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/a/..\"}",
                    "map_request output: \"path\" must be an absolute path "
                    "of at most 2048 URI characters, without \".\" or "
                    "\"..\" segments");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": "
                    "\"//evil.example/x\"}",
                    "map_request output: \"path\" must be an absolute path "
                    "of at most 2048 URI characters, without \".\" or "
                    "\"..\" segments");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/a b\"}",
                    "map_request output: \"path\" must be an absolute path "
                    "of at most 2048 URI characters, without \".\" or "
                    "\"..\" segments");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/a%2\"}",
                    "map_request output: \"path\" must be an absolute path "
                    "of at most 2048 URI characters, without \".\" or "
                    "\"..\" segments");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"v1/x\"}",
                    "map_request output: \"path\" must be an absolute path "
                    "of at most 2048 URI characters, without \".\" or "
                    "\"..\" segments");

    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/x\", "
                    "\"headers\": {\"Cookie\": \"s=1\"}}",
                    "map_request output: header \"Cookie\" is set by the "
                    "gateway, not by adapters");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/x\", "
                    "\"headers\": {\"X Bad\": \"1\"}}",
                    "map_request output: header name \"X Bad\" is not an "
                    "HTTP token");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/x\", "
                    "\"headers\": {\"X-N\": 1}}",
                    "map_request output: header \"X-N\": value must be a "
                    "string of at most 4096 bytes without control "
                    "characters");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/x\", "
                    "\"body\": \"a\"}",
                    "map_request output: a GET request has no body");
    request_refused(&t, a, "{\"method\": \"GET\", \"path\": \"/x\", "
                    "\"url\": \"http://x\"}",
                    "map_request output: unexpected member \"url\"");
    request_refused(&t, a, "[\"GET\", \"/x\"]",
                    "map_request output: not a JSON object");

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
query_refused(test_env *t, const iams_adapter *a, const char *query,
    iams_adapter_status want, const char *message)
{
    iams_adapter_diag              diag;
    iams_adapter_backend_request   req;

    assert_int_equal(iams_adapter_map_request(a, &t->env, query,
                                              strlen(query), &req, &diag),
                     want);
    assert_string_equal(diag.message, message);
}


static void
test_query_checks(void **state)
{
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = echo_load(&t, echo_describe_json);

    /* echo would fail with invalid_input "nothing to echo": these never
     * reach it */
    query_refused(&t, a, "{\"dataset\": \"td.driving_licence\", "
                  "\"subject\": \"s\"}", IAMS_ADAPTER_ERR_UNSUPPORTED,
                  "query: data set \"td.driving_licence\" is not provided "
                  "by adapter \"ech\"");
    query_refused(&t, a, "{\"dataset\": \"ech.test\"}",
                  IAMS_ADAPTER_ERR_INVALID_INPUT,
                  "query: \"subject\" must be 1 to 256 printable "
                  "characters");
    query_refused(&t, a, "{\"dataset\": \"ech.test\", \"subject\": \"a b\"}",
                  IAMS_ADAPTER_ERR_INVALID_INPUT,
                  "query: \"subject\" must be 1 to 256 printable "
                  "characters");
    query_refused(&t, a, "{\"dataset\": \"ech.test\", \"subject\": \"s\", "
                  "\"idNo\": {\"Identification\": \"A12345\", "
                  "\"CheckDigit\": \"3\"}}", IAMS_ADAPTER_ERR_INVALID_INPUT,
                  "query: idNo: not {\"Identification\": one or two letters "
                  "and six digits, \"CheckDigit\": 0-9 or A}");
    query_refused(&t, a, "{\"dataset\": \"ech.test\", \"subject\": \"s\", "
                  "\"lang\": \"fr\"}", IAMS_ADAPTER_ERR_INVALID_INPUT,
                  "query: \"lang\" must be \"en\" or \"zh-HK\"");
    query_refused(&t, a, "{\"dataset\": \"ech.test\", \"subject\": \"s\", "
                  "\"params\": []}", IAMS_ADAPTER_ERR_INVALID_INPUT,
                  "query: \"params\" must be an object");
    query_refused(&t, a, "{\"dataset\": 1}", IAMS_ADAPTER_ERR_INVALID_INPUT,
                  "query: \"dataset\" must be a string");
    query_refused(&t, a, "{\"dataset\": \"ech.test\", \"dataset\": \"x\"}",
                  IAMS_ADAPTER_ERR_INVALID_INPUT,
                  "query: byte 33: duplicate object key");

    /* the adapter's own typed error, with its message */
    query_refused(&t, a, "{\"dataset\": \"ech.test\", \"subject\": \"s\"}",
                  IAMS_ADAPTER_ERR_INVALID_INPUT,
                  "map_request: invalid_input: nothing to echo");

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_output_budget_and_log(void **state)
{
    test_env                       t;
    iams_adapter                  *a;
    iams_adapter_diag              diag;
    iams_adapter_backend_request   req;
    static const char              big[] =
        "{\"dataset\": \"ech.test\", \"subject\": \"s\", "
        "\"params\": {\"big\": true}}";
    static const char              logs[] =
        "{\"dataset\": \"ech.test\", \"subject\": \"s\", \"params\": "
        "{\"log\": true, \"out\": \"{\\\"method\\\": \\\"GET\\\", "
        "\\\"path\\\": \\\"/\\\"}\"}}";

    (void) state;

    test_env_init(&t);
    a = echo_load(&t, echo_describe_json);

    /* one call gets at most IAMS_ADAPTER_OUTPUT_MAX */
    assert_int_equal(iams_adapter_map_request(a, &t.env, big, strlen(big),
                                              &req, &diag),
                     IAMS_ADAPTER_ERR_NOMEM);

    /* adapter log lines are prefixed and cannot forge lines */
    t.log_len = 0;
    t.log[0] = '\0';
    assert_int_equal(iams_adapter_map_request(a, &t.env, logs, strlen(logs),
                                              &req, &diag),
                     IAMS_ADAPTER_OK);
    assert_string_equal(t.log, "3 adapter \"ech\": map_request: line one?"
                        "forged line?[0m\n");

    iams_adapter_unload(a);
    test_env_free(&t);
}


/* ---- map_response ---- */

static const char  query_ech[] =
    "{\"dataset\": \"ech.test\", \"subject\": \"sub-1\"}";

static const char  good_data[] =
    "{\"dataset\": \"ech.test\", \"fields\": {"
    " \"ech.test.value\": {\"value\": \"v1\", \"source\": \"ECH\","
    "  \"last_updated\": \"2025-03-01T02:00:00Z\"},"
    " \"birthDate\": {\"value\": \"19800101\", \"source\": \"ECH\","
    "  \"last_updated\": \"2025-03-01T10:00:00.123+08:00\"},"
    " \"residentialAddress\": {\"value\": {\"FreeFormatAddress\": "
    "  {\"AddressLine1\": \"1 Queen's Road\"}}, \"source\": \"ECH\","
    "  \"last_updated\": \"2025-03-01T02:00:00Z\"}}}";


static void
data_refused(test_env *t, const iams_adapter *a, const char *data,
    const char *message)
{
    iams_adapter_reply  r;

    r = test_reply(200, data);
    assert_string_equal(test_response_fails(t, a, query_ech, &r,
                                            IAMS_ADAPTER_ERR_OUTPUT),
                        message);
}


static char *
data_with(const char *field, const char *key, json_t *value)
{
    char    *text;
    json_t  *d, *f;

    d = test_json(good_data, sizeof(good_data) - 1);
    f = json_object_get(json_object_get(d, "fields"), field);

    if (f == NULL) {
        f = json_object();
        json_object_set_new(json_object_get(d, "fields"), field, f);
    }

    if (value == NULL) {
        json_object_del(f, key);

    } else {
        json_object_set_new(f, key, value);
    }

    text = json_dumps(d, JSON_COMPACT);
    json_decref(d);

    return text;
}


static void
data_refused_with(test_env *t, const iams_adapter *a, const char *field,
    const char *key, json_t *value, const char *message)
{
    char  *text;

    text = data_with(field, key, value);
    data_refused(t, a, text, message);
    free(text);
}


static void
test_response_contract(void **state)
{
    size_t               len;
    const char          *out;
    test_env             t;
    iams_adapter        *a;
    json_t              *d;
    iams_adapter_diag    diag;
    iams_adapter_reply   r;

    (void) state;

    test_env_init(&t);
    a = echo_load(&t, echo_describe_json);

    d = test_response(&t, a, query_ech, 200, good_data);
    assert_string_equal(json_string_value(test_field(d, "ech.test.value",
                            "ECH", "2025-03-01T02:00:00Z")), "v1");
    json_decref(d);

    data_refused_with(&t, a, "ech.test.other", "value", json_string("x"),
                      "map_response output: field ech.test.other is not "
                      "declared by data set ech.test");
    data_refused_with(&t, a, "ech.test.value", "source", json_string("TD"),
                      "map_response output: field ech.test.value: source "
                      "must be \"ECH\"");
    data_refused_with(&t, a, "ech.test.value", "last_updated",
                      json_string("2025-03-01 10:00"),
                      "map_response output: field ech.test.value: "
                      "last_updated is not an RFC 3339 timestamp");
    data_refused_with(&t, a, "ech.test.value", "last_updated",
                      json_string("2025-02-30T10:00:00Z"),
                      "map_response output: field ech.test.value: "
                      "last_updated is not an RFC 3339 timestamp");
    data_refused_with(&t, a, "birthDate", "value", json_string("1980-01-01"),
                      "map_response output: field birthDate: not a YYYYMMDD "
                      "date");
    data_refused_with(&t, a, "ech.test.value", "value", json_null(),
                      "map_response output: field ech.test.value has no "
                      "value (leave out fields the backend does not have)");
    data_refused_with(&t, a, "ech.test.value", "value", json_integer(1),
                      "map_response output: field ech.test.value: not a "
                      "value of type string");
    data_refused_with(&t, a, "ech.test.value", "note", json_string("x"),
                      "map_response output: field ech.test.value: "
                      "unexpected member \"note\"");
    data_refused_with(&t, a, "residentialAddress", "value",
                      json_pack("{s:{s:s}, s:{s:s}}", "FreeFormatAddress",
                                "AddressLine1", "a", "PostBoxAddress",
                                "PoBoxNo", "1"),
                      "map_response output: field residentialAddress: an "
                      "address holds exactly one of EngPremisesAddress, "
                      "ChiPremisesAddress, FreeFormatAddress, "
                      "PostBoxAddress");
    data_refused_with(&t, a, "residentialAddress", "value",
                      json_pack("{s:{s:s}}", "EngPremisesAddress", "Region",
                                "Macau"),
                      "map_response output: field residentialAddress: "
                      "EngPremisesAddress: members must be strings or "
                      "objects of strings, Region one of HK, KLN, NT");

    data_refused(&t, a, "{\"dataset\": \"ech.test\", \"fields\": {"
                 "\"birthDate\": {\"value\": \"19800101\", \"source\": "
                 "\"ECH\", \"last_updated\": \"2025-03-01T02:00:00Z\"}}}",
                 "map_response output: required field ech.test.value is "
                 "missing (an incomplete backend reply is malformed_reply)");
    data_refused(&t, a, "{\"dataset\": \"ech.other\", \"fields\": {}}",
                 "map_response output: \"dataset\" must be \"ech.test\", as "
                 "queried");
    data_refused(&t, a, "{\"dataset\": \"ech.test\", \"fields\": []}",
                 "map_response output: \"fields\" must be an object of at "
                 "most 512 fields");

    /* what the gateway was given is checked too */
    r = test_reply(99, "{}");
    assert_int_equal(iams_adapter_map_response(a, &t.env, query_ech,
                                               strlen(query_ech), &r, &out,
                                               &len, &diag),
                     IAMS_ADAPTER_ERR_INVALID_INPUT);

    r = test_reply(200, "{}");
    r.body_len = IAMS_ADAPTER_REPLY_MAX + 1;
    assert_string_equal(test_response_fails(&t, a, query_ech, &r,
                                            IAMS_ADAPTER_ERR_BAD_REPLY),
                        "reply: body of 1048577 bytes exceeds the limit of "
                        "1048576");

    iams_adapter_unload(a);
    test_env_free(&t);
}


static void
test_slow_call_is_logged(void **state)
{
    test_env             t;
    iams_adapter        *a;
    iams_adapter_spec    spec;
    iams_adapter_diag    diag;
    iams_adapter_reply   r;
    json_t              *d;

    (void) state;

    test_env_init(&t);

    memset(&spec, 0, sizeof(spec));
    spec.name = "ech";
    spec.path = "(linked)";
    spec.config = echo_describe_json;
    spec.config_len = sizeof(echo_describe_json) - 1;
    spec.slow_usec = 1000;

    assert_int_equal(iams_adapter_load_table(&echo_table, &spec, &t.env, &a,
                                             &diag),
                     IAMS_ADAPTER_LOAD_OK);
    assert_int_equal(t.warnings, 0);

    d = test_response(&t, a, query_ech, 200, good_data);
    json_decref(d);
    assert_int_equal(t.warnings, 0);

    r = test_reply(299, good_data);
    assert_string_equal(test_response_fails(&t, a, query_ech, &r,
                                            IAMS_ADAPTER_OK), "");
    assert_int_equal(t.warnings, 1);
    assert_non_null(strstr(t.log, "2 adapter \"ech\": slow map_response: "));
    assert_non_null(strstr(t.log, " ms, over the 1.000 ms threshold\n"));

    iams_adapter_unload(a);
    test_env_free(&t);
}


/* ---- map_form ---- */

static char *
form_input(const char *out, const char *extra_field, json_t *extra_value)
{
    char    *text;
    json_t  *in, *fields;

    in = json_pack("{s:s, s:{s:{s:s, s:s, s:s}}}", "form", "ech.apply",
                   "fields", "ech.test.out", "value", out, "source", "ECH",
                   "last_updated", "2025-03-01T02:00:00Z");
    fields = json_object_get(in, "fields");

    if (extra_field != NULL) {
        json_object_set_new(fields, extra_field,
                            json_pack("{s:o, s:s, s:s}", "value",
                                      extra_value, "source", "iAM Smart",
                                      "last_updated",
                                      "2025-03-01T02:00:00Z"));
    }

    text = json_dumps(in, JSON_COMPACT);
    json_decref(in);

    return text;
}


static void
form_refused(test_env *t, const iams_adapter *a, const char *input,
    iams_adapter_status want, const char *message)
{
    size_t              len;
    const char         *out;
    iams_adapter_diag   diag;

    assert_int_equal(iams_adapter_map_form(a, &t->env, input, strlen(input),
                                           &out, &len, &diag),
                     want);
    assert_string_equal(diag.message, message);
}


static void
test_form_contract(void **state)
{
    char          *in;
    json_t        *f;
    test_env       t;
    iams_adapter  *a;

    (void) state;

    test_env_init(&t);
    a = echo_load(&t, echo_describe_json);

    in = form_input("{\"form\": \"ech.apply\", \"payload\": {\"surname\": "
                    "\"CHAN\"}, \"missing\": [\"tel\"]}", "enName",
                    json_pack("{s:s}", "UnstructuredName", "CHAN, Tai Man"));
    f = test_form(&t, a, in);
    assert_string_equal(test_str(json_object_get(f, "payload"), "surname"),
                        "CHAN");
    json_decref(f);
    free(in);

    in = form_input("{\"form\": \"ech.apply\", \"payload\": {}, \"missing\": "
                    "[\"phone\"]}", NULL, NULL);
    form_refused(&t, a, in, IAMS_ADAPTER_ERR_OUTPUT,
                 "map_form output: \"missing\"[0] is not a field of form "
                 "ech.apply");
    free(in);

    in = form_input("{\"form\": \"ech.other\", \"payload\": {}}", NULL, NULL);
    form_refused(&t, a, in, IAMS_ADAPTER_ERR_OUTPUT,
                 "map_form output: \"form\" must be \"ech.apply\"");
    free(in);

    in = form_input("{\"form\": \"ech.apply\", \"payload\": []}", NULL, NULL);
    form_refused(&t, a, in, IAMS_ADAPTER_ERR_OUTPUT,
                 "map_form output: \"payload\" must be an object");
    free(in);

    /* input the gateway built wrongly never reaches the adapter */
    in = form_input("{}", "birthDate", json_string("1980-01-01"));
    form_refused(&t, a, in, IAMS_ADAPTER_ERR_INVALID_INPUT,
                 "form input: field birthDate: not a YYYYMMDD date");
    free(in);

    in = form_input("{}", "enname", json_string("x"));
    form_refused(&t, a, in, IAMS_ADAPTER_ERR_INVALID_INPUT,
                 "form input: \"enname\" is not a canonical field name");
    free(in);

    form_refused(&t, a, "{\"form\": \"ech.renew\", \"fields\": {}}",
                 IAMS_ADAPTER_ERR_UNSUPPORTED,
                 "form input: form \"ech.renew\" is not filled by adapter "
                 "\"ech\"");

    iams_adapter_unload(a);
    test_env_free(&t);
}


/* ---- bridge ---- */

static void
test_bridge_contract(void **state)
{
    size_t                 n;
    test_env               t;
    iams_adapter          *a, *b;
    iams_adapter_v1        table;
    iams_adapter_diag      diag;
    iams_adapter_header   *h;
    static const char      good[] =
        "{\"department\": \"ECH\", \"subject\": \"sub-1\", \"claims\": "
        "{\"out\": \"{\\\"headers\\\": {\\\"X-Ech-Ref\\\": \\\"sub-1\\\", "
        "\\\"X-Ech-Lang\\\": \\\"en\\\"}}\"}}";
    static const char      host[] =
        "{\"department\": \"ECH\", \"subject\": \"sub-1\", \"claims\": "
        "{\"out\": \"{\\\"headers\\\": {\\\"Host\\\": \\\"evil\\\"}}\"}}";
    static const char      other[] =
        "{\"department\": \"TD\", \"subject\": \"sub-1\"}";

    (void) state;

    test_env_init(&t);
    a = echo_load(&t, echo_describe_json);

    assert_int_equal(iams_adapter_bridge(a, &t.env, good, strlen(good), &h,
                                         &n, &diag),
                     IAMS_ADAPTER_OK);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].name, "X-Ech-Ref");
    assert_string_equal(h[0].value, "sub-1");
    assert_int_equal(h[1].value_len, 2);

    assert_int_equal(iams_adapter_bridge(a, &t.env, host, strlen(host), &h,
                                         &n, &diag),
                     IAMS_ADAPTER_ERR_OUTPUT);
    assert_string_equal(diag.message, "bridge output: header \"Host\" is set "
                        "by the gateway, not by adapters");

    assert_int_equal(iams_adapter_bridge(a, &t.env, other, strlen(other), &h,
                                         &n, &diag),
                     IAMS_ADAPTER_ERR_INVALID_INPUT);

    table = echo_table;
    table.bridge = NULL;
    b = test_load_table(&t, &table, "ech", echo_describe_json);
    assert_false(iams_adapter_has_bridge(b));
    assert_int_equal(iams_adapter_bridge(b, &t.env, good, strlen(good), &h,
                                         &n, &diag),
                     IAMS_ADAPTER_ERR_UNSUPPORTED);
    assert_string_equal(diag.message, "adapter \"ech\" has no bridge hook");

    iams_adapter_unload(a);
    iams_adapter_unload(b);
    test_env_free(&t);
}


/* ---- catalogue ---- */

static const char  other_describe_json[] =
    "{\"department\": {\"code\": \"LCSD\", \"name\": {\"en\": \"Leisure and "
    "Cultural Services Department\", \"zh-HK\": \"康樂及文化事務署\"}},"
    " \"services\": [{\"id\": \"lcsd.smartplay\", \"annex\": 31,"
    "  \"name\": {\"en\": \"SmartPLAY\", \"zh-HK\": \"康體通\"},"
    "  \"themes\": [\"leisure\"],"
    "  \"age_groups\": [\"child\", \"youth\", \"adult\", \"elderly\"]}]}";


static json_t *
catalogue(iams_adapter *const *list, size_t n, const char *theme,
    const char *age)
{
    char               *text;
    size_t              len;
    json_t             *c;
    iams_adapter_diag   diag;

    if (iams_adapter_catalogue(list, n, theme, age, &text, &len, &diag)
        != IAMS_ADAPTER_OK)
    {
        fail_msg("catalogue: %s", diag.message);
    }

    c = test_json(text, len);
    free(text);

    return c;
}


static void
test_catalogue(void **state)
{
    char               *text;
    size_t              len;
    json_t             *c, *g, *s;
    test_env            t;
    iams_adapter       *list[3];
    iams_adapter_diag   diag;

    (void) state;

    test_env_init(&t);
    list[0] = echo_load(&t, echo_describe_json);
    list[1] = echo_load(&t, other_describe_json);
    list[2] = echo_load(&t, echo_describe_json);    /* loaded twice */

    c = catalogue(list, 3, NULL, NULL);

    assert_int_equal(json_array_size(json_object_get(c, "departments")), 2);
    g = json_array_get(json_object_get(c, "departments"), 1);
    assert_string_equal(test_str(g, "code"), "LCSD");
    assert_string_equal(test_str(json_object_get(g, "name"), "zh-HK"),
                        "康樂及文化事務署");

    /* the second copy of ech adds nothing */
    assert_int_equal(json_array_size(json_object_get(c, "services")), 3);
    s = json_array_get(json_object_get(c, "services"), 0);
    assert_string_equal(test_str(s, "id"), "ech.renewal");
    assert_string_equal(test_str(s, "department"), "ECH");
    assert_string_equal(test_str(s, "adapter"), "ech");
    assert_int_equal(json_integer_value(json_object_get(s, "annex")), 7);
    s = json_array_get(json_object_get(c, "services"), 1);
    assert_int_equal(json_array_size(json_object_get(s, "forms")), 0);

    /* groups in vocabulary order, empty ones left out */
    g = json_object_get(c, "themes");
    assert_int_equal(json_array_size(g), 4);
    assert_string_equal(test_str(json_array_get(g, 0), "id"), "civic");
    assert_string_equal(test_str(json_array_get(g, 1), "id"), "leisure");
    assert_string_equal(test_str(json_array_get(g, 2), "id"), "transport");
    assert_string_equal(test_str(json_array_get(g, 3), "id"), "travel");
    assert_string_equal(test_str(json_object_get(json_array_get(g, 2),
                                                 "name"), "zh-HK"), "交通");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_array_get(g, 3), "services"),
                            0)), "ech.renewal");

    g = json_object_get(c, "age_groups");
    assert_int_equal(json_array_size(g), 4);
    assert_string_equal(test_str(json_array_get(g, 0), "id"), "child");
    assert_int_equal(json_array_size(json_object_get(json_array_get(g, 3),
                                                     "services")), 2);
    json_decref(c);

    /* filters */
    c = catalogue(list, 3, "leisure", NULL);
    assert_int_equal(json_array_size(json_object_get(c, "services")), 1);
    assert_int_equal(json_array_size(json_object_get(c, "departments")), 1);
    json_decref(c);

    c = catalogue(list, 3, NULL, "elderly");
    assert_int_equal(json_array_size(json_object_get(c, "services")), 2);
    json_decref(c);

    c = catalogue(list, 3, "civic", "elderly");
    assert_int_equal(json_array_size(json_object_get(c, "services")), 0);
    assert_int_equal(json_array_size(json_object_get(c, "themes")), 0);
    json_decref(c);

    assert_int_equal(iams_adapter_catalogue(list, 3, "sport", NULL, &text,
                                            &len, &diag),
                     IAMS_ADAPTER_ERR_INVALID_INPUT);
    assert_string_equal(diag.message, "unknown theme \"sport\"");
    assert_null(text);

    c = catalogue(list, 0, NULL, NULL);
    assert_int_equal(json_array_size(json_object_get(c, "services")), 0);
    json_decref(c);

    iams_adapter_unload(list[0]);
    iams_adapter_unload(list[1]);
    iams_adapter_unload(list[2]);
    test_env_free(&t);
}


static void
test_status_and_arena(void **state)
{
    iams_adapter_arena  *arena;

    (void) state;

    assert_string_equal(iams_adapter_status_str(IAMS_ADAPTER_ERR_NOT_FOUND),
                        "not_found");
    assert_string_equal(iams_adapter_status_str(IAMS_ADAPTER_ERR_OUTPUT),
                        "adapter_output");
    assert_string_equal(iams_adapter_status_str(IAMS_ADAPTER_STATUS_COUNT),
                        "unknown");
    assert_int_equal(iams_adapter_status_http(IAMS_ADAPTER_ERR_NOT_FOUND),
                     404);
    assert_int_equal(iams_adapter_status_http(IAMS_ADAPTER_ERR_DENIED), 403);
    assert_int_equal(iams_adapter_status_http(IAMS_ADAPTER_ERR_INVALID_INPUT),
                     400);
    assert_int_equal(iams_adapter_status_http(IAMS_ADAPTER_ERR_BACKEND), 502);
    assert_string_equal(iams_adapter_load_status_str(IAMS_ADAPTER_LOAD_ABI),
                        "ABI mismatch");

    arena = iams_adapter_arena_create(100);
    assert_non_null(iams_adapter_arena_alloc(arena, 60));
    assert_null(iams_adapter_arena_alloc(arena, 41));
    assert_non_null(iams_adapter_arena_alloc(arena, 40));
    assert_true(((uintptr_t) iams_adapter_arena_alloc(arena, 0)
                 % _Alignof(max_align_t)) == 0);
    iams_adapter_arena_destroy(arena);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_describe_vocabulary),
        cmocka_unit_test(test_describe_names),
        cmocka_unit_test(test_describe_ids_and_references),
        cmocka_unit_test(test_describe_fields),
        cmocka_unit_test(test_table_checks),
        cmocka_unit_test(test_describe_accessors),
        cmocka_unit_test(test_request_contract),
        cmocka_unit_test(test_query_checks),
        cmocka_unit_test(test_output_budget_and_log),
        cmocka_unit_test(test_response_contract),
        cmocka_unit_test(test_slow_call_is_logged),
        cmocka_unit_test(test_form_contract),
        cmocka_unit_test(test_bridge_contract),
        cmocka_unit_test(test_catalogue),
        cmocka_unit_test(test_status_and_arena),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
