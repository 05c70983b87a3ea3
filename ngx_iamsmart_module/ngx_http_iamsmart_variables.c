
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Variables exposing what the module established for a request.  They read
 * the request context only; a variable is "not found" when the module did
 * not run or established nothing.
 */


#include "ngx_http_iamsmart.h"


static ngx_int_t ngx_http_iamsmart_variable_jwt_claim(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_iamsmart_variable_jwt_header(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_iamsmart_variable_jwt_claims(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_iamsmart_variable_jwt_error(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_int_t ngx_http_iamsmart_variable_session(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define NGX_HTTP_IAMSMART_VAR_OPENID      0
#define NGX_HTTP_IAMSMART_VAR_ACR         1
#define NGX_HTTP_IAMSMART_VAR_AMR         2
#define NGX_HTTP_IAMSMART_VAR_AUTH_TIME   3
#define NGX_HTTP_IAMSMART_VAR_HASH        4
#define NGX_HTTP_IAMSMART_VAR_SUB         5
#define NGX_HTTP_IAMSMART_VAR_ASSERTION   6
#define NGX_HTTP_IAMSMART_VAR_DEPARTMENT  7


static ngx_http_variable_t  ngx_http_iamsmart_vars[] = {

    { ngx_string("iamsmart_openid"), NULL,
      ngx_http_iamsmart_variable_session, NGX_HTTP_IAMSMART_VAR_OPENID,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_acr"), NULL,
      ngx_http_iamsmart_variable_session, NGX_HTTP_IAMSMART_VAR_ACR,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_amr"), NULL,
      ngx_http_iamsmart_variable_session, NGX_HTTP_IAMSMART_VAR_AMR,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_auth_time"), NULL,
      ngx_http_iamsmart_variable_session, NGX_HTTP_IAMSMART_VAR_AUTH_TIME,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_session_hash"), NULL,
      ngx_http_iamsmart_variable_session, NGX_HTTP_IAMSMART_VAR_HASH,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_sub"), NULL,
      ngx_http_iamsmart_variable_session, NGX_HTTP_IAMSMART_VAR_SUB,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_assertion"), NULL,
      ngx_http_iamsmart_variable_session, NGX_HTTP_IAMSMART_VAR_ASSERTION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_department"), NULL,
      ngx_http_iamsmart_variable_session, NGX_HTTP_IAMSMART_VAR_DEPARTMENT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_jwt_claim_"), NULL,
      ngx_http_iamsmart_variable_jwt_claim,
      sizeof("iamsmart_jwt_claim_") - 1,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("iamsmart_jwt_header_"), NULL,
      ngx_http_iamsmart_variable_jwt_header,
      sizeof("iamsmart_jwt_header_") - 1,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("iamsmart_jwt_claims"), NULL,
      ngx_http_iamsmart_variable_jwt_claims, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("iamsmart_jwt_error"), NULL,
      ngx_http_iamsmart_variable_jwt_error, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_iamsmart_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_iamsmart_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_variable_set(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, const char *s, size_t len, ngx_uint_t copy)
{
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    if (!copy) {
        v->data = (u_char *) s;
        return NGX_OK;
    }

    v->data = ngx_pnalloc(r->pool, len);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(v->data, s, len);

    return NGX_OK;
}


/* strings as they are, anything else as compact JSON */
static ngx_int_t
ngx_http_iamsmart_variable_json(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, json_t *value)
{
    char       *text;
    ngx_int_t   rc;

    if (value == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (json_is_string(value)) {
        /* the string lives as long as the json value, held by the pool */
        return ngx_http_iamsmart_variable_set(r, v, json_string_value(value),
                                              json_string_length(value), 0);
    }

    text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_iamsmart_variable_set(r, v, text, ngx_strlen(text), 1);
    free(text);

    return rc;
}


static json_t *
ngx_http_iamsmart_json_member(json_t *object, ngx_str_t *var_name,
    size_t prefix_len, ngx_pool_t *pool)
{
    u_char  *key;
    size_t   len;

    if (object == NULL) {
        return NULL;
    }

    len = var_name->len - prefix_len;

    key = ngx_pnalloc(pool, len + 1);
    if (key == NULL) {
        return NULL;
    }

    ngx_memcpy(key, var_name->data + prefix_len, len);
    key[len] = '\0';

    return json_object_get(object, (char *) key);
}


static ngx_int_t
ngx_http_iamsmart_variable_jwt_claim(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    return ngx_http_iamsmart_variable_json(r, v,
               ngx_http_iamsmart_json_member(ctx ? ctx->jwt.claims : NULL,
                                             (ngx_str_t *) data,
                                             sizeof("iamsmart_jwt_claim_") - 1,
                                             r->pool));
}


static ngx_int_t
ngx_http_iamsmart_variable_jwt_header(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    return ngx_http_iamsmart_variable_json(r, v,
               ngx_http_iamsmart_json_member(ctx ? ctx->jwt.header : NULL,
                                             (ngx_str_t *) data,
                                             sizeof("iamsmart_jwt_header_") - 1,
                                             r->pool));
}


static ngx_int_t
ngx_http_iamsmart_variable_jwt_claims(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    return ngx_http_iamsmart_variable_json(r, v, ctx ? ctx->jwt.claims : NULL);
}


static ngx_int_t
ngx_http_iamsmart_variable_jwt_error(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    if (ctx == NULL || ctx->jwt.error == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_iamsmart_variable_set(r, v, ctx->jwt.error,
                                          ngx_strlen(ctx->jwt.error), 0);
}


/*
 * Session facts.  $iamsmart_amr is the methods joined with spaces ("fido
 * fr"); $iamsmart_acr is what the platform reported, or the strongest
 * method used when it reported nothing.
 */
static ngx_int_t
ngx_http_iamsmart_variable_session(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                   *p;
    size_t                    i, len;
    iams_session             *s;
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    if (ctx == NULL || ctx->session == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = ctx->session;

    if (data >= NGX_HTTP_IAMSMART_VAR_SUB && ctx->department == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_IAMSMART_VAR_SUB:
        return ngx_http_iamsmart_variable_set(r, v, ctx->sub,
                                              IAMS_PAIRWISE_SUB_LEN, 0);

    case NGX_HTTP_IAMSMART_VAR_ASSERTION:
        return ngx_http_iamsmart_variable_set(r, v,
                                              (char *) ctx->assertion.data,
                                              ctx->assertion.len, 0);

    case NGX_HTTP_IAMSMART_VAR_DEPARTMENT:
        return ngx_http_iamsmart_variable_set(r, v,
                                      (char *) ctx->department->name.data,
                                      ctx->department->name.len, 0);

    case NGX_HTTP_IAMSMART_VAR_OPENID:
        return ngx_http_iamsmart_variable_set(r, v, s->open_id,
                                              ngx_strlen(s->open_id), 0);

    case NGX_HTTP_IAMSMART_VAR_ACR:
        if (s->acr[0] != '\0') {
            return ngx_http_iamsmart_variable_set(r, v, s->acr,
                                                  ngx_strlen(s->acr), 0);
        }

        return ngx_http_iamsmart_variable_set(r, v,
                   iams_session_amr_time(s, "fr") ? "fr" : "fido",
                   iams_session_amr_time(s, "fr") ? 2 : 4, 0);

    case NGX_HTTP_IAMSMART_VAR_AMR:
        len = 0;

        for (i = 0; i < s->namr; i++) {
            len += ngx_strlen(s->amr[i].method) + 1;
        }

        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;

        for (i = 0; i < s->namr; i++) {
            if (i) {
                *p++ = ' ';
            }

            p = ngx_cpymem(p, s->amr[i].method, ngx_strlen(s->amr[i].method));
        }

        v->len = p - v->data;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;

        return NGX_OK;

    case NGX_HTTP_IAMSMART_VAR_AUTH_TIME:
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%L", (int64_t) s->auth_time) - p;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;

        return NGX_OK;

    default: /* NGX_HTTP_IAMSMART_VAR_HASH */
        return ngx_http_iamsmart_variable_set(r, v, ctx->session_hash,
                                              IAMS_SESSION_HASH_LEN, 0);
    }
}
