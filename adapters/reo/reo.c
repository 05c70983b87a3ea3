/*
 * Registration and Electoral Office adapter: the voter particulars data set
 * (online voter information enquiry) and the voter registration / change
 * of particulars form.
 *
 * REO's enquiry API (tests/sandbox/departments simulates it):
 *
 *   POST {api_prefix}/voter-enquiry
 *        {"hkid": "A1234563"}         when consent releases the HKID
 *        {"linkRef": "<subject>"}     otherwise
 *   200  {"registered": true, "asAt": "YYYYMMDDThhmmss" (HKT),
 *         "voter": {"nameEng": "CHAN TAI MAN", "nameChi", "sex",
 *                   "address": [up to 3 lines],
 *                   "gc": {"code", "nameEng", "nameChi"},
 *                   "dcca": {"code", "nameEng", "nameChi"}},
 *         "register": {"year": 2024, "status": "FINAL"|"PROVISIONAL"}}
 *   200  {"registered": false, "asAt": ...}   not a registered voter
 *   404  {"error": "UNKNOWN_REFERENCE"}       no such linked account
 *
 * "Not registered" is an answer, not an error: the data set says so in
 * reo.voter_particulars.registered, and a registration form can follow.
 *
 * Configuration: {"api_prefix": "/api/v1"}.
 */

#include <stdlib.h>
#include <string.h>

#include <iamsmart/adapter.h>

#include "../sdk/iams_sdk.h"


#define REO_SOURCE    "REO"
#define REO_DATASET   "reo.voter_particulars"
#define REO_FORM      "reo.voter_registration"
#define REO_HKT       480


static const char  reo_describe_json[] =
    "{\"department\": {\"code\": \"REO\", \"name\": {"
    "    \"en\": \"Registration and Electoral Office\","
    "    \"zh-HK\": \"選舉事務處\"}},"
    " \"services\": ["
    "   {\"id\": \"reo.voter_enquiry\", \"annex\": 43,"
    "    \"name\": {\"en\": \"Online voter information enquiry\","
    "               \"zh-HK\": \"選民資料網上查閱系統\"},"
    "    \"themes\": [\"civic\"],"
    "    \"age_groups\": [\"youth\", \"adult\", \"elderly\"],"
    "    \"datasets\": [\"reo.voter_particulars\"]},"
    "   {\"id\": \"reo.voter_registration\", \"annex\": 44,"
    "    \"name\": {\"en\": \"Voter registration and change of "
    "particulars\", \"zh-HK\": \"選民登記、更改登記資料\"},"
    "    \"themes\": [\"civic\"],"
    "    \"age_groups\": [\"youth\", \"adult\", \"elderly\"],"
    "    \"forms\": [\"reo.voter_registration\"],"
    "    \"datasets\": [\"reo.voter_particulars\"]}],"
    " \"datasets\": [{\"id\": \"reo.voter_particulars\","
    "    \"name\": {\"en\": \"Voter particulars\","
    "               \"zh-HK\": \"選民資料\"},"
    "    \"fields\": ["
    "      {\"name\": \"reo.voter_particulars.registered\","
    "       \"type\": \"boolean\", \"required\": true},"
    "      {\"name\": \"reo.voter_particulars.constituency\","
    "       \"type\": \"object\","
    "       \"description\": \"geographical constituency {code, en, zh-HK}\"},"
    "      {\"name\": \"reo.voter_particulars.district_constituency\","
    "       \"type\": \"object\","
    "       \"description\": \"District Council constituency area {code, en,"
    " zh-HK}\"},"
    "      {\"name\": \"reo.voter_particulars.register_year\","
    "       \"type\": \"integer\"},"
    "      {\"name\": \"reo.voter_particulars.register_status\","
    "       \"type\": \"string\", \"description\": \"final or provisional\"},"
    "      {\"name\": \"reo.voter_particulars.registered_address\","
    "       \"type\": \"address\"},"
    "      {\"name\": \"enName\", \"type\": \"en_name\"},"
    "      {\"name\": \"chName\", \"type\": \"zh_name\"},"
    "      {\"name\": \"gender\", \"type\": \"string\"}]}],"
    " \"forms\": [{\"id\": \"reo.voter_registration\","
    "    \"name\": {\"en\": \"Voter registration / change of particulars\","
    "               \"zh-HK\": \"選民登記／更改登記資料\"},"
    "    \"service\": \"reo.voter_registration\","
    "    \"fields\": ["
    "      {\"name\": \"hkidNo\", \"type\": \"string\", \"required\": true,"
    "       \"from\": [\"idNo\"]},"
    "      {\"name\": \"surnameEng\", \"type\": \"string\","
    "       \"required\": true, \"from\": [\"enName\"]},"
    "      {\"name\": \"otherNamesEng\", \"type\": \"string\","
    "       \"from\": [\"enName\"]},"
    "      {\"name\": \"nameChi\", \"type\": \"string\","
    "       \"from\": [\"chName\"]},"
    "      {\"name\": \"sex\", \"type\": \"string\", \"required\": true,"
    "       \"from\": [\"gender\"]},"
    "      {\"name\": \"dateOfBirth\", \"type\": \"string\","
    "       \"required\": true, \"from\": [\"birthDate\"]},"
    "      {\"name\": \"residentialAddress\", \"type\": \"object\","
    "       \"required\": true, \"from\": [\"residentialAddress\"]},"
    "      {\"name\": \"correspondenceAddress\", \"type\": \"array\","
    "       \"from\": [\"postalAddress\"]},"
    "      {\"name\": \"mobile\", \"type\": \"string\","
    "       \"from\": [\"mobileNumber\"]},"
    "      {\"name\": \"homeTel\", \"type\": \"string\","
    "       \"from\": [\"homeTelNumber\"]},"
    "      {\"name\": \"officeTel\", \"type\": \"string\","
    "       \"from\": [\"officeTelNumber\"]},"
    "      {\"name\": \"email\", \"type\": \"string\","
    "       \"from\": [\"emailAddress\"]},"
    "      {\"name\": \"languagePreference\", \"type\": \"string\"}]}]}";


static iams_adapter_status
reo_init(iams_adapter_call *call, const char *config, size_t config_len,
    void **state)
{
    return iams_sdk_init_prefix(call, config, config_len,
                                "/api/v1", state);
}


static iams_adapter_status
reo_describe(iams_adapter_call *call)
{
    return iams_adapter_set_output(call, reo_describe_json,
                                   sizeof(reo_describe_json) - 1);
}


static iams_adapter_status
reo_map_request(iams_adapter_call *call, const char *query, size_t query_len)
{
    char                  path[128];
    const char           *prefix = call->state;
    json_t               *req;
    iams_sdk_query        q;
    iams_adapter_status   rc;

    rc = iams_sdk_query_parse(call, query, query_len, &q);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    (void) snprintf(path, sizeof(path), "%s/voter-enquiry", prefix);

    req = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}",
                    "method", "POST", "path", path,
                    "headers", "Accept", "application/json",
                    "body", q.hkid[0] ? "hkid" : "linkRef",
                    q.hkid[0] ? q.hkid : q.subject);

    iams_sdk_query_free(&q);

    return iams_sdk_output(call, req);
}


/* {"code", "nameEng", "nameChi"} -> {"code", "en", "zh-HK"}; *bad when the
 * object is present but incomplete. */
static json_t *
reo_area(const json_t *a, int *bad)
{
    const char  *code, *en, *zh;

    if (a == NULL) {
        return NULL;
    }

    code = json_string_value(json_object_get(a, "code"));
    en = json_string_value(json_object_get(a, "nameEng"));
    zh = json_string_value(json_object_get(a, "nameChi"));

    if (code == NULL || en == NULL || zh == NULL) {
        *bad = 1;
        return NULL;
    }

    return json_pack("{s:s, s:s, s:s}", "code", code, "en", en, "zh-HK", zh);
}


static iams_adapter_status
reo_map_response(iams_adapter_call *call, const char *query,
    size_t query_len, const iams_adapter_reply *reply)
{
    int                   bad, rc;
    char                  updated[21];
    json_t               *body, *voter, *reg, *lines, *data, *v;
    const char           *s;
    iams_adapter_status   st;

    (void) query;
    (void) query_len;

    if (reply->status == 404) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOT_FOUND,
                                 "REO knows no such linked account");
    }

    st = iams_sdk_reply_object(call, reply, &body);
    if (st != IAMS_ADAPTER_OK) {
        return st;
    }

    s = json_string_value(json_object_get(body, "asAt"));
    v = json_object_get(body, "registered");

    if (s == NULL
        || iams_sdk_timestamp(s, strlen(s), "YYYYMMDDThhmmss", REO_HKT,
                              updated) != 0
        || !json_is_boolean(v))
    {
        json_decref(body);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                                 "reply lacks a YYYYMMDDThhmmss \"asAt\" or "
                                 "a boolean \"registered\"");
    }

    data = iams_sdk_data_new(REO_DATASET);
    rc = iams_sdk_data_set(data, REO_DATASET ".registered", json_copy(v),
                           REO_SOURCE, updated);

    bad = 0;
    voter = json_object_get(body, "voter");
    reg = json_object_get(body, "register");

    if (json_is_true(v)) {
        if (!json_is_object(voter)) {
            bad = 1;
        }

        rc |= iams_sdk_data_set(data, REO_DATASET ".constituency",
                                reo_area(json_object_get(voter, "gc"), &bad),
                                REO_SOURCE, updated);
        rc |= iams_sdk_data_set(data, REO_DATASET ".district_constituency",
                                reo_area(json_object_get(voter, "dcca"),
                                         &bad),
                                REO_SOURCE, updated);

        v = json_object_get(reg, "year");
        if (v != NULL && !json_is_integer(v)) {
            bad = 1;
        }
        rc |= iams_sdk_data_set(data, REO_DATASET ".register_year",
                                json_is_integer(v) ? json_copy(v) : NULL,
                                REO_SOURCE, updated);

        s = json_string_value(json_object_get(reg, "status"));
        if (s != NULL && strcmp(s, "FINAL") != 0
            && strcmp(s, "PROVISIONAL") != 0)
        {
            bad = 1;
        }
        rc |= iams_sdk_data_set(data, REO_DATASET ".register_status",
                                s ? json_string(s[0] == 'F' ? "final"
                                                            : "provisional")
                                  : NULL,
                                REO_SOURCE, updated);

        lines = json_object_get(voter, "address");
        if (lines != NULL) {
            v = json_array_size(lines) <= 3
                ? iams_sdk_address_free(
                      json_string_value(json_array_get(lines, 0)),
                      json_string_value(json_array_get(lines, 1)),
                      json_string_value(json_array_get(lines, 2)))
                : NULL;
            bad |= v == NULL;
            rc |= iams_sdk_data_set(data, REO_DATASET ".registered_address",
                                    v, REO_SOURCE, updated);
        }

        s = json_string_value(json_object_get(voter, "nameEng"));
        rc |= iams_sdk_data_set(data, "enName",
                                s ? iams_sdk_en_name_text(s) : NULL,
                                REO_SOURCE, updated);

        s = json_string_value(json_object_get(voter, "nameChi"));
        rc |= iams_sdk_data_set(data, "chName",
                                s ? iams_sdk_zh_name(s) : NULL, REO_SOURCE,
                                updated);

        s = json_string_value(json_object_get(voter, "sex"));
        if (s != NULL && strcmp(s, "M") != 0 && strcmp(s, "F") != 0) {
            bad = 1;
        }
        rc |= iams_sdk_data_set(data, "gender", s ? json_string(s) : NULL,
                                REO_SOURCE, updated);
    }

    json_decref(body);

    return iams_sdk_data_output(call, data, rc, bad ? "voter particulars "
                                "are not in REO's format" : NULL);
}


/* The form's structured residential address, from a premises address in
 * either language; free-format addresses go in as lines.  Post boxes are
 * not residences. */
static json_t *
reo_residence(const json_t *address)
{
    size_t        i;
    json_t       *out, *a;
    const char   *s;
    int           zh;

    static const char *const  map[][3] = {
        { "flat",     "/Eng3dAddress/EngUnit/UnitNo",
                      "/Chi3dAddress/ChiUnit/UnitNo" },
        { "floor",    "/Eng3dAddress/EngFloor/Floor",
                      "/Chi3dAddress/ChiFloor/Floor" },
        { "block",    "/EngBlock/BlockNo", "/ChiBlock/BlockNo" },
        { "building", "/BuildingName", "/BuildingName" },
        { "estate",   "/EngEstate/EstateName", "/ChiEstate/EstateName" },
        { "streetNo", "/EngStreet/BuildingNoFrom",
                      "/ChiStreet/BuildingNoFrom" },
        { "street",   "/EngStreet/StreetName", "/ChiStreet/StreetName" },
        { "district", "/EngDistrict/DcDistrict",
                      "/ChiDistrict/DcDistrict" },
        { "region",   "/Region", "/Region" },
    };

    if (address == NULL) {
        return NULL;
    }

    a = json_object_get(address, "FreeFormatAddress");
    if (a != NULL) {
        out = iams_sdk_address_lines(address, "en");
        return out ? json_pack("{s:o}", "lines", out) : NULL;
    }

    a = json_object_get(address, "EngPremisesAddress");
    zh = a == NULL;

    if (zh) {
        a = json_object_get(address, "ChiPremisesAddress");
        if (a == NULL) {
            return NULL;
        }
    }

    out = json_pack("{s:s}", "language", zh ? "C" : "E");

    for (i = 0; out != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        s = iams_sdk_pointer_string(a, map[i][zh ? 2 : 1]);

        if (s != NULL && json_object_set_new(out, map[i][0], json_string(s))) {
            json_decref(out);
            return NULL;
        }
    }

    return out;
}


static iams_adapter_status
reo_map_form(iams_adapter_call *call, const char *input, size_t input_len)
{
    static const char *const  mobile[] = { "mobileNumber", NULL };
    static const char *const  home[] = { "homeTelNumber", NULL };
    static const char *const  office[] = { "officeTelNumber", NULL };

    int            rc;
    json_t        *in, *form;
    const char    *lang;
    const json_t  *v;

    in = iams_sdk_parse_object(input, input_len, IAMS_ADAPTER_QUERY_MAX);
    if (in == NULL) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "form input is not a JSON object");
    }

    form = iams_sdk_form_new(REO_FORM);

    rc = iams_sdk_form_hkid(form, "hkidNo", in, 1, 1);
    rc |= iams_sdk_form_en_name(form, "surnameEng", "otherNamesEng", in, 1);
    rc |= iams_sdk_form_zh_name(form, "nameChi", in, 0);
    rc |= iams_sdk_form_copy(form, "sex", in, "gender", 1);
    rc |= iams_sdk_form_date(form, "dateOfBirth", in, "birthDate",
                             "DD/MM/YYYY", 1);
    rc |= iams_sdk_form_set(form, "residentialAddress",
                            reo_residence(iams_sdk_input_value(in,
                                              "residentialAddress")), 1);

    v = iams_sdk_input_value(in, "postalAddress");
    rc |= iams_sdk_form_set(form, "correspondenceAddress",
                            v ? iams_sdk_address_lines(v, "en") : NULL, 0);

    rc |= iams_sdk_form_phone(form, "mobile", in, mobile, 0);
    rc |= iams_sdk_form_phone(form, "homeTel", in, home, 0);
    rc |= iams_sdk_form_phone(form, "officeTel", in, office, 0);
    rc |= iams_sdk_form_copy(form, "email", in, "emailAddress", 0);

    lang = json_string_value(json_object_get(in, "lang"));
    rc |= iams_sdk_form_set(form, "languagePreference",
                            json_string(lang && strcmp(lang, "zh-HK") == 0
                                        ? "C" : "E"), 0);

    json_decref(in);

    if (rc != 0 || form == NULL) {
        json_decref(form);
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    return iams_sdk_output(call, form);
}


static const iams_adapter_v1  reo_adapter = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "reo",
    .department = "REO",
    .version = "1.0.0",
    .init = reo_init,
    .fini = free,                     /* the prefix */
    .describe = reo_describe,
    .map_request = reo_map_request,
    .map_response = reo_map_response,
    .map_form = reo_map_form,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &reo_adapter;
}
