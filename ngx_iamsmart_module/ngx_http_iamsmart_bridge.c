
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * One-click login bridging: in a location with "iamsmart_bridge NAME", the
 * signed-in citizen reaches the department's backend as that department's
 * pairwise subject, with a short-lived assertion signed by the gateway.
 *
 * Client-sent identity headers never pass: the request's header list is
 * rebuilt without the department's subject and assertion headers and
 * without any "X-Iamsmart-*" header, then ours are added.  (Rebuilding
 * leaves the old list, which nginx's named header pointers still use,
 * intact in the pool.)
 *
 * Signing costs far more than proxying, so each worker keeps the assertion
 * it made for a (session, department, authentication state) and reuses it
 * while at least half of its lifetime remains.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/evp.h>
#include <iamsmart/encoding.h>
#include <iamsmart/pairwise.h>
#include <iamsmart/random.h>


#define NGX_HTTP_IAMSMART_ASSERTION_CACHE_SLOTS  1024


typedef struct {
    u_char   digest[32];
    time_t   reuse_until;
    char    *assertion;     /* malloc()ed */
    size_t   len;
} ngx_http_iamsmart_assertion_entry_t;


/* headers a bridged request must not take from the client */
typedef struct {
    ngx_http_iamsmart_department_t  *dept;
    iams_adapter_header             *headers;
    size_t                           n;
} ngx_http_iamsmart_bridge_drop_t;


static ngx_http_iamsmart_assertion_entry_t  *ngx_http_iamsmart_assertions;


static ngx_int_t ngx_http_iamsmart_assertion(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_department_t *dept,
    ngx_http_iamsmart_ctx_t *ctx);
static ngx_int_t ngx_http_iamsmart_assertion_sign(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_department_t *dept,
    ngx_http_iamsmart_ctx_t *ctx, time_t now, char **out, size_t *len);
static ngx_int_t ngx_http_iamsmart_identity_headers(ngx_http_request_t *r,
    ngx_http_iamsmart_department_t *dept, ngx_http_iamsmart_ctx_t *ctx,
    iams_adapter_header *extra, size_t n);
static ngx_int_t ngx_http_iamsmart_push_in_header(ngx_http_request_t *r,
    ngx_list_t *list, ngx_str_t *name, ngx_str_t *value);
static ngx_uint_t ngx_http_iamsmart_is_identity_header(ngx_http_request_t *r,
    ngx_table_elt_t *h, void *data);
static ngx_uint_t ngx_http_iamsmart_is_bridge_header(ngx_http_request_t *r,
    ngx_table_elt_t *h, void *data);
static ngx_uint_t ngx_http_iamsmart_is_gateway_header(ngx_http_request_t *r,
    ngx_table_elt_t *h, void *data);
static ngx_int_t ngx_http_iamsmart_adapter_bridge(ngx_http_request_t *r,
    ngx_http_iamsmart_department_t *dept, ngx_http_iamsmart_ctx_t *ctx);


ngx_int_t
ngx_http_iamsmart_bridge_handler(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_loc_conf_t *lcf,
    ngx_http_iamsmart_ctx_t *ctx)
{
    iams_err                         err;
    ngx_http_iamsmart_department_t  *dept;

    dept = lcf->bridge;

    if (iams_pairwise_subject(mcf->keyring, (char *) dept->ns.data,
                              dept->ns.len, ctx->session->open_id,
                              ngx_strlen(ctx->session->open_id), ctx->sub,
                              &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: no pairwise subject for department \"%V\": "
                      "%s", &dept->name, err.detail);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->department = dept;

    if (ngx_http_iamsmart_assertion(r, mcf, dept, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (dept->adapter != NULL && iams_adapter_has_bridge(dept->adapter)) {
        return ngx_http_iamsmart_adapter_bridge(r, dept, ctx);
    }

    if (ngx_http_iamsmart_identity_headers(r, dept, ctx, NULL, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_iamsmart_is_bridge_header(ngx_http_request_t *r, ngx_table_elt_t *h,
    void *data)
{
    size_t                            i;
    ngx_http_iamsmart_bridge_drop_t  *bd = data;

    for (i = 0; i < bd->n; i++) {
        if (h->key.len == bd->headers[i].name_len
            && ngx_strncasecmp(h->key.data, (u_char *) bd->headers[i].name,
                               h->key.len) == 0)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "iamsmart: client-sent \"%V\" header removed",
                          &h->key);
            return 1;
        }
    }

    return ngx_http_iamsmart_is_identity_header(r, h, bd->dept);
}


/*
 * A department whose adapter has a bridge hook gets, besides the subject
 * and the assertion, the headers the hook derives from the identity (its
 * own account reference, say).  Client-sent copies of those headers are
 * removed like the identity headers; a failing hook answers 502 naming the
 * department.
 */
static ngx_int_t
ngx_http_iamsmart_adapter_bridge(ngx_http_request_t *r,
    ngx_http_iamsmart_department_t *dept, ngx_http_iamsmart_ctx_t *ctx)
{
    char                 *text;
    size_t                n;
    json_t               *id;
    iams_adapter_env      env;
    iams_adapter_diag     diag;
    iams_adapter_status   st;
    iams_adapter_header  *headers;

    id = json_pack("{s:s%, s:s, s:{}}", "department", dept->name.data,
                   dept->name.len, "subject", ctx->sub, "claims");
    text = id ? json_dumps(id, JSON_COMPACT) : NULL;
    json_decref(id);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_iamsmart_adapter_env(r, &env);

    st = iams_adapter_bridge(dept->adapter, &env, text, ngx_strlen(text),
                             &headers, &n, &diag);
    free(text);

    if (st != IAMS_ADAPTER_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: department \"%V\": bridge hook failed: %s",
                      &dept->name, diag.message);

        return ngx_http_iamsmart_finalize_json(r, NGX_HTTP_BAD_GATEWAY,
                   json_pack("{s:s, s:s%, s:s}", "error",
                             iams_adapter_status_str(st), "department",
                             dept->name.data, dept->name.len,
                             "error_description",
                             "the department's sign-in bridge failed"));
    }

    return ngx_http_iamsmart_identity_headers(r, dept, ctx, headers, n)
           == NGX_OK ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_iamsmart_assertion(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_department_t *dept,
    ngx_http_iamsmart_ctx_t *ctx)
{
    char                                 *text;
    size_t                                len, i;
    time_t                                now;
    uint32_t                              h;
    EVP_MD_CTX                           *md;
    iams_session                         *s;
    ngx_http_iamsmart_assertion_entry_t  *e;
    u_char                                digest[32];

    s = ctx->session;
    now = ngx_time();

    /* the cache key covers everything the claims are made of */

    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, ctx->sub, IAMS_PAIRWISE_SUB_LEN) != 1
        || EVP_DigestUpdate(md, &dept, sizeof(dept)) != 1
        || EVP_DigestUpdate(md, &s->auth_time, sizeof(s->auth_time)) != 1)
    {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    for (i = 0; i < s->namr; i++) {
        if (EVP_DigestUpdate(md, &s->amr[i], sizeof(iams_amr)) != 1) {
            EVP_MD_CTX_free(md);
            return NGX_ERROR;
        }
    }

    if (EVP_DigestFinal_ex(md, digest, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    EVP_MD_CTX_free(md);

    if (ngx_http_iamsmart_assertions == NULL) {
        ngx_http_iamsmart_assertions = ngx_calloc(
            NGX_HTTP_IAMSMART_ASSERTION_CACHE_SLOTS
            * sizeof(ngx_http_iamsmart_assertion_entry_t), r->connection->log);
    }

    e = NULL;

    if (ngx_http_iamsmart_assertions != NULL) {
        ngx_memcpy(&h, digest, sizeof(uint32_t));
        e = &ngx_http_iamsmart_assertions[h
                                   % NGX_HTTP_IAMSMART_ASSERTION_CACHE_SLOTS];

        if (e->assertion != NULL && e->reuse_until > now
            && ngx_memcmp(e->digest, digest, sizeof(digest)) == 0)
        {
            /* a copy: another request may evict the entry meanwhile */
            ctx->assertion.data = ngx_pnalloc(r->pool, e->len);
            if (ctx->assertion.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(ctx->assertion.data, e->assertion, e->len);
            ctx->assertion.len = e->len;
            return NGX_OK;
        }
    }

    if (ngx_http_iamsmart_assertion_sign(r, mcf, dept, ctx, now, &text, &len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->assertion.data = ngx_pnalloc(r->pool, len);
    if (ctx->assertion.data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->assertion.data, text, len);
    ctx->assertion.len = len;

    if (e == NULL) {
        free(text);
        return NGX_OK;
    }

    free(e->assertion);
    ngx_memcpy(e->digest, digest, sizeof(digest));
    e->assertion = text;
    e->len = len;
    e->reuse_until = now + dept->assertion_lifetime / 2;

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_assertion_sign(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_department_t *dept,
    ngx_http_iamsmart_ctx_t *ctx, time_t now, char **out, size_t *len)
{
    char                              *payload;
    const char                        *acr;
    size_t                             i;
    json_t                            *claims, *amr;
    iams_err                           err;
    iams_status                        st;
    iams_session                      *s;
    ngx_http_iamsmart_signing_key_t   *key;
    unsigned char                      raw[16];
    char                               jti[32];

    s = ctx->session;
    key = mcf->signing_keys->elts;

    if (iams_random_bytes(raw, sizeof(raw), &err) != IAMS_OK) {
        return NGX_ERROR;
    }

    jti[iams_b64url_encode(raw, sizeof(raw), jti)] = '\0';

    amr = json_array();
    if (amr == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->namr; i++) {
        json_array_append_new(amr, json_string(s->amr[i].method));
    }

    acr = s->acr[0] ? s->acr
                    : (iams_session_amr_time(s, "fr") ? "fr" : "fido");

    claims = json_pack("{s:s%, s:s%, s:s, s:s, s:o, s:I, s:I, s:I, s:s}",
                       "iss", mcf->issuer.data, mcf->issuer.len,
                       "aud", dept->audience.data, dept->audience.len,
                       "sub", ctx->sub,
                       "acr", acr,
                       "amr", amr,
                       "auth_time", (json_int_t) s->auth_time,
                       "iat", (json_int_t) now,
                       "exp", (json_int_t) (now + dept->assertion_lifetime),
                       "jti", jti);
    if (claims == NULL) {
        return NGX_ERROR;
    }

    payload = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);

    if (payload == NULL) {
        return NGX_ERROR;
    }

    st = iams_jws_sign(key[0].key, key[0].alg, (char *) key[0].kid.data, "JWT",
                       (unsigned char *) payload, ngx_strlen(payload), out,
                       len, &err);
    free(payload);

    if (st != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: cannot sign the assertion for \"%V\": %s",
                      &dept->name, err.detail);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_iamsmart_is_identity_header(ngx_http_request_t *r,
    ngx_table_elt_t *h, void *data)
{
    ngx_http_iamsmart_department_t  *dept = data;

    if (ngx_http_iamsmart_is_gateway_header(r, h, NULL)) {
        return 1;
    }

    if ((h->key.len == dept->assertion_header.len
         && ngx_strncasecmp(h->key.data, dept->assertion_header.data,
                            h->key.len) == 0)
        || (h->key.len == dept->subject_header.len
            && ngx_strncasecmp(h->key.data, dept->subject_header.data,
                               h->key.len) == 0))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: client-sent \"%V\" header removed",
                      &h->key);
        return 1;
    }

    return 0;
}


/*
 * The proxied request's identity: client-sent copies of every header we
 * set are removed (with any X-Iamsmart-* header), then the subject, the
 * assertion and the adapter's bridge headers (extra, n) are added.
 */
static ngx_int_t
ngx_http_iamsmart_identity_headers(ngx_http_request_t *r,
    ngx_http_iamsmart_department_t *dept, ngx_http_iamsmart_ctx_t *ctx,
    iams_adapter_header *extra, size_t n)
{
    size_t                            i;
    ngx_str_t                         sub, name, value;
    ngx_http_iamsmart_bridge_drop_t   bd;

    bd.dept = dept;
    bd.headers = extra;
    bd.n = n;

    if (ngx_http_iamsmart_filter_headers(r,
                                         ngx_http_iamsmart_is_bridge_header,
                                         &bd, n + 2)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sub.data = (u_char *) ctx->sub;
    sub.len = IAMS_PAIRWISE_SUB_LEN;

    if ((dept->subject_header.len
         && ngx_http_iamsmart_push_in_header(r, &r->headers_in.headers,
                                             &dept->subject_header, &sub)
            != NGX_OK)
        || (dept->assertion_header.len
            && ngx_http_iamsmart_push_in_header(r, &r->headers_in.headers,
                                                &dept->assertion_header,
                                                &ctx->assertion)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        name.data = (u_char *) extra[i].name;
        name.len = extra[i].name_len;
        value.data = (u_char *) extra[i].value;
        value.len = extra[i].value_len;

        if (ngx_http_iamsmart_push_in_header(r, &r->headers_in.headers,
                                             &name, &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_push_in_header(ngx_http_request_t *r, ngx_list_t *list,
    ngx_str_t *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(list);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = *name;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(r->pool, name->len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, name->data, name->len);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static ngx_uint_t
ngx_http_iamsmart_is_gateway_header(ngx_http_request_t *r, ngx_table_elt_t *h,
    void *data)
{
    if (h->key.len > 11
        && ngx_strncasecmp(h->key.data, (u_char *) "X-Iamsmart-", 11) == 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: client-sent \"%V\" header removed",
                      &h->key);
        return 1;
    }

    return 0;
}


/* In a session location that is not bridged: drop client X-Iamsmart-*. */
ngx_int_t
ngx_http_iamsmart_strip_identity_headers(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    /* the list is rebuilt only when a request carries such a header */

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len > 11
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Iamsmart-", 11)
               == 0)
        {
            break;
        }
    }

    return ngx_http_iamsmart_filter_headers(r,
                                            ngx_http_iamsmart_is_gateway_header,
                                            NULL, 0)
           == NGX_OK ? NGX_OK : NGX_ERROR;
}


void
ngx_http_iamsmart_bridge_exit_process(void)
{
    ngx_uint_t  i;

    if (ngx_http_iamsmart_assertions == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_IAMSMART_ASSERTION_CACHE_SLOTS; i++) {
        free(ngx_http_iamsmart_assertions[i].assertion);
    }

    ngx_free(ngx_http_iamsmart_assertions);
    ngx_http_iamsmart_assertions = NULL;
}


/* the published key set: current and previous signing keys */
ngx_int_t
ngx_http_iamsmart_jwks_handler(ngx_http_request_t *r)
{
    ngx_str_t                       ct = ngx_string("application/json");
    ngx_str_t                       cc = ngx_string("public, max-age=300");
    ngx_http_complex_value_t        cv;
    ngx_http_iamsmart_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);

    if (mcf->jwks.len == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (ngx_http_iamsmart_add_header(r, "Cache-Control", &cc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value = mcf->jwks;

    return ngx_http_send_response(r, NGX_HTTP_OK, &ct, &cv);
}
