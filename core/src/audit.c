/*
 * Audit records of data exchanges (format in audit.h).
 *
 * The JSON line and the stream fields are produced from one json_t, so
 * they cannot drift apart.  If you add a member, add its IAMS_AUDIT_F_*
 * name, raise IAMS_AUDIT_NFIELDS, and document it in audit.h and
 * docs/consent.md.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include <iamsmart/audit.h>
#include <iamsmart/consent.h>

/* the version as the stream field carries it */
#define IAMS_AUDIT_VERSION_TEXT  "1"

_Static_assert(IAMS_AUDIT_VERSION == 1, "update IAMS_AUDIT_VERSION_TEXT");


const char *
iams_audit_outcome_name(iams_audit_outcome outcome)
{
    switch (outcome) {
    case IAMS_AUDIT_RELEASED:
        return "released";
    case IAMS_AUDIT_DENIED:
        return "denied";
    }

    return "unknown";
}


void
iams_audit_sha256_hex(const void *data, size_t len,
    char out[IAMS_AUDIT_SHA256_HEX_LEN + 1])
{
    static const char  hex[] = "0123456789abcdef";

    size_t         i;
    unsigned char  md[SHA256_DIGEST_LENGTH];

    SHA256(data, len, md);

    for (i = 0; i < sizeof(md); i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }

    out[IAMS_AUDIT_SHA256_HEX_LEN] = '\0';
}


iams_status
iams_audit_time(int64_t time_ms, char out[25], iams_err *err)
{
    int        ms;
    time_t     t;
    struct tm  tm;

    if (time_ms < 0 || time_ms > IAMS_AUDIT_TIME_MS_MAX) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "audit: time out of range");
    }

    t = (time_t) (time_ms / 1000);

    if (gmtime_r(&t, &tm) == NULL) {
        return iams_err_set(err, IAMS_ERR_INTERNAL, "audit: gmtime failed");
    }

    ms = (int) (time_ms % 1000);

    if (strftime(out, 20, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
        return iams_err_set(err, IAMS_ERR_INTERNAL, "audit: strftime failed");
    }

    out[19] = '.';
    out[20] = (char) ('0' + ms / 100);
    out[21] = (char) ('0' + ms / 10 % 10);
    out[22] = (char) ('0' + ms % 10);
    out[23] = 'Z';
    out[24] = '\0';

    return IAMS_OK;
}


/* ---- shapes ---- */

static int
iams_audit_token_ok(iams_span s, size_t max)
{
    size_t  i;

    if (s.len == 0 || s.len > max) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        unsigned char  c = (unsigned char) s.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~'
              || c == ':' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
iams_audit_dept_ok(iams_span s)
{
    size_t  i;

    if (s.len < IAMS_CONSENT_DEPT_MIN || s.len > IAMS_CONSENT_DEPT_MAX) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        if (!((s.data[i] >= 'a' && s.data[i] <= 'z')
              || (s.data[i] >= 'A' && s.data[i] <= 'Z')))
        {
            return 0;
        }
    }

    return 1;
}


static int
iams_audit_reason_ok(iams_span s)
{
    size_t  i;

    if (s.len == 0 || s.len > IAMS_AUDIT_REASON_MAX) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        if (s.data[i] < 0x20 || s.data[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static int
iams_audit_sha256_ok(iams_span s)
{
    size_t  i;

    if (s.len != IAMS_AUDIT_SHA256_HEX_LEN) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        if (!((s.data[i] >= '0' && s.data[i] <= '9')
              || (s.data[i] >= 'a' && s.data[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


#define IAMS_AUDIT_NULL(s)  ((s).data == NULL)

static iams_status
iams_audit_bad(iams_err *err, const char *field, const char *why)
{
    return iams_err_set(err, IAMS_ERR_MALFORMED, "audit: %s: %s", field, why);
}


static iams_status
iams_audit_check(const iams_audit_event *ev, iams_err *err)
{
    size_t  i;
    int     released;

    released = ev->outcome == IAMS_AUDIT_RELEASED;

    if (ev->outcome != IAMS_AUDIT_RELEASED
        && ev->outcome != IAMS_AUDIT_DENIED)
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_OUTCOME, "unknown outcome");
    }

    if (IAMS_AUDIT_NULL(ev->request_id)
        || !iams_audit_token_ok(ev->request_id, IAMS_AUDIT_TOKEN_MAX))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_REQUEST_ID,
                              "required, 1 to 64 of [A-Za-z0-9._~:-]");
    }

    if (IAMS_AUDIT_NULL(ev->requester) || !iams_audit_dept_ok(ev->requester))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_REQUESTER,
                              "required, a department code");
    }

    if (!IAMS_AUDIT_NULL(ev->service)
        && !iams_audit_token_ok(ev->service, IAMS_AUDIT_TOKEN_MAX))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_SERVICE,
                              "1 to 64 of [A-Za-z0-9._~:-]");
    }

    if (IAMS_AUDIT_NULL(ev->source) ? released
                                    : !iams_audit_dept_ok(ev->source))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_SOURCE,
                              "a department code, required for a release");
    }

    if (!IAMS_AUDIT_NULL(ev->citizen)
        && !iams_audit_token_ok(ev->citizen, IAMS_CONSENT_REF_MAX))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_CITIZEN,
                              "1 to 128 of [A-Za-z0-9._~:-]");
    }

    if (IAMS_AUDIT_NULL(ev->consent_id)
        ? released
        : !iams_consent_id_ok(ev->consent_id.data, ev->consent_id.len))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_CONSENT,
                              "a consent id, required for a release");
    }

    if (ev->nitems > IAMS_CONSENT_ITEMS_MAX
        || (ev->nitems > 0 && ev->items == NULL)
        || (released && ev->nitems == 0))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_ITEMS,
                              "0 to 32 items, at least 1 for a release");
    }

    for (i = 0; i < ev->nitems; i++) {
        if (IAMS_AUDIT_NULL(ev->items[i])
            || !iams_consent_item_ok(ev->items[i].data, ev->items[i].len))
        {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "audit: items[%zu]: not an item name", i);
        }
    }

    if (IAMS_AUDIT_NULL(ev->reason) ? !released
                                    : released
                                      || !iams_audit_reason_ok(ev->reason))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_REASON,
                              "required for a denial (1 to 160 printable "
                              "ASCII), null for a release");
    }

    if (IAMS_AUDIT_NULL(ev->sha256) ? released
                                    : !released
                                      || !iams_audit_sha256_ok(ev->sha256))
    {
        return iams_audit_bad(err, IAMS_AUDIT_F_SHA256,
                              "required for a release (64 lower-case hex), "
                              "null for a denial");
    }

    return IAMS_OK;
}


/* ---- the record ---- */

static json_t *
iams_audit_string(iams_span s)
{
    return IAMS_AUDIT_NULL(s) ? json_null() : json_stringn(s.data, s.len);
}


static json_t *
iams_audit_to_json(const iams_audit_event *ev, const char *when)
{
    size_t   i;
    json_t  *rec, *items;

    items = json_array();

    for (i = 0; items != NULL && i < ev->nitems; i++) {
        if (json_array_append_new(items, iams_audit_string(ev->items[i]))
            != 0)
        {
            json_decref(items);
            items = NULL;
        }
    }

    rec = json_pack("{s:i, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s,"
                    " s:o, s:o}",
                    IAMS_AUDIT_F_VERSION, IAMS_AUDIT_VERSION,
                    IAMS_AUDIT_F_TIME, when,
                    IAMS_AUDIT_F_REQUEST_ID, iams_audit_string(ev->request_id),
                    IAMS_AUDIT_F_REQUESTER, iams_audit_string(ev->requester),
                    IAMS_AUDIT_F_SERVICE, iams_audit_string(ev->service),
                    IAMS_AUDIT_F_SOURCE, iams_audit_string(ev->source),
                    IAMS_AUDIT_F_CITIZEN, iams_audit_string(ev->citizen),
                    IAMS_AUDIT_F_CONSENT, iams_audit_string(ev->consent_id),
                    IAMS_AUDIT_F_ITEMS, items,
                    IAMS_AUDIT_F_OUTCOME, iams_audit_outcome_name(ev->outcome),
                    IAMS_AUDIT_F_REASON, iams_audit_string(ev->reason),
                    IAMS_AUDIT_F_SHA256, iams_audit_string(ev->sha256));

    return rec;
}


static void
iams_audit_fields(iams_audit_record *rec)
{
    const char  *key;
    json_t      *v;

    rec->nfields = 0;

    json_object_foreach(rec->json, key, v) {
        iams_audit_field  *f = &rec->fields[rec->nfields];

        if (json_is_null(v) || rec->nfields == IAMS_AUDIT_NFIELDS) {
            continue;
        }

        f->name = key;

        if (json_is_string(v)) {
            f->value = json_string_value(v);
            f->len = json_string_length(v);

        } else if (json_is_array(v)) {
            f->value = rec->items_text;
            f->len = strlen(rec->items_text);

        } else {
            f->value = IAMS_AUDIT_VERSION_TEXT;    /* the only number */
            f->len = 1;
        }

        rec->nfields++;
    }
}


iams_status
iams_audit_build(const iams_audit_event *ev, iams_audit_record *rec,
    iams_err *err)
{
    char         when[25];
    iams_status  rc;

    memset(rec, 0, sizeof(*rec));

    rc = iams_audit_check(ev, err);

    if (rc == IAMS_OK) {
        rc = iams_audit_time(ev->time_ms, when, err);
    }

    if (rc != IAMS_OK) {
        return rc;
    }

    rec->json = iams_audit_to_json(ev, when);

    if (rec->json != NULL) {
        rec->line = json_dumps(rec->json, JSON_COMPACT);
        rec->items_text = json_dumps(json_object_get(rec->json,
                                                     IAMS_AUDIT_F_ITEMS),
                                     JSON_COMPACT);
    }

    if (rec->line == NULL || rec->items_text == NULL) {
        iams_audit_record_clear(rec);
        return iams_err_set(err, IAMS_ERR_NOMEM, "audit: out of memory");
    }

    rec->line_len = strlen(rec->line);
    iams_audit_fields(rec);

    return IAMS_OK;
}


void
iams_audit_record_clear(iams_audit_record *rec)
{
    json_decref(rec->json);
    free(rec->line);
    free(rec->items_text);
    memset(rec, 0, sizeof(*rec));
}
