/*
 * The adapter SDK (iams_sdk.h).  Standard C and jansson only; no state.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iams_sdk.h"


#define IAMS_SDK_LINE_MAX   512
#define IAMS_SDK_TOKEN_MAX  256


/* ---- small string helpers ---- */

static int
iams_sdk_is_digit(char c)
{
    return c >= '0' && c <= '9';
}


static char
iams_sdk_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char) (c - 'a' + 'A') : c;
}


static int
iams_sdk_casecmp(const char *a, size_t alen, const char *b)
{
    size_t  i;

    for (i = 0; i < alen; i++) {
        if (b[i] == '\0' || iams_sdk_upper(a[i]) != iams_sdk_upper(b[i])) {
            return 1;
        }
    }

    return b[alen] != '\0';
}


/* Copies s[0..len) without surrounding spaces into out. */
static int
iams_sdk_trim_copy(const char *s, size_t len, char *out, size_t cap)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }

    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }

    if (len + 1 > cap) {
        return -1;
    }

    memcpy(out, s, len);
    out[len] = '\0';

    return 0;
}


/* Appends text to out (NUL-terminated, capacity cap) with sep before it
 * unless out is empty; empty or NULL text appends nothing. */
static void
iams_sdk_join(char *out, size_t cap, const char *sep, const char *text)
{
    size_t  n;

    if (text == NULL || text[0] == '\0') {
        return;
    }

    n = strlen(out);

    (void) snprintf(out + n, cap - n, "%s%s", n > 0 ? sep : "", text);
}


/* ---- input and output ---- */

static int
iams_sdk_depth_ok(const json_t *v, int depth)
{
    size_t       i;
    json_t      *m;
    const char  *key;

    if (!json_is_object(v) && !json_is_array(v)) {
        return 1;
    }

    if (depth > IAMS_SDK_DEPTH_MAX) {
        return 0;
    }

    if (json_is_array(v)) {
        json_array_foreach((json_t *) v, i, m) {
            if (!iams_sdk_depth_ok(m, depth + 1)) {
                return 0;
            }
        }

        return 1;
    }

    json_object_foreach((json_t *) v, key, m) {
        if (!iams_sdk_depth_ok(m, depth + 1)) {
            return 0;
        }
    }

    return 1;
}


json_t *
iams_sdk_parse(const char *text, size_t len, size_t max)
{
    json_t        *v;
    json_error_t   err;

    if (text == NULL || len > max) {
        return NULL;
    }

    /* jansson stops at 2048 levels itself; ours is stricter */
    v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);

    if (v != NULL && !iams_sdk_depth_ok(v, 1)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


json_t *
iams_sdk_parse_object(const char *text, size_t len, size_t max)
{
    json_t  *v;

    v = iams_sdk_parse(text, len, max);

    if (v != NULL && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


iams_adapter_status
iams_sdk_output(iams_adapter_call *call, json_t *value)
{
    char                 *text;
    iams_adapter_status   rc;

    if (value == NULL) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOMEM,
                                 "out of memory");
    }

    text = json_dumps(value, JSON_COMPACT);
    json_decref(value);

    if (text == NULL) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOMEM,
                                 "out of memory");
    }

    rc = iams_adapter_set_output(call, text, strlen(text));
    free(text);

    return rc;
}


iams_adapter_status
iams_sdk_fail(iams_adapter_call *call, iams_adapter_status status,
    const char *fmt, ...)
{
    char     msg[IAMS_ADAPTER_MESSAGE_MAX + 1];
    va_list  ap;

    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    return iams_adapter_fail(call, status, msg);
}


int
iams_sdk_config_string(const json_t *cfg, const char *key, const char *dflt,
    int path, char *out, size_t cap)
{
    json_t      *v;
    const char  *s;

    v = json_object_get(cfg, key);
    s = v != NULL ? json_string_value(v) : dflt;

    if (s == NULL || strlen(s) + 1 > cap || (path && s[0] != '/')) {
        return -1;
    }

    memcpy(out, s, strlen(s) + 1);

    return 0;
}


iams_adapter_status
iams_sdk_init_prefix(iams_adapter_call *call, const char *config,
    size_t config_len, const char *dflt, void **state)
{
    char    *prefix;
    json_t  *cfg;

    cfg = iams_sdk_parse_object(config, config_len, IAMS_ADAPTER_CONFIG_MAX);
    prefix = malloc(64);

    if (cfg == NULL || prefix == NULL
        || iams_sdk_config_string(cfg, "api_prefix", dflt, 1, prefix, 64))
    {
        json_decref(cfg);
        free(prefix);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_CONFIG,
                                 "expected {\"api_prefix\": \"/path\"} of at "
                                 "most 63 bytes");
    }

    json_decref(cfg);
    *state = prefix;

    return IAMS_ADAPTER_OK;
}


iams_adapter_status
iams_sdk_query_parse(iams_adapter_call *call, const char *text, size_t len,
    iams_sdk_query *q)
{
    const char  *lang;
    json_t      *idno;

    memset(q, 0, sizeof(*q));

    q->json = iams_sdk_parse_object(text, len, IAMS_ADAPTER_QUERY_MAX);
    if (q->json == NULL) {
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "query is not a JSON object");
    }

    q->dataset = json_string_value(json_object_get(q->json, "dataset"));
    q->subject = json_string_value(json_object_get(q->json, "subject"));
    q->params = json_object_get(q->json, "params");

    lang = json_string_value(json_object_get(q->json, "lang"));
    q->lang = lang != NULL ? lang : "en";

    idno = json_object_get(q->json, "idNo");

    if (q->dataset == NULL || q->subject == NULL
        || (q->params != NULL && !json_is_object(q->params))
        || (idno != NULL
            && iams_sdk_hkid_format(idno, 0, q->hkid, sizeof(q->hkid)) != 0))
    {
        iams_sdk_query_free(q);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_INVALID_INPUT,
                                 "query lacks dataset or subject, or has a "
                                 "bad idNo or params");
    }

    return IAMS_ADAPTER_OK;
}


void
iams_sdk_query_free(iams_sdk_query *q)
{
    json_decref(q->json);
    q->json = NULL;
}


/* ---- backend replies ---- */

const char *
iams_sdk_reply_header(const iams_adapter_reply *reply, const char *name,
    size_t *len)
{
    size_t                      i;
    const iams_adapter_header  *h;

    for (i = 0; i < reply->nheaders; i++) {
        h = &reply->headers[i];

        if (iams_sdk_casecmp(h->name, h->name_len, name) == 0) {
            if (len != NULL) {
                *len = h->value_len;
            }
            return h->value;
        }
    }

    return NULL;
}


iams_adapter_status
iams_sdk_status_from_http(int status)
{
    if (status >= 200 && status <= 299) {
        return IAMS_ADAPTER_OK;
    }

    switch (status) {

    case 404:
    case 410:
        return IAMS_ADAPTER_ERR_NOT_FOUND;

    case 403:
        return IAMS_ADAPTER_ERR_DENIED;

    default:
        return IAMS_ADAPTER_ERR_BACKEND;
    }
}


iams_adapter_status
iams_sdk_reply_object(iams_adapter_call *call,
    const iams_adapter_reply *reply, json_t **body)
{
    size_t               i, n;
    const char          *ct;
    iams_adapter_status  rc;

    *body = NULL;

    rc = iams_sdk_status_from_http(reply->status);
    if (rc != IAMS_ADAPTER_OK) {
        return iams_sdk_fail(call, rc, "backend answered HTTP %d",
                             reply->status);
    }

    ct = iams_sdk_reply_header(reply, "content-type", &n);

    if (ct != NULL) {
        for (i = 0; i + 4 <= n; i++) {
            if (iams_sdk_casecmp(ct + i, 4, "json") == 0) {
                break;
            }
        }

        if (i + 4 > n) {
            return iams_sdk_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                                 "backend answered %.*s, not JSON",
                                 (int) (n > 64 ? 64 : n), ct);
        }
    }

    *body = iams_sdk_parse_object(reply->body, reply->body_len,
                                  IAMS_ADAPTER_REPLY_MAX);

    if (*body == NULL) {
        return iams_sdk_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY,
                             "backend reply of %zu bytes is not a JSON "
                             "object", reply->body_len);
    }

    return IAMS_ADAPTER_OK;
}


/* ---- canonical data ---- */

json_t *
iams_sdk_data_new(const char *dataset)
{
    return json_pack("{s:s, s:{}}", "dataset", dataset, "fields");
}


int
iams_sdk_data_set(json_t *data, const char *name, json_t *value,
    const char *source, const char *last_updated)
{
    json_t  *entry;

    if (value == NULL) {
        return 0;
    }

    entry = json_pack("{s:o, s:s, s:s}", "value", value, "source", source,
                      "last_updated", last_updated);

    if (entry == NULL) {
        return -1;
    }

    return json_object_set_new(json_object_get(data, "fields"), name, entry);
}


iams_adapter_status
iams_sdk_data_output(iams_adapter_call *call, json_t *data, int nomem,
    const char *malformed)
{
    if (malformed != NULL) {
        json_decref(data);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY, malformed);
    }

    if (nomem || data == NULL) {
        json_decref(data);
        return iams_adapter_fail(call, IAMS_ADAPTER_ERR_NOMEM,
                                 "out of memory");
    }

    return iams_sdk_output(call, data);
}


const json_t *
iams_sdk_input_value(const json_t *input, const char *name)
{
    return json_object_get(json_object_get(json_object_get(input, "fields"),
                                           name),
                           "value");
}


const char *
iams_sdk_input_string(const json_t *input, const char *name)
{
    return json_string_value(iams_sdk_input_value(input, name));
}


json_t *
iams_sdk_form_new(const char *form)
{
    return json_pack("{s:s, s:{}}", "form", form, "payload");
}


int
iams_sdk_form_set(json_t *form, const char *name, json_t *value,
    int required)
{
    char         part[IAMS_SDK_TOKEN_MAX];
    json_t      *obj, *next, *missing;
    const char  *dot;

    if (value == NULL) {
        if (!required) {
            return 0;
        }

        missing = json_object_get(form, "missing");

        if (missing == NULL) {
            missing = json_array();
            if (json_object_set_new(form, "missing", missing) != 0) {
                return -1;
            }
        }

        return json_array_append_new(missing, json_string(name));
    }

    obj = json_object_get(form, "payload");

    while ((dot = strchr(name, '.')) != NULL) {
        if ((size_t) (dot - name) >= sizeof(part)) {
            json_decref(value);
            return -1;
        }

        memcpy(part, name, dot - name);
        part[dot - name] = '\0';

        next = json_object_get(obj, part);

        if (next == NULL) {
            next = json_object();
            if (json_object_set_new(obj, part, next) != 0) {
                json_decref(value);
                return -1;
            }

        } else if (!json_is_object(next)) {
            json_decref(value);
            return -1;
        }

        obj = next;
        name = dot + 1;
    }

    return json_object_set_new(obj, name, value);
}


int
iams_sdk_form_copy(json_t *form, const char *name, const json_t *input,
    const char *field, int required)
{
    const json_t  *v;

    v = iams_sdk_input_value(input, field);

    return iams_sdk_form_set(form, name, v ? json_deep_copy(v) : NULL,
                             required);
}


int
iams_sdk_form_date(json_t *form, const char *name, const json_t *input,
    const char *field, const char *pattern, int required)
{
    char         out[64];
    const char  *v;

    v = iams_sdk_input_string(input, field);

    if (v == NULL || iams_sdk_date_format(v, pattern, out, sizeof(out)) != 0)
    {
        return iams_sdk_form_set(form, name, NULL, required);
    }

    return iams_sdk_form_set(form, name, json_string(out), required);
}


int
iams_sdk_form_en_name(json_t *form, const char *surname, const char *given,
    const json_t *input, int required)
{
    int            rc;
    char           s[128], g[256];
    const json_t  *v;

    v = iams_sdk_input_value(input, "enName");

    if (v == NULL || iams_sdk_en_name_split(v, s, sizeof(s), g, sizeof(g))) {
        return iams_sdk_form_set(form, surname, NULL, required);
    }

    rc = iams_sdk_form_set(form, surname, json_string(s), required);

    return rc | iams_sdk_form_set(form, given, g[0] ? json_string(g) : NULL,
                                  0);
}


int
iams_sdk_form_zh_name(json_t *form, const char *name, const json_t *input,
    int required)
{
    json_t  *v;

    v = json_object_get(iams_sdk_input_value(input, "chName"),
                        "ChineseName");

    return iams_sdk_form_set(form, name, json_is_string(v) ? json_copy(v)
                                                           : NULL,
                             required);
}


int
iams_sdk_form_hkid(json_t *form, const char *name, const json_t *input,
    int brackets, int required)
{
    char           out[IAMS_SDK_HKID_MAX];
    const json_t  *v;

    v = iams_sdk_input_value(input, "idNo");

    return iams_sdk_form_set(form, name,
                             v != NULL
                             && iams_sdk_hkid_format(v, brackets, out,
                                                     sizeof(out)) == 0
                             ? json_string(out) : NULL,
                             required);
}


int
iams_sdk_form_phone(json_t *form, const char *name, const json_t *input,
    const char *const *fields, int required)
{
    char           out[32];
    size_t         i;
    const char    *cc;
    const json_t  *v;

    for (i = 0; fields[i] != NULL; i++) {
        v = iams_sdk_input_value(input, fields[i]);
        if (v == NULL) {
            continue;
        }

        cc = json_string_value(json_object_get(v, "CountryCode"));

        if (iams_sdk_phone_format(v, cc == NULL || strcmp(cc, "852") != 0,
                                  out, sizeof(out))
            == 0)
        {
            return iams_sdk_form_set(form, name, json_string(out), required);
        }
    }

    return iams_sdk_form_set(form, name, NULL, required);
}


/* ---- JSON pointers ---- */

json_t *
iams_sdk_pointer(const json_t *root, const char *pointer)
{
    char         token[IAMS_SDK_TOKEN_MAX];
    size_t       i, n, index;
    json_t      *v;
    const char  *p;

    v = (json_t *) root;

    if (pointer == NULL || v == NULL) {
        return NULL;
    }

    if (pointer[0] == '\0') {
        return v;
    }

    if (pointer[0] != '/') {
        return NULL;
    }

    p = pointer;

    while (*p == '/') {
        p++;
        n = 0;

        while (*p != '\0' && *p != '/') {
            if (n + 1 >= sizeof(token)) {
                return NULL;
            }

            if (*p == '~') {
                if (p[1] != '0' && p[1] != '1') {
                    return NULL;
                }
                token[n++] = p[1] == '0' ? '~' : '/';
                p += 2;
                continue;
            }

            token[n++] = *p++;
        }

        token[n] = '\0';

        if (json_is_object(v)) {
            v = json_object_getn(v, token, n);

        } else if (json_is_array(v)) {
            if (n == 0 || n > 6 || (n > 1 && token[0] == '0')) {
                return NULL;
            }

            index = 0;

            for (i = 0; i < n; i++) {
                if (!iams_sdk_is_digit(token[i])) {
                    return NULL;
                }
                index = index * 10 + (size_t) (token[i] - '0');
            }

            v = json_array_get(v, index);

        } else {
            return NULL;
        }

        if (v == NULL) {
            return NULL;
        }
    }

    return v;
}


const char *
iams_sdk_pointer_string(const json_t *root, const char *pointer)
{
    return json_string_value(iams_sdk_pointer(root, pointer));
}


/* ---- dates and times ---- */

typedef struct {
    int  year, month, day, hour, minute, second;
} iams_sdk_tm;


static int
iams_sdk_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


static int
iams_sdk_tm_ok(const iams_sdk_tm *t)
{
    static const int  days[12] = { 31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31 };

    return t->year >= 1800 && t->year <= 9999
           && t->month >= 1 && t->month <= 12 && t->day >= 1
           && t->day <= days[t->month - 1]
                        + (t->month == 2 && iams_sdk_leap(t->year))
           && t->hour >= 0 && t->hour <= 23 && t->minute >= 0
           && t->minute <= 59 && t->second >= 0 && t->second <= 59;
}


/* Which field a two-letter token sets, or NULL. */
static int *
iams_sdk_token(iams_sdk_tm *t, const char *p)
{
    if (strncmp(p, "MM", 2) == 0) {
        return &t->month;
    }
    if (strncmp(p, "DD", 2) == 0) {
        return &t->day;
    }
    if (strncmp(p, "hh", 2) == 0) {
        return &t->hour;
    }
    if (strncmp(p, "mm", 2) == 0) {
        return &t->minute;
    }
    if (strncmp(p, "ss", 2) == 0) {
        return &t->second;
    }

    return NULL;
}


static int
iams_sdk_is_token_start(const char *p)
{
    iams_sdk_tm  t;

    return strncmp(p, "YYYY", 4) == 0 || iams_sdk_token(&t, p) != NULL;
}


static int
iams_sdk_match(const char *in, size_t len, const char *pattern,
    iams_sdk_tm *t)
{
    int          *field, digits;
    size_t        i, k;
    const char   *p;

    memset(t, 0, sizeof(*t));

    i = 0;
    p = pattern;

    while (*p != '\0') {
        if (strncmp(p, "YYYY", 4) == 0) {
            for (k = 0; k < 4; k++) {
                if (i >= len || !iams_sdk_is_digit(in[i])) {
                    return -1;
                }
                t->year = t->year * 10 + (in[i++] - '0');
            }

            p += 4;
            continue;
        }

        field = iams_sdk_token(t, p);

        if (field != NULL) {
            p += 2;

            /* one digit only where a literal follows to end it */
            digits = (*p == '\0' || !iams_sdk_is_token_start(p)) ? 1 : 2;

            for (k = 0; k < 2; k++) {
                if (i >= len || !iams_sdk_is_digit(in[i])) {
                    break;
                }
                *field = *field * 10 + (in[i++] - '0');
            }

            if ((int) k < digits) {
                return -1;
            }

            continue;
        }

        if (i >= len || in[i] != *p) {
            return -1;
        }

        i++;
        p++;
    }

    return i == len ? 0 : -1;
}


int
iams_sdk_date_parse(const char *in, size_t len, const char *pattern,
    char out[9])
{
    iams_sdk_tm  t;

    if (in == NULL || iams_sdk_match(in, len, pattern, &t) != 0
        || !iams_sdk_tm_ok(&t))
    {
        return -1;
    }

    (void) snprintf(out, 9, "%04u%02u%02u", (unsigned) t.year % 10000u,
                    (unsigned) t.month % 100u, (unsigned) t.day % 100u);

    return 0;
}


int
iams_sdk_date_format(const char *yyyymmdd, const char *pattern, char *out,
    size_t cap)
{
    int          *field;
    size_t        n;
    const char   *p;
    iams_sdk_tm   t;

    if (yyyymmdd == NULL || strlen(yyyymmdd) != 8
        || iams_sdk_match(yyyymmdd, 8, "YYYYMMDD", &t) != 0
        || !iams_sdk_tm_ok(&t))
    {
        return -1;
    }

    n = 0;

    for (p = pattern; *p != '\0'; /* void */) {
        field = iams_sdk_token(&t, p);

        /* room for what this token writes and the final NUL */
        if (n + (strncmp(p, "YYYY", 4) == 0 ? 4 : field ? 2 : 1) >= cap) {
            return -1;
        }

        if (strncmp(p, "YYYY", 4) == 0) {
            n += (size_t) snprintf(out + n, cap - n, "%04u",
                                   (unsigned) t.year % 10000u);
            p += 4;
            continue;
        }

        if (field != NULL) {
            n += (size_t) snprintf(out + n, cap - n, "%02u",
                                   (unsigned) *field % 100u);
            p += 2;
            continue;
        }

        out[n++] = *p++;
    }

    if (n >= cap) {
        return -1;
    }

    out[n] = '\0';

    return 0;
}


/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
static long
iams_sdk_days(int y, int m, int d)
{
    long  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static void
iams_sdk_civil(long z, iams_sdk_tm *t)
{
    long  era, doe, yoe, doy, mp, y;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    t->day = (int) (doy - (153 * mp + 2) / 5 + 1);
    t->month = (int) (mp < 10 ? mp + 3 : mp - 9);
    t->year = (int) (y + (t->month <= 2));
}


int
iams_sdk_timestamp(const char *in, size_t len, const char *pattern,
    int tz_minutes, char out[21])
{
    int           sign, oh, om;
    long          secs, days;
    size_t        i;
    iams_sdk_tm   t;

    if (in == NULL) {
        return -1;
    }

    if (pattern != NULL) {
        if (iams_sdk_match(in, len, pattern, &t) != 0) {
            return -1;
        }

    } else {
        /* RFC 3339: the date and time, a fraction, then Z or an offset */
        if (len < 20 || iams_sdk_match(in, 19, "YYYY-MM-DDThh:mm:ss", &t)) {
            return -1;
        }

        i = 19;

        if (in[i] == '.') {
            for (i++; i < len && i < 30 && iams_sdk_is_digit(in[i]); i++) {
                /* void */
            }
        }

        if (i + 1 == len && (in[i] == 'Z' || in[i] == 'z')) {
            tz_minutes = 0;

        } else if (i + 6 == len && (in[i] == '+' || in[i] == '-')
                   && iams_sdk_is_digit(in[i + 1])
                   && iams_sdk_is_digit(in[i + 2]) && in[i + 3] == ':'
                   && iams_sdk_is_digit(in[i + 4])
                   && iams_sdk_is_digit(in[i + 5]))
        {
            sign = in[i] == '-' ? -1 : 1;
            oh = (in[i + 1] - '0') * 10 + (in[i + 2] - '0');
            om = (in[i + 4] - '0') * 10 + (in[i + 5] - '0');

            if (oh > 23 || om > 59) {
                return -1;
            }

            tz_minutes = sign * (oh * 60 + om);

        } else {
            return -1;
        }
    }

    if (!iams_sdk_tm_ok(&t) || tz_minutes < -24 * 60
        || tz_minutes > 24 * 60)
    {
        return -1;
    }

    secs = iams_sdk_days(t.year, t.month, t.day) * 86400L
           + t.hour * 3600L + t.minute * 60L + t.second
           - tz_minutes * 60L;

    days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    secs -= days * 86400;

    iams_sdk_civil(days, &t);
    t.hour = (int) (secs / 3600);
    t.minute = (int) (secs % 3600 / 60);
    t.second = (int) (secs % 60);

    if (!iams_sdk_tm_ok(&t)) {
        return -1;
    }

    /* the ranges are checked; the modulo tells the compiler so */
    (void) snprintf(out, 21, "%04u-%02u-%02uT%02u:%02u:%02uZ",
                    (unsigned) t.year % 10000u, (unsigned) t.month % 100u,
                    (unsigned) t.day % 100u, (unsigned) t.hour % 100u,
                    (unsigned) t.minute % 100u, (unsigned) t.second % 100u);

    return 0;
}


/* ---- names ---- */

json_t *
iams_sdk_en_name(const char *surname, const char *given)
{
    char    s[128], g[256], full[400];
    size_t  i;

    if (surname == NULL
        || iams_sdk_trim_copy(surname, strlen(surname), s, sizeof(s)) != 0
        || s[0] == '\0'
        || (given != NULL
            && iams_sdk_trim_copy(given, strlen(given), g, sizeof(g)) != 0))
    {
        return NULL;
    }

    if (given == NULL) {
        g[0] = '\0';
    }

    /* the platform writes the surname in capitals: "CHAN, Tai Man" */
    for (i = 0; s[i] != '\0'; i++) {
        s[i] = iams_sdk_upper(s[i]);
    }

    if (g[0] != '\0') {
        (void) snprintf(full, sizeof(full), "%s, %s", s, g);

    } else {
        (void) snprintf(full, sizeof(full), "%s", s);
    }

    return json_pack("{s:s}", "UnstructuredName", full);
}


/* Splits at the first comma, or else the first space. */
static int
iams_sdk_en_split(const char *full, char *surname, size_t surname_cap,
    char *given, size_t given_cap)
{
    const char  *cut, *rest;

    while (*full == ' ') {
        full++;
    }

    cut = strchr(full, ',');
    if (cut == NULL) {
        cut = strchr(full, ' ');
    }

    if (cut == NULL) {
        cut = full + strlen(full);
        rest = cut;

    } else {
        rest = cut + 1;
    }

    if (iams_sdk_trim_copy(full, (size_t) (cut - full), surname,
                           surname_cap) != 0
        || iams_sdk_trim_copy(rest, strlen(rest), given, given_cap) != 0
        || surname[0] == '\0')
    {
        return -1;
    }

    return 0;
}


json_t *
iams_sdk_en_name_text(const char *full)
{
    char  s[128], g[256];

    if (full == NULL || iams_sdk_en_split(full, s, sizeof(s), g, sizeof(g))) {
        return NULL;
    }

    return iams_sdk_en_name(s, g);
}


int
iams_sdk_en_name_split(const json_t *en_name, char *surname,
    size_t surname_cap, char *given, size_t given_cap)
{
    const char  *full;

    full = json_string_value(json_object_get(en_name, "UnstructuredName"));

    if (full == NULL) {
        return -1;
    }

    return iams_sdk_en_split(full, surname, surname_cap, given, given_cap);
}


json_t *
iams_sdk_zh_name(const char *full)
{
    char  name[128];

    if (full == NULL
        || iams_sdk_trim_copy(full, strlen(full), name, sizeof(name)) != 0
        || name[0] == '\0')
    {
        return NULL;
    }

    return json_pack("{s:s}", "ChineseName", name);
}


/* Bytes of the UTF-8 character at s (1 for anything malformed). */
static size_t
iams_sdk_utf8_len(const char *s)
{
    unsigned char  c = (unsigned char) s[0];
    size_t         n, i;

    n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3
        : (c >> 3) == 0x1e ? 4 : 1;

    for (i = 1; i < n; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            return 1;
        }
    }

    return n;
}


int
iams_sdk_zh_name_split(const json_t *zh_name, char *surname,
    size_t surname_cap, char *given, size_t given_cap)
{
    static const char *const  compound[] = {
        "歐陽", "司徒", "上官", "諸葛", "司馬",
        "東方", "皇甫", "尉遲", "公孫", "夏侯",
        "令狐", "慕容", "鍾離", "長孫", "宇文",
        "軒轅", "端木", "西門", "南宮", "獨孤", NULL
    };

    size_t       i, n;
    const char  *full;

    full = json_string_value(json_object_get(zh_name, "ChineseName"));

    if (full == NULL || full[0] == '\0') {
        return -1;
    }

    n = iams_sdk_utf8_len(full);

    for (i = 0; compound[i] != NULL; i++) {
        if (strncmp(full, compound[i], strlen(compound[i])) == 0
            && full[strlen(compound[i])] != '\0')
        {
            n = strlen(compound[i]);
            break;
        }
    }

    if (n + 1 > surname_cap || strlen(full + n) + 1 > given_cap) {
        return -1;
    }

    memcpy(surname, full, n);
    surname[n] = '\0';
    memcpy(given, full + n, strlen(full + n) + 1);

    return 0;
}


/* ---- phones and identity numbers ---- */

json_t *
iams_sdk_phone_parse(const char *text)
{
    static const char *const  codes[] = {
        "852", "853", "886", "86", "44", "65", "61", "81", "82", "91",
        "60", "66", "63", "62", "64", "33", "49", "1", NULL
    };

    char         digits[32], cc[8];
    size_t       i, n, cc_len;
    const char  *p;
    int          plus, group_end;

    if (text == NULL) {
        return NULL;
    }

    n = 0;
    plus = 0;
    group_end = -1;
    p = text;

    while (*p == ' ') {
        p++;
    }

    if (*p == '+') {
        plus = 1;
        p++;

    } else if (p[0] == '0' && p[1] == '0') {
        plus = 1;
        p += 2;

    } else if (*p == '(') {
        plus = 1;
        p++;
    }

    for (/* void */; *p != '\0'; p++) {
        if (iams_sdk_is_digit(*p)) {
            if (n + 1 >= sizeof(digits)) {
                return NULL;
            }
            digits[n++] = *p;

        } else if (*p == ' ' || *p == '-' || *p == ')' || *p == '(') {
            /* "+852 9123 4567": the first group is the country code */
            if (plus && group_end < 0 && n > 0) {
                group_end = (int) n;
            }

        } else {
            return NULL;
        }
    }

    digits[n] = '\0';

    if (!plus) {
        if (n != 8) {
            return NULL;
        }

        return json_pack("{s:s, s:s}", "CountryCode", "852",
                         "SubscriberNumber", digits);
    }

    if (group_end > 0 && group_end <= 4) {
        cc_len = (size_t) group_end;

    } else {
        for (i = 0; codes[i] != NULL; i++) {
            if (strncmp(digits, codes[i], strlen(codes[i])) == 0) {
                break;
            }
        }

        if (codes[i] == NULL) {
            return NULL;
        }

        cc_len = strlen(codes[i]);
    }

    if (n - cc_len < 4 || n - cc_len > 20) {
        return NULL;
    }

    memcpy(cc, digits, cc_len);
    cc[cc_len] = '\0';

    return json_pack("{s:s, s:s}", "CountryCode", cc, "SubscriberNumber",
                     digits + cc_len);
}


int
iams_sdk_phone_format(const json_t *phone, int e164, char *out, size_t cap)
{
    int          n;
    const char  *cc, *sub;

    cc = json_string_value(json_object_get(phone, "CountryCode"));
    sub = json_string_value(json_object_get(phone, "SubscriberNumber"));

    if (cc == NULL || sub == NULL) {
        return -1;
    }

    n = e164 ? snprintf(out, cap, "+%s%s", cc, sub)
             : snprintf(out, cap, "%s", sub);

    return (n < 0 || (size_t) n >= cap) ? -1 : 0;
}


/* The HKID check digit: weights 9..2 over a two-letter prefix (a single
 * letter is padded with a space worth 36), A=10..Z=35, digits as they are;
 * 11 - sum mod 11, where 10 is "A" and 11 is "0". */
static char
iams_sdk_hkid_check(const char *id, size_t n)
{
    int     sum, c;
    size_t  i;

    sum = n == 7 ? 36 * 9 : 0;

    for (i = 0; i < n; i++) {
        c = iams_sdk_is_digit(id[i]) ? id[i] - '0' : id[i] - 'A' + 10;
        sum += c * (int) (n + 1 - i);
    }

    c = 11 - sum % 11;

    return c == 11 ? '0' : c == 10 ? 'A' : (char) ('0' + c);
}


json_t *
iams_sdk_hkid_parse(const char *text)
{
    char    buf[16], id[9], check[2];
    size_t  i, n, letters;

    if (text == NULL) {
        return NULL;
    }

    n = 0;

    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] == ' ' || text[i] == '(' || text[i] == ')') {
            continue;
        }

        if (n + 1 >= sizeof(buf)) {
            return NULL;
        }

        buf[n++] = iams_sdk_upper(text[i]);
    }

    if (n < 8 || n > 9) {
        return NULL;
    }

    letters = n - 7;

    for (i = 0; i < n - 1; i++) {
        if (i < letters ? !(buf[i] >= 'A' && buf[i] <= 'Z')
                        : !iams_sdk_is_digit(buf[i]))
        {
            return NULL;
        }
    }

    memcpy(id, buf, n - 1);
    id[n - 1] = '\0';
    check[0] = buf[n - 1];
    check[1] = '\0';

    if (iams_sdk_hkid_check(id, n - 1) != check[0]) {
        return NULL;
    }

    return json_pack("{s:s, s:s}", "Identification", id, "CheckDigit",
                     check);
}


int
iams_sdk_hkid_format(const json_t *hkid, int brackets, char *out,
    size_t cap)
{
    int          n;
    const char  *id, *check;

    id = json_string_value(json_object_get(hkid, "Identification"));
    check = json_string_value(json_object_get(hkid, "CheckDigit"));

    if (id == NULL || check == NULL || strlen(id) < 7 || strlen(id) > 8
        || strlen(check) != 1)
    {
        return -1;
    }

    n = snprintf(out, cap, brackets ? "%s(%s)" : "%s%s", id, check);

    return (n < 0 || (size_t) n >= cap) ? -1 : 0;
}


/* ---- addresses ---- */

typedef struct {
    const char  *code;
    const char  *en;
    const char  *zh;
} iams_sdk_place;

static const iams_sdk_place  iams_sdk_districts[] = {
    { "CW",  "Central and Western", "中西區" },
    { "WC",  "Wan Chai",            "灣仔" },
    { "EST", "Eastern",             "東區" },
    { "SOU", "Southern",            "南區" },
    { "YTM", "Yau Tsim Mong",       "油尖旺" },
    { "SSP", "Sham Shui Po",        "深水埗" },
    { "KC",  "Kowloon City",        "九龍城" },
    { "WTS", "Wong Tai Sin",        "黃大仙" },
    { "KT",  "Kwun Tong",           "觀塘" },
    { "KWT", "Kwai Tsing",          "葵青" },
    { "TW",  "Tsuen Wan",           "荃灣" },
    { "TM",  "Tuen Mun",            "屯門" },
    { "YL",  "Yuen Long",           "元朗" },
    { "NTH", "North",               "北區" },
    { "TP",  "Tai Po",              "大埔" },
    { "ST",  "Sha Tin",             "沙田" },
    { "SK",  "Sai Kung",            "西貢" },
    { "IS",  "Islands",             "離島" },
    { NULL, NULL, NULL }
};

static const iams_sdk_place  iams_sdk_regions[] = {
    { "HK",  "Hong Kong",       "香港" },
    { "KLN", "Kowloon",         "九龍" },
    { "NT",  "New Territories", "新界" },
    { NULL, NULL, NULL }
};


static const char *
iams_sdk_place_name(const iams_sdk_place *places, const char *code,
    int chinese)
{
    size_t  i;

    if (code == NULL) {
        return NULL;
    }

    for (i = 0; places[i].code != NULL; i++) {
        if (strcmp(places[i].code, code) == 0) {
            return chinese ? places[i].zh : places[i].en;
        }
    }

    return code;
}


const char *
iams_sdk_district_name(const char *code, int chinese)
{
    return iams_sdk_place_name(iams_sdk_districts, code, chinese);
}


const char *
iams_sdk_region_name(const char *code, int chinese)
{
    return iams_sdk_place_name(iams_sdk_regions, code, chinese);
}


/* Sets obj[key] = {k1: v1, k2: v2} with the pairs whose value is given. */
static int
iams_sdk_set_pair(json_t *obj, const char *key, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
    json_t  *o;

    if (v1 == NULL && v2 == NULL) {
        return 0;
    }

    o = json_object();

    if (o == NULL
        || (v1 != NULL && json_object_set_new(o, k1, json_string(v1)) != 0)
        || (v2 != NULL && json_object_set_new(o, k2, json_string(v2)) != 0))
    {
        json_decref(o);
        return -1;
    }

    return json_object_set_new(obj, key, o);
}


json_t *
iams_sdk_address_premises(const iams_sdk_premises *p, int chinese)
{
    int      rc;
    json_t  *a, *d3;

    if (p->unit == NULL && p->floor == NULL && p->block == NULL
        && p->building == NULL && p->estate == NULL && p->street == NULL
        && p->district == NULL)
    {
        return NULL;
    }

    /* the schema knows three regions; anything else is not an address */
    if (p->region != NULL && strcmp(p->region, "HK") != 0
        && strcmp(p->region, "KLN") != 0 && strcmp(p->region, "NT") != 0)
    {
        return NULL;
    }

    a = json_object();
    d3 = json_object();

    if (a == NULL || d3 == NULL) {
        json_decref(a);
        json_decref(d3);
        return NULL;
    }

    rc = 0;

    if (chinese) {
        rc |= iams_sdk_set_pair(d3, "ChiUnit", "UnitDescriptor",
                                p->unit ? "室" : NULL, "UnitNo", p->unit);
        rc |= iams_sdk_set_pair(d3, "ChiFloor", "Floor", p->floor, "", NULL);
        rc |= iams_sdk_set_pair(a, "ChiBlock", "BlockDescriptor",
                                p->block ? "座" : NULL, "BlockNo", p->block);
        rc |= iams_sdk_set_pair(a, "ChiEstate", "EstateName", p->estate, "",
                                NULL);
        rc |= iams_sdk_set_pair(a, "ChiStreet", "StreetName", p->street,
                                "BuildingNoFrom", p->building_no);
        rc |= iams_sdk_set_pair(a, "ChiDistrict", "DcDistrict", p->district,
                                "", NULL);

    } else {
        rc |= iams_sdk_set_pair(d3, "EngUnit", "UnitDescriptor",
                                p->unit ? "Flat" : NULL, "UnitNo", p->unit);
        rc |= iams_sdk_set_pair(d3, "EngFloor", "Floor", p->floor, "", NULL);
        rc |= iams_sdk_set_pair(a, "EngBlock", "BlockDescriptor",
                                p->block ? "Block" : NULL, "BlockNo",
                                p->block);
        rc |= iams_sdk_set_pair(a, "EngEstate", "EstateName", p->estate, "",
                                NULL);
        rc |= iams_sdk_set_pair(a, "EngStreet", "StreetName", p->street,
                                "BuildingNoFrom", p->building_no);
        rc |= iams_sdk_set_pair(a, "EngDistrict", "DcDistrict", p->district,
                                "", NULL);
    }

    if (p->building != NULL) {
        rc |= json_object_set_new(a, "BuildingName",
                                  json_string(p->building));
    }

    if (p->region != NULL) {
        rc |= json_object_set_new(a, "Region", json_string(p->region));
    }

    if (json_object_size(d3) > 0) {
        rc |= json_object_set(a, chinese ? "Chi3dAddress" : "Eng3dAddress",
                              d3);
    }

    json_decref(d3);

    if (rc != 0) {
        json_decref(a);
        return NULL;
    }

    return json_pack("{s:o}", chinese ? "ChiPremisesAddress"
                                      : "EngPremisesAddress", a);
}


json_t *
iams_sdk_address_free(const char *line1, const char *line2,
    const char *line3)
{
    json_t  *a;

    if (line1 == NULL || line1[0] == '\0') {
        return NULL;
    }

    a = json_pack("{s:s}", "AddressLine1", line1);

    if (a == NULL
        || (line2 != NULL && line2[0] != '\0'
            && json_object_set_new(a, "AddressLine2", json_string(line2)))
        || (line3 != NULL && line3[0] != '\0'
            && json_object_set_new(a, "AddressLine3", json_string(line3))))
    {
        json_decref(a);
        return NULL;
    }

    return json_pack("{s:o}", "FreeFormatAddress", a);
}


static const char *
iams_sdk_at(const json_t *obj, const char *pointer)
{
    return iams_sdk_pointer_string(obj, pointer);
}


static int
iams_sdk_add_line(json_t *lines, const char *line)
{
    if (line == NULL || line[0] == '\0') {
        return 0;
    }

    return json_array_append_new(lines, json_string(line));
}


static int
iams_sdk_premises_en(const json_t *a, json_t *lines)
{
    int          rc;
    char         line[IAMS_SDK_LINE_MAX], part[IAMS_SDK_LINE_MAX];
    const char  *s;

    rc = 0;
    line[0] = '\0';

    part[0] = '\0';
    iams_sdk_join(part, sizeof(part), " ",
                  iams_sdk_at(a, "/Eng3dAddress/EngUnit/UnitDescriptor"));
    iams_sdk_join(part, sizeof(part), " ",
                  iams_sdk_at(a, "/Eng3dAddress/EngUnit/UnitNo"));
    iams_sdk_join(line, sizeof(line), ", ", part);

    s = iams_sdk_at(a, "/Eng3dAddress/EngFloor/Floor");
    if (s != NULL) {
        (void) snprintf(part, sizeof(part), "%s/F", s);
        iams_sdk_join(line, sizeof(line), ", ", part);
    }

    part[0] = '\0';
    iams_sdk_join(part, sizeof(part), " ",
                  iams_sdk_at(a, "/EngBlock/BlockDescriptor"));
    iams_sdk_join(part, sizeof(part), " ", iams_sdk_at(a, "/EngBlock/BlockNo"));
    iams_sdk_join(line, sizeof(line), ", ", part);

    rc |= iams_sdk_add_line(lines, line);
    rc |= iams_sdk_add_line(lines, iams_sdk_at(a, "/BuildingName"));
    rc |= iams_sdk_add_line(lines, iams_sdk_at(a, "/EngEstate/EstateName"));

    line[0] = '\0';
    iams_sdk_join(line, sizeof(line), " ",
                  iams_sdk_at(a, "/EngStreet/BuildingNoFrom"));
    iams_sdk_join(line, sizeof(line), " ",
                  iams_sdk_at(a, "/EngStreet/StreetName"));
    rc |= iams_sdk_add_line(lines, line);

    line[0] = '\0';
    iams_sdk_join(line, sizeof(line), ", ",
                  iams_sdk_district_name(
                      iams_sdk_at(a, "/EngDistrict/DcDistrict"), 0));
    iams_sdk_join(line, sizeof(line), ", ",
                  iams_sdk_region_name(iams_sdk_at(a, "/Region"), 0));
    rc |= iams_sdk_add_line(lines, line);

    return rc;
}


static int
iams_sdk_premises_zh(const json_t *a, json_t *lines)
{
    int          rc;
    char         line[IAMS_SDK_LINE_MAX];
    const char  *s;

    rc = 0;

    line[0] = '\0';
    iams_sdk_join(line, sizeof(line), "",
                  iams_sdk_region_name(iams_sdk_at(a, "/Region"), 1));
    iams_sdk_join(line, sizeof(line), "",
                  iams_sdk_district_name(
                      iams_sdk_at(a, "/ChiDistrict/DcDistrict"), 1));
    rc |= iams_sdk_add_line(lines, line);

    line[0] = '\0';
    iams_sdk_join(line, sizeof(line), "",
                  iams_sdk_at(a, "/ChiStreet/StreetName"));
    s = iams_sdk_at(a, "/ChiStreet/BuildingNoFrom");
    if (s != NULL) {
        iams_sdk_join(line, sizeof(line), "", s);
        iams_sdk_join(line, sizeof(line), "", "號");
    }
    rc |= iams_sdk_add_line(lines, line);

    rc |= iams_sdk_add_line(lines, iams_sdk_at(a, "/ChiEstate/EstateName"));
    rc |= iams_sdk_add_line(lines, iams_sdk_at(a, "/BuildingName"));

    line[0] = '\0';
    iams_sdk_join(line, sizeof(line), "", iams_sdk_at(a, "/ChiBlock/BlockNo"));
    iams_sdk_join(line, sizeof(line), "",
                  iams_sdk_at(a, "/ChiBlock/BlockDescriptor"));
    s = iams_sdk_at(a, "/Chi3dAddress/ChiFloor/Floor");
    if (s != NULL) {
        iams_sdk_join(line, sizeof(line), "", s);
        iams_sdk_join(line, sizeof(line), "", "樓");
    }
    iams_sdk_join(line, sizeof(line), "",
                  iams_sdk_at(a, "/Chi3dAddress/ChiUnit/UnitNo"));
    iams_sdk_join(line, sizeof(line), "",
                  iams_sdk_at(a, "/Chi3dAddress/ChiUnit/UnitDescriptor"));
    rc |= iams_sdk_add_line(lines, line);

    return rc;
}


json_t *
iams_sdk_address_lines(const json_t *address, const char *lang)
{
    int          rc, zh;
    char         line[IAMS_SDK_LINE_MAX];
    json_t      *lines, *a;
    const char  *s;

    if (!json_is_object(address) || json_object_size(address) != 1) {
        return NULL;
    }

    zh = lang != NULL && strcmp(lang, "zh-HK") == 0;
    lines = json_array();
    rc = 0;

    if ((a = json_object_get(address, "EngPremisesAddress")) != NULL) {
        rc = iams_sdk_premises_en(a, lines);

    } else if ((a = json_object_get(address, "ChiPremisesAddress")) != NULL) {
        rc = iams_sdk_premises_zh(a, lines);

    } else if ((a = json_object_get(address, "FreeFormatAddress")) != NULL) {
        rc |= iams_sdk_add_line(lines, iams_sdk_at(a, "/AddressLine1"));
        rc |= iams_sdk_add_line(lines, iams_sdk_at(a, "/AddressLine2"));
        rc |= iams_sdk_add_line(lines, iams_sdk_at(a, "/AddressLine3"));

    } else if ((a = json_object_get(address, "PostBoxAddress")) != NULL) {
        s = iams_sdk_at(a, "/PoBoxNo");

        if (s != NULL) {
            (void) snprintf(line, sizeof(line),
                            zh ? "郵政信箱%s號" : "P.O. Box %s", s);
            rc |= iams_sdk_add_line(lines, line);
        }

        rc |= iams_sdk_add_line(lines, iams_sdk_at(a, "/PostOffice"));
        rc |= iams_sdk_add_line(lines,
                  iams_sdk_region_name(iams_sdk_at(a, "/Region"), zh));

    } else {
        rc = -1;
    }

    if (rc != 0 || json_array_size(lines) == 0) {
        json_decref(lines);
        return NULL;
    }

    return lines;
}


int
iams_sdk_address_text(const json_t *address, const char *lang, char *out,
    size_t cap)
{
    int          zh;
    size_t       i;
    json_t      *lines, *v;

    lines = iams_sdk_address_lines(address, lang);
    if (lines == NULL || cap == 0) {
        json_decref(lines);
        return -1;
    }

    /* the lines are Chinese when the address or the post box line is */
    zh = json_object_get(address, "ChiPremisesAddress") != NULL
         || (lang != NULL && strcmp(lang, "zh-HK") == 0
             && json_object_get(address, "PostBoxAddress") != NULL);

    out[0] = '\0';

    json_array_foreach(lines, i, v) {
        iams_sdk_join(out, cap, zh ? "" : ", ", json_string_value(v));
    }

    json_decref(lines);

    return strlen(out) + 1 < cap ? 0 : -1;
}
