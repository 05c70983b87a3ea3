/*
 * The master secret file and HKDF-SHA256 sub-key derivation.
 *
 * Derivation (stable: changing it invalidates every sealed record, every
 * session key and every pairwise subject in the field):
 *
 *     sub-key = HKDF-SHA256(ikm = master secret,
 *                           salt = "iamsmart-gateway/v1",
 *                           info = "iamsmart " || label, L = 32)
 *     kid     = base64url(HKDF-SHA256(same ikm and salt,
 *                                     info = "iamsmart key-id", L = 6))
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <iamsmart/encoding.h>
#include <iamsmart/secret.h>

#define IAMS_HKDF_SALT    "iamsmart-gateway/v1"
#define IAMS_KID_INFO     "iamsmart key-id"
#define IAMS_KID_RAW_LEN  6                 /* 8 base64url characters */
#define IAMS_LINE_MAX     128


struct iams_keyring {
    int          has_previous;
    int          has_pairwise;
    iams_subkey  keys[IAMS_KEY_PURPOSE_COUNT][2];
};


static const char *const iams_key_labels[IAMS_KEY_PURPOSE_COUNT] = {
    [IAMS_KEY_SESSION_RECORD]   = "session-record",
    [IAMS_KEY_SESSION_ID_HASH]  = "session-id-hash",
    [IAMS_KEY_STATE_COOKIE]     = "state-cookie",
    [IAMS_KEY_LOGIN_STATE]      = "login-state",
    [IAMS_KEY_CEK_CACHE]        = "cek-cache",
    [IAMS_KEY_PAIRWISE_SUBJECT] = "pairwise-subject",
};


enum {
    IAMS_SECRET_CURRENT = 0,
    IAMS_SECRET_PREVIOUS,
    IAMS_SECRET_PAIRWISE,
    IAMS_SECRET_COUNT
};

static const char *const iams_secret_keywords[IAMS_SECRET_COUNT] = {
    "current", "previous", "pairwise"
};

typedef struct {
    unsigned char  bytes[IAMS_SECRET_MAX];
    size_t         len;
} iams_master;


static iams_status
iams_hkdf(const iams_master *m, const char *info, size_t info_len,
    unsigned char *out, size_t out_len, iams_err *err)
{
    int           ok;
    EVP_KDF      *kdf;
    OSSL_PARAM    params[5];
    EVP_KDF_CTX  *ctx;

    kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);

    if (ctx == NULL) {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_INTERNAL, "HKDF unavailable");
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  (void *) m->bytes, m->len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                  (void *) IAMS_HKDF_SALT,
                                                  sizeof(IAMS_HKDF_SALT) - 1);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  (void *) info, info_len);
    params[4] = OSSL_PARAM_construct_end();

    ok = EVP_KDF_derive(ctx, out, out_len, params);
    EVP_KDF_CTX_free(ctx);

    if (ok != 1) {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_INTERNAL, "HKDF failed");
    }

    return IAMS_OK;
}


/* Fills sk (key and kid) for one purpose from one master secret. */
static iams_status
iams_derive(const iams_master *m, iams_key_purpose purpose, iams_subkey *sk,
    iams_err *err)
{
    char           info[64];
    size_t         n;
    unsigned char  raw[IAMS_KID_RAW_LEN];

    if (iams_hkdf(m, IAMS_KID_INFO, sizeof(IAMS_KID_INFO) - 1, raw,
                  sizeof(raw), err)
        != IAMS_OK)
    {
        return IAMS_ERR_INTERNAL;
    }

    n = iams_b64url_encode(raw, sizeof(raw), sk->kid);
    sk->kid[n] = '\0';

    n = (size_t) snprintf(info, sizeof(info), "iamsmart %s",
                          iams_key_labels[purpose]);

    return iams_hkdf(m, info, n, sk->key, sizeof(sk->key), err);
}


static int
iams_secret_keyword(const char *p, size_t len)
{
    int  i;

    for (i = 0; i < IAMS_SECRET_COUNT; i++) {
        if (strlen(iams_secret_keywords[i]) == len
            && memcmp(p, iams_secret_keywords[i], len) == 0)
        {
            return i;
        }
    }

    return -1;
}


/* Parses one "keyword base64" line into masters[]. */
static iams_status
iams_secret_line(const char *p, size_t len, unsigned lineno,
    iams_master *masters, int *seen, iams_err *err)
{
    int          which;
    size_t       kwlen;
    const char  *sp;

    sp = memchr(p, ' ', len);

    if (sp == NULL) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "secret file line %u: expected \"keyword "
                            "base64\"", lineno);
    }

    kwlen = (size_t) (sp - p);
    which = iams_secret_keyword(p, kwlen);

    if (which < 0) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "secret file line %u: unknown keyword (expected "
                            "current, previous or pairwise)", lineno);
    }

    if (seen[which]) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "secret file line %u: \"%s\" appears twice",
                            lineno, iams_secret_keywords[which]);
    }

    seen[which] = 1;

    if (iams_b64_decode(sp + 1, len - kwlen - 1, masters[which].bytes,
                        sizeof(masters[which].bytes), &masters[which].len)
        != IAMS_OK
        || masters[which].len < IAMS_SECRET_MIN)
    {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "secret file line %u: \"%s\" must be padded "
                            "base64 of %d to %d bytes", lineno,
                            iams_secret_keywords[which], IAMS_SECRET_MIN,
                            IAMS_SECRET_MAX);
    }

    return IAMS_OK;
}


static iams_status
iams_secret_lines(const char *buf, size_t len, iams_master *masters,
    int *seen, iams_err *err)
{
    size_t       i, n;
    unsigned     lineno;
    const char  *p, *nl;

    lineno = 0;
    p = buf;

    while (p < buf + len) {
        lineno++;
        nl = memchr(p, '\n', (size_t) (buf + len - p));
        n = nl ? (size_t) (nl - p) : (size_t) (buf + len - p);

        if (n > IAMS_LINE_MAX) {
            return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                                "secret file line %u: too long", lineno);
        }

        for (i = 0; i < n; i++) {
            if ((unsigned char) p[i] < 0x20 || (unsigned char) p[i] > 0x7e) {
                return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                                    "secret file line %u: control or "
                                    "non-ASCII character (\\r, tab?)",
                                    lineno);
            }
        }

        if (n > 0 && p[0] != '#'
            && iams_secret_line(p, n, lineno, masters, seen, err) != IAMS_OK)
        {
            return IAMS_ERR_KEY_INVALID;
        }

        p += n + (nl ? 1 : 0);
    }

    return IAMS_OK;
}


static iams_status
iams_keyring_build(iams_keyring *kr, const iams_master *masters,
    const int *seen, iams_err *err)
{
    int                p;
    const iams_master  *pw;

    kr->has_previous = seen[IAMS_SECRET_PREVIOUS];
    kr->has_pairwise = seen[IAMS_SECRET_PAIRWISE];

    for (p = 0; p < IAMS_KEY_PURPOSE_COUNT; p++) {
        if (p == IAMS_KEY_PAIRWISE_SUBJECT) {
            pw = kr->has_pairwise ? &masters[IAMS_SECRET_PAIRWISE]
                                  : &masters[IAMS_SECRET_CURRENT];

            if (iams_derive(pw, p, &kr->keys[p][IAMS_KEY_CURRENT], err)
                != IAMS_OK)
            {
                return IAMS_ERR_INTERNAL;
            }

            continue;
        }

        if (iams_derive(&masters[IAMS_SECRET_CURRENT], p,
                        &kr->keys[p][IAMS_KEY_CURRENT], err)
            != IAMS_OK)
        {
            return IAMS_ERR_INTERNAL;
        }

        if (kr->has_previous
            && iams_derive(&masters[IAMS_SECRET_PREVIOUS], p,
                           &kr->keys[p][IAMS_KEY_PREVIOUS], err)
               != IAMS_OK)
        {
            return IAMS_ERR_INTERNAL;
        }
    }

    if (kr->has_previous
        && strcmp(kr->keys[0][IAMS_KEY_CURRENT].kid,
                  kr->keys[0][IAMS_KEY_PREVIOUS].kid) == 0)
    {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "secret file: \"previous\" has the same key id "
                            "as \"current\"");
    }

    return IAMS_OK;
}


iams_status
iams_keyring_parse(const char *buf, size_t len, iams_keyring **out,
    iams_err *err)
{
    int            seen[IAMS_SECRET_COUNT];
    iams_status    rc;
    iams_master    masters[IAMS_SECRET_COUNT];
    iams_keyring  *kr;

    *out = NULL;

    if (len > IAMS_SECRET_FILE_MAX) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "secret file larger than %d bytes",
                            IAMS_SECRET_FILE_MAX);
    }

    memset(seen, 0, sizeof(seen));
    memset(masters, 0, sizeof(masters));

    rc = iams_secret_lines(buf, len, masters, seen, err);

    if (rc == IAMS_OK && !seen[IAMS_SECRET_CURRENT]) {
        rc = iams_err_set(err, IAMS_ERR_KEY_INVALID,
                          "secret file has no \"current\" line");
    }

    if (rc == IAMS_OK && seen[IAMS_SECRET_PREVIOUS]
        && masters[IAMS_SECRET_PREVIOUS].len
           == masters[IAMS_SECRET_CURRENT].len
        && CRYPTO_memcmp(masters[IAMS_SECRET_PREVIOUS].bytes,
                         masters[IAMS_SECRET_CURRENT].bytes,
                         masters[IAMS_SECRET_CURRENT].len) == 0)
    {
        rc = iams_err_set(err, IAMS_ERR_KEY_INVALID,
                          "secret file: \"previous\" equals \"current\"");
    }

    kr = NULL;

    if (rc == IAMS_OK) {
        kr = calloc(1, sizeof(*kr));

        if (kr == NULL) {
            rc = iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");

        } else {
            rc = iams_keyring_build(kr, masters, seen, err);
        }
    }

    OPENSSL_cleanse(masters, sizeof(masters));

    if (rc != IAMS_OK) {
        iams_keyring_free(kr);
        return rc;
    }

    *out = kr;

    return IAMS_OK;
}


iams_status
iams_keyring_load_file(const char *path, iams_keyring **out, iams_err *err)
{
    int          fd;
    char         buf[IAMS_SECRET_FILE_MAX + 1];
    size_t       len;
    ssize_t      n;
    iams_status  rc;
    struct stat  st;

    *out = NULL;

    fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        return iams_err_set(err, IAMS_ERR_IO, "cannot open secret file: %s",
                            strerror(errno));
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        return iams_err_set(err, IAMS_ERR_IO,
                            "secret file is not a regular file");
    }

    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        close(fd);
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "secret file is accessible by other users "
                            "(chmod 600 or 640)");
    }

    len = 0;

    /* read one byte past the limit so an oversized file is detected */
    while (len < sizeof(buf)) {
        n = read(fd, buf + len, sizeof(buf) - len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1) {
            OPENSSL_cleanse(buf, len);
            close(fd);
            return iams_err_set(err, IAMS_ERR_IO,
                                "cannot read secret file: %s",
                                strerror(errno));
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;
    }

    close(fd);

    rc = iams_keyring_parse(buf, len, out, err);
    OPENSSL_cleanse(buf, len);

    return rc;
}


void
iams_keyring_free(iams_keyring *kr)
{
    if (kr == NULL) {
        return;
    }

    OPENSSL_cleanse(kr, sizeof(*kr));
    free(kr);
}


const iams_subkey *
iams_keyring_key(const iams_keyring *kr, iams_key_purpose purpose,
    iams_key_slot slot)
{
    if ((unsigned) purpose >= IAMS_KEY_PURPOSE_COUNT) {
        return NULL;
    }

    if (slot == IAMS_KEY_CURRENT) {
        return &kr->keys[purpose][IAMS_KEY_CURRENT];
    }

    if (slot == IAMS_KEY_PREVIOUS && kr->has_previous
        && purpose != IAMS_KEY_PAIRWISE_SUBJECT)
    {
        return &kr->keys[purpose][IAMS_KEY_PREVIOUS];
    }

    return NULL;
}


const iams_subkey *
iams_keyring_find(const iams_keyring *kr, iams_key_purpose purpose,
    const char *kid, size_t kid_len)
{
    int                 slot;
    const iams_subkey  *sk;

    if (kid_len != IAMS_KID_LEN) {
        return NULL;
    }

    for (slot = IAMS_KEY_CURRENT; slot <= IAMS_KEY_PREVIOUS; slot++) {
        sk = iams_keyring_key(kr, purpose, (iams_key_slot) slot);

        if (sk != NULL && memcmp(sk->kid, kid, IAMS_KID_LEN) == 0) {
            return sk;
        }
    }

    return NULL;
}


int
iams_keyring_has_previous(const iams_keyring *kr)
{
    return kr->has_previous;
}


int
iams_keyring_has_pairwise(const iams_keyring *kr)
{
    return kr->has_pairwise;
}
