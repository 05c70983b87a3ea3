/*
 * Key files: JWK Sets, single JWKs and PEM keys, public (for verifying)
 * and private (for signing), and the operations on a set.
 *
 * A file is PEM when its first non-blank bytes are "-----BEGIN ", JSON
 * otherwise.  Secret bytes (file contents, decoded private members, the
 * JSON strings that held them) are cleansed before they are freed.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <iamsmart/encoding.h>

#include "jose_internal.h"


static const char  *iams_jwk_secret_members[] = {
    "d", "p", "q", "dp", "dq", "qi", "k", "oth"
};


/* The offset of "-----BEGIN " after leading blanks, or -1 when the text
 * is not PEM. */
static long
iams_pem_start(const char *buf, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r'
            && buf[i] != '\n')
        {
            break;
        }
    }

    if (len - i >= 11 && memcmp(buf + i, "-----BEGIN ", 11) == 0) {
        return (long) i;
    }

    return -1;
}


static size_t
iams_pem_count_begin(const char *buf, size_t len)
{
    size_t       n;
    const char  *p, *end;

    n = 0;
    end = buf + len;

    for (p = buf; p < end; p += 11) {
        p = memmem(p, (size_t) (end - p), "-----BEGIN ", 11);

        if (p == NULL) {
            break;
        }

        n++;
    }

    return n;
}


/* Wipes the private members' text inside a parsed JWK before it is freed:
 * jansson frees without cleansing. */
static void
iams_jwk_json_cleanse(json_t *obj)
{
    size_t   i;
    json_t  *v;

    for (i = 0; i < sizeof(iams_jwk_secret_members) / sizeof(char *); i++) {
        v = json_object_get(obj, iams_jwk_secret_members[i]);

        if (json_is_string(v)) {
            OPENSSL_cleanse((char *) json_string_value(v),
                            json_string_length(v));
        }
    }
}


static iams_jwks *
iams_jwks_new(size_t cap)
{
    iams_jwks  *set;

    set = calloc(1, sizeof(iams_jwks));

    if (set == NULL) {
        return NULL;
    }

    set->keys = calloc(cap ? cap : 1, sizeof(iams_jwk *));

    if (set->keys == NULL) {
        free(set);
        return NULL;
    }

    return set;
}


static int
iams_jwk_same_kid(const iams_jwk *a, const iams_jwk *b)
{
    return a->kid != NULL && b->kid != NULL && a->kid_len == b->kid_len
           && memcmp(a->kid, b->kid, a->kid_len) == 0;
}


static iams_status
iams_jwks_from_json(json_t *doc, iams_jwks *set, iams_err *err)
{
    size_t       i, j, n;
    json_t      *keys;
    iams_status  rc;

    keys = json_object_get(doc, "keys");

    if (keys != NULL) {
        if (!json_is_array(keys)) {
            return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                                "\"keys\" is not an array");
        }

        n = json_array_size(keys);

    } else if (json_object_get(doc, "kty") != NULL) {
        n = 1;

    } else {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "neither a JWK Set nor a JWK");
    }

    if (n == 0) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID, "empty key set");
    }

    if (n > IAMS_JWKS_MAX_KEYS) {
        return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                            "%zu keys, at most %d allowed", n,
                            IAMS_JWKS_MAX_KEYS);
    }

    for (i = 0; i < n; i++) {
        json_t  *obj = keys ? json_array_get(keys, i) : doc;

        rc = iams_jwk_from_json(obj, 0, (long) i, &set->keys[i], err);

        if (json_is_object(obj)) {
            iams_jwk_json_cleanse(obj);
        }

        if (rc != IAMS_OK) {
            return rc;
        }

        set->nkeys++;

        for (j = 0; j < i; j++) {
            if (iams_jwk_same_kid(set->keys[j], set->keys[i])) {
                return iams_err_set(err, IAMS_ERR_KEY_DUPLICATE_KID,
                                    "keys %zu and %zu have the same kid",
                                    j, i);
            }
        }
    }

    return IAMS_OK;
}


/* Reads every "PUBLIC KEY" block; anything else in a block is an error. */
static iams_status
iams_jwks_from_pem(const char *buf, size_t len, iams_jwks *set,
    iams_err *err)
{
    long                  dlen;
    char                 *name, *header, detail[IAMS_ERR_DETAIL_MAX];
    BIO                  *bio;
    EVP_PKEY             *pkey;
    iams_status           rc;
    unsigned char        *data;
    const unsigned char  *p;

    bio = BIO_new_mem_buf(buf, (int) len);

    if (bio == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "PEM buffer");
    }

    rc = IAMS_OK;

    for ( ;; ) {
        name = header = NULL;
        data = NULL;

        if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1) {
            if (set->nkeys > 0
                && ERR_GET_REASON(ERR_peek_last_error())
                   == PEM_R_NO_START_LINE)
            {
                break;
            }

            rc = iams_err_set(err, IAMS_ERR_KEY_INVALID,
                              "PEM block %zu unreadable", set->nkeys);
            break;
        }

        if (set->nkeys == IAMS_JWKS_MAX_KEYS) {
            rc = iams_err_set(err, IAMS_ERR_KEY_INVALID,
                              "more than %d keys", IAMS_JWKS_MAX_KEYS);

        } else if (strcmp(name, "PUBLIC KEY") != 0 || header[0] != '\0') {
            rc = iams_err_set(err, IAMS_ERR_KEY_INVALID,
                              "PEM block %zu is not a \"PUBLIC KEY\"",
                              set->nkeys);

        } else {
            p = data;
            pkey = d2i_PUBKEY(NULL, &p, dlen);

            if (pkey == NULL || p != data + dlen) {
                EVP_PKEY_free(pkey);
                rc = iams_err_set(err, IAMS_ERR_KEY_INVALID,
                                  "PEM block %zu is not a valid public key",
                                  set->nkeys);

            } else {
                rc = iams_jwk_from_pkey(pkey, 0, &set->keys[set->nkeys],
                                        err);

                if (rc != IAMS_OK) {
                    (void) snprintf(detail, sizeof(detail), "%s",
                                    err->detail);
                    iams_err_set(err, rc, "PEM block %zu: %s", set->nkeys,
                                 detail);

                } else {
                    set->nkeys++;
                }
            }
        }

        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);

        if (rc != IAMS_OK) {
            break;
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    /* the PEM reader skips a block whose BEGIN line does not start a
     * line; a key silently missing from a set is worse than an error */
    if (rc == IAMS_OK && iams_pem_count_begin(buf, len) != set->nkeys) {
        rc = iams_err_set(err, IAMS_ERR_KEY_INVALID,
                          "a PEM block does not start a line");
    }

    return rc;
}


iams_status
iams_jwks_parse(const char *buf, size_t len, iams_jwks **out, iams_err *err)
{
    json_t      *doc;
    long         pem;
    iams_err     local;
    iams_jwks   *set;
    iams_status  rc;

    *out = NULL;

    if (err == NULL) {
        err = &local;
    }

    if (len > IAMS_JWK_MAX_FILE) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "key data of %zu bytes exceeds %d", len,
                            IAMS_JWK_MAX_FILE);
    }

    set = iams_jwks_new(IAMS_JWKS_MAX_KEYS);

    if (set == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "key set");
    }

    pem = iams_pem_start(buf, len);

    if (pem >= 0) {
        rc = iams_jwks_from_pem(buf + pem, len - (size_t) pem, set, err);

    } else {
        doc = iams_json_parse_object(buf, len, IAMS_JWK_MAX_FILE, err);

        if (doc == NULL) {
            iams_jwks_free(set);
            return err->status;
        }

        rc = iams_jwks_from_json(doc, set, err);
        json_decref(doc);
    }

    if (rc != IAMS_OK) {
        iams_jwks_free(set);
        return rc;
    }

    *out = set;

    return IAMS_OK;
}


/* Reads a whole file of at most max bytes into a malloc()ed buffer. */
static iams_status
iams_file_read(const char *path, size_t max, char **buf, size_t *len,
    iams_err *err)
{
    int      fd, saved;
    char    *p;
    size_t   n;
    ssize_t  r;

    r = 0;
    *buf = NULL;
    *len = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        return iams_err_set(err, IAMS_ERR_IO, "cannot open: %s: %s",
                            strerror(errno), path);
    }

    p = malloc(max + 1);

    if (p == NULL) {
        close(fd);
        return iams_err_set(err, IAMS_ERR_NOMEM, "file buffer");
    }

    n = 0;

    /* one byte past the limit tells an oversized file from a full one */
    while (n < max + 1) {
        r = read(fd, p + n, max + 1 - n);

        if (r == -1 && errno == EINTR) {
            continue;
        }

        if (r <= 0) {
            break;
        }

        n += (size_t) r;
    }

    saved = errno;
    close(fd);

    if (r == -1) {
        OPENSSL_clear_free(p, n);
        return iams_err_set(err, IAMS_ERR_IO, "cannot read: %s: %s",
                            strerror(saved), path);
    }

    if (n > max) {
        OPENSSL_clear_free(p, n);
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "file larger than %zu bytes: %s", max, path);
    }

    *buf = p;
    *len = n;

    return IAMS_OK;
}


typedef iams_status (*iams_key_parser)(const char *buf, size_t len,
    void *out, iams_err *err);


/* Reads a key file, parses it, and wipes the file's bytes. */
static iams_status
iams_key_file_parse(const char *path, iams_key_parser parse, void *out,
    iams_err *err)
{
    char        *buf;
    size_t       len;
    iams_status  rc;

    rc = iams_file_read(path, IAMS_JWK_MAX_FILE, &buf, &len, err);

    if (rc != IAMS_OK) {
        return rc;
    }

    rc = parse(buf, len, out, err);
    OPENSSL_clear_free(buf, len);

    return rc;
}


static iams_status
iams_jwks_parser(const char *buf, size_t len, void *out, iams_err *err)
{
    return iams_jwks_parse(buf, len, out, err);
}


iams_status
iams_jwks_load_file(const char *path, iams_jwks **out, iams_err *err)
{
    *out = NULL;

    return iams_key_file_parse(path, iams_jwks_parser, out, err);
}


iams_status
iams_jwks_merge(iams_jwks *dst, iams_jwks **src, iams_err *err)
{
    size_t      i, j;
    iams_jwk  **keys;

    for (i = 0; i < (*src)->nkeys; i++) {
        for (j = 0; j < dst->nkeys; j++) {
            if (iams_jwk_same_kid(dst->keys[j], (*src)->keys[i])) {
                return iams_err_set(err, IAMS_ERR_KEY_DUPLICATE_KID,
                                    "a key with the same kid is already "
                                    "loaded");
            }
        }
    }

    keys = realloc(dst->keys,
                   (dst->nkeys + (*src)->nkeys + 1) * sizeof(iams_jwk *));

    if (keys == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "key set");
    }

    memcpy(keys + dst->nkeys, (*src)->keys,
           (*src)->nkeys * sizeof(iams_jwk *));

    dst->keys = keys;
    dst->nkeys += (*src)->nkeys;

    free((*src)->keys);
    free(*src);
    *src = NULL;

    return IAMS_OK;
}


size_t
iams_jwks_count(const iams_jwks *set)
{
    return set ? set->nkeys : 0;
}


const iams_jwk *
iams_jwks_get(const iams_jwks *set, size_t i)
{
    return (set != NULL && i < set->nkeys) ? set->keys[i] : NULL;
}


void
iams_jwks_free(iams_jwks *set)
{
    size_t  i;

    if (set == NULL) {
        return;
    }

    for (i = 0; i < set->nkeys; i++) {
        iams_jwk_free(set->keys[i]);
    }

    free(set->keys);
    free(set);
}


/* Encrypted PEM keys are refused instead of prompting on a terminal. */
static int
iams_no_password(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


iams_status
iams_jwk_parse_private(const char *buf, size_t len, iams_jwk **out,
    iams_err *err)
{
    BIO          *bio;
    long          pem;
    json_t       *doc;
    iams_err      local;
    EVP_PKEY     *pkey;
    iams_status   rc;

    *out = NULL;

    if (err == NULL) {
        err = &local;
    }

    if (len > IAMS_JWK_MAX_FILE) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE,
                            "key data of %zu bytes exceeds %d", len,
                            IAMS_JWK_MAX_FILE);
    }

    pem = iams_pem_start(buf, len);

    if (pem >= 0) {
        bio = BIO_new_mem_buf(buf + pem, (int) (len - (size_t) pem));
        pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, iams_no_password,
                                             NULL)
                   : NULL;
        BIO_free(bio);
        ERR_clear_error();

        if (pkey == NULL) {
            return iams_err_set(err, IAMS_ERR_KEY_INVALID,
                                "no unencrypted PEM private key found");
        }

        return iams_jwk_from_pkey(pkey, 1, out, err);
    }

    doc = iams_json_parse_object(buf, len, IAMS_JWK_MAX_FILE, err);

    if (doc == NULL) {
        return err->status;
    }

    rc = iams_jwk_from_json(doc, 1, -1, out, err);
    iams_jwk_json_cleanse(doc);
    json_decref(doc);

    return rc;
}


static iams_status
iams_jwk_private_parser(const char *buf, size_t len, void *out,
    iams_err *err)
{
    return iams_jwk_parse_private(buf, len, out, err);
}


iams_status
iams_jwk_load_private_file(const char *path, iams_jwk **out, iams_err *err)
{
    *out = NULL;

    return iams_key_file_parse(path, iams_jwk_private_parser, out, err);
}
