/*
 * Calling adapter hooks: the host services table, timing, and the checks of
 * what goes in and what comes out.
 *
 * Every hook runs inside a frame (iams_adapter_frame_begin/_end).  The frame
 * is the host_ctx the adapter passes back to host->alloc and host->log, so
 * those two know the caller's environment and the adapter's name, and the
 * frame counts the bytes the adapter allocates: one call gets at most
 * IAMS_ADAPTER_OUTPUT_MAX, whatever the caller's allocator would allow.
 *
 * Inputs built by the gateway (queries, form input, identities) are checked
 * before the hook runs, so that an adapter only ever sees well-formed input
 * for data sets and forms it declared.  Outputs are parsed with the bounded
 * JSON parser and checked against the contract in adapter.h; an adapter
 * that breaks it gets IAMS_ADAPTER_ERR_OUTPUT and a message naming the rule.
 */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <iamsmart/encoding.h>

#include "adapter_internal.h"


#define IAMS_ADAPTER_FIELDS_MAX   512     /* canonical fields in one value */
#define IAMS_ADAPTER_SUBJECT_MAX  256
#define IAMS_ADAPTER_PATH_MAX     2048
#define IAMS_ADAPTER_HNAME_MAX    64


static void *iams_adapter_host_alloc(void *host_ctx, size_t n);
static void iams_adapter_host_log(void *host_ctx, int level, const char *msg,
    size_t len);


static const iams_adapter_host  iams_adapter_host_services = {
    sizeof(iams_adapter_host),
    IAMS_ADAPTER_ABI_MAJOR,
    IAMS_ADAPTER_ABI_MINOR,
    iams_adapter_host_log,
    iams_adapter_host_alloc,
};


static const char *const  iams_adapter_status_strings[] = {
    [IAMS_ADAPTER_OK]                = "ok",
    [IAMS_ADAPTER_ERR_INVALID_INPUT] = "invalid_input",
    [IAMS_ADAPTER_ERR_UNSUPPORTED]   = "unsupported",
    [IAMS_ADAPTER_ERR_NOT_FOUND]     = "not_found",
    [IAMS_ADAPTER_ERR_DENIED]        = "denied",
    [IAMS_ADAPTER_ERR_BACKEND]       = "backend_error",
    [IAMS_ADAPTER_ERR_BAD_REPLY]     = "malformed_reply",
    [IAMS_ADAPTER_ERR_CONFIG]        = "invalid_config",
    [IAMS_ADAPTER_ERR_NOMEM]         = "out_of_memory",
    [IAMS_ADAPTER_ERR_INTERNAL]      = "internal",
    [IAMS_ADAPTER_ERR_OUTPUT]        = "adapter_output",
};


const char *
iams_adapter_status_str(iams_adapter_status status)
{
    if ((unsigned) status >= IAMS_ADAPTER_STATUS_COUNT) {
        return "unknown";
    }

    return iams_adapter_status_strings[status];
}


int
iams_adapter_status_http(iams_adapter_status status)
{
    switch (status) {

    case IAMS_ADAPTER_OK:
        return 200;

    case IAMS_ADAPTER_ERR_INVALID_INPUT:
        return 400;

    case IAMS_ADAPTER_ERR_UNSUPPORTED:
    case IAMS_ADAPTER_ERR_NOT_FOUND:
        return 404;

    case IAMS_ADAPTER_ERR_DENIED:
        return 403;

    case IAMS_ADAPTER_ERR_BACKEND:
    case IAMS_ADAPTER_ERR_BAD_REPLY:
    case IAMS_ADAPTER_ERR_OUTPUT:
        return 502;

    default:
        return 500;
    }
}


void
iams_adapter_diag_set(iams_adapter_diag *diag, const char *fmt, ...)
{
    va_list  ap;

    if (diag == NULL) {
        return;
    }

    va_start(ap, fmt);
    (void) vsnprintf(diag->message, sizeof(diag->message), fmt, ap);
    va_end(ap);
}


/* Replaces control characters, so that an adapter's text cannot forge log
 * lines; UTF-8 sequences pass. */
static size_t
iams_adapter_clean(char *dst, size_t cap, const char *src, size_t len)
{
    size_t  i;

    if (len > cap - 1) {
        len = cap - 1;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) src[i];

        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
    }

    dst[len] = '\0';

    return len;
}


void
iams_adapter_env_log(const iams_adapter_env *env, const char *name,
    int level, const char *fmt, ...)
{
    int      n;
    char     buf[IAMS_ADAPTER_DIAG_MAX + 64];
    va_list  ap;

    if (env == NULL || env->log == NULL) {
        return;
    }

    n = snprintf(buf, sizeof(buf), "adapter \"%s\": ", name);

    va_start(ap, fmt);
    (void) vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    va_end(ap);

    env->log(env->log_ctx, level, buf, strlen(buf));
}


static void *
iams_adapter_host_alloc(void *host_ctx, size_t n)
{
    void                *p;
    iams_adapter_frame  *f = host_ctx;

    if (n == 0) {
        n = 1;
    }

    if (n > IAMS_ADAPTER_OUTPUT_MAX - f->used || f->env->alloc == NULL) {
        return NULL;
    }

    p = f->env->alloc(f->env->alloc_ctx, n);

    if (p != NULL) {
        f->used += n;
    }

    return p;
}


static void
iams_adapter_host_log(void *host_ctx, int level, const char *msg, size_t len)
{
    char                 text[IAMS_ADAPTER_MESSAGE_MAX + 1];
    iams_adapter_frame  *f = host_ctx;

    if (msg == NULL) {
        return;
    }

    if (level < IAMS_ADAPTER_LOG_ERROR) {
        level = IAMS_ADAPTER_LOG_ERROR;

    } else if (level > IAMS_ADAPTER_LOG_DEBUG) {
        level = IAMS_ADAPTER_LOG_DEBUG;
    }

    len = iams_adapter_clean(text, sizeof(text), msg, len);

    iams_adapter_env_log(f->env, f->adapter->name, level, "%s: %.*s",
                         f->hook, (int) len, text);
}


static uint64_t
iams_adapter_now_ns(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


void
iams_adapter_frame_begin(iams_adapter_frame *f, const iams_adapter *a,
    const iams_adapter_env *env, const char *hook)
{
    memset(f, 0, sizeof(*f));

    f->adapter = a;
    f->env = env;
    f->hook = hook;
    f->needs_output = 1;

    f->call.size = sizeof(iams_adapter_call);
    f->call.host = &iams_adapter_host_services;
    f->call.host_ctx = f;
    f->call.state = a->state;

    f->start_ns = iams_adapter_now_ns();
}


iams_adapter_status
iams_adapter_frame_end(iams_adapter_frame *f, iams_adapter_status status,
    iams_adapter_diag *diag)
{
    char      text[IAMS_ADAPTER_MESSAGE_MAX + 1];
    size_t    len;
    uint64_t  usec;

    usec = (iams_adapter_now_ns() - f->start_ns) / 1000;

    if (usec > f->adapter->slow_usec) {
        iams_adapter_env_log(f->env, f->adapter->name, IAMS_ADAPTER_LOG_WARN,
                             "slow %s: %llu.%03llu ms, over the %llu.%03llu "
                             "ms threshold", f->hook,
                             (unsigned long long) (usec / 1000),
                             (unsigned long long) (usec % 1000),
                             (unsigned long long) (f->adapter->slow_usec
                                                   / 1000),
                             (unsigned long long) (f->adapter->slow_usec
                                                   % 1000));
    }

    if (diag != NULL) {
        diag->usec += usec;
    }

    if ((unsigned) status >= IAMS_ADAPTER_STATUS_COUNT
        || status == IAMS_ADAPTER_ERR_OUTPUT)
    {
        iams_adapter_diag_set(diag, "%s returned status %d, which adapters "
                              "may not use", f->hook, (int) status);
        return IAMS_ADAPTER_ERR_INTERNAL;
    }

    if (status == IAMS_ADAPTER_OK) {
        if (f->call.out == NULL && f->needs_output) {
            iams_adapter_diag_set(diag, "%s succeeded without output",
                                  f->hook);
            return IAMS_ADAPTER_ERR_OUTPUT;
        }

        return IAMS_ADAPTER_OK;
    }

    if (f->call.message != NULL) {
        len = iams_adapter_clean(text, sizeof(text), f->call.message,
                                 f->call.message_len);
        iams_adapter_diag_set(diag, "%s: %s: %.*s", f->hook,
                              iams_adapter_status_str(status), (int) len,
                              text);

    } else {
        iams_adapter_diag_set(diag, "%s: %s", f->hook,
                              iams_adapter_status_str(status));
    }

    return status;
}


/* ---- small helpers ---- */

static void *
iams_adapter_env_alloc(const iams_adapter_env *env, size_t n)
{
    if (env->alloc == NULL) {
        return NULL;
    }

    return env->alloc(env->alloc_ctx, n > 0 ? n : 1);
}


static char *
iams_adapter_env_strdup(const iams_adapter_env *env, const char *s,
    size_t len)
{
    char  *p;

    p = iams_adapter_env_alloc(env, len + 1);

    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }

    return p;
}


/* Parses an adapter's output (it lives in env memory already). */
static json_t *
iams_adapter_output_object(iams_adapter_frame *f, iams_adapter_diag *diag)
{
    json_t    *value;
    iams_err   err;

    value = iams_json_parse_object(f->call.out, f->call.out_len,
                                   IAMS_ADAPTER_OUTPUT_MAX, &err);

    if (value == NULL) {
        iams_adapter_diag_set(diag, "%s output: %s", f->hook, err.detail);
    }

    return value;
}


static int
iams_adapter_printable(const char *s, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* A department code or "iAM Smart": 1 to 64 printable ASCII characters,
 * spaces inside. */
static int
iams_adapter_source_ok(const char *s)
{
    size_t  i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i == 64 || (unsigned char) s[i] < 0x20
            || (unsigned char) s[i] >= 0x7f)
        {
            return 0;
        }
    }

    return i > 0 && s[0] != ' ' && s[i - 1] != ' ';
}


/* A canonical field entry: {"value", "source", "last_updated"}; type -1
 * accepts any value. */
static int
iams_adapter_entry_ok(const char *name, const json_t *entry,
    const char *source, int type, char *why, size_t why_len)
{
    char         what[160];
    const char  *key, *s;
    json_t      *v;

    if (!json_is_object(entry)) {
        snprintf(why, why_len, "field %s is not an object", name);
        return 0;
    }

    json_object_foreach((json_t *) entry, key, v) {
        if (strcmp(key, "value") != 0 && strcmp(key, "source") != 0
            && strcmp(key, "last_updated") != 0)
        {
            snprintf(why, why_len, "field %s: unexpected member \"%.32s\"",
                     name, key);
            return 0;
        }
    }

    v = json_object_get(entry, "value");
    if (v == NULL || json_is_null(v)) {
        snprintf(why, why_len, "field %s has no value (leave out fields "
                 "the backend does not have)", name);
        return 0;
    }

    if (type >= 0
        && !iams_adapter_value_ok((iams_adapter_type) type, v, what,
                                  sizeof(what)))
    {
        snprintf(why, why_len, "field %s: %s", name, what);
        return 0;
    }

    s = json_string_value(json_object_get(entry, "source"));
    if (s == NULL || (source != NULL && strcmp(s, source) != 0)
        || !iams_adapter_source_ok(s))
    {
        if (source != NULL) {
            snprintf(why, why_len, "field %s: source must be \"%s\"", name,
                     source);

        } else {
            snprintf(why, why_len, "field %s: source must be a name", name);
        }
        return 0;
    }

    s = json_string_value(json_object_get(entry, "last_updated"));
    if (s == NULL || !iams_adapter_rfc3339_ok(s)) {
        snprintf(why, why_len, "field %s: last_updated is not an RFC 3339 "
                 "timestamp", name);
        return 0;
    }

    return 1;
}


/* ---- canonical query ---- */

/* Checks the query and returns it parsed, with the data set it names. */
static iams_adapter_status
iams_adapter_query_check(const iams_adapter *a, const char *query,
    size_t query_len, json_t **parsed, const char **dataset,
    iams_adapter_diag *diag)
{
    char         why[160];
    json_t      *q, *v;
    iams_err     err;
    const char  *s;

    q = iams_json_parse_object(query, query_len, IAMS_ADAPTER_QUERY_MAX,
                               &err);
    if (q == NULL) {
        iams_adapter_diag_set(diag, "query: %s", err.detail);
        return IAMS_ADAPTER_ERR_INVALID_INPUT;
    }

    s = json_string_value(json_object_get(q, "dataset"));
    if (s == NULL) {
        iams_adapter_diag_set(diag, "query: \"dataset\" must be a string");
        goto invalid;
    }

    if (!iams_adapter_has_dataset(a, s, strlen(s))) {
        iams_adapter_diag_set(diag, "query: data set \"%.64s\" is not "
                              "provided by adapter \"%s\"", s, a->name);
        json_decref(q);
        return IAMS_ADAPTER_ERR_UNSUPPORTED;
    }

    v = json_object_get(q, "subject");
    if (!json_is_string(v)
        || !iams_adapter_printable(json_string_value(v),
                                   json_string_length(v),
                                   IAMS_ADAPTER_SUBJECT_MAX))
    {
        iams_adapter_diag_set(diag, "query: \"subject\" must be 1 to %d "
                              "printable characters",
                              IAMS_ADAPTER_SUBJECT_MAX);
        goto invalid;
    }

    v = json_object_get(q, "idNo");
    if (v != NULL && !iams_adapter_value_ok(IAMS_ATYPE_HKID, v, why,
                                            sizeof(why)))
    {
        iams_adapter_diag_set(diag, "query: idNo: %s", why);
        goto invalid;
    }

    v = json_object_get(q, "params");
    if (v != NULL && !json_is_object(v)) {
        iams_adapter_diag_set(diag, "query: \"params\" must be an object");
        goto invalid;
    }

    v = json_object_get(q, "lang");
    if (v != NULL && (!json_is_string(v)
                      || (strcmp(json_string_value(v), "en") != 0
                          && strcmp(json_string_value(v), "zh-HK") != 0)))
    {
        iams_adapter_diag_set(diag, "query: \"lang\" must be \"en\" or "
                              "\"zh-HK\"");
        goto invalid;
    }

    *parsed = q;
    *dataset = json_string_value(json_object_get(q, "dataset"));

    return IAMS_ADAPTER_OK;

invalid:

    json_decref(q);
    return IAMS_ADAPTER_ERR_INVALID_INPUT;
}


/* ---- map_request ---- */

static int
iams_adapter_path_ok(const char *p, size_t len)
{
    size_t       i, seg;
    const char  *allowed = "-._~!$&'()*+,;=:@/?%";

    if (len == 0 || len > IAMS_ADAPTER_PATH_MAX || p[0] != '/'
        || (len > 1 && p[1] == '/'))
    {
        return 0;
    }

    seg = 1;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) p[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || (c != 0 && strchr(allowed, c))))
        {
            return 0;
        }

        if (c == '%'
            && (i + 2 >= len || !isxdigit((unsigned char) p[i + 1])
                || !isxdigit((unsigned char) p[i + 2])))
        {
            return 0;
        }

        if (c == '?') {
            /* the query string is the backend's business */
            return !(i - seg == 2 && p[seg] == '.' && p[seg + 1] == '.')
                   && !(i - seg == 1 && p[seg] == '.');
        }

        if (c == '/' && i > 0) {
            if ((i - seg == 2 && p[seg] == '.' && p[seg + 1] == '.')
                || (i - seg == 1 && p[seg] == '.'))
            {
                return 0;
            }
            seg = i + 1;
        }
    }

    return !(len - seg == 2 && p[seg] == '.' && p[seg + 1] == '.')
           && !(len - seg == 1 && p[seg] == '.');
}


static int
iams_adapter_header_name_ok(const char *s, size_t len)
{
    size_t       i;
    const char  *tchar = "!#$%&'*+-.^_`|~";

    if (len == 0 || len > IAMS_ADAPTER_HNAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || (c != 0 && strchr(tchar, c))))
        {
            return 0;
        }
    }

    return 1;
}


static int
iams_adapter_header_value_ok(const char *s, size_t len)
{
    size_t  i;

    if (len > IAMS_ADAPTER_HEADER_VALUE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* Headers the gateway owns: framing, hop-by-hop, and credentials, which
 * belong in nginx's configuration rather than in an adapter's. */
static int
iams_adapter_header_reserved(const char *name)
{
    static const char *const  reserved[] = {
        "host", "content-length", "transfer-encoding", "connection",
        "keep-alive", "upgrade", "te", "trailer", "proxy-authorization",
        "proxy-connection", "authorization", "cookie", NULL
    };

    size_t  i;

    for (i = 0; reserved[i] != NULL; i++) {
        if (strcasecmp(reserved[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}


/* Fills out->headers from a JSON object of strings, with room for extra
 * more entries. */
static int
iams_adapter_headers_build(const iams_adapter_env *env, const json_t *obj,
    size_t extra, iams_adapter_header **headers, size_t *n, char *why,
    size_t why_len)
{
    size_t                i;
    const char           *key;
    json_t               *v;
    iams_adapter_header  *h;

    *headers = NULL;
    *n = 0;

    if (obj != NULL && !json_is_object(obj)) {
        snprintf(why, why_len, "\"headers\" is not an object");
        return 0;
    }

    if (obj != NULL
        && json_object_size(obj) > IAMS_ADAPTER_BRIDGE_HEADERS_MAX)
    {
        snprintf(why, why_len, "more than %d headers",
                 IAMS_ADAPTER_BRIDGE_HEADERS_MAX);
        return 0;
    }

    h = iams_adapter_env_alloc(env, sizeof(iams_adapter_header)
                                    * ((obj ? json_object_size(obj) : 0)
                                       + extra));
    if (h == NULL) {
        snprintf(why, why_len, "out of memory");
        return 0;
    }

    i = 0;

    if (obj != NULL) {
        json_object_foreach((json_t *) obj, key, v) {
            if (!iams_adapter_header_name_ok(key, strlen(key))) {
                snprintf(why, why_len, "header name \"%.64s\" is not an HTTP "
                         "token", key);
                return 0;
            }

            if (iams_adapter_header_reserved(key)) {
                snprintf(why, why_len, "header \"%s\" is set by the gateway, "
                         "not by adapters", key);
                return 0;
            }

            if (!json_is_string(v)
                || !iams_adapter_header_value_ok(json_string_value(v),
                                                 json_string_length(v)))
            {
                snprintf(why, why_len, "header \"%s\": value must be a "
                         "string of at most %d bytes without control "
                         "characters", key, IAMS_ADAPTER_HEADER_VALUE_MAX);
                return 0;
            }

            h[i].name = iams_adapter_env_strdup(env, key, strlen(key));
            h[i].name_len = strlen(key);
            h[i].value = iams_adapter_env_strdup(env, json_string_value(v),
                                                 json_string_length(v));
            h[i].value_len = json_string_length(v);

            if (h[i].name == NULL || h[i].value == NULL) {
                snprintf(why, why_len, "out of memory");
                return 0;
            }

            i++;
        }
    }

    *headers = h;
    *n = i;

    return 1;
}


static iams_adapter_status
iams_adapter_request_parse(iams_adapter_frame *f,
    iams_adapter_backend_request *out, iams_adapter_diag *diag)
{
    char                    why[192];
    char                   *text;
    size_t                  i;
    json_t                 *desc, *v, *body;
    const char             *key, *s;
    const iams_adapter_env  *env = f->env;

    desc = iams_adapter_output_object(f, diag);
    if (desc == NULL) {
        return IAMS_ADAPTER_ERR_OUTPUT;
    }

    json_object_foreach(desc, key, v) {
        if (strcmp(key, "method") != 0 && strcmp(key, "path") != 0
            && strcmp(key, "headers") != 0 && strcmp(key, "body") != 0)
        {
            snprintf(why, sizeof(why), "unexpected member \"%.32s\"", key);
            goto invalid;
        }
    }

    s = json_string_value(json_object_get(desc, "method"));
    if (s == NULL || (strcmp(s, "GET") != 0 && strcmp(s, "POST") != 0)) {
        snprintf(why, sizeof(why), "\"method\" must be \"GET\" or \"POST\"");
        goto invalid;
    }

    out->method = iams_adapter_env_strdup(env, s, strlen(s));
    out->method_len = strlen(s);

    v = json_object_get(desc, "path");
    if (!json_is_string(v)
        || !iams_adapter_path_ok(json_string_value(v), json_string_length(v)))
    {
        snprintf(why, sizeof(why), "\"path\" must be an absolute path of at "
                 "most %d URI characters, without \".\" or \"..\" segments",
                 IAMS_ADAPTER_PATH_MAX);
        goto invalid;
    }

    out->path = iams_adapter_env_strdup(env, json_string_value(v),
                                        json_string_length(v));
    out->path_len = json_string_length(v);

    if (!iams_adapter_headers_build(env, json_object_get(desc, "headers"), 1,
                                    &out->headers, &out->nheaders, why,
                                    sizeof(why)))
    {
        goto invalid;
    }

    body = json_object_get(desc, "body");

    if (body == NULL || json_is_null(body)) {
        out->body = "";
        out->body_len = 0;

    } else if (json_is_string(body)) {
        out->body = iams_adapter_env_strdup(env, json_string_value(body),
                                            json_string_length(body));
        out->body_len = json_string_length(body);

    } else if (json_is_object(body) || json_is_array(body)) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            snprintf(why, sizeof(why), "out of memory");
            goto invalid;
        }

        out->body_len = strlen(text);
        out->body = iams_adapter_env_strdup(env, text, out->body_len);
        free(text);

        for (i = 0; i < out->nheaders; i++) {
            if (strcasecmp(out->headers[i].name, "content-type") == 0) {
                break;
            }
        }

        if (i == out->nheaders) {
            out->headers[i].name = "Content-Type";
            out->headers[i].name_len = sizeof("Content-Type") - 1;
            out->headers[i].value = "application/json";
            out->headers[i].value_len = sizeof("application/json") - 1;
            out->nheaders++;
        }

    } else {
        snprintf(why, sizeof(why), "\"body\" must be an object, an array or "
                 "a string");
        goto invalid;
    }

    if (out->method == NULL || out->path == NULL || out->body == NULL) {
        json_decref(desc);
        iams_adapter_diag_set(diag, "map_request: out of memory");
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    if (strcmp(out->method, "GET") == 0 && out->body_len > 0) {
        snprintf(why, sizeof(why), "a GET request has no body");
        goto invalid;
    }

    out->json = f->call.out;
    out->json_len = f->call.out_len;

    json_decref(desc);

    return IAMS_ADAPTER_OK;

invalid:

    json_decref(desc);
    iams_adapter_diag_set(diag, "map_request output: %s", why);

    return IAMS_ADAPTER_ERR_OUTPUT;
}


iams_adapter_status
iams_adapter_map_request(const iams_adapter *a, const iams_adapter_env *env,
    const char *query, size_t query_len, iams_adapter_backend_request *out,
    iams_adapter_diag *diag)
{
    json_t               *q;
    const char           *dataset;
    iams_adapter_frame    f;
    iams_adapter_status   rc;

    memset(out, 0, sizeof(*out));

    if (diag != NULL) {
        diag->usec = 0;
        diag->message[0] = '\0';
    }

    rc = iams_adapter_query_check(a, query, query_len, &q, &dataset, diag);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    json_decref(q);

    iams_adapter_frame_begin(&f, a, env, "map_request");
    rc = a->table->map_request(&f.call, query, query_len);
    rc = iams_adapter_frame_end(&f, rc, diag);

    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    return iams_adapter_request_parse(&f, out, diag);
}


/* ---- map_response ---- */

static iams_adapter_status
iams_adapter_data_check(const iams_adapter *a, iams_adapter_frame *f,
    const char *dataset, iams_adapter_diag *diag)
{
    int           type;
    char          why[256];
    size_t        i;
    json_t       *data, *fields, *v, *ds, *schema, *field;
    const char   *key;

    data = iams_adapter_output_object(f, diag);
    if (data == NULL) {
        return IAMS_ADAPTER_ERR_OUTPUT;
    }

    ds = json_object_get(a->datasets, dataset);
    schema = json_object_get(ds, "fields");

    json_object_foreach(data, key, v) {
        if (strcmp(key, "dataset") != 0 && strcmp(key, "fields") != 0) {
            snprintf(why, sizeof(why), "unexpected member \"%.32s\"", key);
            goto invalid;
        }
    }

    v = json_object_get(data, "dataset");
    if (!json_is_string(v) || strcmp(json_string_value(v), dataset) != 0) {
        snprintf(why, sizeof(why), "\"dataset\" must be \"%s\", as queried",
                 dataset);
        goto invalid;
    }

    fields = json_object_get(data, "fields");
    if (!json_is_object(fields)
        || json_object_size(fields) > IAMS_ADAPTER_FIELDS_MAX)
    {
        snprintf(why, sizeof(why), "\"fields\" must be an object of at most "
                 "%d fields", IAMS_ADAPTER_FIELDS_MAX);
        goto invalid;
    }

    json_object_foreach(fields, key, v) {
        field = json_object_get(schema, key);
        if (field == NULL) {
            snprintf(why, sizeof(why), "field %.96s is not declared by data "
                     "set %s", key, dataset);
            goto invalid;
        }

        type = iams_adapter_type_find(
                   json_string_value(json_object_get(field, "type")));

        if (!iams_adapter_entry_ok(key, v, a->department, type, why,
                                   sizeof(why)))
        {
            goto invalid;
        }
    }

    v = json_object_get(ds, "required");

    for (i = 0; i < json_array_size(v); i++) {
        key = json_string_value(json_array_get(v, i));

        if (json_object_get(fields, key) == NULL) {
            snprintf(why, sizeof(why), "required field %s is missing (an "
                     "incomplete backend reply is malformed_reply)", key);
            goto invalid;
        }
    }

    json_decref(data);

    return IAMS_ADAPTER_OK;

invalid:

    json_decref(data);
    iams_adapter_diag_set(diag, "map_response output: %s", why);

    return IAMS_ADAPTER_ERR_OUTPUT;
}


iams_adapter_status
iams_adapter_map_response(const iams_adapter *a, const iams_adapter_env *env,
    const char *query, size_t query_len, const iams_adapter_reply *reply,
    const char **out, size_t *out_len, iams_adapter_diag *diag)
{
    json_t               *q;
    const char           *dataset;
    iams_adapter_reply    r;
    iams_adapter_frame    f;
    iams_adapter_status   rc;

    *out = NULL;
    *out_len = 0;

    if (diag != NULL) {
        diag->usec = 0;
        diag->message[0] = '\0';
    }

    rc = iams_adapter_query_check(a, query, query_len, &q, &dataset, diag);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    if (reply->status < 100 || reply->status > 599
        || (reply->body == NULL && reply->body_len > 0)
        || (reply->headers == NULL && reply->nheaders > 0))
    {
        json_decref(q);
        iams_adapter_diag_set(diag, "reply: status %d out of range, or a "
                              "length without data", reply->status);
        return IAMS_ADAPTER_ERR_INVALID_INPUT;
    }

    if (reply->body_len > IAMS_ADAPTER_REPLY_MAX) {
        json_decref(q);
        iams_adapter_diag_set(diag, "reply: body of %zu bytes exceeds the "
                              "limit of %d", reply->body_len,
                              IAMS_ADAPTER_REPLY_MAX);
        return IAMS_ADAPTER_ERR_BAD_REPLY;
    }

    /* the caller's struct may predate a member: hand over our own copy */
    r = *reply;
    r.size = sizeof(iams_adapter_reply);

    if (r.body == NULL) {
        r.body = "";
    }

    iams_adapter_frame_begin(&f, a, env, "map_response");
    rc = a->table->map_response(&f.call, query, query_len, &r);
    rc = iams_adapter_frame_end(&f, rc, diag);

    if (rc == IAMS_ADAPTER_OK) {
        rc = iams_adapter_data_check(a, &f, dataset, diag);
    }

    json_decref(q);

    if (rc == IAMS_ADAPTER_OK) {
        *out = f.call.out;
        *out_len = f.call.out_len;
    }

    return rc;
}


/* ---- map_form ---- */

static iams_adapter_status
iams_adapter_form_input_check(const iams_adapter *a, const char *input,
    size_t input_len, json_t **parsed, iams_adapter_diag *diag)
{
    char                                why[256];
    json_t                             *in, *fields, *v;
    iams_err                            err;
    const char                         *key, *form;
    const iams_adapter_platform_field  *pf;

    in = iams_json_parse_object(input, input_len, IAMS_ADAPTER_QUERY_MAX,
                                &err);
    if (in == NULL) {
        iams_adapter_diag_set(diag, "form input: %s", err.detail);
        return IAMS_ADAPTER_ERR_INVALID_INPUT;
    }

    form = json_string_value(json_object_get(in, "form"));
    if (form == NULL) {
        iams_adapter_diag_set(diag, "form input: \"form\" must be a string");
        goto invalid;
    }

    if (!iams_adapter_has_form(a, form, strlen(form))) {
        iams_adapter_diag_set(diag, "form input: form \"%.64s\" is not "
                              "filled by adapter \"%s\"", form, a->name);
        json_decref(in);
        return IAMS_ADAPTER_ERR_UNSUPPORTED;
    }

    fields = json_object_get(in, "fields");
    if (!json_is_object(fields)
        || json_object_size(fields) > IAMS_ADAPTER_FIELDS_MAX)
    {
        iams_adapter_diag_set(diag, "form input: \"fields\" must be an "
                              "object of at most %d fields",
                              IAMS_ADAPTER_FIELDS_MAX);
        goto invalid;
    }

    json_object_foreach(fields, key, v) {
        if (!iams_adapter_canonical_name_ok(key)) {
            iams_adapter_diag_set(diag, "form input: \"%.96s\" is not a "
                                  "canonical field name", key);
            goto invalid;
        }

        /* data set fields were typed by their own adapter's check */
        pf = iams_adapter_platform_field_find(key);

        if (!iams_adapter_entry_ok(key, v, NULL, pf ? (int) pf->type : -1,
                                   why, sizeof(why)))
        {
            iams_adapter_diag_set(diag, "form input: %s", why);
            goto invalid;
        }
    }

    v = json_object_get(in, "lang");
    if (v != NULL && (!json_is_string(v)
                      || (strcmp(json_string_value(v), "en") != 0
                          && strcmp(json_string_value(v), "zh-HK") != 0)))
    {
        iams_adapter_diag_set(diag, "form input: \"lang\" must be \"en\" or "
                              "\"zh-HK\"");
        goto invalid;
    }

    *parsed = in;

    return IAMS_ADAPTER_OK;

invalid:

    json_decref(in);
    return IAMS_ADAPTER_ERR_INVALID_INPUT;
}


static iams_adapter_status
iams_adapter_form_output_check(const iams_adapter *a, iams_adapter_frame *f,
    const char *form, iams_adapter_diag *diag)
{
    char         why[192];
    size_t       i;
    json_t      *out, *v, *schema;
    const char  *key, *s;

    out = iams_adapter_output_object(f, diag);
    if (out == NULL) {
        return IAMS_ADAPTER_ERR_OUTPUT;
    }

    schema = json_object_get(json_object_get(a->forms, form), "fields");

    json_object_foreach(out, key, v) {
        if (strcmp(key, "form") != 0 && strcmp(key, "payload") != 0
            && strcmp(key, "missing") != 0)
        {
            snprintf(why, sizeof(why), "unexpected member \"%.32s\"", key);
            goto invalid;
        }
    }

    s = json_string_value(json_object_get(out, "form"));
    if (s == NULL || strcmp(s, form) != 0) {
        snprintf(why, sizeof(why), "\"form\" must be \"%s\"", form);
        goto invalid;
    }

    if (!json_is_object(json_object_get(out, "payload"))) {
        snprintf(why, sizeof(why), "\"payload\" must be an object");
        goto invalid;
    }

    v = json_object_get(out, "missing");

    if (v != NULL) {
        if (!json_is_array(v)) {
            snprintf(why, sizeof(why), "\"missing\" must be an array");
            goto invalid;
        }

        for (i = 0; i < json_array_size(v); i++) {
            s = json_string_value(json_array_get(v, i));

            if (s == NULL || json_object_get(schema, s) == NULL) {
                snprintf(why, sizeof(why), "\"missing\"[%zu] is not a field "
                         "of form %s", i, form);
                goto invalid;
            }
        }
    }

    json_decref(out);

    return IAMS_ADAPTER_OK;

invalid:

    json_decref(out);
    iams_adapter_diag_set(diag, "map_form output: %s", why);

    return IAMS_ADAPTER_ERR_OUTPUT;
}


iams_adapter_status
iams_adapter_map_form(const iams_adapter *a, const iams_adapter_env *env,
    const char *input, size_t input_len, const char **out, size_t *out_len,
    iams_adapter_diag *diag)
{
    json_t               *in;
    iams_adapter_frame    f;
    iams_adapter_status   rc;

    *out = NULL;
    *out_len = 0;

    if (diag != NULL) {
        diag->usec = 0;
        diag->message[0] = '\0';
    }

    rc = iams_adapter_form_input_check(a, input, input_len, &in, diag);
    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    iams_adapter_frame_begin(&f, a, env, "map_form");
    rc = a->table->map_form(&f.call, input, input_len);
    rc = iams_adapter_frame_end(&f, rc, diag);

    if (rc == IAMS_ADAPTER_OK) {
        rc = iams_adapter_form_output_check(a, &f,
                 json_string_value(json_object_get(in, "form")), diag);
    }

    json_decref(in);

    if (rc == IAMS_ADAPTER_OK) {
        *out = f.call.out;
        *out_len = f.call.out_len;
    }

    return rc;
}


/* ---- bridge ---- */

iams_adapter_status
iams_adapter_bridge(const iams_adapter *a, const iams_adapter_env *env,
    const char *identity, size_t identity_len, iams_adapter_header **headers,
    size_t *nheaders, iams_adapter_diag *diag)
{
    char                  why[192];
    json_t               *id, *out, *v;
    iams_err              err;
    const char           *key, *s;
    iams_adapter_frame    f;
    iams_adapter_status   rc;
    iams_adapter_status   (*hook)(iams_adapter_call *, const char *, size_t);

    *headers = NULL;
    *nheaders = 0;

    if (diag != NULL) {
        diag->usec = 0;
        diag->message[0] = '\0';
    }

    hook = IAMS_ADAPTER_HOOK(a->table, bridge);
    if (hook == NULL) {
        iams_adapter_diag_set(diag, "adapter \"%s\" has no bridge hook",
                              a->name);
        return IAMS_ADAPTER_ERR_UNSUPPORTED;
    }

    id = iams_json_parse_object(identity, identity_len,
                                IAMS_ADAPTER_QUERY_MAX, &err);
    if (id == NULL) {
        iams_adapter_diag_set(diag, "identity: %s", err.detail);
        return IAMS_ADAPTER_ERR_INVALID_INPUT;
    }

    s = json_string_value(json_object_get(id, "department"));
    v = json_object_get(id, "subject");

    if (s == NULL || strcmp(s, a->department) != 0 || !json_is_string(v)
        || !iams_adapter_printable(json_string_value(v),
                                   json_string_length(v),
                                   IAMS_ADAPTER_SUBJECT_MAX)
        || (json_object_get(id, "claims") != NULL
            && !json_is_object(json_object_get(id, "claims"))))
    {
        json_decref(id);
        iams_adapter_diag_set(diag, "identity: needs \"department\": \"%s\", "
                              "a printable \"subject\" and an optional "
                              "\"claims\" object", a->department);
        return IAMS_ADAPTER_ERR_INVALID_INPUT;
    }

    json_decref(id);

    iams_adapter_frame_begin(&f, a, env, "bridge");
    rc = hook(&f.call, identity, identity_len);
    rc = iams_adapter_frame_end(&f, rc, diag);

    if (rc != IAMS_ADAPTER_OK) {
        return rc;
    }

    out = iams_adapter_output_object(&f, diag);
    if (out == NULL) {
        return IAMS_ADAPTER_ERR_OUTPUT;
    }

    json_object_foreach(out, key, v) {
        if (strcmp(key, "headers") != 0) {
            snprintf(why, sizeof(why), "unexpected member \"%.32s\"", key);
            goto invalid;
        }
    }

    if (!json_is_object(json_object_get(out, "headers"))
        || !iams_adapter_headers_build(env, json_object_get(out, "headers"),
                                       0, headers, nheaders, why,
                                       sizeof(why)))
    {
        if (json_object_get(out, "headers") == NULL) {
            snprintf(why, sizeof(why), "\"headers\" must be an object");
        }
        goto invalid;
    }

    json_decref(out);

    return IAMS_ADAPTER_OK;

invalid:

    json_decref(out);
    *headers = NULL;
    *nheaders = 0;
    iams_adapter_diag_set(diag, "bridge output: %s", why);

    return IAMS_ADAPTER_ERR_OUTPUT;
}


/* ---- arena ---- */

typedef union iams_adapter_block  iams_adapter_block;

union iams_adapter_block {
    iams_adapter_block  *next;
    max_align_t          align;       /* the data after it is aligned */
};

struct iams_adapter_arena {
    iams_adapter_block  *blocks;
    size_t               used;
    size_t               limit;
};


iams_adapter_arena *
iams_adapter_arena_create(size_t limit)
{
    iams_adapter_arena  *arena;

    arena = calloc(1, sizeof(*arena));

    if (arena != NULL) {
        arena->limit = limit;
    }

    return arena;
}


void *
iams_adapter_arena_alloc(void *ctx, size_t n)
{
    iams_adapter_arena  *arena = ctx;
    iams_adapter_block  *b;

    if (n > SIZE_MAX / 2
        || (arena->limit != 0 && n > arena->limit - arena->used))
    {
        return NULL;
    }

    b = malloc(sizeof(iams_adapter_block) + n);
    if (b == NULL) {
        return NULL;
    }

    b->next = arena->blocks;
    arena->blocks = b;
    arena->used += n;

    return b + 1;
}


void
iams_adapter_arena_destroy(iams_adapter_arena *arena)
{
    iams_adapter_block  *b, *next;

    if (arena == NULL) {
        return;
    }

    for (b = arena->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    free(arena);
}
