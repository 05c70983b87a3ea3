/*
 * The browser side of login: the getQR redirect, the callback query and
 * the return URL.  Everything here comes from, or goes to, a browser, so
 * every value is checked against a narrow shape before use.
 */

#include <stdlib.h>
#include <string.h>

#include <iamsmart/random.h>

#include "platform_util.h"

#define IAMS_GETQR_PATH       "/api/v1/auth/getQR"
#define IAMS_URL_MAX          2048
#define IAMS_QUERY_MAX        4096
#define IAMS_QUERY_PARAMS     32


iams_status
iams_state_generate(char out[IAMS_STATE_LEN + 1], iams_err *err)
{
    return iams_random_token(out, IAMS_STATE_LEN, err);
}


int
iams_state_valid(const char *s, size_t len)
{
    iams_span  sp = { s, len };

    return iams_pf_chars(sp, 1, IAMS_STATE_MAX, IAMS_PF_TOKEN);
}


/* ---- getQR ---- */

/* An absolute http(s) URL without whitespace, controls, fragment. */
static int
iams_http_url_ok(iams_span u, int allow_query)
{
    if (!iams_pf_chars(u, 8, IAMS_URL_MAX, IAMS_PF_PRINT)
        || memchr(u.data, '#', u.len) != NULL
        || (!allow_query && memchr(u.data, '?', u.len) != NULL))
    {
        return 0;
    }

    return (u.len > 8 && memcmp(u.data, "https://", 8) == 0)
           || (u.len > 7 && memcmp(u.data, "http://", 7) == 0);
}


/* Space-separated tokens of [A-Za-z0-9_.:-], no leading, trailing or
 * doubled spaces. */
static int
iams_scope_ok(iams_span s)
{
    size_t  i;
    char    c, prev;

    if (s.len == 0 || s.len > IAMS_SCOPE_MAX) {
        return 0;
    }

    prev = ' ';

    for (i = 0; i < s.len; i++) {
        c = s.data[i];

        if (c == ' ') {
            if (prev == ' ') {
                return 0;
            }

        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                     || (c >= '0' && c <= '9') || c == '_' || c == '.'
                     || c == ':' || c == '-'))
        {
            return 0;
        }

        prev = c;
    }

    return prev != ' ';
}


typedef struct {
    char    *buf;
    size_t   len;
    size_t   cap;
} iams_url_buf;


static void
iams_url_raw(iams_url_buf *u, const char *s, size_t n)
{
    if (u->len + n <= u->cap) {
        memcpy(u->buf + u->len, s, n);
    }

    u->len += n;
}


/* Appends "&name=" (or "?name=" first) and the RFC 3986 encoded value. */
static void
iams_url_param(iams_url_buf *u, const char *name, iams_span v, int first)
{
    iams_url_raw(u, first ? "?" : "&", 1);
    iams_url_raw(u, name, strlen(name));
    iams_url_raw(u, "=", 1);

    if (u->len + 3 * v.len <= u->cap) {
        u->len += iams_pf_url_encode(v.data, v.len, u->buf + u->len, 0);

    } else {
        u->len += 3 * v.len;
    }
}


static iams_status
iams_getqr_check(const iams_getqr_params *p, iams_err *err)
{
    const char  *bad;

    bad = NULL;

    if (!iams_http_url_ok(p->base_url, 0)) {
        bad = "base URL";

    } else if (!iams_pf_chars(p->client_id, 1, IAMS_CLIENT_ID_MAX,
                              IAMS_PF_PRINT))
    {
        bad = "client id";

    } else if (!iams_http_url_ok(p->redirect_uri, 1)) {
        bad = "redirect URI";

    } else if (!iams_scope_ok(p->scope)) {
        bad = "scope";

    } else if (p->lang.len > 0 && !iams_pf_lang_ok(p->lang)) {
        bad = "lang";

    } else if (!iams_state_valid(p->state.data, p->state.len)) {
        bad = "state";

    } else if (!iams_pf_chars(p->ticket_id, 0, IAMS_TICKET_ID_MAX,
                              IAMS_PF_PRINT))
    {
        bad = "ticket id";

    } else if ((unsigned) p->source >= IAMS_SOURCE_COUNT) {
        bad = "source";
    }

    if (bad != NULL) {
        return iams_err_set(err, IAMS_ERR_MALFORMED, "getQR: bad %s", bad);
    }

    return IAMS_OK;
}


iams_status
iams_getqr_url(const iams_getqr_params *p, char **out, size_t *out_len,
    iams_err *err)
{
    size_t        base_len;
    iams_span     v;
    iams_url_buf  u;
    const char   *src;

    *out = NULL;
    *out_len = 0;

    if (iams_getqr_check(p, err) != IAMS_OK) {
        return IAMS_ERR_MALFORMED;
    }

    base_len = p->base_url.len;

    while (base_len > 0 && p->base_url.data[base_len - 1] == '/') {
        base_len--;
    }

    /* every byte encodes to at most 3; names and separators are short */
    u.cap = base_len + sizeof(IAMS_GETQR_PATH) + 256
            + 3 * (p->client_id.len + p->redirect_uri.len + p->scope.len
                   + p->lang.len + p->state.len + p->ticket_id.len + 32);
    u.len = 0;
    u.buf = malloc(u.cap + 1);

    if (u.buf == NULL) {
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    iams_url_raw(&u, p->base_url.data, base_len);
    iams_url_raw(&u, IAMS_GETQR_PATH, sizeof(IAMS_GETQR_PATH) - 1);

    iams_url_param(&u, "clientID", p->client_id, 1);
    v.data = "code";
    v.len = 4;
    iams_url_param(&u, "responseType", v, 0);
    src = iams_source_name(p->source);
    v.data = src;
    v.len = strlen(src);
    iams_url_param(&u, "source", v, 0);
    iams_url_param(&u, "redirectURI", p->redirect_uri, 0);
    iams_url_param(&u, "scope", p->scope, 0);

    if (p->lang.len > 0) {
        iams_url_param(&u, "lang", p->lang, 0);
    }

    iams_url_param(&u, "state", p->state, 0);
    v.data = p->broker_page ? "true" : "false";
    v.len = strlen(v.data);
    iams_url_param(&u, "brokerPage", v, 0);

    if (p->ticket_id.len > 0) {
        iams_url_param(&u, "ticketID", p->ticket_id, 0);
    }

    if (u.len > u.cap) {
        free(u.buf);
        return iams_err_set(err, IAMS_ERR_INTERNAL, "getQR URL overflow");
    }

    u.buf[u.len] = '\0';
    *out = u.buf;
    *out_len = u.len;

    return IAMS_OK;
}


/* ---- the callback query ---- */

static int
iams_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/* Percent-decodes in into out (cap bytes); '+' is a space.  Returns the
 * length, or (size_t) -1 for a bad escape or overflow. */
static size_t
iams_query_decode(const char *in, size_t n, char *out, size_t cap)
{
    int     hi, lo;
    size_t  i, o;

    o = 0;

    for (i = 0; i < n; i++) {
        if (o == cap) {
            return (size_t) -1;
        }

        if (in[i] == '%') {
            if (n - i < 3) {
                return (size_t) -1;
            }

            hi = iams_hexval(in[i + 1]);
            lo = iams_hexval(in[i + 2]);

            if (hi < 0 || lo < 0) {
                return (size_t) -1;
            }

            out[o++] = (char) (hi << 4 | lo);
            i += 2;

        } else {
            out[o++] = in[i] == '+' ? ' ' : in[i];
        }
    }

    return o;
}


static int
iams_auth_code_ok(const char *s, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > IAMS_AUTH_CODE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~'
              || c == '+' || c == '/' || c == '=' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* Stores one known parameter; returns 0 on a repeat or a bad value. */
static int
iams_callback_param(iams_login_callback *cb, const char *name, size_t nlen,
    const char *val, size_t vlen, unsigned *seen)
{
    size_t  n;
    char    tmp[IAMS_AUTH_CODE_MAX + 1];

    n = iams_query_decode(val, vlen, tmp, sizeof(tmp) - 1);

    if (nlen == 4 && memcmp(name, "code", 4) == 0) {
        if ((*seen & 1) || n == (size_t) -1 || !iams_auth_code_ok(tmp, n)) {
            return 0;
        }

        *seen |= 1;
        memcpy(cb->code, tmp, n);
        cb->code[n] = '\0';
        cb->code_len = n;

    } else if (nlen == 5 && memcmp(name, "state", 5) == 0) {
        if ((*seen & 2) || n == (size_t) -1 || !iams_state_valid(tmp, n)) {
            return 0;
        }

        *seen |= 2;
        memcpy(cb->state, tmp, n);
        cb->state[n] = '\0';
        cb->state_len = n;

    } else if (nlen == 10 && memcmp(name, "error_code", 10) == 0) {
        if ((*seen & 4) || n == (size_t) -1 || !iams_pf_code_shape(tmp, n)) {
            return 0;
        }

        *seen |= 4;
        memcpy(cb->error_code, tmp, n);
        cb->error_code[n] = '\0';
        cb->error_pcode = iams_pcode_classify(tmp, n);
    }

    return 1;
}


iams_status
iams_login_callback_parse(const char *args, size_t len,
    iams_login_callback *cb, iams_err *err)
{
    size_t       nparams, plen;
    unsigned     seen;
    const char  *p, *end, *amp, *eq;

    memset(cb, 0, sizeof(*cb));
    cb->error_pcode = IAMS_PCODE_OK;

    if (len > IAMS_QUERY_MAX) {
        return iams_err_set(err, IAMS_ERR_TOO_LARGE, "callback query too long");
    }

    seen = 0;
    nparams = 0;
    p = args;
    end = args + len;

    while (p < end) {
        if (++nparams > IAMS_QUERY_PARAMS) {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "too many callback parameters");
        }

        amp = memchr(p, '&', (size_t) (end - p));
        plen = amp ? (size_t) (amp - p) : (size_t) (end - p);
        eq = memchr(p, '=', plen);

        if (eq != NULL
            && !iams_callback_param(cb, p, (size_t) (eq - p), eq + 1,
                                    plen - (size_t) (eq - p) - 1, &seen))
        {
            memset(cb, 0, sizeof(*cb));
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "callback parameter repeated or malformed");
        }

        p += plen + 1;
    }

    cb->is_error = (seen & 4) != 0;

    /* valid: code and state; or error_code, with or without state */
    if ((seen & 5) == 5 || (seen & 5) == 0 || seen == 1) {
        memset(cb, 0, sizeof(*cb));
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "callback needs code and state, or error_code");
    }

    return IAMS_OK;
}


/* ---- return URL ---- */

iams_status
iams_return_url_check(const char *url, size_t len, iams_err *err)
{
    size_t  i;

    if (len == 0 || len > IAMS_RETURN_URL_MAX || url[0] != '/') {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "return URL is not a local path");
    }

    if (len > 1 && (url[1] == '/' || url[1] == '\\')) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "return URL points to another host");
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) url[i] < 0x21 || (unsigned char) url[i] > 0x7e
            || url[i] == '\\')
        {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "return URL holds a forbidden character");
        }
    }

    return IAMS_OK;
}
