/*
 * JWT claim checks (RFC 7519 section 4.1) on a verified JWS payload.
 *
 * NumericDate values are JSON numbers, integer or fractional.  They are
 * compared as long double, which holds every 64-bit integer exactly, so a
 * huge exp cannot wrap around and a fractional one is not truncated.
 */

#include <string.h>

#include <iamsmart/encoding.h>

#include "jose_internal.h"


iams_status
iams_jwt_claims(const iams_jws *jws, json_t **claims, iams_err *err)
{
    iams_err  jerr;

    *claims = iams_json_parse_object((const char *) jws->payload,
                                     jws->payload_len, IAMS_JWS_MAX_TOKEN,
                                     &jerr);

    if (*claims == NULL) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "payload is not a JSON object: %s", jerr.detail);
    }

    return IAMS_OK;
}


/* *present is 0 when the claim is absent; IAMS_ERR_BAD_CLAIM when it is
 * there but not a number. */
static iams_status
iams_jwt_date(const json_t *claims, const char *name, long double *value,
    int *present, iams_err *err)
{
    json_t  *v;

    v = json_object_get(claims, name);
    *present = v != NULL;

    if (v == NULL) {
        return IAMS_OK;
    }

    if (json_is_integer(v)) {
        *value = (long double) json_integer_value(v);

    } else if (json_is_real(v)) {
        *value = (long double) json_real_value(v);

    } else {
        return iams_err_set(err, IAMS_ERR_BAD_CLAIM,
                            "\"%s\" is not a NumericDate", name);
    }

    return IAMS_OK;
}


static int
iams_jwt_string_is(const json_t *v, const char *want)
{
    size_t  len = strlen(want);

    return json_string_length(v) == len
           && memcmp(json_string_value(v), want, len) == 0;
}


static iams_status
iams_jwt_check_aud(const json_t *claims, const iams_jwt_policy *policy,
    iams_err *err)
{
    size_t   i, j, n;
    json_t  *aud, *one;

    aud = json_object_get(claims, "aud");

    if (aud == NULL) {
        return iams_err_set(err, IAMS_ERR_BAD_AUDIENCE, "no \"aud\"");
    }

    if (json_is_string(aud)) {
        n = 1;

    } else if (json_is_array(aud)) {
        n = json_array_size(aud);

        for (i = 0; i < n; i++) {
            if (!json_is_string(json_array_get(aud, i))) {
                return iams_err_set(err, IAMS_ERR_BAD_CLAIM,
                                    "\"aud\" holds a non-string");
            }
        }

    } else {
        return iams_err_set(err, IAMS_ERR_BAD_CLAIM,
                            "\"aud\" is neither a string nor an array");
    }

    for (i = 0; i < n; i++) {
        one = json_is_string(aud) ? aud : json_array_get(aud, i);

        for (j = 0; j < policy->naudiences; j++) {
            if (iams_jwt_string_is(one, policy->audiences[j])) {
                return IAMS_OK;
            }
        }
    }

    return iams_err_set(err, IAMS_ERR_BAD_AUDIENCE,
                        "no accepted audience in \"aud\"");
}


iams_status
iams_jwt_check(const json_t *claims, const iams_jwt_policy *policy,
    time_t now, iams_err *err)
{
    int           has_exp, has_nbf, has_iat;
    json_t       *iss;
    long double   exp, nbf, iat, t, leeway;
    iams_status   rc;

    if (!json_is_object(claims)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "claims are not an object");
    }

    if (policy->leeway < 0) {
        return iams_err_set(err, IAMS_ERR_INTERNAL, "negative leeway");
    }

    rc = iams_jwt_date(claims, "exp", &exp, &has_exp, err);

    if (rc == IAMS_OK) {
        rc = iams_jwt_date(claims, "nbf", &nbf, &has_nbf, err);
    }

    if (rc == IAMS_OK) {
        rc = iams_jwt_date(claims, "iat", &iat, &has_iat, err);
    }

    if (rc != IAMS_OK) {
        return rc;
    }

    t = (long double) now;
    leeway = (long double) policy->leeway;

    /* valid while now < exp (RFC 7519 4.1.4), from nbf on (4.1.5) */
    if (has_exp && t >= exp + leeway) {
        return iams_err_set(err, IAMS_ERR_EXPIRED, "now is past \"exp\"");
    }

    if (has_nbf && t + leeway < nbf) {
        return iams_err_set(err, IAMS_ERR_NOT_YET_VALID,
                            "now is before \"nbf\"");
    }

    if (has_iat && iat > t + leeway) {
        return iams_err_set(err, IAMS_ERR_IAT_FUTURE,
                            "\"iat\" is in the future");
    }

    if (policy->issuer != NULL) {
        iss = json_object_get(claims, "iss");

        if (iss == NULL) {
            return iams_err_set(err, IAMS_ERR_BAD_ISSUER, "no \"iss\"");
        }

        if (!json_is_string(iss)) {
            return iams_err_set(err, IAMS_ERR_BAD_CLAIM,
                                "\"iss\" is not a string");
        }

        if (!iams_jwt_string_is(iss, policy->issuer)) {
            return iams_err_set(err, IAMS_ERR_BAD_ISSUER,
                                "\"iss\" is not the expected issuer");
        }
    }

    if (policy->naudiences > 0) {
        return iams_jwt_check_aud(claims, policy, err);
    }

    return IAMS_OK;
}
