/*
 * Helpers for the adapter tests (test_adapter_*.c): an environment whose
 * output memory is an arena and whose log lines are kept for assertions,
 * the paths of built adapters, and loading with failures reported by
 * cmocka.  Include after cmocka.h.  Adapters are found under
 * $IAMSMART_ROOT/build/adapters (the Makefile sets IAMSMART_ROOT).
 */

#ifndef TEST_ADAPTER_ENV_H
#define TEST_ADAPTER_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include <iamsmart/adapter_host.h>


typedef struct {
    iams_adapter_arena  *arena;
    iams_adapter_env     env;
    char                 log[16384];
    size_t               log_len;
    int                  warnings;
} test_env;


static inline void
test_env_log(void *ctx, int level, const char *msg, size_t len)
{
    test_env  *t = ctx;
    int        n;

    if (level <= IAMS_ADAPTER_LOG_WARN) {
        t->warnings++;
    }

    n = snprintf(t->log + t->log_len, sizeof(t->log) - t->log_len,
                 "%d %.*s\n", level, (int) len, msg);

    if (n > 0 && (size_t) n < sizeof(t->log) - t->log_len) {
        t->log_len += (size_t) n;
    }
}


static inline void
test_env_init(test_env *t)
{
    memset(t, 0, sizeof(*t));

    t->arena = iams_adapter_arena_create(0);
    assert_non_null(t->arena);

    t->env.alloc = iams_adapter_arena_alloc;
    t->env.alloc_ctx = t->arena;
    t->env.log = test_env_log;
    t->env.log_ctx = t;
}


static inline void
test_env_free(test_env *t)
{
    iams_adapter_arena_destroy(t->arena);
    t->arena = NULL;
}


/* One canonical form input field from e-ME: "name": {value, source,
 * last_updated}, for string literals of form input. */
#define FIELD(name, value)                                                   \
    "\"" name "\": {\"value\": " value ", \"source\": \"iAM Smart\", "      \
    "\"last_updated\": \"2025-03-01T00:00:00Z\"}"


/* Repository-relative path as seen from the test's working directory. */
static inline const char *
test_root_path(const char *rel)
{
    static char  buf[4096];
    const char  *root;

    root = getenv("IAMSMART_ROOT");

    (void) snprintf(buf, sizeof(buf), "%s/%s", root ? root : ".", rel);

    return buf;
}


static inline const char *
test_adapter_path(const char *name)
{
    static char  buf[4096];
    char         rel[256];

    (void) snprintf(rel, sizeof(rel), "build/adapters/%s.so", name);
    (void) snprintf(buf, sizeof(buf), "%s", test_root_path(rel));

    return buf;
}


/* Loads a table linked into the test; fails the test on error. */
static inline iams_adapter *
test_load_table(test_env *t, const iams_adapter_v1 *table, const char *name,
    const char *config)
{
    iams_adapter       *a;
    iams_adapter_spec   spec;
    iams_adapter_diag   diag;

    memset(&spec, 0, sizeof(spec));
    spec.name = name;
    spec.path = "(linked)";
    spec.config = config;
    spec.config_len = config ? strlen(config) : 0;

    if (iams_adapter_load_table(table, &spec, &t->env, &a, &diag)
        != IAMS_ADAPTER_LOAD_OK)
    {
        fail_msg("load %s: %s", name, diag.message);
    }

    return a;
}


/* Loads a table with a config file of the repository. */
static inline iams_adapter *
test_load_table_file(test_env *t, const iams_adapter_v1 *table,
    const char *name, const char *config_rel)
{
    iams_adapter       *a;
    iams_adapter_spec   spec;
    iams_adapter_diag   diag;

    memset(&spec, 0, sizeof(spec));
    spec.name = name;
    spec.path = "(linked)";
    spec.config_path = test_root_path(config_rel);

    if (iams_adapter_load_table(table, &spec, &t->env, &a, &diag)
        != IAMS_ADAPTER_LOAD_OK)
    {
        fail_msg("load %s: %s", name, diag.message);
    }

    return a;
}


static inline json_t *
test_json(const char *text, size_t len)
{
    json_t        *v;
    json_error_t   err;

    v = json_loadb(text, len, JSON_DECODE_ANY, &err);
    if (v == NULL) {
        fail_msg("not JSON (%s): %.*s", err.text, (int) len, text);
    }

    return v;
}


static inline iams_adapter_reply test_reply(int status, const char *body);
static inline const char *test_response_fails(test_env *t,
    const iams_adapter *a, const char *query, const iams_adapter_reply *r,
    iams_adapter_status want);


/* map_request that must succeed. */
static inline iams_adapter_backend_request
test_request(test_env *t, const iams_adapter *a, const char *query)
{
    iams_adapter_diag              diag;
    iams_adapter_backend_request   req;

    if (iams_adapter_map_request(a, &t->env, query, strlen(query), &req,
                                 &diag)
        != IAMS_ADAPTER_OK)
    {
        fail_msg("map_request: %s", diag.message);
    }

    return req;
}


/* map_request that must fail with want; returns the diag message. */
static inline const char *
test_request_fails(test_env *t, const iams_adapter *a, const char *query,
    iams_adapter_status want)
{
    static iams_adapter_diag       diag;
    iams_adapter_status            rc;
    iams_adapter_backend_request   req;

    rc = iams_adapter_map_request(a, &t->env, query, strlen(query), &req,
                                  &diag);
    if (rc != want) {
        fail_msg("map_request: want %s, got %s: %s",
                 iams_adapter_status_str(want), iams_adapter_status_str(rc),
                 diag.message);
    }

    return diag.message;
}


/* The header of a request description, or NULL. */
static inline const char *
test_header(const iams_adapter_backend_request *req, const char *name)
{
    size_t  i;

    for (i = 0; i < req->nheaders; i++) {
        if (strcmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }

    return NULL;
}


/* A reply with its own content type (NULL: none). */
static inline iams_adapter_reply
test_reply_typed(int status, const char *content_type, const char *body)
{
    static iams_adapter_header  ct;
    iams_adapter_reply          r;

    memset(&r, 0, sizeof(r));
    r.size = sizeof(r);
    r.status = status;
    r.body = body;
    r.body_len = strlen(body);

    if (content_type != NULL) {
        ct.name = "content-type";
        ct.name_len = 12;
        ct.value = content_type;
        ct.value_len = strlen(content_type);
        r.headers = &ct;
        r.nheaders = 1;
    }

    return r;
}


/* map_response with that reply must fail with want. */
static inline const char *
test_reply_fails(test_env *t, const iams_adapter *a, const char *query,
    int status, const char *body, iams_adapter_status want)
{
    iams_adapter_reply  r;

    r = test_reply(status, body);

    return test_response_fails(t, a, query, &r, want);
}


/* A backend reply with a JSON content type. */
static inline iams_adapter_reply
test_reply(int status, const char *body)
{
    static const iams_adapter_header  ct = {
        "content-type", 12, "application/json; charset=utf-8", 31
    };
    iams_adapter_reply                r;

    memset(&r, 0, sizeof(r));
    r.size = sizeof(r);
    r.status = status;
    r.headers = &ct;
    r.nheaders = 1;
    r.body = body;
    r.body_len = strlen(body);

    return r;
}


/* map_response that must succeed; returns the canonical data parsed. */
static inline json_t *
test_response(test_env *t, const iams_adapter *a, const char *query,
    int status, const char *body)
{
    size_t               len;
    const char          *out;
    iams_adapter_diag    diag;
    iams_adapter_reply   r;

    r = test_reply(status, body);

    if (iams_adapter_map_response(a, &t->env, query, strlen(query), &r, &out,
                                  &len, &diag)
        != IAMS_ADAPTER_OK)
    {
        fail_msg("map_response: %s", diag.message);
    }

    return test_json(out, len);
}


/* map_response that must fail with want; returns the diag message. */
static inline const char *
test_response_fails(test_env *t, const iams_adapter *a, const char *query,
    const iams_adapter_reply *r, iams_adapter_status want)
{
    static iams_adapter_diag  diag;
    size_t                    len;
    const char               *out;
    iams_adapter_status       rc;

    rc = iams_adapter_map_response(a, &t->env, query, strlen(query), r, &out,
                                   &len, &diag);

    if (rc != want) {
        fail_msg("map_response: want %s, got %s: %s",
                 iams_adapter_status_str(want), iams_adapter_status_str(rc),
                 diag.message);
    }

    return diag.message;
}


/* map_form that must succeed; returns the output parsed. */
static inline json_t *
test_form(test_env *t, const iams_adapter *a, const char *input)
{
    size_t              len;
    const char         *out;
    iams_adapter_diag   diag;

    if (iams_adapter_map_form(a, &t->env, input, strlen(input), &out, &len,
                              &diag)
        != IAMS_ADAPTER_OK)
    {
        fail_msg("map_form: %s", diag.message);
    }

    return test_json(out, len);
}


/* The value of a canonical field of map_response output, checking its
 * provenance. */
static inline json_t *
test_field(const json_t *data, const char *name, const char *source,
    const char *last_updated)
{
    json_t  *f;

    f = json_object_get(json_object_get(data, "fields"), name);
    if (f == NULL) {
        fail_msg("field %s missing", name);
    }

    assert_string_equal(json_string_value(json_object_get(f, "source")),
                        source);
    assert_string_equal(json_string_value(json_object_get(f,
                                                          "last_updated")),
                        last_updated);

    return json_object_get(f, "value");
}


static inline const char *
test_str(const json_t *obj, const char *pointer_like_key)
{
    const char  *s;

    s = json_string_value(json_object_get(obj, pointer_like_key));
    if (s == NULL) {
        fail_msg("member %s missing or not a string", pointer_like_key);
    }

    return s;
}

#endif /* TEST_ADAPTER_ENV_H */
