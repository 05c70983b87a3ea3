/*
 * Writing consent artefacts: the stored record, and the signed claims set
 * a department keeps as proof of consent (formats in consent.h).
 *
 * The signed form leaves out what the requester must not learn (the
 * citizen reference, the sources' pairwise subjects) and what changes
 * after the grant (status and usage).  If you add a term to the record,
 * decide whether it belongs to what the citizen granted, and if so add it
 * to iams_consent_claims too.
 */

#include <stdlib.h>
#include <string.h>

#include <iamsmart/consent.h>


/* the sources with their items; with_subjects 0 for the signed form */
static json_t *
iams_consent_sources_json(const iams_consent *c, int with_subjects)
{
    size_t   i, k;
    json_t  *arr, *src, *items;

    arr = json_array();

    for (i = 0; arr != NULL && i < c->nsources; i++) {
        items = json_array();

        for (k = 0; items != NULL && k < c->nitems; k++) {
            if (c->items[k].source == i
                && json_array_append_new(items,
                                         json_string(c->items[k].name))
                   != 0)
            {
                json_decref(items);
                items = NULL;
            }
        }

        if (items == NULL) {
            src = NULL;

        } else if (with_subjects) {
            src = json_pack("{s:s, s:s, s:o}",
                            "department", c->sources[i].department,
                            "subject", c->sources[i].subject,
                            "items", items);

        } else {
            src = json_pack("{s:s, s:o}",
                            "department", c->sources[i].department,
                            "items", items);
        }

        if (src == NULL || json_array_append_new(arr, src) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }

    return arr;
}


/* purpose, limits and data life: the terms both forms carry */
static int
iams_consent_terms_json(const iams_consent *c, json_t *obj)
{
    json_t  *purpose, *freq;

    purpose = json_pack("{s:s, s:{s:s, s:s}}",
                        "code", c->purpose_code,
                        "text", "en", c->purpose_en, "zh-HK", c->purpose_zh);

    if (json_object_set_new(obj, "purpose", purpose) != 0
        || json_object_set_new(obj, "max_uses", json_integer(c->max_uses))
           != 0
        || json_object_set_new(obj, "data_life", json_integer(c->data_life))
           != 0)
    {
        return -1;
    }

    if (c->freq_max == 0) {
        return 0;
    }

    freq = json_pack("{s:I, s:I}", "max", (json_int_t) c->freq_max,
                     "period", (json_int_t) c->freq_period);

    return json_object_set_new(obj, "frequency", freq);
}


json_t *
iams_consent_to_json(const iams_consent *c)
{
    json_t  *rec;

    rec = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:s}, s:o}",
                    "v", IAMS_CONSENT_VERSION,
                    "id", c->id,
                    "citizen", c->citizen,
                    "requester",
                        "department", c->requester.department,
                        "service", c->service,
                        "subject", c->requester.subject,
                    "sources", iams_consent_sources_json(c, 1));

    if (rec == NULL
        || iams_consent_terms_json(c, rec) != 0
        || json_object_update_new(rec,
               json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:I}",
                         "created", (json_int_t) c->created,
                         "not_before", (json_int_t) c->not_before,
                         "expires", (json_int_t) c->expires,
                         "status", iams_consent_status_name(c->status),
                         "status_changed", (json_int_t) c->status_changed,
                         "use_count", (json_int_t) c->use_count,
                         "last_used", (json_int_t) c->last_used))
           != 0)
    {
        json_decref(rec);
        return NULL;
    }

    return rec;
}


/* compact, keys sorted: one value, one text */
static iams_status
iams_consent_dump(json_t *value, char **out, size_t *out_len, iams_err *err)
{
    char  *text;

    *out = NULL;
    *out_len = 0;

    if (value == NULL) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "consent cannot be serialized (invalid UTF-8 "
                            "or no memory)");
    }

    text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(value);

    if (text == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    *out = text;
    *out_len = strlen(text);

    return IAMS_OK;
}


iams_status
iams_consent_serialize(const iams_consent *c, char **out, size_t *out_len,
    iams_err *err)
{
    return iams_consent_dump(iams_consent_to_json(c), out, out_len, err);
}


json_t *
iams_consent_claims(const iams_consent *c, const char *issuer)
{
    json_t  *claims, *terms;

    terms = json_pack("{s:i, s:{s:s, s:s}, s:o}",
                      "v", IAMS_CONSENT_VERSION,
                      "requester",
                          "department", c->requester.department,
                          "service", c->service,
                      "sources", iams_consent_sources_json(c, 0));

    if (terms == NULL || iams_consent_terms_json(c, terms) != 0) {
        json_decref(terms);
        return NULL;
    }

    claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o}",
                       "sub", c->requester.subject,
                       "aud", c->requester.department,
                       "jti", c->id,
                       "iat", (json_int_t) c->created,
                       "nbf", (json_int_t) c->not_before,
                       "exp", (json_int_t) c->expires,
                       "consent", terms);

    if (claims != NULL && issuer != NULL
        && json_object_set_new(claims, "iss", json_string(issuer)) != 0)
    {
        json_decref(claims);
        return NULL;
    }

    return claims;
}


iams_status
iams_consent_sign(const iams_consent *c, const iams_jwk *key, iams_alg alg,
    const char *kid, const char *issuer, char **out, size_t *out_len,
    iams_err *err)
{
    char         *payload;
    size_t        len;
    iams_status   rc;

    *out = NULL;
    *out_len = 0;

    rc = iams_consent_validate(c, err);
    if (rc != IAMS_OK) {
        return rc;
    }

    rc = iams_consent_dump(iams_consent_claims(c, issuer), &payload, &len,
                           err);
    if (rc != IAMS_OK) {
        return rc;
    }

    rc = iams_jws_sign(key, alg, kid, IAMS_CONSENT_JWT_TYP,
                       (const unsigned char *) payload, len, out, out_len,
                       err);
    free(payload);

    return rc;
}
