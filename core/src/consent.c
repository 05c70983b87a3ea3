/*
 * Consent artefacts: the rules of a valid record, creation from approved
 * terms, and the JSON record (format and rules in consent.h).
 *
 * Every rule lives in iams_consent_validate, which reports the broken one
 * in JSON terms ("sources[1].items[0]"); the JSON readers below only check
 * types, member names and that a string fits its array, and then call it.
 * If you add a member, add it to the struct, to iams_consent_validate, to
 * the readers here and the writers in consent_json.c, and raise the
 * version: a version 1 reader rejects members it does not know.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <iamsmart/consent.h>
#include <iamsmart/encoding.h>
#include <iamsmart/random.h>

#include "adapter_internal.h"

#define IAMS_PATH_MAX  64


static const char *const  iams_consent_status_names[] = {
    [IAMS_CONSENT_STATUS_ACTIVE]  = "ACTIVE",
    [IAMS_CONSENT_STATUS_PAUSED]  = "PAUSED",
    [IAMS_CONSENT_STATUS_REVOKED] = "REVOKED",
    [IAMS_CONSENT_STATUS_EXPIRED] = "EXPIRED",
};

#define IAMS_CONSENT_NSTATUS                                                 \
    (sizeof(iams_consent_status_names) / sizeof(iams_consent_status_names[0]))


const char *
iams_consent_status_name(iams_consent_status st)
{
    if ((unsigned) st >= IAMS_CONSENT_NSTATUS) {
        return "UNKNOWN";
    }

    return iams_consent_status_names[st];
}


/* ---- shapes ---- */

static int
iams_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static int
iams_is_alnum(unsigned char c)
{
    return iams_is_alpha(c) || (c >= '0' && c <= '9');
}


static int
iams_consent_ref_ok(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > IAMS_CONSENT_REF_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (!iams_is_alnum(c) && c != '.' && c != '_' && c != '~' && c != ':'
            && c != '-')
        {
            return 0;
        }
    }

    return 1;
}


static int
iams_consent_dept_ok(const char *s, size_t len)
{
    size_t  i;

    if (len < IAMS_CONSENT_DEPT_MIN || len > IAMS_CONSENT_DEPT_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!iams_is_alpha((unsigned char) s[i])) {
            return 0;
        }
    }

    return 1;
}


/* a department code in lower case: the prefix of its ids */
static void
iams_consent_dept_prefix(const char *dept, char out[IAMS_CONSENT_DEPT_MAX + 1])
{
    size_t  i;

    for (i = 0; i < IAMS_CONSENT_DEPT_MAX && dept[i] != '\0'; i++) {
        out[i] = (char) (dept[i] | 0x20);
    }

    out[i] = '\0';
}


static int
iams_consent_dept_equal(const char *a, size_t alen, const char *b,
    size_t blen)
{
    size_t  i;

    if (alen != blen) {
        return 0;
    }

    for (i = 0; i < alen; i++) {
        if ((a[i] | 0x20) != (b[i] | 0x20)) {
            return 0;
        }
    }

    return 1;
}


static int
iams_consent_code_ok(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > IAMS_CONSENT_PURPOSE_CODE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (!iams_is_alnum(c) && c != '.' && c != '_' && c != '-') {
            return 0;
        }
    }

    return 1;
}


/*
 * Well-formed UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF) without C0 or C1 controls, DEL, or the bidirectional
 * embeddings, overrides and isolates U+202A..U+202E and U+2066..U+2069.
 */
static int
iams_consent_text_ok(const char *s, size_t len)
{
    size_t         i, n, k;
    uint32_t       cp, min;
    unsigned char  c;

    if (len == 0 || len > IAMS_CONSENT_PURPOSE_TEXT_MAX) {
        return 0;
    }

    for (i = 0; i < len; i += n) {
        c = (unsigned char) s[i];

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return 0;
            }
            n = 1;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 2; cp = c & 0x1f; min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3; cp = c & 0x0f; min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4; cp = c & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            c = (unsigned char) s[i + k];
            if ((c & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (c & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)
            || (cp >= 0x80 && cp <= 0x9f)
            || (cp >= 0x202a && cp <= 0x202e)
            || (cp >= 0x2066 && cp <= 0x2069))
        {
            return 0;
        }
    }

    return 1;
}


int
iams_consent_id_ok(const char *id, size_t len)
{
    size_t         n;
    unsigned char  raw[IAMS_CONSENT_ID_BYTES + 2];

    return len == IAMS_CONSENT_ID_LEN
           && iams_b64url_decode(id, len, raw, sizeof(raw), &n) == IAMS_OK
           && n == IAMS_CONSENT_ID_BYTES;
}


/* copies s[0..len) with a NUL into buf when it fits */
static int
iams_consent_cstr(const char *s, size_t len, char *buf, size_t cap)
{
    if (len >= cap || memchr(s, '\0', len) != NULL) {
        return 0;
    }

    memcpy(buf, s, len);
    buf[len] = '\0';

    return 1;
}


int
iams_consent_item_ok(const char *s, size_t len)
{
    char  name[IAMS_CONSENT_ITEM_MAX + 1];

    return iams_consent_cstr(s, len, name, sizeof(name))
           && (iams_adapter_platform_field_find(name) != NULL
               || iams_adapter_id_ok(name, NULL));
}


/* NULL when name may be listed under a source with that prefix; else
 * why not */
static const char *
iams_consent_item_why(const char *name, const char *prefix)
{
    if (iams_adapter_platform_field_find(name) != NULL
        || iams_adapter_id_ok(name, prefix))
    {
        return NULL;
    }

    if (iams_adapter_id_ok(name, NULL)) {
        return "a data set of another department";
    }

    return "neither a profile or e-ME field name nor a \"<dept>.<dataset>\"";
}


int
iams_consent_item_source(const iams_consent *c, const char *item, size_t len)
{
    size_t  i;

    for (i = 0; i < c->nitems; i++) {
        if (strlen(c->items[i].name) == len
            && memcmp(c->items[i].name, item, len) == 0)
        {
            return (int) c->items[i].source;
        }
    }

    return -1;
}


int
iams_consent_citizen_is(const iams_consent *c, const char *ref, size_t len)
{
    return strlen(c->citizen) == len && len > 0
           && CRYPTO_memcmp(c->citizen, ref, len) == 0;
}


/* ---- the rules ---- */

static iams_status
iams_consent_bad(iams_err *err, const char *path, const char *why)
{
    return iams_err_set(err, IAMS_ERR_MALFORMED, "consent: %s: %s", path,
                        why);
}


/* a string member of the struct: NUL-terminated inside its array */
static int
iams_consent_terminated(const char *s, size_t cap, size_t *len)
{
    const char  *nul;

    nul = memchr(s, '\0', cap);
    if (nul == NULL) {
        return 0;
    }

    *len = (size_t) (nul - s);

    return 1;
}

#define IAMS_TERMINATED(field, lenp)                                         \
    iams_consent_terminated(field, sizeof(field), lenp)


static iams_status
iams_consent_validate_party(const iams_consent_party *p, const char *path,
    iams_err *err)
{
    char    where[IAMS_PATH_MAX];
    size_t  len;

    snprintf(where, sizeof(where), "%s.department", path);

    if (!IAMS_TERMINATED(p->department, &len)
        || !iams_consent_dept_ok(p->department, len))
    {
        return iams_consent_bad(err, where, "must be 2 to 8 letters");
    }

    snprintf(where, sizeof(where), "%s.subject", path);

    if (!IAMS_TERMINATED(p->subject, &len)
        || !iams_consent_ref_ok(p->subject, len))
    {
        return iams_consent_bad(err, where,
                                "must be 1 to 128 characters of "
                                "[A-Za-z0-9._~:-]");
    }

    return IAMS_OK;
}


static iams_status
iams_consent_validate_sources(const iams_consent *c, iams_err *err)
{
    char         path[IAMS_PATH_MAX];
    char         prefix[IAMS_CONSENT_DEPT_MAX + 1];
    size_t       i, j, k, len, first;
    const char  *why;
    iams_status  rc;

    if (c->nsources == 0 || c->nsources > IAMS_CONSENT_SOURCES_MAX) {
        return iams_consent_bad(err, "sources", "must hold 1 to 16 sources");
    }

    if (c->nitems > IAMS_CONSENT_ITEMS_MAX) {
        return iams_consent_bad(err, "sources", "more than 32 items in all");
    }

    for (i = 0; i < c->nsources; i++) {
        snprintf(path, sizeof(path), "sources[%zu]", i);

        rc = iams_consent_validate_party(&c->sources[i], path, err);
        if (rc != IAMS_OK) {
            return rc;
        }

        for (j = 0; j < i; j++) {
            if (iams_consent_dept_equal(c->sources[j].department,
                                        strlen(c->sources[j].department),
                                        c->sources[i].department,
                                        strlen(c->sources[i].department)))
            {
                return iams_consent_bad(err, path,
                                        "department listed twice");
            }
        }
    }

    first = 0;

    for (k = 0; k < c->nitems; k++) {
        i = c->items[k].source;

        if (i >= c->nsources || (k > 0 && i < c->items[k - 1].source)) {
            snprintf(path, sizeof(path), "items[%zu]", k);
            return iams_consent_bad(err, path,
                                    "not grouped by an existing source");
        }

        if (k == 0 || i != c->items[k - 1].source) {
            first = k;
        }

        snprintf(path, sizeof(path), "sources[%zu].items[%zu]", i, k - first);

        if (!IAMS_TERMINATED(c->items[k].name, &len) || len == 0) {
            return iams_consent_bad(err, path, "empty or too long");
        }

        iams_consent_dept_prefix(c->sources[i].department, prefix);
        why = iams_consent_item_why(c->items[k].name, prefix);

        if (why != NULL) {
            return iams_consent_bad(err, path, why);
        }

        for (j = 0; j < k; j++) {
            if (strcmp(c->items[j].name, c->items[k].name) == 0) {
                return iams_consent_bad(err, path, "item listed twice");
            }
        }
    }

    for (i = 0; i < c->nsources; i++) {
        for (k = 0; k < c->nitems && c->items[k].source != i; k++) {
            /* void */
        }

        if (k == c->nitems) {
            snprintf(path, sizeof(path), "sources[%zu].items", i);
            return iams_consent_bad(err, path, "must name 1 or more items");
        }
    }

    return IAMS_OK;
}


static iams_status
iams_consent_validate_terms(const iams_consent *c, iams_err *err)
{
    char         prefix[IAMS_CONSENT_DEPT_MAX + 1];
    size_t       len;
    iams_status  rc;

    rc = iams_consent_validate_party(&c->requester, "requester", err);
    if (rc != IAMS_OK) {
        return rc;
    }

    iams_consent_dept_prefix(c->requester.department, prefix);

    if (!IAMS_TERMINATED(c->service, &len)
        || !iams_adapter_id_ok(c->service, prefix))
    {
        return iams_consent_bad(err, "requester.service",
                                "must be a \"<dept>.<name>\" id of the "
                                "requesting department");
    }

    rc = iams_consent_validate_sources(c, err);
    if (rc != IAMS_OK) {
        return rc;
    }

    if (!IAMS_TERMINATED(c->purpose_code, &len)
        || !iams_consent_code_ok(c->purpose_code, len))
    {
        return iams_consent_bad(err, "purpose.code",
                                "must be 1 to 64 characters of "
                                "[A-Za-z0-9._-]");
    }

    if (!IAMS_TERMINATED(c->purpose_en, &len)
        || !iams_consent_text_ok(c->purpose_en, len))
    {
        return iams_consent_bad(err, "purpose.text.en",
                                "must be 1 to 1024 bytes of UTF-8 without "
                                "control or bidirectional formatting "
                                "characters");
    }

    if (!IAMS_TERMINATED(c->purpose_zh, &len)
        || !iams_consent_text_ok(c->purpose_zh, len))
    {
        return iams_consent_bad(err, "purpose.text.zh-HK",
                                "must be 1 to 1024 bytes of UTF-8 without "
                                "control or bidirectional formatting "
                                "characters");
    }

    if (c->max_uses < 0 || c->max_uses > IAMS_CONSENT_USES_MAX) {
        return iams_consent_bad(err, "max_uses", "out of range");
    }

    if (!((c->freq_max == 0 && c->freq_period == 0)
          || (c->freq_max >= 1 && c->freq_max <= IAMS_CONSENT_USES_MAX
              && c->freq_period >= IAMS_CONSENT_PERIOD_MIN
              && c->freq_period <= IAMS_CONSENT_PERIOD_MAX)))
    {
        return iams_consent_bad(err, "frequency",
                                "max must be 1 to 1000000 and period 60 s "
                                "to 366 days");
    }

    if (c->data_life < 0 || c->data_life > IAMS_CONSENT_DATA_LIFE_MAX) {
        return iams_consent_bad(err, "data_life", "out of range");
    }

    return IAMS_OK;
}


iams_status
iams_consent_validate(const iams_consent *c, iams_err *err)
{
    size_t       len;
    iams_status  rc;

    if (!IAMS_TERMINATED(c->id, &len) || !iams_consent_id_ok(c->id, len)) {
        return iams_consent_bad(err, "id",
                                "must be 22 base64url characters encoding "
                                "16 bytes");
    }

    if (!IAMS_TERMINATED(c->citizen, &len)
        || !iams_consent_ref_ok(c->citizen, len))
    {
        return iams_consent_bad(err, "citizen",
                                "must be 1 to 128 characters of "
                                "[A-Za-z0-9._~:-]");
    }

    rc = iams_consent_validate_terms(c, err);
    if (rc != IAMS_OK) {
        return rc;
    }

    if (c->created < 0 || c->created > IAMS_CONSENT_TIME_MAX) {
        return iams_consent_bad(err, "created", "out of range");
    }

    if (c->not_before < c->created
        || c->not_before > c->created + IAMS_CONSENT_START_MAX)
    {
        return iams_consent_bad(err, "not_before",
                                "must be from created to 366 days later");
    }

    if (c->expires <= c->not_before
        || c->expires > c->created + IAMS_CONSENT_LIFETIME_MAX
        || c->expires > IAMS_CONSENT_TIME_MAX)
    {
        return iams_consent_bad(err, "expires",
                                "must be after not_before and at most 5 "
                                "years after created");
    }

    if ((unsigned) c->status >= IAMS_CONSENT_NSTATUS) {
        return iams_consent_bad(err, "status", "unknown status");
    }

    if (c->status_changed < c->created
        || c->status_changed > IAMS_CONSENT_TIME_MAX)
    {
        return iams_consent_bad(err, "status_changed",
                                "must not be before created");
    }

    if (c->use_count < 0 || c->use_count > IAMS_CONSENT_USES_MAX
        || (c->max_uses > 0 && c->use_count > c->max_uses))
    {
        return iams_consent_bad(err, "use_count",
                                "negative or above max_uses");
    }

    if (c->last_used != 0
        && (c->last_used < c->created
            || c->last_used > IAMS_CONSENT_TIME_MAX))
    {
        return iams_consent_bad(err, "last_used",
                                "must be 0 or not before created");
    }

    return IAMS_OK;
}


/* ---- reading JSON ---- */

/* s itself when it is short printable ASCII, so that a detail that ends
 * up in a log line cannot carry a line break or an escape sequence */
static const char *
iams_consent_shown(const char *s)
{
    size_t  i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i == 32 || s[i] < 0x20 || s[i] > 0x7e) {
            return "(not shown)";
        }
    }

    return s;
}


/* which members an object may have, NULL-terminated */
static iams_status
iams_consent_members(const json_t *obj, const char *path,
    const char *const *allowed, iams_err *err)
{
    size_t       i;
    const char  *key;
    json_t      *v;

    if (!json_is_object(obj)) {
        return iams_consent_bad(err, path, "missing or not an object");
    }

    json_object_foreach((json_t *) obj, key, v) {
        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(allowed[i], key) == 0) {
                break;
            }
        }

        if (allowed[i] == NULL) {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "consent: %s: unexpected member \"%s\"",
                                path, iams_consent_shown(key));
        }
    }

    return IAMS_OK;
}


static iams_status
iams_consent_get_str(const json_t *obj, const char *name, const char *path,
    char *dst, size_t cap, iams_err *err)
{
    char           where[IAMS_PATH_MAX];
    const json_t  *j;

    snprintf(where, sizeof(where), "%s%s%s", path, *path ? "." : "", name);

    j = json_object_get(obj, name);

    if (!json_is_string(j)) {
        return iams_consent_bad(err, where, "missing or not a string");
    }

    if (!iams_consent_cstr(json_string_value(j), json_string_length(j), dst,
                           cap))
    {
        return iams_consent_bad(err, where, "too long");
    }

    return IAMS_OK;
}


/* an integer in [0, IAMS_CONSENT_TIME_MAX]; finer ranges are validated */
static iams_status
iams_consent_get_int(const json_t *obj, const char *name, const char *path,
    int64_t *out, iams_err *err)
{
    char           where[IAMS_PATH_MAX];
    json_int_t     v;
    const json_t  *j;

    snprintf(where, sizeof(where), "%s%s%s", path, *path ? "." : "", name);

    j = json_object_get(obj, name);

    if (!json_is_integer(j)) {
        return iams_consent_bad(err, where, "missing or not an integer");
    }

    v = json_integer_value(j);

    if (v < 0 || v > IAMS_CONSENT_TIME_MAX) {
        return iams_consent_bad(err, where, "out of range");
    }

    *out = (int64_t) v;

    return IAMS_OK;
}


static iams_status
iams_consent_read_party(const json_t *obj, const char *path,
    iams_consent_party *p, char *service, iams_err *err)
{
    static const char *const  requester_keys[] = {
        "department", "service", "subject", NULL
    };
    static const char *const  source_keys[] = {
        "department", "subject", "items", NULL
    };

    iams_status  rc;

    rc = iams_consent_members(obj, path,
                              service ? requester_keys : source_keys, err);

    if (rc == IAMS_OK) {
        rc = iams_consent_get_str(obj, "department", path, p->department,
                                  sizeof(p->department), err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_str(obj, "subject", path, p->subject,
                                  sizeof(p->subject), err);
    }

    if (rc == IAMS_OK && service != NULL) {
        rc = iams_consent_get_str(obj, "service", path, service,
                                  IAMS_CONSENT_SERVICE_MAX + 1, err);
    }

    return rc;
}


static iams_status
iams_consent_read_sources(const json_t *arr, iams_consent *c, iams_err *err)
{
    char            path[IAMS_PATH_MAX], where[IAMS_PATH_MAX];
    size_t          i, j;
    const json_t   *src, *items, *item;
    iams_status     rc;

    if (!json_is_array(arr)) {
        return iams_consent_bad(err, "sources", "missing or not an array");
    }

    if (json_array_size(arr) == 0
        || json_array_size(arr) > IAMS_CONSENT_SOURCES_MAX)
    {
        return iams_consent_bad(err, "sources", "must hold 1 to 16 sources");
    }

    json_array_foreach(arr, i, src) {
        snprintf(path, sizeof(path), "sources[%zu]", i);

        rc = iams_consent_read_party(src, path, &c->sources[i], NULL, err);
        if (rc != IAMS_OK) {
            return rc;
        }

        c->nsources = i + 1;

        items = json_object_get(src, "items");
        snprintf(where, sizeof(where), "sources[%zu].items", i);

        if (!json_is_array(items)) {
            return iams_consent_bad(err, where, "missing or not an array");
        }

        json_array_foreach(items, j, item) {
            snprintf(where, sizeof(where), "sources[%zu].items[%zu]", i, j);

            if (c->nitems == IAMS_CONSENT_ITEMS_MAX) {
                return iams_consent_bad(err, where,
                                        "more than 32 items in all");
            }

            if (!json_is_string(item)) {
                return iams_consent_bad(err, where, "not a string");
            }

            if (!iams_consent_cstr(json_string_value(item),
                                   json_string_length(item),
                                   c->items[c->nitems].name,
                                   sizeof(c->items[0].name)))
            {
                return iams_consent_bad(err, where, "too long");
            }

            c->items[c->nitems++].source = (unsigned) i;
        }
    }

    return IAMS_OK;
}


static iams_status
iams_consent_read_purpose(const json_t *obj, iams_consent *c, iams_err *err)
{
    static const char *const  purpose_keys[] = { "code", "text", NULL };
    static const char *const  text_keys[] = { "en", "zh-HK", NULL };

    const json_t  *text;
    iams_status    rc;

    rc = iams_consent_members(obj, "purpose", purpose_keys, err);

    if (rc == IAMS_OK) {
        rc = iams_consent_get_str(obj, "code", "purpose", c->purpose_code,
                                  sizeof(c->purpose_code), err);
    }

    if (rc != IAMS_OK) {
        return rc;
    }

    text = json_object_get(obj, "text");

    rc = iams_consent_members(text, "purpose.text", text_keys, err);

    if (rc == IAMS_OK) {
        rc = iams_consent_get_str(text, "en", "purpose.text", c->purpose_en,
                                  sizeof(c->purpose_en), err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_str(text, "zh-HK", "purpose.text",
                                  c->purpose_zh, sizeof(c->purpose_zh), err);
    }

    return rc;
}


/* the members terms and records share; not_before is read by the caller */
static iams_status
iams_consent_read_terms(const json_t *obj, iams_consent *c, iams_err *err)
{
    static const char *const  freq_keys[] = { "max", "period", NULL };

    const json_t  *freq;
    iams_status    rc;

    rc = iams_consent_read_party(json_object_get(obj, "requester"),
                                 "requester", &c->requester, c->service,
                                 err);

    if (rc == IAMS_OK) {
        rc = iams_consent_read_sources(json_object_get(obj, "sources"), c,
                                       err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_read_purpose(json_object_get(obj, "purpose"), c,
                                       err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_int(obj, "expires", "", &c->expires, err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_int(obj, "max_uses", "", &c->max_uses, err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_int(obj, "data_life", "", &c->data_life, err);
    }

    if (rc != IAMS_OK) {
        return rc;
    }

    freq = json_object_get(obj, "frequency");

    if (freq == NULL) {
        return IAMS_OK;
    }

    rc = iams_consent_members(freq, "frequency", freq_keys, err);

    if (rc == IAMS_OK) {
        rc = iams_consent_get_int(freq, "max", "frequency", &c->freq_max,
                                  err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_int(freq, "period", "frequency",
                                  &c->freq_period, err);
    }

    if (rc == IAMS_OK && c->freq_max == 0) {
        return iams_consent_bad(err, "frequency.max",
                                "must be at least 1 (leave \"frequency\" "
                                "out for no limit)");
    }

    return rc;
}


static iams_consent *
iams_consent_alloc(iams_err *err)
{
    iams_consent  *c;

    c = calloc(1, sizeof(*c));

    if (c == NULL) {
        iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    return c;
}


void
iams_consent_free(iams_consent *c)
{
    free(c);
}


iams_status
iams_consent_create(const json_t *terms, const char *citizen,
    size_t citizen_len, int64_t now, iams_consent **out, iams_err *err)
{
    static const char *const  terms_keys[] = {
        "requester", "sources", "purpose", "not_before", "expires",
        "max_uses", "frequency", "data_life", NULL
    };

    unsigned char   raw[IAMS_CONSENT_ID_BYTES];
    iams_status     rc;
    iams_consent   *c;

    *out = NULL;

    if (now < 0 || now > IAMS_CONSENT_TIME_MAX) {
        return iams_consent_bad(err, "created", "out of range");
    }

    if (citizen == NULL || !iams_consent_ref_ok(citizen, citizen_len)) {
        return iams_consent_bad(err, "citizen",
                                "must be 1 to 128 characters of "
                                "[A-Za-z0-9._~:-]");
    }

    rc = iams_consent_members(terms, "terms", terms_keys, err);
    if (rc != IAMS_OK) {
        return rc;
    }

    c = iams_consent_alloc(err);
    if (c == NULL) {
        return IAMS_ERR_NOMEM;
    }

    memcpy(c->citizen, citizen, citizen_len);
    c->created = now;
    c->not_before = now;
    c->status = IAMS_CONSENT_STATUS_ACTIVE;
    c->status_changed = now;

    rc = iams_consent_read_terms(terms, c, err);

    if (rc == IAMS_OK && json_object_get(terms, "not_before") != NULL) {
        rc = iams_consent_get_int(terms, "not_before", "", &c->not_before,
                                  err);
        if (c->not_before < now) {
            c->not_before = now;
        }
    }

    if (rc == IAMS_OK) {
        rc = iams_random_bytes(raw, sizeof(raw), err);
    }

    if (rc == IAMS_OK) {
        iams_b64url_encode(raw, sizeof(raw), c->id);
        c->id[IAMS_CONSENT_ID_LEN] = '\0';
        rc = iams_consent_validate(c, err);
    }

    if (rc != IAMS_OK) {
        iams_consent_free(c);
        return rc;
    }

    *out = c;

    return IAMS_OK;
}


static iams_status
iams_consent_from_json(const json_t *rec, iams_consent *c, iams_err *err)
{
    static const char *const  record_keys[] = {
        "v", "id", "citizen", "requester", "sources", "purpose", "created",
        "not_before", "expires", "max_uses", "frequency", "data_life",
        "status", "status_changed", "use_count", "last_used", NULL
    };

    char         status[16];
    size_t       i;
    int64_t      v;
    iams_status  rc;

    rc = iams_consent_members(rec, "record", record_keys, err);

    if (rc == IAMS_OK) {
        rc = iams_consent_get_int(rec, "v", "", &v, err);
        if (rc == IAMS_OK && v != IAMS_CONSENT_VERSION) {
            return iams_consent_bad(err, "v", "unsupported version");
        }
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_str(rec, "id", "", c->id, sizeof(c->id), err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_str(rec, "citizen", "", c->citizen,
                                  sizeof(c->citizen), err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_read_terms(rec, c, err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_int(rec, "created", "", &c->created, err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_int(rec, "not_before", "", &c->not_before,
                                  err);
    }

    if (rc == IAMS_OK) {
        rc = iams_consent_get_str(rec, "status", "", status, sizeof(status),
                                  err);
    }

    if (rc != IAMS_OK) {
        return rc;
    }

    for (i = 0; i < IAMS_CONSENT_NSTATUS; i++) {
        if (strcmp(status, iams_consent_status_names[i]) == 0) {
            break;
        }
    }

    if (i == IAMS_CONSENT_NSTATUS) {
        return iams_consent_bad(err, "status",
                                "not ACTIVE, PAUSED, REVOKED or EXPIRED");
    }

    c->status = (iams_consent_status) i;

    if (iams_consent_get_int(rec, "status_changed", "", &c->status_changed,
                             err) != IAMS_OK
        || iams_consent_get_int(rec, "use_count", "", &c->use_count, err)
           != IAMS_OK
        || iams_consent_get_int(rec, "last_used", "", &c->last_used, err)
           != IAMS_OK)
    {
        return IAMS_ERR_MALFORMED;
    }

    return iams_consent_validate(c, err);
}


iams_status
iams_consent_parse(const char *buf, size_t len, iams_consent **out,
    iams_err *err)
{
    json_t        *rec;
    iams_status    rc;
    iams_consent  *c;

    *out = NULL;

    if (len > IAMS_CONSENT_JSON_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "consent record larger than %d bytes",
                            IAMS_CONSENT_JSON_MAX);
    }

    rec = iams_json_parse_object(buf, len, IAMS_CONSENT_JSON_MAX, err);

    if (rec == NULL) {
        return IAMS_ERR_JSON;
    }

    c = iams_consent_alloc(err);
    rc = c ? iams_consent_from_json(rec, c, err) : IAMS_ERR_NOMEM;
    json_decref(rec);

    if (rc != IAMS_OK) {
        iams_consent_free(c);
        return rc;
    }

    *out = c;

    return IAMS_OK;
}
