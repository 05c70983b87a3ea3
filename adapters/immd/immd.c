/*
 * Immigration Department adapter: the travel records data set behind the
 * certificate of travel records, and the online birth registration form
 * (the informant's part, filled from e-ME data).
 *
 * ImmD's travel records API (tests/sandbox/departments simulates it):
 *
 *   POST {api_prefix}/search
 *        {"docType": "HKIC", "docNo": "A1234563"}       when consent
 *        {"docType": "ACCOUNT", "docNo": "<subject>"}   releases no HKID
 *        plus "from", "to": "YYYY-MM-DD"                (optional period)
 *   200  {"result": "FOUND", "asAt": "<RFC 3339 with offset>",
 *         "holder": {"nameEn": "CHAN, Tai Man", "nameZh", "dateOfBirth"},
 *         "period": {"from", "to"},
 *         "records": [{"direction": "A"|"D", "date", "controlPoint"}]}
 *   200  {"result": "NOT_MATCHED"}        no such card or linked account
 *   400  {"result": "INVALID_REQUEST"}
 *
 * The query's params may give the period: {"from": "YYYYMMDD", "to":
 * "YYYYMMDD"}.
 *
 * Configuration: {"api_prefix": "/travel-records/v1"}.
 */

#include <stdlib.h>
#include <string.h>

#include <iamsmart/adapter.h>

#include "../sdk/iams_sdk.h"


#define IMMD_SOURCE       "ImmD"
#define IMMD_DATASET      "immd.travel_records"
#define IMMD_FORM         "immd.birth_registration"
#define IMMD_RECORDS_MAX  1000


static const char  immd_describe_json[] =
    "{\"department\": {\"code\": \"ImmD\", \"name\": {"
    "    \"en\": \"Immigration Department\", \"zh-HK\": \"入境事務處\"}},"
    " \"services\": ["
    "   {\"id\": \"immd.travel_records\", \"annex\": 21,"
    "    \"name\": {\"en\": \"Certificate of travel records\","
    "               \"zh-HK\": \"網上申請出入境紀錄證明\"},"
    "    \"themes\": [\"immigration\", \"travel\"],"
    "    \"age_groups\": [\"youth\", \"adult\", \"elderly\"],"
    "    \"datasets\": [\"immd.travel_records\"]},"
    "   {\"id\": \"immd.birth_registration\", \"annex\": 24,"
    "    \"name\": {\"en\": \"Birth registration\","
    "               \"zh-HK\": \"網上辦理出生登記\"},"
    "    \"themes\": [\"family\", \"immigration\"],"
    "    \"age_groups\": [\"adult\"],"
    "    \"forms\": [\"immd.birth_registration\"]}],"
    " \"datasets\": [{\"id\": \"immd.travel_records\","
    "    \"name\": {\"en\": \"Travel records\","
    "               \"zh-HK\": \"出入境紀錄\"},"
    "    \"fields\": ["
    "      {\"name\": \"immd.travel_records.period_from\", \"type\": \"date\","
    "       \"required\": true},"
    "      {\"name\": \"immd.travel_records.period_to\", \"type\": \"date\","
    "       \"required\": true},"
    "      {\"name\": \"immd.travel_records.count\", \"type\": \"integer\","
    "       \"required\": true},"
    "      {\"name\": \"immd.travel_records.movements\", \"type\": \"array\","
    "       \"required\": true, \"description\": \"[{direction: departure|"
    "arrival, date: YYYYMMDD, control_point}] oldest first\"},"
    "      {\"name\": \"enName\", \"type\": \"en_name\"},"
    "      {\"name\": \"chName\", \"type\": \"zh_name\"},"
    "      {\"name\": \"birthDate\", \"type\": \"date\"}]}],"
    " \"forms\": [{\"id\": \"immd.birth_registration\","
    "    \"name\": {\"en\": \"Birth registration: informant\","
    "               \"zh-HK\": \"出生登記：報告人資料\"},"
    "    \"service\": \"immd.birth_registration\","
    "    \"fields\": ["
    "      {\"name\": \"informant.surnameEng\", \"type\": \"string\","
    "       \"required\": true, \"from\": [\"enName\"]},"
    "      {\"name\": \"informant.givenNameEng\", \"type\": \"string\","
    "       \"from\": [\"enName\"]},"
    "      {\"name\": \"informant.nameChi\", \"type\": \"string\","
    "       \"from\": [\"chName\"]},"
    "      {\"name\": \"informant.hkic\", \"type\": \"string\","
    "       \"required\": true, \"from\": [\"idNo\"]},"
    "      {\"name\": \"informant.dateOfBirth\", \"type\": \"string\","
    "       \"from\": [\"birthDate\"]},"
    "      {\"name\": \"informant.sex\", \"type\": \"string\","
    "       \"from\": [\"gender\"]},"
    "      {\"name\": \"informant.maritalStatus\", \"type\": \"string\","
    "       \"from\": [\"maritalStatus\"]},"
    "      {\"name\": \"informant.phone\", \"type\": \"string\","
    "       \"required\": true,"
    "       \"from\": [\"mobileNumber\", \"homeTelNumber\"]},"
    "      {\"name\": \"informant.email\", \"type\": \"string\","
    "       \"from\": [\"emailAddress\"]},"
    "      {\"name\": \"informant.address\", \"type\": \"object\","
    "       \"required\": true, \"from\": [\"residentialAddress\"]}]}]}";


static const char *const  immd_marital[][2] = {
    { "Single",    "S" },
    { "Married",   "M" },
    { "Widowed",   "W" },
    { "Divorced",  "D" },
    { "Separated", "P" },
    { NULL, NULL }
};


static iams_adapter_status
immd_init(iams_adapter_call *call, const char *config, size_t config_len,
    void **state)
{
    return iams_sdk_init_prefix(call, config, config_len,
                                "/travel-records/v1", state);
}


static iams_adapter_status
immd_describe(iams_adapter_call *call)
{
    return iams_adapter_set_output(call, immd_describe_json,
                                   sizeof(immd_describe_json) - 1);
}


/* params.key, a canonical date, as YYYY-MM-DD into out; 1 when absent,
 * 0 when converted, -1 when malformed. */
static int
immd_param_date(const json_t *params, const char *key, char out[11])
{
    json_t      *v;
    const char  *s;

    v = json_object_get(params, key);
    if (v == NULL) {
        return 1;
    }

    s = json_string_value(v);

    return s != NULL && iams_sdk_date_format(s, "YYYY-MM-DD", out, 11) == 0
           ? 0 : -1;
}


static iams_adapter_status
immd_map_request(iams_adapter_call *call, const char *query,
    size_t query_len)
{
    int                   from_rc, to_rc;
    char                  path[128], from[11], to[11];
    json_t               *body;
    const char           *prefix = call->state;
    iams_sdk_query        q;
    iams_adapter_status   rc;

    rc = iams_sdk_query_parse(call, query, query_len, &q);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    from_rc = immd_param_date(q.params, "from", from);
    to_rc = immd_param_date(q.params, "to", to);

    if (from_rc < 0 || to_rc < 0) {
        iams_sdk_query_free(&q);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "params.from and params.to must be "
                                 "YYYYMMDD dates");
    }

    body = json_pack("{s:s, s:s}", "docType", q.hkid[0] ? "HKIC" : "ACCOUNT",
                     "docNo", q.hkid[0] ? q.hkid : q.subject);
    iams_sdk_query_free(&q);

    if (body == NULL
        || (from_rc == 0
            && json_object_set_new(body, "from", json_string(from)) != 0)
        || (to_rc == 0
            && json_object_set_new(body, "to", json_string(to)) != 0))
    {
        json_decref(body);
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    (void) snprintf(path, sizeof(path), "%s/search", prefix);

    return iams_sdk_output(call,
                           json_pack("{s:s, s:s, s:{s:s}, s:o}",
                                     "method", "POST", "path", path,
                                     "headers", "Accept", "application/json",
                                     "body", body));
}


static json_t *
immd_date(const char *s, int *bad)
{
    char  out[9];

    if (s == NULL) {
        return NULL;
    }

    if (iams_sdk_date_parse(s, strlen(s), "YYYY-MM-DD", out) != 0) {
        *bad = 1;
        return NULL;
    }

    return json_string(out);
}


/* ImmD's movements, oldest first, in canonical form. */
static json_t *
immd_movements(const json_t *records, int *bad)
{
    char         date[9];
    size_t       i, k;
    json_t      *out, *r, *m;
    const char  *dir, *when, *cp;

    if (!json_is_array(records)
        || json_array_size(records) > IMMD_RECORDS_MAX)
    {
        *bad = 1;
        return NULL;
    }

    out = json_array();

    json_array_foreach(records, i, r) {
        dir = json_string_value(json_object_get(r, "direction"));
        when = json_string_value(json_object_get(r, "date"));
        cp = json_string_value(json_object_get(r, "controlPoint"));

        for (k = 0; cp != NULL && cp[k] >= 'A' && cp[k] <= 'Z'; k++) {
            /* void */
        }

        if (dir == NULL || (strcmp(dir, "A") != 0 && strcmp(dir, "D") != 0)
            || when == NULL
            || iams_sdk_date_parse(when, strlen(when), "YYYY-MM-DD", date)
            || cp == NULL || k < 2 || k > 6 || cp[k] != '\0'
            || (i > 0
                && strcmp(date, json_string_value(json_object_get(
                                    json_array_get(out, i - 1), "date")))
                   < 0))
        {
            *bad = 1;
            json_decref(out);
            return NULL;
        }

        m = json_pack("{s:s, s:s, s:s}", "direction",
                      dir[0] == 'A' ? "arrival" : "departure", "date", date,
                      "control_point", cp);

        if (m == NULL || json_array_append_new(out, m) != 0) {
            json_decref(out);
            return NULL;
        }
    }

    return out;
}


static iams_adapter_status
immd_map_response(iams_adapter_call *call, const char *query,
    size_t query_len, const iams_adapter_reply *reply)
{
    int                   bad, rc;
    char                  updated[21];
    json_t               *body, *holder, *period, *data, *moves, *fields;
    const char           *s;
    iams_adapter_status   st;

    (void) query;
    (void) query_len;

    if (reply->status == 400) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_BACKEND,
                                 "ImmD refused the search as invalid");
    }

    st = iams_sdk_reply_object(call, reply, &body);
    if (st != IAMS_ADAPTER_OK) {
        return st;
    }

    s = json_string_value(json_object_get(body, "result"));

    if (s == NULL || strcmp(s, "FOUND") != 0) {
        if (s != NULL && strcmp(s, "NOT_MATCHED") == 0) {
            st = iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOT_FOUND,
                                   "ImmD matched no identity card or "
                                   "account");

        } else {
            st = iams_sdk_fail(call, s ? IAMS_ADAPTER_ERR_BACKEND
                                       : IAMS_ADAPTER_ERR_BAD_REPLY,
                               "ImmD answered result \"%.32s\"",
                               s ? s : "?");
        }

        json_decref(body);
        return st;
    }

    s = json_string_value(json_object_get(body, "asAt"));

    if (s == NULL
        || iams_sdk_timestamp(s, strlen(s), NULL, 0, updated) != 0)
    {
        json_decref(body);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                                 "\"asAt\" is missing or not RFC 3339");
    }

    bad = 0;
    holder = json_object_get(body, "holder");
    period = json_object_get(body, "period");
    moves = immd_movements(json_object_get(body, "records"), &bad);

    data = iams_sdk_data_new(IMMD_DATASET);

    rc = iams_sdk_data_set(data, IMMD_DATASET ".period_from",
                           immd_date(json_string_value(
                               json_object_get(period, "from")), &bad),
                           IMMD_SOURCE, updated);
    rc |= iams_sdk_data_set(data, IMMD_DATASET ".period_to",
                            immd_date(json_string_value(
                                json_object_get(period, "to")), &bad),
                            IMMD_SOURCE, updated);
    rc |= iams_sdk_data_set(data, IMMD_DATASET ".count",
                            moves ? json_integer((json_int_t)
                                                 json_array_size(moves))
                                  : NULL,
                            IMMD_SOURCE, updated);
    rc |= iams_sdk_data_set(data, IMMD_DATASET ".movements", moves,
                            IMMD_SOURCE, updated);

    s = json_string_value(json_object_get(holder, "nameEn"));
    rc |= iams_sdk_data_set(data, "enName",
                            s ? iams_sdk_en_name_text(s) : NULL,
                            IMMD_SOURCE, updated);

    s = json_string_value(json_object_get(holder, "nameZh"));
    rc |= iams_sdk_data_set(data, "chName", s ? iams_sdk_zh_name(s) : NULL,
                            IMMD_SOURCE, updated);

    rc |= iams_sdk_data_set(data, "birthDate",
                            immd_date(json_string_value(
                                json_object_get(holder, "dateOfBirth")),
                                &bad),
                            IMMD_SOURCE, updated);

    json_decref(body);

    /* the period is required: a reply without it is incomplete */
    fields = json_object_get(data, "fields");
    bad |= json_object_get(fields, IMMD_DATASET ".period_to") == NULL
           || json_object_get(fields, IMMD_DATASET ".period_from") == NULL;

    return iams_sdk_data_output(call, data, rc,
                                bad ? "records, period or holder are not in "
                                      "ImmD's format" : NULL);
}


static json_t *
immd_marital_code(const char *s)
{
    size_t  i;

    for (i = 0; s != NULL && immd_marital[i][0] != NULL; i++) {
        if (strcmp(immd_marital[i][0], s) == 0) {
            return json_string(immd_marital[i][1]);
        }
    }

    return NULL;
}


/* ImmD's form has three address lines: the rest goes into the third. */
static json_t *
immd_address(const json_t *address)
{
    char     third[512];
    size_t   i;
    json_t  *lines, *out, *v;

    lines = address ? iams_sdk_address_lines(address, "en") : NULL;
    if (lines == NULL) {
        return NULL;
    }

    third[0] = '\0';

    json_array_foreach(lines, i, v) {
        if (i >= 2) {
            (void) snprintf(third + strlen(third),
                            sizeof(third) - strlen(third), "%s%s",
                            i > 2 ? ", " : "", json_string_value(v));
        }
    }

    out = json_pack("{s:O, s:O*, s:s*}",
                    "line1", json_array_get(lines, 0),
                    "line2", json_array_get(lines, 1),
                    "line3", third[0] ? third : NULL);
    json_decref(lines);

    return out;
}


static iams_adapter_status
immd_map_form(iams_adapter_call *call, const char *input, size_t input_len)
{
    static const char *const  phones[] = {
        "mobileNumber", "homeTelNumber", NULL
    };

    int            rc;
    json_t        *in, *form;

    in = iams_sdk_parse_object(input, input_len, IAMS_ADAPTER_QUERY_MAX);
    if (in == NULL) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "form input is not a JSON object");
    }

    form = iams_sdk_form_new(IMMD_FORM);

    rc = iams_sdk_form_en_name(form, "informant.surnameEng",
                               "informant.givenNameEng", in, 1);
    rc |= iams_sdk_form_zh_name(form, "informant.nameChi", in, 0);
    rc |= iams_sdk_form_hkid(form, "informant.hkic", in, 1, 1);
    rc |= iams_sdk_form_date(form, "informant.dateOfBirth", in, "birthDate",
                             "DD-MM-YYYY", 0);
    rc |= iams_sdk_form_copy(form, "informant.sex", in, "gender", 0);
    rc |= iams_sdk_form_set(form, "informant.maritalStatus",
                            immd_marital_code(iams_sdk_input_string(in,
                                                      "maritalStatus")), 0);
    rc |= iams_sdk_form_phone(form, "informant.phone", in, phones, 1);
    rc |= iams_sdk_form_copy(form, "informant.email", in, "emailAddress", 0);
    rc |= iams_sdk_form_set(form, "informant.address",
                            immd_address(iams_sdk_input_value(in,
                                             "residentialAddress")), 1);

    json_decref(in);

    if (rc != 0 || form == NULL) {
        json_decref(form);
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    return iams_sdk_output(call, form);
}


static const iams_adapter_v1  immd_adapter = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "immd",
    .department = "ImmD",
    .version = "1.0.0",
    .init = immd_init,
    .fini = free,                     /* the prefix */
    .describe = immd_describe,
    .map_request = immd_map_request,
    .map_response = immd_map_response,
    .map_form = immd_map_form,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &immd_adapter;
}
