/*
 * Shared helpers of the platform protocol sources.
 */

#include <stdlib.h>
#include <string.h>

#include "platform_util.h"

#define IAMS_PF_DIGITS_MAX  18      /* fits int64 without overflow */


static int
iams_pf_char_ok(unsigned char c, unsigned cls)
{
    int  alnum;

    alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9');

    switch (cls) {
    case IAMS_PF_ALNUM:
        return alnum;
    case IAMS_PF_TOKEN:
        return alnum || c == '_' || c == '-';
    case IAMS_PF_PRINT:
        return c >= 0x21 && c <= 0x7e;
    default:
        return c != '\0';
    }
}


int
iams_pf_chars(iams_span s, size_t min, size_t max, unsigned cls)
{
    size_t  i;

    if (s.len < min || s.len > max || (s.len > 0 && s.data == NULL)) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        if (!iams_pf_char_ok((unsigned char) s.data[i], cls)) {
            return 0;
        }
    }

    return 1;
}


int
iams_pf_code_shape(const char *code, size_t len)
{
    size_t  i;

    if (len != IAMS_CODE_LEN || code[0] != 'D') {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (code[i] < '0' || code[i] > '9') {
            return 0;
        }
    }

    return 1;
}


int
iams_pf_lang_ok(iams_span s)
{
    static const char *const  langs[] = { "en-US", "zh-HK", "zh-CN" };
    size_t                    i;

    for (i = 0; i < sizeof(langs) / sizeof(langs[0]); i++) {
        if (s.len == 5 && memcmp(s.data, langs[i], 5) == 0) {
            return 1;
        }
    }

    return 0;
}


iams_status
iams_pf_json_str(const json_t *obj, const char *name, int required,
    size_t min, size_t max, unsigned cls, iams_span *out, iams_err *err)
{
    const json_t  *j;

    out->data = NULL;
    out->len = 0;

    j = json_object_get(obj, name);

    if (j == NULL || json_is_null(j)) {
        if (required) {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "\"%s\" missing", name);
        }

        return IAMS_OK;
    }

    if (!json_is_string(j)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "\"%s\" is not a string", name);
    }

    out->data = json_string_value(j);
    out->len = json_string_length(j);

    if (!iams_pf_chars(*out, min, max, cls)) {
        out->data = NULL;
        out->len = 0;
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "\"%s\" has a bad length or character", name);
    }

    return IAMS_OK;
}


iams_status
iams_pf_json_int(const json_t *obj, const char *name, int64_t *out,
    int *present, iams_err *err)
{
    size_t         i, len;
    int64_t        v;
    const char    *s;
    const json_t  *j;

    *out = 0;
    *present = 0;

    j = json_object_get(obj, name);

    if (j == NULL || json_is_null(j)) {
        return IAMS_OK;
    }

    if (json_is_integer(j)) {
        if (json_integer_value(j) < 0) {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "\"%s\" is negative", name);
        }

        *out = (int64_t) json_integer_value(j);
        *present = 1;

        return IAMS_OK;
    }

    s = json_string_value(j);
    len = json_string_length(j);

    if (s == NULL || len == 0 || len > IAMS_PF_DIGITS_MAX) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "\"%s\" is not a number", name);
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "\"%s\" is not a number", name);
        }

        v = v * 10 + (s[i] - '0');
    }

    *out = v;
    *present = 1;

    return IAMS_OK;
}


iams_status
iams_pf_json_bool(const json_t *obj, const char *name, int *out,
    iams_err *err)
{
    const char    *s;
    const json_t  *j;

    j = json_object_get(obj, name);

    if (json_is_boolean(j)) {
        *out = json_is_true(j);
        return IAMS_OK;
    }

    s = json_string_value(j);

    if (s != NULL && strcmp(s, "true") == 0) {
        *out = 1;
        return IAMS_OK;
    }

    if (s != NULL && strcmp(s, "false") == 0) {
        *out = 0;
        return IAMS_OK;
    }

    return iams_err_set(err, IAMS_ERR_MALFORMED,
                        "\"%s\" missing or not a boolean", name);
}


iams_status
iams_pf_dump(json_t *value, char **out, size_t *out_len, iams_err *err)
{
    char    *buf;
    size_t   n;

    *out = NULL;
    *out_len = 0;

    if (value == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "cannot build JSON");
    }

    n = json_dumpb(value, NULL, 0, JSON_COMPACT);
    buf = n > 0 ? malloc(n + 1) : NULL;

    if (buf == NULL || json_dumpb(value, buf, n, JSON_COMPACT) != n) {
        free(buf);
        json_decref(value);
        return iams_err_set(err, IAMS_ERR_NOMEM, "cannot serialize JSON");
    }

    json_decref(value);
    buf[n] = '\0';
    *out = buf;
    *out_len = n;

    return IAMS_OK;
}


size_t
iams_pf_url_encode(const char *in, size_t n, char *out, int form)
{
    int            keep;
    size_t         i, o;
    unsigned char  c;

    static const char  hex[] = "0123456789ABCDEF";

    o = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) in[i];

        keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
               || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
               || (form ? c == '*' : c == '~');

        if (keep) {
            out[o++] = (char) c;

        } else if (form && c == ' ') {
            out[o++] = '+';

        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0x0f];
        }
    }

    return o;
}


char *
iams_pf_strdup(iams_span s)
{
    char  *p;

    p = malloc(s.len + 1);

    if (p != NULL) {
        if (s.len > 0) {
            memcpy(p, s.data, s.len);
        }

        p[s.len] = '\0';
    }

    return p;
}
