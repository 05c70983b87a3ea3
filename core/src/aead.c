/*
 * AES-256-GCM through OpenSSL EVP, 96-bit IV, 128-bit tag.
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <iamsmart/aead.h>


static iams_status
iams_aead_fail(EVP_CIPHER_CTX *ctx, iams_err *err, const char *what)
{
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();

    return iams_err_set(err, IAMS_ERR_INTERNAL, "AES-256-GCM: %s", what);
}


static EVP_CIPHER_CTX *
iams_aead_init(const unsigned char *key, const unsigned char *iv, int enc)
{
    EVP_CIPHER_CTX  *ctx;

    ctx = EVP_CIPHER_CTX_new();

    if (ctx == NULL) {
        return NULL;
    }

    /* 12 bytes is GCM's default IV length, so no SET_IVLEN is needed */
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv, enc) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }

    return ctx;
}


iams_status
iams_aes256gcm_seal(const unsigned char key[IAMS_AES256_KEY_LEN],
    const unsigned char iv[IAMS_GCM_IV_LEN],
    const unsigned char *aad, size_t aad_len,
    const unsigned char *pt, size_t pt_len,
    unsigned char *ct, unsigned char tag[IAMS_GCM_TAG_LEN], iams_err *err)
{
    int              n;
    EVP_CIPHER_CTX  *ctx;

    if (aad_len > IAMS_AEAD_MAX || pt_len > IAMS_AEAD_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "AES-256-GCM input too large");
    }

    ctx = iams_aead_init(key, iv, 1);

    if (ctx == NULL) {
        return iams_aead_fail(NULL, err, "init failed");
    }

    if (aad_len > 0
        && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int) aad_len) != 1)
    {
        return iams_aead_fail(ctx, err, "AAD failed");
    }

    if (pt_len > 0
        && EVP_EncryptUpdate(ctx, ct, &n, pt, (int) pt_len) != 1)
    {
        return iams_aead_fail(ctx, err, "encrypt failed");
    }

    if (EVP_EncryptFinal_ex(ctx, ct + pt_len, &n) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, IAMS_GCM_TAG_LEN,
                               tag) != 1)
    {
        return iams_aead_fail(ctx, err, "final failed");
    }

    EVP_CIPHER_CTX_free(ctx);

    return IAMS_OK;
}


iams_status
iams_aes256gcm_open(const unsigned char key[IAMS_AES256_KEY_LEN],
    const unsigned char iv[IAMS_GCM_IV_LEN],
    const unsigned char *aad, size_t aad_len,
    const unsigned char *ct, size_t ct_len,
    const unsigned char tag[IAMS_GCM_TAG_LEN], unsigned char *pt,
    iams_err *err)
{
    int              n, ok;
    unsigned char    tagbuf[IAMS_GCM_TAG_LEN];
    EVP_CIPHER_CTX  *ctx;

    if (aad_len > IAMS_AEAD_MAX || ct_len > IAMS_AEAD_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "AES-256-GCM input too large");
    }

    ctx = iams_aead_init(key, iv, 0);

    if (ctx == NULL) {
        return iams_aead_fail(NULL, err, "init failed");
    }

    /* the ctrl takes a non-const pointer */
    memcpy(tagbuf, tag, IAMS_GCM_TAG_LEN);

    if ((aad_len > 0
         && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int) aad_len) != 1)
        || (ct_len > 0
            && EVP_DecryptUpdate(ctx, pt, &n, ct, (int) ct_len) != 1)
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, IAMS_GCM_TAG_LEN,
                               tagbuf) != 1)
    {
        if (ct_len > 0) {
            OPENSSL_cleanse(pt, ct_len);
        }

        return iams_aead_fail(ctx, err, "decrypt failed");
    }

    ok = EVP_DecryptFinal_ex(ctx, pt + ct_len, &n);

    EVP_CIPHER_CTX_free(ctx);

    if (ok != 1) {
        ERR_clear_error();

        if (ct_len > 0) {
            OPENSSL_cleanse(pt, ct_len);
        }

        return iams_err_set(err, IAMS_ERR_BAD_SIGNATURE,
                            "AES-256-GCM tag mismatch");
    }

    return IAMS_OK;
}
