/*
 * jsonmap: a generic adapter driven by a JSON mapping file, so that a
 * department whose backend speaks plain JSON writes no C.  The mapping is
 * the adapter's configuration (`iamsmart_adapter rvd jsonmap.so
 * config=rvd.json;`); docs/adapters.md ("jsonmap") is its reference and
 * adapters/rvd/rvd.json and adapters/lcsd/lcsd.json are worked examples.
 *
 * A mapping holds the department and its services (passed to describe as
 * they are), data sets with a request template and a response mapping, and
 * forms with one rule per payload field:
 *
 *   request    method, path, headers and body templates; "{subject}",
 *              "{hkid}", "{hkid_brackets}", "{lang}", "{dataset}" and
 *              "{param.NAME}" are replaced (percent-encoded in the path).  A
 *              header or body member that is exactly one absent variable is
 *              left out; any other use of an absent variable refuses the
 *              query.
 *   response   HTTP statuses and backend error codes to typed errors, the
 *              record's root, the last-updated timestamp (every field
 *              carries it), and the fields: a JSON pointer, a type, and
 *              conversions (date patterns, value maps, English names from
 *              parts, the common address schema from lines or parts, phone
 *              numbers, HKIDs).
 *   forms      each payload field from a constant, the form's language, or
 *              the first present of several canonical fields, then a
 *              pointer into it, a transform (name parts, phone and HKID
 *              formats, address lines or text, district), a date pattern
 *              and a value map.
 *
 * init checks the whole mapping and names the position of any mistake
 * ("datasets[0].response.fields[2].date: ..."), so `nginx -t` catches it.
 * The mapping is read-only afterwards.
 */

#include <stdlib.h>
#include <string.h>

#include <iamsmart/adapter.h>

#include "../sdk/iams_sdk.h"


#define JSONMAP_VAR_MAX     64
#define JSONMAP_TEXT_MAX    4096


typedef struct {
    json_t  *map;             /* the mapping, read-only after init */
    char    *describe;        /* derived describe output */
} jsonmap_state;


/* ---- checking the mapping ---- */

typedef struct {
    char    where[160];
    char    why[IAMS_ADAPTER_MESSAGE_MAX];
} jsonmap_check;


static int jsonmap_bad(jsonmap_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static int
jsonmap_bad(jsonmap_check *c, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    n = snprintf(c->why, sizeof(c->why), "%s: ", c->where);

    va_start(ap, fmt);
    (void) vsnprintf(c->why + n, sizeof(c->why) - n, fmt, ap);
    va_end(ap);

    return -1;
}


static int
jsonmap_members(jsonmap_check *c, const json_t *obj,
    const char *const *keys)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    if (!json_is_object(obj)) {
        return jsonmap_bad(c, "not an object");
    }

    json_object_foreach((json_t *) obj, key, v) {
        for (i = 0; keys[i] != NULL; i++) {
            if (strcmp(keys[i], key) == 0) {
                break;
            }
        }

        if (keys[i] == NULL) {
            return jsonmap_bad(c, "unknown member \"%.32s\"", key);
        }
    }

    return 0;
}


static int
jsonmap_one_of(const char *s, const char *const *list)
{
    size_t  i;

    for (i = 0; s != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


static const char *const  jsonmap_types[] = {
    "string", "date", "datetime", "integer", "number", "boolean", "flag",
    "hkid", "en_name", "zh_name", "phone", "address", "object", "array",
    NULL
};

static const char *const  jsonmap_form_types[] = {
    "string", "integer", "number", "boolean", "object", "array", NULL
};

static const char *const  jsonmap_outcomes[] = {
    "not_found", "denied", "backend_error", "malformed_reply",
    "invalid_input", NULL
};

static const char *const  jsonmap_transforms[] = {
    "en_full", "en_unstructured", "en_surname", "en_given", "zh_full",
    "zh_surname", "zh_given", "phone_local", "phone_e164", "phone_auto",
    "hkid", "hkid_plain", "address_lines", "address_text", "district_code",
    "district_name", "flag_bool", "upper", NULL
};

static const char *const  jsonmap_premises_parts[] = {
    "unit", "floor", "block", "building", "estate", "street", "building_no",
    "district", "region", NULL
};


static iams_adapter_status
jsonmap_outcome(const char *s)
{
    if (strcmp(s, "not_found") == 0) {
        return IAMS_ADAPTER_ERR_NOT_FOUND;
    }
    if (strcmp(s, "denied") == 0) {
        return IAMS_ADAPTER_ERR_DENIED;
    }
    if (strcmp(s, "malformed_reply") == 0) {
        return IAMS_ADAPTER_ERR_BAD_REPLY;
    }
    if (strcmp(s, "invalid_input") == 0) {
        return IAMS_ADAPTER_ERR_INVALID_INPUT;
    }

    return IAMS_ADAPTER_ERR_BACKEND;
}


static int
jsonmap_pointer_ok(const json_t *v)
{
    const char  *s;

    s = json_string_value(v);

    return s != NULL && (s[0] == '\0' || s[0] == '/');
}


/* A date pattern: the tokens YYYY, MM and DD each once. */
static int
jsonmap_pattern_ok(const json_t *v, int with_time)
{
    char         out[9], sample[64];
    const char  *s;

    s = json_string_value(v);

    if (s == NULL || strlen(s) > 32 || strstr(s, "YYYY") == NULL
        || strstr(s, "MM") == NULL || strstr(s, "DD") == NULL
        || (!with_time && (strstr(s, "hh") || strstr(s, "ss"))))
    {
        return 0;
    }

    /* it must read what it writes */
    return iams_sdk_date_format("20240229", s, sample, sizeof(sample)) == 0
           && iams_sdk_date_parse(sample, strlen(sample), s, out) == 0
           && strcmp(out, "20240229") == 0;
}


/* Template variables: {name}, name one of the known ones. */
static int
jsonmap_template_ok(jsonmap_check *c, const char *s)
{
    const char  *open, *close;
    size_t       n;

    for (open = strchr(s, '{'); open != NULL; open = strchr(close, '{')) {
        close = strchr(open, '}');

        if (close == NULL) {
            return jsonmap_bad(c, "unclosed \"{\"");
        }

        n = (size_t) (close - open - 1);

        if (!((n == 7 && strncmp(open + 1, "subject", 7) == 0)
              || (n == 4 && strncmp(open + 1, "hkid", 4) == 0)
              || (n == 13 && strncmp(open + 1, "hkid_brackets", 13) == 0)
              || (n == 4 && strncmp(open + 1, "lang", 4) == 0)
              || (n == 7 && strncmp(open + 1, "dataset", 7) == 0)
              || (n > 6 && n < JSONMAP_VAR_MAX
                  && strncmp(open + 1, "param.", 6) == 0)))
        {
            return jsonmap_bad(c, "unknown variable \"%.*s\" (known: "
                               "subject hkid hkid_brackets lang dataset "
                               "param.NAME)", (int) (n > 32 ? 32 : n),
                               open + 1);
        }
    }

    return 0;
}


static int
jsonmap_template_tree_ok(jsonmap_check *c, const json_t *v)
{
    size_t       i;
    json_t      *m;
    const char  *key;

    if (json_is_string(v)) {
        return jsonmap_template_ok(c, json_string_value(v));
    }

    if (json_is_array(v)) {
        json_array_foreach((json_t *) v, i, m) {
            if (jsonmap_template_tree_ok(c, m) != 0) {
                return -1;
            }
        }
    }

    if (json_is_object(v)) {
        json_object_foreach((json_t *) v, key, m) {
            if (jsonmap_template_tree_ok(c, m) != 0) {
                return -1;
            }
        }
    }

    return 0;
}


static int
jsonmap_check_request(jsonmap_check *c, const json_t *req)
{
    static const char *const  keys[] = {
        "method", "path", "headers", "body", NULL
    };

    size_t       n;
    json_t      *v, *h;
    const char  *s, *key;

    if (jsonmap_members(c, req, keys) != 0) {
        return -1;
    }

    s = json_string_value(json_object_get(req, "method"));
    if (s == NULL || (strcmp(s, "GET") != 0 && strcmp(s, "POST") != 0)) {
        return jsonmap_bad(c, "\"method\" must be \"GET\" or \"POST\"");
    }

    if (strcmp(s, "GET") == 0 && json_object_get(req, "body") != NULL) {
        return jsonmap_bad(c, "a GET request has no body");
    }

    s = json_string_value(json_object_get(req, "path"));
    if (s == NULL || s[0] != '/') {
        return jsonmap_bad(c, "\"path\" must start with \"/\"");
    }

    v = json_object_get(req, "headers");
    if (v != NULL && !json_is_object(v)) {
        return jsonmap_bad(c, "\"headers\" must be an object");
    }

    json_object_foreach(v, key, h) {
        n = strlen(key);
        if (!json_is_string(h) || n == 0 || n > 64) {
            return jsonmap_bad(c, "header \"%.32s\" must have a string "
                               "value", key);
        }
    }

    return jsonmap_template_tree_ok(c, req);
}


static int
jsonmap_check_address(jsonmap_check *c, const json_t *a)
{
    static const char *const  keys[] = {
        "lines", "premises", "chinese", NULL
    };

    size_t       i;
    json_t      *v, *m;
    const char  *key;

    if (jsonmap_members(c, a, keys) != 0) {
        return -1;
    }

    if ((json_object_get(a, "lines") != NULL)
        + (json_object_get(a, "premises") != NULL) != 1)
    {
        return jsonmap_bad(c, "\"address\" needs one of \"lines\" (up to 3 "
                           "pointers) or \"premises\" (pointers by part)");
    }

    v = json_object_get(a, "lines");

    if (v != NULL && (!json_is_array(v) || json_array_size(v) == 0
                      || json_array_size(v) > 3))
    {
        return jsonmap_bad(c, "\"lines\" must be 1 to 3 pointers");
    }

    json_array_foreach(v, i, m) {
        if (!jsonmap_pointer_ok(m)) {
            return jsonmap_bad(c, "lines[%zu] is not a JSON pointer", i);
        }
    }

    v = json_object_get(a, "premises");

    json_object_foreach(v, key, m) {
        if (!jsonmap_one_of(key, jsonmap_premises_parts)
            || !jsonmap_pointer_ok(m))
        {
            return jsonmap_bad(c, "premises part \"%.32s\" is not one of "
                               "unit floor block building estate street "
                               "building_no district region with a JSON "
                               "pointer", key);
        }
    }

    return 0;
}


static int
jsonmap_check_values(jsonmap_check *c, const json_t *f)
{
    json_t  *v;

    v = json_object_get(f, "values");

    if (v != NULL && (!json_is_object(v) || json_object_size(v) == 0)) {
        return jsonmap_bad(c, "\"values\" must be a non-empty object");
    }

    if (json_object_get(f, "default") != NULL && v == NULL) {
        return jsonmap_bad(c, "\"default\" only goes with \"values\"");
    }

    return 0;
}


static int
jsonmap_check_field(jsonmap_check *c, const json_t *f)
{
    static const char *const  keys[] = {
        "name", "type", "required", "description", "pointer", "document",
        "date", "format", "tz", "values", "default", "en_name", "address",
        NULL
    };

    json_t      *v, *parts;
    const char  *type;

    if (jsonmap_members(c, f, keys) != 0) {
        return -1;
    }

    if (!json_is_string(json_object_get(f, "name"))) {
        return jsonmap_bad(c, "\"name\" must be a canonical field name");
    }

    type = json_string_value(json_object_get(f, "type"));
    if (!jsonmap_one_of(type, jsonmap_types)) {
        return jsonmap_bad(c, "\"type\" must be one of string date datetime "
                           "integer number boolean flag hkid en_name "
                           "zh_name phone address object array");
    }

    if (json_object_get(f, "pointer") == NULL
        && json_object_get(f, "en_name") == NULL
        && json_object_get(f, "address") == NULL)
    {
        return jsonmap_bad(c, "needs \"pointer\" (or \"en_name\" or "
                           "\"address\" parts)");
    }

    v = json_object_get(f, "pointer");
    if (v != NULL && !jsonmap_pointer_ok(v)) {
        return jsonmap_bad(c, "\"pointer\" is not a JSON pointer");
    }

    v = json_object_get(f, "date");
    if (v != NULL && (strcmp(type, "date") != 0 || !jsonmap_pattern_ok(v, 0)))
    {
        return jsonmap_bad(c, "\"date\" must be a pattern of YYYY, MM, DD "
                           "and separators, for a field of type date");
    }

    v = json_object_get(f, "format");
    if (v != NULL && (strcmp(type, "datetime") != 0
                      || !jsonmap_pattern_ok(v, 1)))
    {
        return jsonmap_bad(c, "\"format\" must be a pattern of YYYY, MM, DD, "
                           "hh, mm, ss and separators, for a datetime");
    }

    v = json_object_get(f, "tz");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < -1440
                      || json_integer_value(v) > 1440))
    {
        return jsonmap_bad(c, "\"tz\" must be minutes east of UTC");
    }

    parts = json_object_get(f, "en_name");
    if (parts != NULL
        && (strcmp(type, "en_name") != 0
            || !jsonmap_pointer_ok(json_object_get(parts, "surname"))
            || (json_object_get(parts, "given") != NULL
                && !jsonmap_pointer_ok(json_object_get(parts, "given")))
            || json_object_size(parts)
               != 1 + (json_object_get(parts, "given") != NULL)))
    {
        return jsonmap_bad(c, "\"en_name\" must be {\"surname\": pointer, "
                           "\"given\": pointer}, for an en_name");
    }

    /* values of these types are built by the SDK, which only makes
     * well-formed ones: a backend's object is never passed through */
    parts = json_object_get(f, "address");
    if ((parts != NULL) != (strcmp(type, "address") == 0)) {
        return jsonmap_bad(c, "a field of type address needs \"address\" "
                           "(and only such a field has it)");
    }

    if (parts != NULL && jsonmap_check_address(c, parts) != 0) {
        return -1;
    }

    v = json_object_get(f, "required");
    if (v != NULL && !json_is_boolean(v)) {
        return jsonmap_bad(c, "\"required\" must be a boolean");
    }

    return jsonmap_check_values(c, f);
}


static int
jsonmap_check_response(jsonmap_check *c, const json_t *r)
{
    static const char *const  keys[] = {
        "status", "error", "root", "root_missing", "last_updated", "fields",
        NULL
    };
    static const char *const  error_keys[] = {
        "pointer", "ok", "codes", "default", NULL
    };
    static const char *const  lu_keys[] = {
        "pointer", "format", "tz", NULL
    };

    char          base[64];
    size_t        i;
    json_t       *v, *e, *f;
    const char   *key, *s;

    if (jsonmap_members(c, r, keys) != 0) {
        return -1;
    }

    /* short enough for every suffix below to fit in c->where */
    snprintf(base, sizeof(base), "%.60s", c->where);

    v = json_object_get(r, "status");
    if (v != NULL && !json_is_object(v)) {
        return jsonmap_bad(c, "\"status\" must map HTTP statuses to "
                           "outcomes");
    }

    json_object_foreach(v, key, e) {
        s = json_string_value(e);

        if (strlen(key) != 3 || key[0] < '1' || key[0] > '5'
            || key[1] < '0' || key[1] > '9' || key[2] < '0' || key[2] > '9'
            || !jsonmap_one_of(s, jsonmap_outcomes))
        {
            return jsonmap_bad(c, "status \"%.8s\" must be an HTTP status "
                               "mapped to one of not_found denied "
                               "backend_error malformed_reply invalid_input",
                               key);
        }
    }

    e = json_object_get(r, "error");
    if (e != NULL) {
        snprintf(c->where, sizeof(c->where), "%s.error", base);

        if (jsonmap_members(c, e, error_keys) != 0) {
            return -1;
        }

        if (!jsonmap_pointer_ok(json_object_get(e, "pointer"))
            || !json_is_array(json_object_get(e, "ok"))
            || (json_object_get(e, "codes") != NULL
                && !json_is_object(json_object_get(e, "codes")))
            || (json_object_get(e, "default") != NULL
                && !jsonmap_one_of(json_string_value(
                                       json_object_get(e, "default")),
                                   jsonmap_outcomes)))
        {
            return jsonmap_bad(c, "needs \"pointer\", \"ok\" (the values "
                               "that mean success), optional \"codes\" "
                               "(value: outcome) and \"default\"");
        }

        json_object_foreach(json_object_get(e, "codes"), key, v) {
            if (!jsonmap_one_of(json_string_value(v), jsonmap_outcomes)) {
                return jsonmap_bad(c, "code \"%.32s\" maps to no outcome",
                                   key);
            }
        }

        snprintf(c->where, sizeof(c->where), "%s", base);
    }

    v = json_object_get(r, "root");
    if (v != NULL && !jsonmap_pointer_ok(v)) {
        return jsonmap_bad(c, "\"root\" is not a JSON pointer");
    }

    v = json_object_get(r, "root_missing");
    if (v != NULL && !jsonmap_one_of(json_string_value(v), jsonmap_outcomes))
    {
        return jsonmap_bad(c, "\"root_missing\" must be an outcome");
    }

    v = json_object_get(r, "last_updated");
    snprintf(c->where, sizeof(c->where), "%s.last_updated", base);

    if (v == NULL || jsonmap_members(c, v, lu_keys) != 0
        || !jsonmap_pointer_ok(json_object_get(v, "pointer"))
        || (json_object_get(v, "format") != NULL
            && !jsonmap_pattern_ok(json_object_get(v, "format"), 1))
        || (json_object_get(v, "tz") != NULL
            && !json_is_integer(json_object_get(v, "tz"))))
    {
        if (c->why[0] != '\0') {
            return -1;
        }

        return jsonmap_bad(c, "required: {\"pointer\", \"format\" (a "
                           "pattern; RFC 3339 when absent), \"tz\" "
                           "(minutes east of UTC)}");
    }

    v = json_object_get(r, "fields");
    snprintf(c->where, sizeof(c->where), "%s.fields", base);

    if (!json_is_array(v) || json_array_size(v) == 0) {
        return jsonmap_bad(c, "must be a non-empty array");
    }

    json_array_foreach(v, i, f) {
        snprintf(c->where, sizeof(c->where), "%s.fields[%zu]", base, i);

        if (jsonmap_check_field(c, f) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
jsonmap_check_form_field(jsonmap_check *c, const json_t *f)
{
    static const char *const  keys[] = {
        "name", "type", "required", "description", "from", "const",
        "by_lang", "pointer", "transform", "date", "values", "default",
        "lang", NULL
    };

    size_t       i, sources;
    json_t      *v, *from;

    if (jsonmap_members(c, f, keys) != 0) {
        return -1;
    }

    if (!json_is_string(json_object_get(f, "name"))) {
        return jsonmap_bad(c, "\"name\" must be the department's field name");
    }

    v = json_object_get(f, "type");
    if (v != NULL && !jsonmap_one_of(json_string_value(v),
                                     jsonmap_form_types))
    {
        return jsonmap_bad(c, "\"type\" must be one of string integer number "
                           "boolean object array");
    }

    from = json_object_get(f, "from");
    sources = (from != NULL) + (json_object_get(f, "const") != NULL)
              + (json_object_get(f, "by_lang") != NULL);

    if (sources != 1) {
        return jsonmap_bad(c, "needs exactly one of \"from\" (canonical "
                           "fields), \"const\" or \"by_lang\"");
    }

    if (from != NULL && !json_is_string(from)
        && (!json_is_array(from) || json_array_size(from) == 0))
    {
        return jsonmap_bad(c, "\"from\" must be a canonical field name or a "
                           "list of them");
    }

    json_array_foreach(from, i, v) {
        if (!json_is_string(v)) {
            return jsonmap_bad(c, "\"from\"[%zu] is not a string", i);
        }
    }

    v = json_object_get(f, "by_lang");
    if (v != NULL && (!json_is_object(v) || json_object_get(v, "en") == NULL
                      || json_object_get(v, "zh-HK") == NULL))
    {
        return jsonmap_bad(c, "\"by_lang\" must give a value for \"en\" and "
                           "\"zh-HK\"");
    }

    v = json_object_get(f, "pointer");
    if (v != NULL && !jsonmap_pointer_ok(v)) {
        return jsonmap_bad(c, "\"pointer\" is not a JSON pointer");
    }

    v = json_object_get(f, "transform");
    if (v != NULL && !jsonmap_one_of(json_string_value(v),
                                     jsonmap_transforms))
    {
        return jsonmap_bad(c, "unknown \"transform\" (known: en_full "
                           "en_unstructured en_surname en_given zh_full "
                           "zh_surname zh_given phone_local phone_e164 "
                           "phone_auto hkid hkid_plain address_lines "
                           "address_text district_code district_name "
                           "flag_bool upper)");
    }

    v = json_object_get(f, "date");
    if (v != NULL && !jsonmap_pattern_ok(v, 0)) {
        return jsonmap_bad(c, "\"date\" must be a pattern of YYYY, MM, DD "
                           "and separators");
    }

    v = json_object_get(f, "lang");
    if (v != NULL && !jsonmap_one_of(json_string_value(v),
                                     (const char *const[]) {
                                         "en", "zh-HK", NULL }))
    {
        return jsonmap_bad(c, "\"lang\" must be \"en\" or \"zh-HK\"");
    }

    v = json_object_get(f, "required");
    if (v != NULL && !json_is_boolean(v)) {
        return jsonmap_bad(c, "\"required\" must be a boolean");
    }

    return jsonmap_check_values(c, f);
}


/* Checks the mapping and builds the describe output. */
static json_t *
jsonmap_check_map(jsonmap_check *c, const json_t *map)
{
    static const char *const  keys[] = {
        "department", "services", "datasets", "forms", NULL
    };
    static const char *const  ds_keys[] = {
        "id", "name", "description", "request", "response", NULL
    };
    static const char *const  form_keys[] = {
        "id", "name", "description", "service", "fields", NULL
    };

    size_t       i, j;
    json_t      *d, *datasets, *forms, *ds, *f, *out, *fields, *of, *v;
    json_t      *from;

    snprintf(c->where, sizeof(c->where), "mapping");

    if (jsonmap_members(c, map, keys) != 0) {
        return NULL;
    }

    d = json_pack("{s:O, s:O, s:[], s:[]}",
                  "department", json_object_get(map, "department"),
                  "services", json_object_get(map, "services"),
                  "datasets", "forms");

    if (d == NULL) {
        snprintf(c->why, sizeof(c->why), "mapping: \"department\" and "
                 "\"services\" are required");
        return NULL;
    }

    datasets = json_object_get(d, "datasets");
    forms = json_object_get(d, "forms");

    v = json_object_get(map, "datasets");
    if (v != NULL && !json_is_array(v)) {
        jsonmap_bad(c, "\"datasets\" must be an array");
        goto failed;
    }

    json_array_foreach(v, i, ds) {
        snprintf(c->where, sizeof(c->where), "datasets[%zu]", i);

        if (jsonmap_members(c, ds, ds_keys) != 0) {
            goto failed;
        }

        snprintf(c->where, sizeof(c->where), "datasets[%zu].request", i);
        if (jsonmap_check_request(c, json_object_get(ds, "request")) != 0) {
            goto failed;
        }

        snprintf(c->where, sizeof(c->where), "datasets[%zu].response", i);
        if (jsonmap_check_response(c, json_object_get(ds, "response")) != 0)
        {
            goto failed;
        }

        fields = json_array();
        out = json_pack("{s:O*, s:O*, s:O*, s:o}",
                        "id", json_object_get(ds, "id"),
                        "name", json_object_get(ds, "name"),
                        "description", json_object_get(ds, "description"),
                        "fields", fields);

        if (out == NULL || json_array_append_new(datasets, out) != 0) {
            goto nomem;
        }

        json_array_foreach(json_object_get(json_object_get(ds, "response"),
                                           "fields"), j, f)
        {
            of = json_pack("{s:O, s:O, s:O*, s:O*}",
                           "name", json_object_get(f, "name"),
                           "type", json_object_get(f, "type"),
                           "required", json_object_get(f, "required"),
                           "description", json_object_get(f, "description"));

            if (of == NULL || json_array_append_new(fields, of) != 0) {
                goto nomem;
            }
        }
    }

    v = json_object_get(map, "forms");
    if (v != NULL && !json_is_array(v)) {
        snprintf(c->where, sizeof(c->where), "mapping");
        jsonmap_bad(c, "\"forms\" must be an array");
        goto failed;
    }

    json_array_foreach(v, i, ds) {
        snprintf(c->where, sizeof(c->where), "forms[%zu]", i);

        if (jsonmap_members(c, ds, form_keys) != 0) {
            goto failed;
        }

        if (!json_is_array(json_object_get(ds, "fields"))) {
            jsonmap_bad(c, "\"fields\" must be an array");
            goto failed;
        }

        fields = json_array();
        out = json_pack("{s:O*, s:O*, s:O*, s:O*, s:o}",
                        "id", json_object_get(ds, "id"),
                        "name", json_object_get(ds, "name"),
                        "description", json_object_get(ds, "description"),
                        "service", json_object_get(ds, "service"),
                        "fields", fields);

        if (out == NULL || json_array_append_new(forms, out) != 0) {
            goto nomem;
        }

        json_array_foreach(json_object_get(ds, "fields"), j, f) {
            snprintf(c->where, sizeof(c->where), "forms[%zu].fields[%zu]",
                     i, j);

            if (jsonmap_check_form_field(c, f) != 0) {
                goto failed;
            }

            from = json_object_get(f, "from");
            from = json_is_string(from) ? json_pack("[O]", from)
                                        : json_incref(from);

            of = json_pack("{s:O, s:s, s:o*, s:O*, s:O*}",
                           "name", json_object_get(f, "name"),
                           "type", json_object_get(f, "type")
                                   ? json_string_value(json_object_get(f,
                                                                "type"))
                                   : "string",
                           "from", from,
                           "required", json_object_get(f, "required"),
                           "description", json_object_get(f, "description"));

            if (of == NULL || json_array_append_new(fields, of) != 0) {
                goto nomem;
            }
        }
    }

    return d;

nomem:

    snprintf(c->why, sizeof(c->why), "out of memory");

failed:

    json_decref(d);
    return NULL;
}


/* ---- init, fini, describe ---- */

static void
jsonmap_fini(void *state)
{
    jsonmap_state  *st = state;

    if (st != NULL) {
        json_decref(st->map);
        free(st->describe);
        free(st);
    }
}


static iams_adapter_status
jsonmap_init(iams_adapter_call *call, const char *config, size_t config_len,
    void **state)
{
    json_t         *d;
    jsonmap_state  *st;
    jsonmap_check   c;

    memset(&c, 0, sizeof(c));

    st = calloc(1, sizeof(jsonmap_state));
    if (st == NULL) {
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    st->map = iams_sdk_parse_object(config, config_len,
                                    IAMS_ADAPTER_CONFIG_MAX);
    if (st->map == NULL) {
        jsonmap_fini(st);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_CONFIG,
                                 "the mapping is not a JSON object");
    }

    d = jsonmap_check_map(&c, st->map);
    if (d == NULL) {
        jsonmap_fini(st);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_CONFIG, c.why);
    }

    st->describe = json_dumps(d, JSON_COMPACT);
    json_decref(d);

    if (st->describe == NULL) {
        jsonmap_fini(st);
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    *state = st;

    return IAMS_ADAPTER_OK;
}


static iams_adapter_status
jsonmap_describe(iams_adapter_call *call)
{
    jsonmap_state  *st = call->state;

    return iams_adapter_set_output(call, st->describe,
                                   strlen(st->describe));
}


/* The item of list (datasets or forms) whose id is id. */
static const json_t *
jsonmap_find(const jsonmap_state *st, const char *list, const char *id)
{
    size_t       i;
    json_t      *item;
    const char  *s;

    json_array_foreach(json_object_get(st->map, list), i, item) {
        s = json_string_value(json_object_get(item, "id"));

        if (s != NULL && id != NULL && strcmp(s, id) == 0) {
            return item;
        }
    }

    return NULL;
}


static const char *
jsonmap_source(const jsonmap_state *st)
{
    return json_string_value(json_object_get(json_object_get(st->map,
                                                             "department"),
                                             "code"));
}


/* ---- request templates ---- */

typedef struct {
    const iams_sdk_query  *q;
    char                   hkid_brackets[IAMS_SDK_HKID_MAX + 2];
    const char            *missing;       /* the first absent variable */
} jsonmap_vars;


/* The value of variable name[0..n), or NULL when the query lacks it. */
static const char *
jsonmap_var(jsonmap_vars *vars, const char *name, size_t n)
{
    char         key[JSONMAP_VAR_MAX];
    const char  *v;

    v = NULL;

    if (n == 7 && strncmp(name, "subject", 7) == 0) {
        v = vars->q->subject;

    } else if (n == 4 && strncmp(name, "hkid", 4) == 0) {
        v = vars->q->hkid[0] ? vars->q->hkid : NULL;

    } else if (n == 13 && strncmp(name, "hkid_brackets", 13) == 0) {
        v = vars->hkid_brackets[0] ? vars->hkid_brackets : NULL;

    } else if (n == 4 && strncmp(name, "lang", 4) == 0) {
        v = vars->q->lang;

    } else if (n == 7 && strncmp(name, "dataset", 7) == 0) {
        v = vars->q->dataset;

    } else if (n > 6 && n < sizeof(key)) {
        memcpy(key, name + 6, n - 6);
        key[n - 6] = '\0';
        v = json_string_value(json_object_get(vars->q->params, key));
    }

    if (v == NULL && vars->missing == NULL) {
        vars->missing = name;
    }

    return v;
}


/* Expands a template into out; -1 when a variable is absent or the text
 * does not fit.  In a path, values are percent-encoded. */
static int
jsonmap_expand(jsonmap_vars *vars, const char *t, int path, char *out,
    size_t cap)
{
    size_t       n, k;
    const char  *close, *v;

    static const char  hex[] = "0123456789ABCDEF";

    n = 0;

    while (*t != '\0') {
        if (*t != '{') {
            if (n + 1 >= cap) {
                return -1;
            }
            out[n++] = *t++;
            continue;
        }

        close = strchr(t, '}');
        v = jsonmap_var(vars, t + 1, (size_t) (close - t - 1));

        if (v == NULL) {
            return -1;
        }

        for (k = 0; v[k] != '\0'; k++) {
            unsigned char  ch = (unsigned char) v[k];

            if (!path || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'
                || ch == '_' || ch == '~')
            {
                if (n + 1 >= cap) {
                    return -1;
                }
                out[n++] = (char) ch;

            } else {
                if (n + 3 >= cap) {
                    return -1;
                }
                out[n++] = '%';
                out[n++] = hex[ch >> 4];
                out[n++] = hex[ch & 0xf];
            }
        }

        t = close + 1;
    }

    out[n] = '\0';

    return 0;
}


/* A template that is exactly one variable: "{hkid}". */
static int
jsonmap_single_var(const char *t)
{
    size_t  n;

    n = strlen(t);

    return n > 2 && t[0] == '{' && t[n - 1] == '}'
           && strchr(t + 1, '{') == NULL && strchr(t, '}') == t + n - 1;
}


/* Expands a body template.  *omit is set for a string that is exactly one
 * absent variable (its member or element is left out); NULL otherwise on
 * failure. */
static json_t *
jsonmap_expand_tree(jsonmap_vars *vars, const json_t *t, int *omit)
{
    int          sub_omit;
    char         text[JSONMAP_TEXT_MAX];
    size_t       i;
    json_t      *out, *m, *v;
    const char  *key, *s;

    *omit = 0;

    if (json_is_string(t)) {
        s = json_string_value(t);

        if (jsonmap_expand(vars, s, 0, text, sizeof(text)) != 0) {
            if (jsonmap_single_var(s)) {
                *omit = 1;
                vars->missing = NULL;
            }
            return NULL;
        }

        return json_string(text);
    }

    if (json_is_array(t)) {
        out = json_array();

        json_array_foreach((json_t *) t, i, m) {
            v = jsonmap_expand_tree(vars, m, &sub_omit);

            if (v == NULL && !sub_omit) {
                json_decref(out);
                return NULL;
            }

            if (v != NULL && json_array_append_new(out, v) != 0) {
                json_decref(out);
                return NULL;
            }
        }

        return out;
    }

    if (json_is_object(t)) {
        out = json_object();

        json_object_foreach((json_t *) t, key, m) {
            v = jsonmap_expand_tree(vars, m, &sub_omit);

            if (v == NULL && !sub_omit) {
                json_decref(out);
                return NULL;
            }

            if (v != NULL && json_object_set_new(out, key, v) != 0) {
                json_decref(out);
                return NULL;
            }
        }

        return out;
    }

    return json_deep_copy(t);
}


static iams_adapter_status
jsonmap_missing(iams_adapter_call *call, jsonmap_vars *vars)
{
    const char  *close;

    if (vars->missing == NULL) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "a request template expands to more than "
                                 "4096 bytes");
    }

    close = strchr(vars->missing, '}');

    return iams_sdk_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                         "the query lacks {%.*s}, which the request needs",
                         (int) (close ? close - vars->missing : 16),
                         vars->missing);
}


static iams_adapter_status
jsonmap_map_request(iams_adapter_call *call, const char *query,
    size_t query_len)
{
    int                   omit;
    char                  path[JSONMAP_TEXT_MAX], value[JSONMAP_TEXT_MAX];
    json_t               *req, *headers, *body, *v;
    const char           *key;
    const json_t         *ds, *tmpl;
    jsonmap_vars          vars;
    jsonmap_state        *st = call->state;
    iams_sdk_query        q;
    iams_adapter_status   rc;

    rc = iams_sdk_query_parse(call, query, query_len, &q);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    ds = jsonmap_find(st, "datasets", q.dataset);
    tmpl = json_object_get(ds, "request");

    memset(&vars, 0, sizeof(vars));
    vars.q = &q;

    if (q.hkid[0] != '\0') {
        (void) iams_sdk_hkid_format(json_object_get(q.json, "idNo"), 1,
                                    vars.hkid_brackets,
                                    sizeof(vars.hkid_brackets));
    }

    if (jsonmap_expand(&vars, json_string_value(json_object_get(tmpl,
                                                                "path")),
                       1, path, sizeof(path)) != 0)
    {
        rc = jsonmap_missing(call, &vars);
        goto done;
    }

    req = json_pack("{s:O, s:s, s:{}}", "method",
                    json_object_get(tmpl, "method"), "path", path,
                    "headers");
    headers = json_object_get(req, "headers");

    json_object_foreach(json_object_get(tmpl, "headers"), key, v) {
        if (jsonmap_expand(&vars, json_string_value(v), 0, value,
                           sizeof(value)) != 0)
        {
            if (jsonmap_single_var(json_string_value(v))) {
                vars.missing = NULL;
                continue;
            }

            json_decref(req);
            rc = jsonmap_missing(call, &vars);
            goto done;
        }

        if (json_object_set_new(headers, key, json_string(value)) != 0) {
            json_decref(req);
            rc = IAMS_ADAPTER_ERR_NOMEM;
            goto done;
        }
    }

    v = json_object_get(tmpl, "body");

    if (v != NULL) {
        body = jsonmap_expand_tree(&vars, v, &omit);

        if (body == NULL) {
            json_decref(req);
            rc = omit ? iams_adapter_fail(call,
                                          IAMS_ADAPTER_ERR_INVALID_INPUT,
                                          "the query lacks what the body "
                                          "is made of")
                      : jsonmap_missing(call, &vars);
            goto done;
        }

        json_object_set_new(req, "body", body);
    }

    rc = iams_sdk_output(call, req);

done:

    iams_sdk_query_free(&q);

    return rc;
}


/* ---- response mapping ---- */

/* A value map: the mapped value (a new reference), the default, or NULL
 * when v has no entry; v must be a scalar. */
static json_t *
jsonmap_values(const json_t *spec, const json_t *v)
{
    char         key[64];
    json_t      *m;

    if (json_is_string(v)) {
        snprintf(key, sizeof(key), "%s", json_string_value(v));

    } else if (json_is_integer(v)) {
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));

    } else if (json_is_boolean(v)) {
        snprintf(key, sizeof(key), "%s", json_is_true(v) ? "true" : "false");

    } else {
        return NULL;
    }

    m = json_object_get(json_object_get(spec, "values"), key);
    if (m == NULL) {
        m = json_object_get(spec, "default");
    }

    return json_incref(m);
}


/* A number from a JSON number or a numeric string. */
static json_t *
jsonmap_number(const json_t *v, int integer)
{
    char         *end;
    double        d;
    long long     n;
    const char   *s;

    if (integer ? json_is_integer(v) : json_is_number(v)) {
        return json_copy((json_t *) v);
    }

    s = json_string_value(v);
    if (s == NULL || s[0] == '\0' || strlen(s) > 32) {
        return NULL;
    }

    if (integer) {
        n = strtoll(s, &end, 10);
        return *end == '\0' ? json_integer(n) : NULL;
    }

    d = strtod(s, &end);

    return *end == '\0' ? json_real(d) : NULL;
}


static json_t *
jsonmap_address(const json_t *spec, const json_t *root)
{
    size_t              i;
    json_t             *lines, *parts;
    const char         *l[3];
    iams_sdk_premises   p;

    lines = json_object_get(spec, "lines");

    if (lines != NULL) {
        l[0] = l[1] = l[2] = NULL;

        for (i = 0; i < json_array_size(lines) && i < 3; i++) {
            l[i] = iams_sdk_pointer_string(root,
                       json_string_value(json_array_get(lines, i)));
        }

        return iams_sdk_address_free(l[0], l[1], l[2]);
    }

    parts = json_object_get(spec, "premises");

    if (parts != NULL) {

#define JSONMAP_PART(name)                                                   \
        iams_sdk_pointer_string(root,                                        \
            json_string_value(json_object_get(parts, name)))

        p.unit = JSONMAP_PART("unit");
        p.floor = JSONMAP_PART("floor");
        p.block = JSONMAP_PART("block");
        p.building = JSONMAP_PART("building");
        p.estate = JSONMAP_PART("estate");
        p.street = JSONMAP_PART("street");
        p.building_no = JSONMAP_PART("building_no");
        p.district = JSONMAP_PART("district");
        p.region = JSONMAP_PART("region");

#undef JSONMAP_PART

        return iams_sdk_address_premises(&p, json_is_true(
                                             json_object_get(spec,
                                                             "chinese")));
    }

    return NULL;
}


/* Whether the backend sent any part the address mapping points at. */
static int
jsonmap_address_given(const json_t *spec, const json_t *root)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    json_array_foreach(json_object_get(spec, "lines"), i, v) {
        if (iams_sdk_pointer(root, json_string_value(v)) != NULL) {
            return 1;
        }
    }

    json_object_foreach(json_object_get(spec, "premises"), key, v) {
        if (iams_sdk_pointer(root, json_string_value(v)) != NULL) {
            return 1;
        }
    }

    return 0;
}


/* One response field: *out the canonical value, or NULL when the backend
 * does not have it; -1 when it has it in the wrong form. */
static int
jsonmap_field(const json_t *f, const json_t *doc, const json_t *root,
    json_t **out)
{
    char          text[32];
    json_t       *raw, *v, *mapped, *parts;
    const char   *type, *s, *pattern;
    const json_t *base;

    *out = NULL;

    type = json_string_value(json_object_get(f, "type"));
    base = json_is_true(json_object_get(f, "document")) ? doc : root;

    parts = json_object_get(f, "en_name");
    if (parts != NULL) {
        s = iams_sdk_pointer_string(base, json_string_value(
                                              json_object_get(parts,
                                                              "surname")));
        if (s == NULL) {
            return 0;
        }

        *out = iams_sdk_en_name(s, iams_sdk_pointer_string(base,
                                   json_string_value(json_object_get(parts,
                                                              "given"))));
        return *out ? 0 : -1;
    }

    parts = json_object_get(f, "address");
    if (parts != NULL) {
        *out = jsonmap_address(parts, base);

        /* absent, or present and not an address the schema allows */
        return *out != NULL || !jsonmap_address_given(parts, base) ? 0 : -1;
    }

    raw = iams_sdk_pointer(base, json_string_value(json_object_get(f,
                                                                "pointer")));
    if (raw == NULL || json_is_null(raw)) {
        return 0;
    }

    mapped = NULL;

    if (json_object_get(f, "values") != NULL) {
        mapped = jsonmap_values(f, raw);
        if (mapped == NULL) {
            return -1;
        }
        raw = mapped;
    }

    s = json_string_value(raw);
    v = NULL;

    if (strcmp(type, "string") == 0) {
        v = s ? json_incref(raw) : NULL;

    } else if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
        v = jsonmap_number(raw, type[0] == 'i');

    } else if (strcmp(type, "boolean") == 0) {
        v = json_is_boolean(raw) ? json_incref(raw)
            : s && (strcmp(s, "Y") == 0 || strcmp(s, "true") == 0)
              ? json_true()
            : s && (strcmp(s, "N") == 0 || strcmp(s, "false") == 0)
              ? json_false() : NULL;

    } else if (strcmp(type, "flag") == 0) {
        v = json_is_boolean(raw) ? json_string(json_is_true(raw) ? "Y" : "N")
            : s && (strcmp(s, "Y") == 0 || strcmp(s, "N") == 0)
              ? json_incref(raw) : NULL;

    } else if (strcmp(type, "date") == 0) {
        pattern = json_string_value(json_object_get(f, "date"));

        if (s != NULL
            && iams_sdk_date_parse(s, strlen(s),
                                   pattern ? pattern : "YYYYMMDD", text)
               == 0)
        {
            v = json_string(text);
        }

    } else if (strcmp(type, "datetime") == 0) {
        if (s != NULL
            && iams_sdk_timestamp(s, strlen(s),
                                  json_string_value(json_object_get(f,
                                                                 "format")),
                                  (int) json_integer_value(
                                            json_object_get(f, "tz")),
                                  text) == 0)
        {
            v = json_string(text);
        }

    } else if (strcmp(type, "hkid") == 0) {
        v = s ? iams_sdk_hkid_parse(s) : NULL;

    } else if (strcmp(type, "en_name") == 0) {
        v = s ? iams_sdk_en_name_text(s) : NULL;

    } else if (strcmp(type, "zh_name") == 0) {
        v = s ? iams_sdk_zh_name(s) : NULL;

    } else if (strcmp(type, "phone") == 0) {
        v = s ? iams_sdk_phone_parse(s) : NULL;

    } else if (strcmp(type, "object") == 0) {
        v = json_is_object(raw) ? json_incref(raw) : NULL;

    } else if (strcmp(type, "array") == 0) {
        v = json_is_array(raw) ? json_incref(raw) : NULL;
    }

    json_decref(mapped);

    *out = v;

    return v != NULL ? 0 : -1;
}


/* The outcome of a non-2xx status: the mapping's, or the usual one. */
static iams_adapter_status
jsonmap_status(const json_t *resp, int status)
{
    char         key[8];
    const char  *s;

    snprintf(key, sizeof(key), "%d", status);
    s = json_string_value(json_object_get(json_object_get(resp, "status"),
                                          key));

    return s != NULL ? jsonmap_outcome(s) : iams_sdk_status_from_http(status);
}


static iams_adapter_status
jsonmap_backend_error(iams_adapter_call *call, const json_t *spec,
    const json_t *doc)
{
    char         key[64];
    size_t       i;
    json_t      *v, *ok;
    const char  *s;

    v = iams_sdk_pointer(doc, json_string_value(json_object_get(spec,
                                                                "pointer")));
    if (v == NULL) {
        return IAMS_ADAPTER_OK;
    }

    json_array_foreach(json_object_get(spec, "ok"), i, ok) {
        if (json_equal(ok, v)) {
            return IAMS_ADAPTER_OK;
        }
    }

    if (json_is_string(v)) {
        snprintf(key, sizeof(key), "%s", json_string_value(v));

    } else if (json_is_integer(v)) {
        snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));

    } else {
        key[0] = '\0';
    }

    s = json_string_value(json_object_get(json_object_get(spec, "codes"),
                                          key));
    if (s == NULL) {
        s = json_string_value(json_object_get(spec, "default"));
    }

    return iams_sdk_fail(call, jsonmap_outcome(s ? s : "backend_error"),
                         "the backend reported \"%.32s\"",
                         key[0] ? key : "?");
}


static iams_adapter_status
jsonmap_map_response(iams_adapter_call *call, const char *query,
    size_t query_len, const iams_adapter_reply *reply)
{
    char                  updated[21];
    size_t                i;
    json_t               *doc, *root, *data, *v, *lu;
    const char           *s, *name;
    const json_t         *ds, *resp, *f;
    jsonmap_state        *st = call->state;
    iams_sdk_query        q;
    iams_adapter_status   rc;

    rc = iams_sdk_query_parse(call, query, query_len, &q);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    ds = jsonmap_find(st, "datasets", q.dataset);
    resp = json_object_get(ds, "response");
    doc = NULL;
    data = NULL;

    if (reply->status < 200 || reply->status > 299) {
        rc = iams_sdk_fail(call, jsonmap_status(resp, reply->status),
                           "backend answered HTTP %d", reply->status);
        goto done;
    }

    rc = iams_sdk_reply_object(call, reply, &doc);
    if (rc != IAMS_ADAPTER_OK) {
        goto done;
    }

    if (json_object_get(resp, "error") != NULL) {
        rc = jsonmap_backend_error(call, json_object_get(resp, "error"), doc);
        if (rc != IAMS_ADAPTER_OK) {
            goto done;
        }
    }

    lu = json_object_get(resp, "last_updated");
    s = iams_sdk_pointer_string(doc, json_string_value(
                                         json_object_get(lu, "pointer")));

    if (s == NULL
        || iams_sdk_timestamp(s, strlen(s),
                              json_string_value(json_object_get(lu,
                                                                "format")),
                              (int) json_integer_value(json_object_get(lu,
                                                                   "tz")),
                              updated) != 0)
    {
        rc = iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                               "the last-updated time is missing or not in "
                               "its format");
        goto done;
    }

    s = json_string_value(json_object_get(resp, "root"));
    root = iams_sdk_pointer(doc, s ? s : "");

    if (root == NULL || json_is_null(root)) {
        s = json_string_value(json_object_get(resp, "root_missing"));
        rc = iams_adapter_fail(call, jsonmap_outcome(s ? s
                                                     : "malformed_reply"),
                               "the reply holds no record");
        goto done;
    }

    data = iams_sdk_data_new(q.dataset);

    json_array_foreach(json_object_get(resp, "fields"), i, f) {
        name = json_string_value(json_object_get(f, "name"));

        if (jsonmap_field(f, doc, root, &v) != 0) {
            rc = iams_sdk_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                               "%.96s: not in the format of its mapping",
                               name);
            goto done;
        }

        if (v == NULL && json_is_true(json_object_get(f, "required"))) {
            rc = iams_sdk_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                               "%.96s: required, but the reply lacks it",
                               name);
            goto done;
        }

        if (iams_sdk_data_set(data, name, v, jsonmap_source(st), updated)
            != 0)
        {
            rc = IAMS_ADAPTER_ERR_NOMEM;
            goto done;
        }
    }

    rc = iams_sdk_output(call, data);
    data = NULL;

done:

    json_decref(data);
    json_decref(doc);
    iams_sdk_query_free(&q);

    return rc;
}


/* ---- forms ---- */

/* The district code of a premises address, in either language. */
static const char *
jsonmap_district(const json_t *address)
{
    const char  *s;

    s = iams_sdk_pointer_string(address,
                                "/EngPremisesAddress/EngDistrict/DcDistrict");

    return s ? s : iams_sdk_pointer_string(address,
                       "/ChiPremisesAddress/ChiDistrict/DcDistrict");
}


static json_t *
jsonmap_transform(const char *t, const json_t *v, const char *lang)
{
    int          zh;
    char         a[256], b[256], text[1024];
    size_t       i;
    const char  *s, *cc;

    zh = strcmp(lang, "zh-HK") == 0;

    if (strncmp(t, "en_", 3) == 0) {
        if (iams_sdk_en_name_split(v, a, sizeof(a), b, sizeof(b)) != 0) {
            return NULL;
        }

        if (strcmp(t, "en_surname") == 0) {
            return json_string(a);
        }

        if (strcmp(t, "en_given") == 0) {
            return b[0] ? json_string(b) : NULL;
        }

        if (strcmp(t, "en_unstructured") == 0) {
            return json_incref(json_object_get(v, "UnstructuredName"));
        }

        snprintf(text, sizeof(text), "%s%s%s", a, b[0] ? " " : "", b);
        return json_string(text);
    }

    if (strncmp(t, "zh_", 3) == 0) {
        if (strcmp(t, "zh_full") == 0) {
            return json_incref(json_object_get(v, "ChineseName"));
        }

        if (iams_sdk_zh_name_split(v, a, sizeof(a), b, sizeof(b)) != 0) {
            return NULL;
        }

        return json_string(strcmp(t, "zh_surname") == 0 ? a : b);
    }

    if (strncmp(t, "phone_", 6) == 0) {
        cc = json_string_value(json_object_get(v, "CountryCode"));

        if (cc == NULL
            || iams_sdk_phone_format(v, strcmp(t, "phone_e164") == 0
                                        || (strcmp(t, "phone_auto") == 0
                                            && strcmp(cc, "852") != 0),
                                     text, sizeof(text)) != 0)
        {
            return NULL;
        }

        return json_string(text);
    }

    if (strncmp(t, "hkid", 4) == 0) {
        return iams_sdk_hkid_format(v, strcmp(t, "hkid") == 0, text,
                                    sizeof(text)) == 0
               ? json_string(text) : NULL;
    }

    if (strcmp(t, "address_lines") == 0) {
        return iams_sdk_address_lines(v, lang);
    }

    if (strcmp(t, "address_text") == 0) {
        return iams_sdk_address_text(v, lang, text, sizeof(text)) == 0
               ? json_string(text) : NULL;
    }

    if (strncmp(t, "district_", 9) == 0) {
        s = jsonmap_district(v);

        if (s == NULL) {
            return NULL;
        }

        return json_string(strcmp(t, "district_code") == 0
                           ? s : iams_sdk_district_name(s, zh));
    }

    s = json_string_value(v);

    if (strcmp(t, "flag_bool") == 0) {
        return s == NULL ? NULL
               : strcmp(s, "Y") == 0 ? json_true()
               : strcmp(s, "N") == 0 ? json_false() : NULL;
    }

    /* upper */
    if (s == NULL || strlen(s) >= sizeof(text)) {
        return NULL;
    }

    for (i = 0; s[i] != '\0'; i++) {
        text[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char) (s[i] - 32) : s[i];
    }

    text[i] = '\0';

    return json_string(text);
}


/* The first of the field's "from" names that the input has. */
static const json_t *
jsonmap_source_value(const json_t *f, const json_t *in)
{
    size_t   i;
    json_t  *from, *name;

    from = json_object_get(f, "from");

    if (json_is_string(from)) {
        return iams_sdk_input_value(in, json_string_value(from));
    }

    json_array_foreach(from, i, name) {
        const json_t  *v = iams_sdk_input_value(in, json_string_value(name));

        if (v != NULL) {
            return v;
        }
    }

    return NULL;
}


/* One payload value (a new reference), or NULL when there is none. */
static json_t *
jsonmap_form_value(const json_t *f, const json_t *in, const char *lang)
{
    char           text[64];
    json_t        *v, *mapped;
    const char    *t, *s;
    const json_t  *src;

    if (json_object_get(f, "const") != NULL) {
        return json_deep_copy(json_object_get(f, "const"));
    }

    if (json_object_get(f, "by_lang") != NULL) {
        return json_deep_copy(json_object_get(json_object_get(f, "by_lang"),
                                              lang));
    }

    src = jsonmap_source_value(f, in);

    if (src != NULL && json_object_get(f, "pointer") != NULL) {
        src = iams_sdk_pointer(src, json_string_value(json_object_get(f,
                                                               "pointer")));
    }

    if (src == NULL) {
        return NULL;
    }

    t = json_string_value(json_object_get(f, "transform"));
    s = json_string_value(json_object_get(f, "lang"));

    v = t ? jsonmap_transform(t, src, s ? s : lang)
          : json_deep_copy(src);

    if (v != NULL && json_object_get(f, "date") != NULL) {
        s = json_string_value(v);

        if (s == NULL
            || iams_sdk_date_format(s, json_string_value(
                                           json_object_get(f, "date")),
                                    text, sizeof(text)) != 0)
        {
            json_decref(v);
            return NULL;
        }

        json_decref(v);
        v = json_string(text);
    }

    if (v != NULL && json_object_get(f, "values") != NULL) {
        mapped = jsonmap_values(f, v);
        json_decref(v);
        v = mapped;
    }

    return v;
}


static iams_adapter_status
jsonmap_map_form(iams_adapter_call *call, const char *input,
    size_t input_len)
{
    int             rc;
    size_t          i;
    json_t         *in, *form, *f;
    const char     *id, *lang;
    const json_t   *spec;
    jsonmap_state  *st = call->state;

    in = iams_sdk_parse_object(input, input_len, IAMS_ADAPTER_QUERY_MAX);
    id = json_string_value(json_object_get(in, "form"));
    spec = jsonmap_find(st, "forms", id);

    if (spec == NULL) {
        json_decref(in);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_UNSUPPORTED,
                                 "no such form in the mapping");
    }

    lang = json_string_value(json_object_get(in, "lang"));
    if (lang == NULL) {
        lang = "en";
    }

    form = iams_sdk_form_new(id);
    rc = form == NULL;

    json_array_foreach(json_object_get(spec, "fields"), i, f) {
        rc |= iams_sdk_form_set(form,
                                json_string_value(json_object_get(f, "name")),
                                jsonmap_form_value(f, in, lang),
                                json_is_true(json_object_get(f,
                                                             "required")));
    }

    json_decref(in);

    if (rc != 0) {
        json_decref(form);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_CONFIG,
                                 "payload field names clash (a name is both "
                                 "a value and an object)");
    }

    return iams_sdk_output(call, form);
}


static const iams_adapter_v1  jsonmap_adapter = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "jsonmap",
    .department = NULL,
    .version = "1.0.0",
    .init = jsonmap_init,
    .fini = jsonmap_fini,
    .describe = jsonmap_describe,
    .map_request = jsonmap_map_request,
    .map_response = jsonmap_map_response,
    .map_form = jsonmap_map_form,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &jsonmap_adapter;
}
