/*
 * Private to the platform_*.c sources: bounded field checks, JSON member
 * access and serialization shared by the request builders and reply
 * parsers.
 */

#ifndef IAMSMART_PLATFORM_UTIL_H
#define IAMSMART_PLATFORM_UTIL_H

#include <openssl/evp.h>

#include <iamsmart/platform.h>

/* expiresIn values above this (ms) are absolute epochs: 10^12 ms is
 * 2001-09-09, while no lifetime lasts 31 years */
#define IAMS_PF_EPOCH_MS_MIN  1000000000000LL

/* character classes for iams_pf_chars */
#define IAMS_PF_TOKEN     0x01   /* [A-Za-z0-9_-] */
#define IAMS_PF_PRINT     0x02   /* 0x21-0x7e */
#define IAMS_PF_ALNUM     0x04   /* [A-Za-z0-9] */

/* Whether s has min..max bytes, all of class. */
int iams_pf_chars(iams_span s, size_t min, size_t max, unsigned cls);

/* Whether code is "D" and five digits. */
int iams_pf_code_shape(const char *code, size_t len);

/* Whether s is one of the platform's lang values. */
int iams_pf_lang_ok(iams_span s);

/*
 * A string member: IAMS_OK with *out borrowed from obj (NUL-terminated,
 * lives as long as obj) when present and within min..max bytes of class
 * cls (0: any bytes but NUL); when absent *out is NULL and it fails only if
 * required.  IAMS_ERR_MALFORMED names the member in err.
 */
iams_status iams_pf_json_str(const json_t *obj, const char *name,
    int required, size_t min, size_t max, unsigned cls, iams_span *out,
    iams_err *err);

/* An integer member given as a JSON integer or a string of 1..18 digits;
 * *present tells whether it was there.  Negative values are refused. */
iams_status iams_pf_json_int(const json_t *obj, const char *name,
    int64_t *out, int *present, iams_err *err);

/* A boolean given as JSON true/false or the strings "true"/"false". */
iams_status iams_pf_json_bool(const json_t *obj, const char *name,
    int *out, iams_err *err);

/* Compact serialization into a malloc()ed NUL-terminated buffer; takes
 * ownership of (decrefs) value, which may be NULL after a failed build. */
iams_status iams_pf_dump(json_t *value, char **out, size_t *out_len,
    iams_err *err);

/* Decrypts root's string member "content" under key and parses it as a
 * JSON object (platform_envelope.c). */
iams_status iams_envelope_content(const unsigned char key[IAMS_CEK_LEN],
    const json_t *root, json_t **content, iams_err *err);

/* Whether pub is the public half of the KEK (platform_kek.c). */
int iams_kek_matches(const iams_kek *kek, const EVP_PKEY *pub);

/*
 * Percent-encodes in[0..n) into out, which has room for 3 * n bytes, and
 * returns the length.  form != 0: as java.net.URLEncoder ([A-Za-z0-9.*_-]
 * kept, space as '+'); form == 0: RFC 3986 (unreserved [A-Za-z0-9-._~]
 * kept, space as %20).
 */
size_t iams_pf_url_encode(const char *in, size_t n, char *out, int form);

/* malloc()ed NUL-terminated copy of s. */
char *iams_pf_strdup(iams_span s);

#endif /* IAMSMART_PLATFORM_UTIL_H */
