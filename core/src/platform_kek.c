/*
 * The KEK: the service's RSA key that unwraps the platform's CEKs.
 *
 * The platform wraps with PKCS#1 v1.5 in practice; one client falls back to
 * OAEP.  RSA PKCS#1 v1.5 decryption of attacker-chosen ciphertexts is a
 * padding oracle (Bleichenbacher) unless every failure looks alike, and
 * encrypted callbacks carry a secretKey anyone who can reach the callback
 * URL may choose.  So: the padding check is OpenSSL's constant-time one,
 * AUTO mode runs both paddings every time, every failure returns the same
 * status and detail, and the callers answer every failure the same way.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <iamsmart/encoding.h>
#include <iamsmart/platform.h>

#include "platform_util.h"

#define IAMS_KEK_MIN_BITS   2048
#define IAMS_KEK_MAX_BITS   8192
#define IAMS_KEK_MAX_BYTES  (IAMS_KEK_MAX_BITS / 8)
#define IAMS_KEK_FILE_MAX   (64 * 1024)


struct iams_kek {
    EVP_PKEY  *pkey;
    size_t     mod_len;
    char      *spki_b64;
};


/* Refuses to prompt for a passphrase: the KEK file must be unencrypted. */
static int
iams_kek_no_password(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


static iams_status
iams_kek_wrap(EVP_PKEY *pkey, iams_kek **out, iams_err *err)
{
    int             bits, der_len;
    size_t          n;
    iams_kek       *kek;
    unsigned char  *der;

    if (!EVP_PKEY_is_a(pkey, "RSA")) {
        EVP_PKEY_free(pkey);
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "KEK is not an RSA private key");
    }

    bits = EVP_PKEY_get_bits(pkey);

    if (bits < IAMS_KEK_MIN_BITS || bits > IAMS_KEK_MAX_BITS) {
        EVP_PKEY_free(pkey);
        return iams_err_set(err, IAMS_ERR_KEY_WEAK,
                            "KEK has %d bits (%d to %d allowed)", bits,
                            IAMS_KEK_MIN_BITS, IAMS_KEK_MAX_BITS);
    }

    kek = calloc(1, sizeof(*kek));
    der = NULL;
    der_len = kek ? i2d_PUBKEY(pkey, &der) : -1;

    if (der_len <= 0) {
        ERR_clear_error();
        EVP_PKEY_free(pkey);
        free(kek);
        return iams_err_set(err, IAMS_ERR_NOMEM, "cannot encode the KEK");
    }

    kek->spki_b64 = malloc(iams_b64_encoded_len((size_t) der_len) + 1);

    if (kek->spki_b64 == NULL) {
        OPENSSL_free(der);
        EVP_PKEY_free(pkey);
        free(kek);
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    n = iams_b64_encode(der, (size_t) der_len, kek->spki_b64);
    kek->spki_b64[n] = '\0';
    OPENSSL_free(der);

    kek->pkey = pkey;
    kek->mod_len = (size_t) EVP_PKEY_get_size(pkey);
    *out = kek;

    return IAMS_OK;
}


iams_status
iams_kek_parse(const char *buf, size_t len, iams_kek **out, iams_err *err)
{
    BIO                  *bio;
    EVP_PKEY             *pkey;
    const unsigned char  *p;

    *out = NULL;

    if (len == 0 || len > IAMS_KEK_FILE_MAX) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "KEK empty or larger than %d bytes",
                            IAMS_KEK_FILE_MAX);
    }

    if (memmem(buf, len, "-----BEGIN", 10) != NULL) {
        bio = BIO_new_mem_buf(buf, (int) len);
        pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, iams_kek_no_password,
                                             NULL)
                   : NULL;
        BIO_free(bio);

    } else {
        p = (const unsigned char *) buf;
        pkey = d2i_AutoPrivateKey(NULL, &p, (long) len);

        if (pkey != NULL && p != (const unsigned char *) buf + len) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }

    if (pkey == NULL) {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "KEK is not an unencrypted PEM or DER private "
                            "key");
    }

    return iams_kek_wrap(pkey, out, err);
}


iams_status
iams_kek_load_file(const char *path, iams_kek **out, iams_err *err)
{
    BIO       *bio;
    EVP_PKEY  *pkey;

    *out = NULL;

    bio = BIO_new_file(path, "r");

    if (bio == NULL) {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_IO, "cannot open the KEK file");
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL, iams_kek_no_password, NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "the KEK file holds no unencrypted PEM private "
                            "key");
    }

    return iams_kek_wrap(pkey, out, err);
}


void
iams_kek_free(iams_kek *kek)
{
    if (kek == NULL) {
        return;
    }

    EVP_PKEY_free(kek->pkey);
    free(kek->spki_b64);
    free(kek);
}


const char *
iams_kek_spki_b64(const iams_kek *kek)
{
    return kek->spki_b64;
}


int
iams_kek_matches(const iams_kek *kek, const EVP_PKEY *pub)
{
    return EVP_PKEY_eq(kek->pkey, pub) == 1;
}


/* One RSA decryption; returns 1 on success.  out holds mod_len bytes. */
static int
iams_kek_rsa(const iams_kek *kek, int padding, const unsigned char *ct,
    size_t ct_len, unsigned char *out, size_t *out_len)
{
    int            ok;
    EVP_PKEY_CTX  *ctx;
#ifdef OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION
    unsigned int   implicit;
    OSSL_PARAM     params[2];
#endif

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kek->pkey, NULL);

    ok = ctx != NULL
         && EVP_PKEY_decrypt_init(ctx) == 1
         && EVP_PKEY_CTX_set_rsa_padding(ctx, padding) == 1;

    if (ok && padding == RSA_PKCS1_OAEP_PADDING) {
        ok = EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1
             && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) == 1;
    }

#ifdef OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION
    /* OpenSSL 3.2+ would return random bytes for bad padding; we need the
     * failure to try OAEP and to reject junk outright */
    if (ok && padding == RSA_PKCS1_PADDING) {
        implicit = 0;
        params[0] = OSSL_PARAM_construct_uint(
                        OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION, &implicit);
        params[1] = OSSL_PARAM_construct_end();
        ok = EVP_PKEY_CTX_set_params(ctx, params) == 1;
    }
#endif

    *out_len = kek->mod_len;
    ok = ok && EVP_PKEY_decrypt(ctx, out, out_len, ct, ct_len) == 1;

    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();

    return ok;
}


iams_status
iams_kek_decrypt(const iams_kek *kek, iams_kek_padding pad,
    const unsigned char *ct, size_t ct_len, unsigned char *out, size_t cap,
    size_t *out_len, iams_err *err)
{
    int            ok_pkcs1, ok_oaep;
    size_t         len_pkcs1, len_oaep;
    unsigned char  pt_pkcs1[IAMS_KEK_MAX_BYTES], pt_oaep[IAMS_KEK_MAX_BYTES];

    *out_len = 0;
    ok_pkcs1 = 0;
    ok_oaep = 0;
    len_pkcs1 = 0;
    len_oaep = 0;

    if (ct_len == kek->mod_len) {
        if (pad != IAMS_KEK_PAD_OAEP) {
            ok_pkcs1 = iams_kek_rsa(kek, RSA_PKCS1_PADDING, ct, ct_len,
                                    pt_pkcs1, &len_pkcs1);
        }

        if (pad != IAMS_KEK_PAD_PKCS1) {
            ok_oaep = iams_kek_rsa(kek, RSA_PKCS1_OAEP_PADDING, ct, ct_len,
                                   pt_oaep, &len_oaep);
        }
    }

    if (ok_pkcs1 && len_pkcs1 <= cap) {
        memcpy(out, pt_pkcs1, len_pkcs1);
        *out_len = len_pkcs1;

    } else if (ok_oaep && len_oaep <= cap) {
        memcpy(out, pt_oaep, len_oaep);
        *out_len = len_oaep;

    } else {
        ok_pkcs1 = 0;
        ok_oaep = 0;
    }

    OPENSSL_cleanse(pt_pkcs1, sizeof(pt_pkcs1));
    OPENSSL_cleanse(pt_oaep, sizeof(pt_oaep));

    if (!ok_pkcs1 && !ok_oaep) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID, "key unwrap failed");
    }

    return IAMS_OK;
}


iams_status
iams_cek_unwrap(const iams_kek *kek, iams_kek_padding pad, const char *b64,
    size_t b64_len, unsigned char key[IAMS_CEK_LEN], iams_err *err)
{
    size_t         ct_len, pt_len;
    iams_status    rc;
    unsigned char  ct[IAMS_KEK_MAX_BYTES], pt[IAMS_CEK_LEN];

    if (b64_len > iams_b64_encoded_len(IAMS_KEK_MAX_BYTES)
        || iams_b64_decode(b64, b64_len, ct, sizeof(ct), &ct_len) != IAMS_OK)
    {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID, "key unwrap failed");
    }

    rc = iams_kek_decrypt(kek, pad, ct, ct_len, pt, sizeof(pt), &pt_len,
                          err);

    if (rc == IAMS_OK && pt_len != IAMS_CEK_LEN) {
        rc = iams_err_set(err, IAMS_ERR_KEY_INVALID, "key unwrap failed");
    }

    if (rc == IAMS_OK) {
        memcpy(key, pt, IAMS_CEK_LEN);
    }

    OPENSSL_cleanse(pt, sizeof(pt));

    return rc;
}
