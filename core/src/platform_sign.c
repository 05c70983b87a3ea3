/*
 * Request signing: the HMAC-SHA256 signature headers of section 2.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <iamsmart/encoding.h>
#include <iamsmart/random.h>

#include "platform_util.h"


uint64_t
iams_timestamp_next(uint64_t last_ms, uint64_t now_ms)
{
    return now_ms > last_ms ? now_ms : last_ms;
}


iams_status
iams_nonce_generate(char out[IAMS_NONCE_LEN + 1], iams_err *err)
{
    return iams_random_token(out, IAMS_NONCE_LEN, err);
}


iams_status
iams_sign_request(iams_span client_id, const unsigned char *client_secret,
    size_t secret_len, uint64_t timestamp_ms, iams_span nonce,
    const unsigned char *body, size_t body_len, iams_signed_request *out,
    iams_err *err)
{
    int            ok;
    char           b64[64];
    size_t         n;
    EVP_MAC       *mac;
    OSSL_PARAM     params[2];
    unsigned char  md[EVP_MAX_MD_SIZE];
    EVP_MAC_CTX   *ctx;

    memset(out, 0, sizeof(*out));

    if (!iams_pf_chars(client_id, 1, IAMS_CLIENT_ID_MAX, IAMS_PF_PRINT)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "client id empty, too long or not printable");
    }

    if (!iams_pf_chars(nonce, 1, IAMS_NONCE_MAX, IAMS_PF_TOKEN)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED, "bad nonce");
    }

    if (secret_len == 0) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID, "empty client secret");
    }

    out->timestamp_len = (size_t) snprintf(out->timestamp,
                                           sizeof(out->timestamp), "%llu",
                                           (unsigned long long) timestamp_ms);
    memcpy(out->nonce, nonce.data, nonce.len);
    out->nonce_len = nonce.len;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);

    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *) "SHA256",
                                                 0);
    params[1] = OSSL_PARAM_construct_end();

    /* the message is the plain concatenation, no separators */
    ok = ctx != NULL
         && EVP_MAC_init(ctx, client_secret, secret_len, params) == 1
         && EVP_MAC_update(ctx, (const unsigned char *) client_id.data,
                           client_id.len) == 1
         && EVP_MAC_update(ctx, (const unsigned char *) IAMS_SIGNATURE_METHOD,
                           sizeof(IAMS_SIGNATURE_METHOD) - 1) == 1
         && EVP_MAC_update(ctx, (const unsigned char *) out->timestamp,
                           out->timestamp_len) == 1
         && EVP_MAC_update(ctx, (const unsigned char *) nonce.data,
                           nonce.len) == 1
         && (body_len == 0 || EVP_MAC_update(ctx, body, body_len) == 1)
         && EVP_MAC_final(ctx, md, &n, sizeof(md)) == 1;

    EVP_MAC_CTX_free(ctx);

    if (!ok) {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_INTERNAL, "HMAC-SHA256 failed");
    }

    n = iams_b64_encode(md, n, b64);
    OPENSSL_cleanse(md, sizeof(md));

    /* URLEncode as the platform's Java side does: '+' '/' '=' escaped;
     * 44 characters need at most IAMS_SIGNATURE_MAX */
    out->signature_len = iams_pf_url_encode(b64, n, out->signature, 1);
    out->signature[out->signature_len] = '\0';

    return IAMS_OK;
}


void
iams_signed_request_headers(const iams_signed_request *req,
    iams_span client_id, iams_header headers[IAMS_SIGNED_HEADERS])
{
    headers[0].name = "clientID";
    headers[0].value = client_id.data;
    headers[0].value_len = client_id.len;

    headers[1].name = "signatureMethod";
    headers[1].value = IAMS_SIGNATURE_METHOD;
    headers[1].value_len = sizeof(IAMS_SIGNATURE_METHOD) - 1;

    headers[2].name = "timestamp";
    headers[2].value = req->timestamp;
    headers[2].value_len = req->timestamp_len;

    headers[3].name = "nonce";
    headers[3].value = req->nonce;
    headers[3].value_len = req->nonce_len;

    headers[4].name = "signature";
    headers[4].value = req->signature;
    headers[4].value_len = req->signature_len;

    headers[5].name = "Content-Type";
    headers[5].value = "application/json";
    headers[5].value_len = sizeof("application/json") - 1;
}
