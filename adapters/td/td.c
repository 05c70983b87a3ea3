/*
 * Transport Department adapter: the driving licence data set, the
 * International Driving Permit (IDP) application form, and a bridge that
 * presents the citizen to TD's e-licence platform by account reference.
 *
 * TD's licensing API (tests/sandbox/departments simulates it):
 *
 *   POST {api_prefix}/licence/enquiry
 *        {"idType": "HKID", "idValue": "A1234563"}      when consent
 *        {"idType": "ACCOUNT", "idValue": "<subject>"}  releases no HKID
 *   200  {"status": "OK", "lastUpdated": "YYYY-MM-DD hh:mm:ss" (HKT),
 *         "data": {"licenceNo", "licenceStatus": VALID|SUSPENDED|EXPIRED|
 *                  DISQUALIFIED, "classes": [...], "issueDate",
 *                  "expiryDate" (DD/MM/YYYY),
 *                  "holder": {"surname", "givenNames", "chineseName",
 *                             "dob" (DD/MM/YYYY), "sex" (M|F)},
 *                  "address": {"flat", "floor", "block", "building",
 *                              "estate", "streetNo", "street", "district",
 *                              "region", "lang": "en"|"zh"}
 *                             or {"lines": [...]}}}
 *   404  {"status": "NOT_FOUND"}            no licence for that person
 *   200  {"status": "<anything else>"}      TD's own failure
 *
 * Configuration: {"api_prefix": "/api/v2", "channel": "iamsmart"}.
 */

#include <stdlib.h>
#include <string.h>

#include <iamsmart/adapter.h>

#include "../sdk/iams_sdk.h"


#define TD_SOURCE    "TD"
#define TD_DATASET   "td.driving_licence"
#define TD_FORM      "td.idp_application"
#define TD_HKT       480


typedef struct {
    char  api_prefix[64];
    char  channel[32];
} td_state;


static const char  td_describe_json[] =
    "{\"department\": {\"code\": \"TD\", \"name\": {"
    "    \"en\": \"Transport Department\", \"zh-HK\": \"運輸署\"}},"
    " \"services\": ["
    "   {\"id\": \"td.idp\", \"annex\": 51,"
    "    \"name\": {\"en\": \"International Driving Permit application\","
    "               \"zh-HK\": \"網上申請「國際駕駛許可證」\"},"
    "    \"themes\": [\"transport\", \"travel\"],"
    "    \"age_groups\": [\"adult\", \"elderly\"],"
    "    \"forms\": [\"td.idp_application\"],"
    "    \"datasets\": [\"td.driving_licence\"]},"
    "   {\"id\": \"td.elicence\", \"annex\": 50,"
    "    \"name\": {\"en\": \"e-licence platform\","
    "               \"zh-HK\": \"電子牌照網上平台\"},"
    "    \"themes\": [\"transport\"],"
    "    \"age_groups\": [\"youth\", \"adult\", \"elderly\"],"
    "    \"datasets\": [\"td.driving_licence\"]}],"
    " \"datasets\": [{\"id\": \"td.driving_licence\","
    "    \"name\": {\"en\": \"Full driving licence\","
    "               \"zh-HK\": \"正式駕駛執照\"},"
    "    \"fields\": ["
    "      {\"name\": \"td.driving_licence.licence_number\","
    "       \"type\": \"string\", \"required\": true},"
    "      {\"name\": \"td.driving_licence.status\", \"type\": \"string\","
    "       \"required\": true,"
    "       \"description\": \"valid, suspended, expired or disqualified\"},"
    "      {\"name\": \"td.driving_licence.classes\", \"type\": \"array\"},"
    "      {\"name\": \"td.driving_licence.issue_date\", \"type\": \"date\"},"
    "      {\"name\": \"td.driving_licence.expiry_date\", \"type\": \"date\","
    "       \"required\": true},"
    "      {\"name\": \"enName\", \"type\": \"en_name\"},"
    "      {\"name\": \"chName\", \"type\": \"zh_name\"},"
    "      {\"name\": \"birthDate\", \"type\": \"date\"},"
    "      {\"name\": \"gender\", \"type\": \"string\"},"
    "      {\"name\": \"residentialAddress\", \"type\": \"address\"}]}],"
    " \"forms\": [{\"id\": \"td.idp_application\","
    "    \"name\": {\"en\": \"Application for an International Driving "
    "Permit\", \"zh-HK\": \"申請國際駕駛許可證\"},"
    "    \"service\": \"td.idp\","
    "    \"fields\": ["
    "      {\"name\": \"surname\", \"type\": \"string\", \"required\": true,"
    "       \"from\": [\"enName\"]},"
    "      {\"name\": \"givenNames\", \"type\": \"string\","
    "       \"from\": [\"enName\"]},"
    "      {\"name\": \"chineseName\", \"type\": \"string\","
    "       \"from\": [\"chName\"]},"
    "      {\"name\": \"hkidNo\", \"type\": \"string\", \"required\": true,"
    "       \"from\": [\"idNo\"]},"
    "      {\"name\": \"dateOfBirth\", \"type\": \"string\","
    "       \"required\": true, \"from\": [\"birthDate\"]},"
    "      {\"name\": \"drivingLicenceNo\", \"type\": \"string\","
    "       \"required\": true,"
    "       \"from\": [\"td.driving_licence.licence_number\"]},"
    "      {\"name\": \"licenceExpiryDate\", \"type\": \"string\","
    "       \"from\": [\"td.driving_licence.expiry_date\"]},"
    "      {\"name\": \"address\", \"type\": \"array\","
    "       \"from\": [\"residentialAddress\"]},"
    "      {\"name\": \"mobileNo\", \"type\": \"string\","
    "       \"from\": [\"mobileNumber\"]},"
    "      {\"name\": \"email\", \"type\": \"string\","
    "       \"from\": [\"emailAddress\"]}]}]}";


static const char *const  td_statuses[][2] = {
    { "VALID",        "valid" },
    { "SUSPENDED",    "suspended" },
    { "EXPIRED",      "expired" },
    { "DISQUALIFIED", "disqualified" },
    { NULL, NULL }
};


static iams_adapter_status
td_init(iams_adapter_call *call, const char *config, size_t config_len,
    void **state)
{
    json_t    *cfg;
    td_state  *st;

    cfg = iams_sdk_parse_object(config, config_len, IAMS_ADAPTER_CONFIG_MAX);
    st = calloc(1, sizeof(td_state));

    if (cfg == NULL || st == NULL
        || iams_sdk_config_string(cfg, "api_prefix", "/api/v2", 1,
                                  st->api_prefix, sizeof(st->api_prefix))
        || iams_sdk_config_string(cfg, "channel", "iamsmart", 0,
                                  st->channel, sizeof(st->channel)))
    {
        json_decref(cfg);
        free(st);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_CONFIG,
                                 "expected {\"api_prefix\": \"/path\" (up to "
                                 "63 bytes), \"channel\": \"name\" (up to 31 "
                                 "bytes)}");
    }

    json_decref(cfg);
    *state = st;

    return IAMS_ADAPTER_OK;
}


static void
td_fini(void *state)
{
    free(state);
}


static iams_adapter_status
td_describe(iams_adapter_call *call)
{
    return iams_adapter_set_output(call, td_describe_json,
                                   sizeof(td_describe_json) - 1);
}


static iams_adapter_status
td_map_request(iams_adapter_call *call, const char *query, size_t query_len)
{
    char                  path[128];
    td_state             *st = call->state;
    json_t               *req;
    iams_sdk_query        q;
    iams_adapter_status   rc;

    rc = iams_sdk_query_parse(call, query, query_len, &q);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    (void) snprintf(path, sizeof(path), "%s/licence/enquiry", st->api_prefix);

    req = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}",
                    "method", "POST", "path", path,
                    "headers", "Accept", "application/json",
                    "X-TD-Channel", st->channel,
                    "body", "idType", q.hkid[0] ? "HKID" : "ACCOUNT",
                    "idValue", q.hkid[0] ? q.hkid : q.subject);

    iams_sdk_query_free(&q);

    return iams_sdk_output(call, req);
}


/* A DD/MM/YYYY member as a canonical date; NULL when absent, and *bad set
 * when present but not a date. */
static json_t *
td_date(const json_t *obj, const char *key, int *bad)
{
    char         out[9];
    json_t      *v;
    const char  *s;

    v = json_object_get(obj, key);
    if (v == NULL) {
        return NULL;
    }

    s = json_string_value(v);

    if (s == NULL || iams_sdk_date_parse(s, strlen(s), "DD/MM/YYYY", out)) {
        *bad = 1;
        return NULL;
    }

    return json_string(out);
}


static json_t *
td_address(const json_t *a, int *bad)
{
    json_t             *lines, *addr;
    const char         *lang;
    iams_sdk_premises   p;

    if (a == NULL) {
        return NULL;
    }

    lines = json_object_get(a, "lines");

    if (lines != NULL) {
        addr = json_array_size(lines) <= 3
               ? iams_sdk_address_free(
                     json_string_value(json_array_get(lines, 0)),
                     json_string_value(json_array_get(lines, 1)),
                     json_string_value(json_array_get(lines, 2)))
               : NULL;

    } else {
        p.unit = json_string_value(json_object_get(a, "flat"));
        p.floor = json_string_value(json_object_get(a, "floor"));
        p.block = json_string_value(json_object_get(a, "block"));
        p.building = json_string_value(json_object_get(a, "building"));
        p.estate = json_string_value(json_object_get(a, "estate"));
        p.street = json_string_value(json_object_get(a, "street"));
        p.building_no = json_string_value(json_object_get(a, "streetNo"));
        p.district = json_string_value(json_object_get(a, "district"));
        p.region = json_string_value(json_object_get(a, "region"));

        lang = json_string_value(json_object_get(a, "lang"));
        addr = iams_sdk_address_premises(&p, lang != NULL
                                             && strcmp(lang, "zh") == 0);
    }

    if (addr == NULL) {
        *bad = 1;
    }

    return addr;
}


static json_t *
td_status(const char *s)
{
    size_t  i;

    for (i = 0; s != NULL && td_statuses[i][0] != NULL; i++) {
        if (strcmp(td_statuses[i][0], s) == 0) {
            return json_string(td_statuses[i][1]);
        }
    }

    return NULL;
}


static iams_adapter_status
td_map_response(iams_adapter_call *call, const char *query,
    size_t query_len, const iams_adapter_reply *reply)
{
    int                   bad, rc;
    char                  updated[21];
    size_t                i;
    json_t               *body, *d, *holder, *data, *classes, *v;
    const char           *s, *number;
    iams_adapter_status   st;

    (void) query;
    (void) query_len;

    if (reply->status == 404) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOT_FOUND,
                                 "TD holds no driving licence for this "
                                 "citizen");
    }

    st = iams_sdk_reply_object(call, reply, &body);
    if (st != IAMS_ADAPTER_OK) {
        return st;
    }

    s = json_string_value(json_object_get(body, "status"));

    if (s == NULL || strcmp(s, "OK") != 0) {
        if (s != NULL && strcmp(s, "NOT_FOUND") == 0) {
            st = iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOT_FOUND,
                                   "TD holds no driving licence for this "
                                   "citizen");

        } else {
            st = iams_sdk_fail(call, s ? IAMS_ADAPTER_ERR_BACKEND
                                       : IAMS_ADAPTER_ERR_BAD_REPLY,
                               "TD answered status \"%.32s\"", s ? s : "?");
        }

        json_decref(body);
        return st;
    }

    s = json_string_value(json_object_get(body, "lastUpdated"));
    d = json_object_get(body, "data");
    holder = json_object_get(d, "holder");
    number = json_string_value(json_object_get(d, "licenceNo"));
    classes = json_object_get(d, "classes");

    if (s == NULL
        || iams_sdk_timestamp(s, strlen(s), "YYYY-MM-DD hh:mm:ss", TD_HKT,
                              updated) != 0
        || !json_is_object(d) || number == NULL
        || (classes != NULL && !json_is_array(classes))
        || (holder != NULL && !json_is_object(holder)))
    {
        json_decref(body);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                                 "reply lacks lastUpdated, data or "
                                 "data.licenceNo, or has them in the wrong "
                                 "format");
    }

    json_array_foreach(classes, i, v) {
        if (!json_is_string(v)) {
            json_decref(body);
            return iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                                     "a licence class is not a string");
        }
    }

    bad = 0;
    data = iams_sdk_data_new(TD_DATASET);

    rc = iams_sdk_data_set(data, TD_DATASET ".licence_number",
                           json_string(number), TD_SOURCE, updated);

    v = td_status(json_string_value(json_object_get(d, "licenceStatus")));
    bad |= v == NULL;
    rc |= iams_sdk_data_set(data, TD_DATASET ".status", v, TD_SOURCE,
                            updated);

    rc |= iams_sdk_data_set(data, TD_DATASET ".classes",
                            json_deep_copy(classes), TD_SOURCE, updated);
    rc |= iams_sdk_data_set(data, TD_DATASET ".issue_date",
                            td_date(d, "issueDate", &bad), TD_SOURCE,
                            updated);

    v = td_date(d, "expiryDate", &bad);
    bad |= v == NULL;
    rc |= iams_sdk_data_set(data, TD_DATASET ".expiry_date", v, TD_SOURCE,
                            updated);

    s = json_string_value(json_object_get(holder, "surname"));
    if (s != NULL) {
        rc |= iams_sdk_data_set(data, "enName",
                   iams_sdk_en_name(s, json_string_value(
                                           json_object_get(holder,
                                                           "givenNames"))),
                   TD_SOURCE, updated);
    }

    s = json_string_value(json_object_get(holder, "chineseName"));
    rc |= iams_sdk_data_set(data, "chName", s ? iams_sdk_zh_name(s) : NULL,
                            TD_SOURCE, updated);

    rc |= iams_sdk_data_set(data, "birthDate", td_date(holder, "dob", &bad),
                            TD_SOURCE, updated);

    s = json_string_value(json_object_get(holder, "sex"));
    if (s != NULL && strcmp(s, "M") != 0 && strcmp(s, "F") != 0) {
        bad = 1;
    }
    rc |= iams_sdk_data_set(data, "gender", s ? json_string(s) : NULL,
                            TD_SOURCE, updated);

    rc |= iams_sdk_data_set(data, "residentialAddress",
                            td_address(json_object_get(d, "address"), &bad),
                            TD_SOURCE, updated);

    json_decref(body);

    return iams_sdk_data_output(call, data, rc,
                                bad ? "licence status, a date, the holder's "
                                      "sex or the address is not in TD's "
                                      "format" : NULL);
}


static iams_adapter_status
td_map_form(iams_adapter_call *call, const char *input, size_t input_len)
{
    static const char *const  mobile[] = { "mobileNumber", NULL };

    int            rc;
    json_t        *in, *form;
    const json_t  *v;

    in = iams_sdk_parse_object(input, input_len, IAMS_ADAPTER_QUERY_MAX);
    if (in == NULL) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "form input is not a JSON object");
    }

    form = iams_sdk_form_new(TD_FORM);

    rc = iams_sdk_form_en_name(form, "surname", "givenNames", in, 1);
    rc |= iams_sdk_form_zh_name(form, "chineseName", in, 0);
    rc |= iams_sdk_form_hkid(form, "hkidNo", in, 1, 1);
    rc |= iams_sdk_form_date(form, "dateOfBirth", in, "birthDate",
                             "DD/MM/YYYY", 1);
    rc |= iams_sdk_form_copy(form, "drivingLicenceNo", in,
                             TD_DATASET ".licence_number", 1);
    rc |= iams_sdk_form_date(form, "licenceExpiryDate", in,
                             TD_DATASET ".expiry_date", "DD/MM/YYYY", 0);

    v = iams_sdk_input_value(in, "residentialAddress");
    rc |= iams_sdk_form_set(form, "address",
                            v ? iams_sdk_address_lines(v, "en") : NULL, 0);

    rc |= iams_sdk_form_phone(form, "mobileNo", in, mobile, 0);
    rc |= iams_sdk_form_copy(form, "email", in, "emailAddress", 0);

    json_decref(in);

    if (rc != 0 || form == NULL) {
        json_decref(form);
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    return iams_sdk_output(call, form);
}


static iams_adapter_status
td_bridge(iams_adapter_call *call, const char *identity, size_t len)
{
    json_t               *id;
    td_state             *st = call->state;
    const char           *subject;
    iams_adapter_status   rc;

    id = iams_sdk_parse_object(identity, len, IAMS_ADAPTER_QUERY_MAX);
    subject = json_string_value(json_object_get(id, "subject"));

    if (subject == NULL) {
        json_decref(id);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "identity has no subject");
    }

    rc = iams_sdk_output(call, json_pack("{s:{s:s, s:s}}", "headers",
                                         "X-TD-Account-Ref", subject,
                                         "X-TD-Channel", st->channel));
    json_decref(id);

    return rc;
}


static const iams_adapter_v1  td_adapter = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "td",
    .department = "TD",
    .version = "1.0.0",
    .init = td_init,
    .fini = td_fini,
    .describe = td_describe,
    .map_request = td_map_request,
    .map_response = td_map_response,
    .map_form = td_map_form,
    .bridge = td_bridge,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &td_adapter;
}
