/*
 * The SDK guide's example adapter (docs/adapters.md walks through it): the
 * Food and Environmental Hygiene Department's food business licences.
 *
 * Data set fehd.food_licence, read from the licensing backend:
 *
 *   GET {api_prefix}/licence-holders/{ref}/licences
 *       ref: the holder's HKID ("A1234563") when the citizen's consent
 *       releases it, else the gateway's pairwise subject for FEHD
 *   200 {"holder": {"name": "CHAN Tai Man"},
 *        "licences": [{"licenceNo", "type", "premises": [lines],
 *                      "validUntil": "DD/MM/YYYY", "status"}],
 *        "updatedAt": "YYYY-MM-DD hh:mm:ss"}       (Hong Kong time)
 *   404 when FEHD knows no such holder
 *
 * Form fehd.licence_renewal: the renewal application's applicant section,
 * filled from e-ME data and the licence.
 *
 * Configuration: {"api_prefix": "/api/v1"} (the default).
 */

#include <stdlib.h>
#include <string.h>

#include <iamsmart/adapter.h>

#include "../sdk/iams_sdk.h"


#define FEHD_SOURCE   "FEHD"
#define FEHD_DATASET  "fehd.food_licence"
#define FEHD_FORM     "fehd.licence_renewal"
#define FEHD_HKT      480                  /* minutes east of UTC */


/* Read-only after init. */
typedef struct {
    char  api_prefix[64];
} fehd_state;


static const char  fehd_describe_json[] =
    "{\"department\": {\"code\": \"FEHD\", \"name\": {"
    "    \"en\": \"Food and Environmental Hygiene Department\","
    "    \"zh-HK\": \"食物環境衞生署\"}},"
    " \"services\": [{\"id\": \"fehd.food_licensing\", \"annex\": 15,"
    "    \"name\": {\"en\": \"Licensing services (e.g. food business "
    "licences)\", \"zh-HK\": \"牌照服務（例如食品營業執照）\"},"
    "    \"themes\": [\"business\", \"health\"],"
    "    \"age_groups\": [\"adult\", \"elderly\"],"
    "    \"forms\": [\"fehd.licence_renewal\"],"
    "    \"datasets\": [\"fehd.food_licence\"]}],"
    " \"datasets\": [{\"id\": \"fehd.food_licence\","
    "    \"name\": {\"en\": \"Food business licence\","
    "               \"zh-HK\": \"食物業牌照\"},"
    "    \"fields\": ["
    "      {\"name\": \"fehd.food_licence.licence_number\","
    "       \"type\": \"string\", \"required\": true},"
    "      {\"name\": \"fehd.food_licence.licence_type\","
    "       \"type\": \"string\"},"
    "      {\"name\": \"fehd.food_licence.premises_address\","
    "       \"type\": \"address\"},"
    "      {\"name\": \"fehd.food_licence.expiry_date\", \"type\": \"date\","
    "       \"required\": true},"
    "      {\"name\": \"fehd.food_licence.status\", \"type\": \"string\"},"
    "      {\"name\": \"enName\", \"type\": \"en_name\"}]}],"
    " \"forms\": [{\"id\": \"fehd.licence_renewal\","
    "    \"name\": {\"en\": \"Application for renewal of a food business "
    "licence\", \"zh-HK\": \"食物業牌照續期申請\"},"
    "    \"service\": \"fehd.food_licensing\","
    "    \"fields\": ["
    "      {\"name\": \"licenceNo\", \"type\": \"string\", \"required\": true,"
    "       \"from\": [\"fehd.food_licence.licence_number\"]},"
    "      {\"name\": \"applicantName\", \"type\": \"string\","
    "       \"required\": true, \"from\": [\"enName\"]},"
    "      {\"name\": \"applicantNameChi\", \"type\": \"string\","
    "       \"from\": [\"chName\"]},"
    "      {\"name\": \"contactPhone\", \"type\": \"string\","
    "       \"from\": [\"mobileNumber\", \"officeTelNumber\"]},"
    "      {\"name\": \"email\", \"type\": \"string\","
    "       \"from\": [\"emailAddress\"]},"
    "      {\"name\": \"correspondenceAddress\", \"type\": \"array\","
    "       \"from\": [\"postalAddress\", \"residentialAddress\"]}]}]}";


/* Licence types as FEHD's backend writes them, and canonically. */
static const char *const  fehd_types[][2] = {
    { "RESTAURANT",        "general_restaurant" },
    { "LIGHT_REFRESHMENT", "light_refreshment_restaurant" },
    { "FOOD_FACTORY",      "food_factory" },
    { "FRESH_PROVISION",   "fresh_provision_shop" },
    { NULL, NULL }
};


/* ---- init and fini ---- */

static iams_adapter_status
fehd_init(iams_adapter_call *call, const char *config, size_t config_len,
    void **state)
{
    json_t       *cfg;
    fehd_state   *st;

    cfg = iams_sdk_parse_object(config, config_len, IAMS_ADAPTER_CONFIG_MAX);
    st = calloc(1, sizeof(fehd_state));

    if (cfg == NULL || st == NULL
        || iams_sdk_config_string(cfg, "api_prefix", "/api/v1", 1,
                                  st->api_prefix, sizeof(st->api_prefix)))
    {
        json_decref(cfg);
        free(st);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_CONFIG,
                                 "\"api_prefix\" must be a path of at most "
                                 "63 bytes");
    }

    json_decref(cfg);

    /* the state is the adapter's own; fini frees it */
    *state = st;

    return IAMS_ADAPTER_OK;
}


static void
fehd_fini(void *state)
{
    free(state);
}


static iams_adapter_status
fehd_describe(iams_adapter_call *call)
{
    return iams_adapter_set_output(call, fehd_describe_json,
                                   sizeof(fehd_describe_json) - 1);
}


/* ---- data set: request ---- */

/* The reference goes into a path: allow only what needs no escaping. */
static int
fehd_ref_ok(const char *ref)
{
    size_t  i;

    for (i = 0; ref[i] != '\0'; i++) {
        if (!((ref[i] >= 'A' && ref[i] <= 'Z')
              || (ref[i] >= 'a' && ref[i] <= 'z')
              || (ref[i] >= '0' && ref[i] <= '9') || ref[i] == '-'
              || ref[i] == '_'))
        {
            return 0;
        }
    }

    return i > 0 && i <= 128;
}


static iams_adapter_status
fehd_map_request(iams_adapter_call *call, const char *query, size_t query_len)
{
    char                  path[256];
    const char           *ref;
    fehd_state           *st = call->state;
    iams_sdk_query        q;
    iams_adapter_status   rc;

    rc = iams_sdk_query_parse(call, query, query_len, &q);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    ref = q.hkid[0] != '\0' ? q.hkid : q.subject;

    if (!fehd_ref_ok(ref)) {
        iams_sdk_query_free(&q);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "subject is not base64url");
    }

    (void) snprintf(path, sizeof(path), "%s/licence-holders/%s/licences",
                    st->api_prefix, ref);
    iams_sdk_query_free(&q);

    return iams_sdk_output(call,
                           json_pack("{s:s, s:s, s:{s:s}}", "method", "GET",
                                     "path", path, "headers", "Accept",
                                     "application/json"));
}


/* ---- data set: response ---- */

/* The licence the query asks for (params.licence_number), or the first. */
static json_t *
fehd_pick_licence(const json_t *licences, const iams_sdk_query *q)
{
    size_t       i;
    json_t      *lic;
    const char  *want, *number;

    want = json_string_value(json_object_get(q->params, "licence_number"));

    json_array_foreach(licences, i, lic) {
        number = json_string_value(json_object_get(lic, "licenceNo"));

        if (want == NULL || (number != NULL && strcmp(want, number) == 0)) {
            return lic;
        }
    }

    return NULL;
}


/* The canonical name of FEHD's licence type, or NULL. */
static const char *
fehd_licence_type(const char *type)
{
    size_t  i;

    for (i = 0; type != NULL && fehd_types[i][0] != NULL; i++) {
        if (strcmp(fehd_types[i][0], type) == 0) {
            return fehd_types[i][1];
        }
    }

    return NULL;
}


static iams_adapter_status
fehd_map_response(iams_adapter_call *call, const char *query,
    size_t query_len, const iams_adapter_reply *reply)
{
    int                   rc;
    char                  updated[21], expiry[9];
    json_t               *body, *lic, *data, *lines, *address;
    const char           *s, *number, *type;
    iams_sdk_query        q;
    iams_adapter_status   st;

    st = iams_sdk_query_parse(call, query, query_len, &q);
    if (st != IAMS_ADAPTER_OK) {
        return st;
    }

    st = iams_sdk_reply_object(call, reply, &body);
    if (st != IAMS_ADAPTER_OK) {
        iams_sdk_query_free(&q);
        return st;
    }

    /* every field carries the time FEHD last changed the record */
    s = json_string_value(json_object_get(body, "updatedAt"));
    if (s == NULL
        || iams_sdk_timestamp(s, strlen(s), "YYYY-MM-DD hh:mm:ss", FEHD_HKT,
                              updated) != 0)
    {
        st = iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                               "\"updatedAt\" is missing or not "
                               "YYYY-MM-DD hh:mm:ss");
        goto done;
    }

    if (!json_is_array(json_object_get(body, "licences"))) {
        st = iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                               "\"licences\" is not an array");
        goto done;
    }

    lic = fehd_pick_licence(json_object_get(body, "licences"), &q);
    if (lic == NULL) {
        st = iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOT_FOUND,
                               "the holder has no such licence");
        goto done;
    }

    number = json_string_value(json_object_get(lic, "licenceNo"));
    s = json_string_value(json_object_get(lic, "validUntil"));

    if (number == NULL || s == NULL
        || iams_sdk_date_parse(s, strlen(s), "DD/MM/YYYY", expiry) != 0)
    {
        st = iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                               "licence lacks \"licenceNo\" or a "
                               "DD/MM/YYYY \"validUntil\"");
        goto done;
    }

    type = json_string_value(json_object_get(lic, "type"));
    if (type != NULL && fehd_licence_type(type) == NULL) {
        st = iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                               "unknown licence type");
        goto done;
    }

    lines = json_object_get(lic, "premises");
    address = NULL;

    if (lines != NULL) {
        address = json_array_size(lines) <= 3
                  ? iams_sdk_address_free(
                        json_string_value(json_array_get(lines, 0)),
                        json_string_value(json_array_get(lines, 1)),
                        json_string_value(json_array_get(lines, 2)))
                  : NULL;

        if (address == NULL) {
            st = iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                                   "\"premises\" is not 1 to 3 lines");
            goto done;
        }
    }

    data = iams_sdk_data_new(FEHD_DATASET);

    rc = iams_sdk_data_set(data, FEHD_DATASET ".licence_number",
                           json_string(number), FEHD_SOURCE, updated);
    rc |= iams_sdk_data_set(data, FEHD_DATASET ".licence_type",
                            type ? json_string(fehd_licence_type(type))
                                 : NULL,
                            FEHD_SOURCE, updated);
    rc |= iams_sdk_data_set(data, FEHD_DATASET ".premises_address", address,
                            FEHD_SOURCE, updated);
    rc |= iams_sdk_data_set(data, FEHD_DATASET ".expiry_date",
                            json_string(expiry), FEHD_SOURCE, updated);

    s = json_string_value(json_object_get(lic, "status"));
    rc |= iams_sdk_data_set(data, FEHD_DATASET ".status",
                            s ? json_string(s) : NULL, FEHD_SOURCE, updated);

    s = json_string_value(json_object_get(json_object_get(body, "holder"),
                                          "name"));
    rc |= iams_sdk_data_set(data, "enName", iams_sdk_en_name_text(s),
                            FEHD_SOURCE, updated);

    if (rc != 0 || data == NULL) {
        json_decref(data);
        st = IAMS_ADAPTER_ERR_NOMEM;
        goto done;
    }

    st = iams_sdk_output(call, data);

done:

    json_decref(body);
    iams_sdk_query_free(&q);

    return st;
}


/* ---- form ---- */

static iams_adapter_status
fehd_map_form(iams_adapter_call *call, const char *input, size_t input_len)
{
    int            rc;
    char           surname[128], given[256], name[400], phone[32];
    json_t        *in, *form, *lines;
    const json_t  *v;

    in = iams_sdk_parse_object(input, input_len, IAMS_ADAPTER_QUERY_MAX);
    if (in == NULL) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "form input is not a JSON object");
    }

    form = iams_sdk_form_new(FEHD_FORM);

    v = iams_sdk_input_value(in, FEHD_DATASET ".licence_number");
    rc = iams_sdk_form_set(form, "licenceNo", json_deep_copy(v), 1);

    /* FEHD writes names as "CHAN Tai Man", without the comma */
    v = iams_sdk_input_value(in, "enName");
    if (v != NULL
        && iams_sdk_en_name_split(v, surname, sizeof(surname), given,
                                  sizeof(given)) == 0)
    {
        (void) snprintf(name, sizeof(name), "%s%s%s", surname,
                        given[0] ? " " : "", given);
        rc |= iams_sdk_form_set(form, "applicantName", json_string(name), 1);

    } else {
        rc |= iams_sdk_form_set(form, "applicantName", NULL, 1);
    }

    rc |= iams_sdk_form_zh_name(form, "applicantNameChi", in, 0);

    v = iams_sdk_input_value(in, "mobileNumber");
    if (v == NULL) {
        v = iams_sdk_input_value(in, "officeTelNumber");
    }
    if (v != NULL && iams_sdk_phone_format(v, 0, phone, sizeof(phone)) == 0) {
        rc |= iams_sdk_form_set(form, "contactPhone", json_string(phone), 0);
    }

    rc |= iams_sdk_form_set(form, "email",
                            json_deep_copy(iams_sdk_input_value(in,
                                                          "emailAddress")),
                            0);

    v = iams_sdk_input_value(in, "postalAddress");
    if (v == NULL) {
        v = iams_sdk_input_value(in, "residentialAddress");
    }
    lines = v != NULL ? iams_sdk_address_lines(v, "en") : NULL;
    rc |= iams_sdk_form_set(form, "correspondenceAddress", lines, 0);

    json_decref(in);

    if (rc != 0 || form == NULL) {
        json_decref(form);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOMEM,
                                 "out of memory");
    }

    return iams_sdk_output(call, form);
}


static const iams_adapter_v1  fehd_adapter = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "fehd",
    .department = "FEHD",
    .version = "1.0.0",
    .init = fehd_init,
    .fini = fehd_fini,
    .describe = fehd_describe,
    .map_request = fehd_map_request,
    .map_response = fehd_map_response,
    .map_form = fehd_map_form,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &fehd_adapter;
}
