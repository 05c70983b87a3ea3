/*
 * Compact JWS (RFC 7515 section 7.1): parsing, key selection with
 * verification, and signing.
 *
 * Parsing decides everything that does not need a key: size bounds, shape,
 * strict base64url, the header's alg, crit and kid.  Verification then
 * applies the caller's allowed set and the key rules of jose.h.  Header
 * members that carry or point at keys (jwk, jku, x5c, x5u) are never read:
 * a token must not choose the key that verifies it.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <iamsmart/encoding.h>

#include "jose_internal.h"


void
iams_jws_clear(iams_jws *jws)
{
    json_decref(jws->header);
    free(jws->payload);
    free(jws->sig);
    memset(jws, 0, sizeof(iams_jws));
}


/* Decodes one part into a new malloc()ed buffer with a spare NUL. */
static iams_status
iams_jws_decode_part(const char *in, size_t n, size_t cap,
    unsigned char **out, size_t *len)
{
    size_t          max;
    iams_status     rc;
    unsigned char  *buf;

    max = iams_b64url_decoded_max(n);

    if (max > cap) {
        return (n % 4 == 1) ? IAMS_ERR_MALFORMED : IAMS_ERR_TOO_LARGE;
    }

    buf = malloc(max + 1);

    if (buf == NULL) {
        return IAMS_ERR_NOMEM;
    }

    rc = iams_b64url_decode(in, n, buf, max, len);

    if (rc != IAMS_OK) {
        free(buf);
        return rc;
    }

    buf[*len] = '\0';
    *out = buf;

    return IAMS_OK;
}


static iams_status
iams_jws_check_header(iams_jws *jws, iams_err *err)
{
    size_t       len;
    json_t      *alg, *kid;
    const char  *name;

    alg = json_object_get(jws->header, "alg");

    if (!json_is_string(alg)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "header \"alg\" missing or not a string");
    }

    name = json_string_value(alg);
    len = json_string_length(alg);

    if (len == 4 && strncasecmp(name, "none", 4) == 0) {
        return iams_err_set(err, IAMS_ERR_ALG_NONE, "unsecured JWS");
    }

    jws->alg = iams_alg_from_name(name, len);

    if (jws->alg == IAMS_ALG_UNKNOWN) {
        return iams_err_set(err, IAMS_ERR_ALG_UNSUPPORTED,
                            "header \"alg\" names no supported algorithm");
    }

    /* we implement no extension, so any "crit" (even a malformed or
     * empty one) names something we do not understand */
    if (json_object_get(jws->header, "crit") != NULL) {
        return iams_err_set(err, IAMS_ERR_CRIT,
                            "header has \"crit\"");
    }

    kid = json_object_get(jws->header, "kid");

    if (kid != NULL) {
        if (!json_is_string(kid)) {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "header \"kid\" is not a string");
        }

        jws->kid = json_string_value(kid);
    }

    return IAMS_OK;
}


iams_status
iams_jws_parse(const char *token, size_t len, iams_jws *jws, iams_err *err)
{
    size_t          i, dot1, dot2, n, hlen;
    iams_status     rc;
    unsigned char  *header;
    iams_err        jerr;

    memset(jws, 0, sizeof(iams_jws));

    if (len > IAMS_JWS_MAX_TOKEN) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "token of %zu bytes exceeds %d", len,
                            IAMS_JWS_MAX_TOKEN);
    }

    dot1 = dot2 = len;
    n = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (n == 0) {
                dot1 = i;

            } else if (n == 1) {
                dot2 = i;
            }

            n++;
        }
    }

    if (n != 2) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "%zu parts, a compact JWS has 3", n + 1);
    }

    if (dot1 == 0) {
        return iams_err_set(err, IAMS_ERR_MALFORMED, "empty header");
    }

    rc = iams_jws_decode_part(token, dot1, IAMS_JWS_MAX_HEADER, &header,
                              &hlen);

    if (rc != IAMS_OK) {
        return iams_err_set(err, rc, "header part: %s",
                            rc == IAMS_ERR_TOO_LARGE
                            ? "larger than the limit" : "not base64url");
    }

    jws->header = iams_json_parse_object((const char *) header, hlen,
                                         IAMS_JWS_MAX_HEADER, &jerr);
    free(header);

    if (jws->header == NULL) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "header is not a JSON object: %s", jerr.detail);
    }

    rc = iams_jws_check_header(jws, err);

    if (rc == IAMS_OK) {
        rc = iams_jws_decode_part(token + dot1 + 1, dot2 - dot1 - 1,
                                  IAMS_JWS_MAX_TOKEN, &jws->payload,
                                  &jws->payload_len);

        if (rc != IAMS_OK) {
            iams_err_set(err, rc, "payload part is not base64url");
        }
    }

    if (rc == IAMS_OK) {
        rc = iams_jws_decode_part(token + dot2 + 1, len - dot2 - 1,
                                  IAMS_JWS_MAX_TOKEN, &jws->sig,
                                  &jws->sig_len);

        if (rc != IAMS_OK) {
            iams_err_set(err, rc, "signature part is not base64url");
        }
    }

    if (rc != IAMS_OK) {
        iams_jws_clear(jws);
        return rc;
    }

    jws->signing_input = token;
    jws->signing_input_len = dot2;

    return IAMS_OK;
}


iams_status
iams_jws_verify(const iams_jws *jws, const iams_jwks *keys,
    iams_alg_set allowed, const iams_jwk **used, iams_err *err)
{
    int              weak, mismatch, named;
    size_t           i, kid_len;
    iams_status      rc;
    const iams_jwk  *key;

    if (used != NULL) {
        *used = NULL;
    }

    if (iams_alg_info_get(jws->alg) == NULL) {
        return iams_err_set(err, IAMS_ERR_ALG_UNSUPPORTED,
                            "token has no supported alg");
    }

    if (!(allowed & IAMS_ALG_BIT(jws->alg))) {
        return iams_err_set(err, IAMS_ERR_ALG_NOT_ALLOWED,
                            "%s is not in the allowed set",
                            iams_alg_name(jws->alg));
    }

    if (iams_jwks_count(keys) == 0) {
        return iams_err_set(err, IAMS_ERR_NO_KEY, "no keys configured");
    }

    kid_len = jws->kid
              ? json_string_length(json_object_get(jws->header, "kid")) : 0;
    weak = mismatch = named = 0;

    for (i = 0; i < keys->nkeys; i++) {
        key = keys->keys[i];

        if (jws->kid != NULL
            && (key->kid == NULL || key->kid_len != kid_len
                || memcmp(key->kid, jws->kid, kid_len) != 0))
        {
            continue;
        }

        named++;

        rc = iams_jwk_check_alg(key, jws->alg, 0, NULL);

        if (rc != IAMS_OK) {
            weak += rc == IAMS_ERR_KEY_WEAK;
            mismatch += rc != IAMS_ERR_KEY_WEAK;
            continue;
        }

        rc = iams_sig_verify(jws->alg, key,
                             (const unsigned char *) jws->signing_input,
                             jws->signing_input_len, jws->sig, jws->sig_len,
                             NULL);

        if (rc == IAMS_OK) {
            if (used != NULL) {
                *used = key;
            }

            return IAMS_OK;
        }
    }

    if (named == 0) {
        return iams_err_set(err, IAMS_ERR_UNKNOWN_KID,
                            "no key has the token's kid");
    }

    if (weak + mismatch == named) {
        if (mismatch == 0) {
            return iams_err_set(err, IAMS_ERR_KEY_WEAK,
                                "every key for %s is too weak",
                                iams_alg_name(jws->alg));
        }

        return iams_err_set(err, IAMS_ERR_ALG_KEY_MISMATCH,
                            "no key may be used with %s",
                            iams_alg_name(jws->alg));
    }

    return iams_err_set(err, IAMS_ERR_BAD_SIGNATURE,
                        "%s signature verified with no key",
                        iams_alg_name(jws->alg));
}


iams_status
iams_jws_sign(const iams_jwk *key, iams_alg alg, const char *kid,
    const char *typ, const unsigned char *payload, size_t payload_len,
    char **out, size_t *out_len, iams_err *err)
{
    int             ok;
    char           *header, *token;
    size_t          hlen, total, pos, sig_len;
    json_t         *h;
    iams_status     rc;
    unsigned char  *sig;

    *out = NULL;
    *out_len = 0;

    rc = iams_jwk_check_alg(key, alg, 1, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    if (kid == NULL) {
        kid = key->kid;
    }

    h = json_object();
    ok = h != NULL
         && json_object_set_new(h, "alg", json_string(iams_alg_name(alg)))
            == 0
         && (kid == NULL
             || json_object_set_new(h, "kid", json_string(kid)) == 0)
         && (typ == NULL
             || json_object_set_new(h, "typ", json_string(typ)) == 0);

    header = ok ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);

    if (header == NULL) {
        return iams_err_set(err, IAMS_ERR_INTERNAL,
                            "header not encodable (kid and typ must be "
                            "UTF-8)");
    }

    hlen = strlen(header);

    if (payload_len > IAMS_JWS_MAX_TOKEN * (size_t) 1024) {
        free(header);
        return iams_err_set(err, IAMS_ERR_TOO_LARGE, "payload too large");
    }

    /* header '.' payload '.' signature NUL; no signature is longer than
     * an RSA signature under the largest modulus we load */
    total = iams_b64url_encoded_len(hlen) + 1
            + iams_b64url_encoded_len(payload_len) + 1
            + iams_b64url_encoded_len(IAMS_RSA_MAX_BITS / 8) + 1;
    token = malloc(total);

    if (token == NULL) {
        free(header);
        return iams_err_set(err, IAMS_ERR_NOMEM, "token buffer");
    }

    pos = iams_b64url_encode((unsigned char *) header, hlen, token);
    token[pos++] = '.';
    pos += iams_b64url_encode(payload, payload_len, token + pos);
    free(header);

    rc = iams_sig_create(alg, key, (const unsigned char *) token, pos, &sig,
                         &sig_len, err);

    if (rc != IAMS_OK) {
        free(token);
        return rc;
    }

    if (sig_len > IAMS_RSA_MAX_BITS / 8) {
        free(sig);
        free(token);
        return iams_err_set(err, IAMS_ERR_INTERNAL, "signature too long");
    }

    token[pos++] = '.';
    pos += iams_b64url_encode(sig, sig_len, token + pos);
    token[pos] = '\0';
    free(sig);

    *out = token;
    *out_len = pos;

    return IAMS_OK;
}
