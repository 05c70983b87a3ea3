
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Bearer-token validation in the access phase, modelled on the semantics of
 * NGINX Plus's auth_jwt: the token comes from "Authorization: Bearer" or a
 * configured variable, is verified against key files loaded at configuration
 * time, its claims are checked, and failures answer 401 with an RFC 6750
 * challenge.  Signature results are cached per worker (see _jwt_cache.c);
 * claim checks run on every request since they depend on the time.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/evp.h>


#define NGX_HTTP_IAMSMART_DIGEST_LEN  32


static ngx_int_t ngx_http_iamsmart_jwt_token(ngx_http_request_t *r,
    ngx_http_iamsmart_jwt_conf_t *jcf, ngx_str_t *token);
static iams_status ngx_http_iamsmart_jwt_verify(ngx_http_request_t *r,
    const ngx_http_iamsmart_jwt_scope_t *scope, ngx_str_t *token,
    u_char *digest, ngx_http_iamsmart_jwt_result_t *res, iams_err *err);
static ngx_int_t ngx_http_iamsmart_jwt_requirements_met(ngx_http_request_t *r,
    ngx_http_iamsmart_jwt_conf_t *jcf);
static ngx_int_t ngx_http_iamsmart_jwt_reject(ngx_http_request_t *r,
    ngx_http_iamsmart_jwt_conf_t *jcf, ngx_uint_t status, const char *error,
    const char *description);
static u_char *ngx_http_iamsmart_quote(u_char *p, ngx_str_t *s);
static void ngx_http_iamsmart_jwks_cleanup(void *data);


ngx_int_t
ngx_http_iamsmart_jwt_handler(ngx_http_request_t *r,
    ngx_http_iamsmart_loc_conf_t *lcf)
{
    u_char                          digest[NGX_HTTP_IAMSMART_DIGEST_LEN];
    ngx_int_t                       rc;
    ngx_str_t                       token;
    iams_err                        err;
    iams_status                     st;
    ngx_http_iamsmart_ctx_t        *ctx;
    ngx_http_iamsmart_jwt_conf_t   *jcf;
    ngx_http_iamsmart_main_conf_t  *mcf;
    ngx_http_iamsmart_jwt_scope_t   scope;

    jcf = &lcf->jwt;

    ctx = ngx_http_iamsmart_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /* the phases run again after every wait of a later check */
    if (ctx->jwt.done) {
        return NGX_OK;
    }

    scope.keys = jcf->keys;
    scope.version = 0;
    scope.algorithms = jcf->algorithms;

    rc = ngx_http_iamsmart_jwt_token(r, jcf, &token);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: no bearer token");
        ctx->jwt.error = "token required";
        return ngx_http_iamsmart_jwt_reject(r, jcf, NGX_HTTP_UNAUTHORIZED,
                                            NULL, NULL);
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);

    if (jcf->key_source != NULL) {
        rc = ngx_http_iamsmart_key_source_keys(r, mcf, jcf->key_source, ctx,
                                               &scope.keys, &scope.version);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    err.status = IAMS_OK;
    err.detail[0] = '\0';

    st = ngx_http_iamsmart_jwt_verify(r, &scope, &token, digest, &ctx->jwt,
                                      &err);

    if (st == IAMS_ERR_UNKNOWN_KID && jcf->key_source != NULL) {
        rc = ngx_http_iamsmart_key_source_force(r, mcf, jcf->key_source, ctx,
                                                scope.version);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (st == IAMS_OK) {
        st = iams_jwt_check(ctx->jwt.claims, &jcf->policy, ngx_time(), &err);
    }

    if (st == IAMS_ERR_NOMEM || st == IAMS_ERR_INTERNAL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: JWT validation failed: %s: %s",
                      iams_status_str(st), err.detail);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st != IAMS_OK) {
        ctx->jwt.error = iams_status_str(st);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: JWT rejected: %s%s%s (token %*xs)",
                      ctx->jwt.error, err.detail[0] ? ": " : "", err.detail,
                      (size_t) 6, digest);

        return ngx_http_iamsmart_jwt_reject(r, jcf, NGX_HTTP_UNAUTHORIZED,
                                            "invalid_token", ctx->jwt.error);
    }

    if (!ngx_http_iamsmart_jwt_requirements_met(r, jcf)) {
        ctx->jwt.error = "token does not meet requirements";

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: JWT rejected: %s (token %*xs)",
                      ctx->jwt.error, (size_t) 6, digest);

        if (jcf->require_status == NGX_HTTP_FORBIDDEN) {
            return ngx_http_iamsmart_jwt_reject(r, jcf, NGX_HTTP_FORBIDDEN,
                                                "insufficient_scope", NULL);
        }

        return ngx_http_iamsmart_jwt_reject(r, jcf, NGX_HTTP_UNAUTHORIZED,
                                            "invalid_token", ctx->jwt.error);
    }

    ctx->jwt.done = 1;

    return NGX_OK;
}


/*
 * NGX_OK with the token, NGX_DECLINED when the request carries none (no
 * Authorization header, another scheme, or an empty variable).  "Bearer"
 * followed by nothing is a token of length zero, rejected as malformed.
 */
static ngx_int_t
ngx_http_iamsmart_jwt_token(ngx_http_request_t *r,
    ngx_http_iamsmart_jwt_conf_t *jcf, ngx_str_t *token)
{
    u_char  *p, *last;

    if (jcf->token != NULL) {
        if (ngx_http_complex_value(r, jcf->token, token) != NGX_OK) {
            return NGX_ERROR;
        }

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if (last - p < 6 || ngx_strncasecmp(p, (u_char *) "Bearer", 6) != 0) {
        return NGX_DECLINED;
    }

    p += 6;

    if (p < last && *p != ' ' && *p != '\t') {
        return NGX_DECLINED;
    }

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


static iams_status
ngx_http_iamsmart_jwt_verify(ngx_http_request_t *r,
    const ngx_http_iamsmart_jwt_scope_t *scope, ngx_str_t *token,
    u_char *digest, ngx_http_iamsmart_jwt_result_t *res, iams_err *err)
{
    json_t       *claims;
    iams_jws      jws;
    iams_status   st;

    if (token->len > IAMS_JWS_MAX_TOKEN) {
        ngx_memzero(digest, NGX_HTTP_IAMSMART_DIGEST_LEN);
        return iams_err_set(err, IAMS_ERR_TOO_LARGE, "%zu bytes",
                            token->len);
    }

    if (EVP_Digest(token->data, token->len, digest, NULL, EVP_sha256(), NULL)
        != 1)
    {
        return iams_err_set(err, IAMS_ERR_INTERNAL, "SHA-256 failed");
    }

    if (ngx_http_iamsmart_jwt_cache_lookup(digest, scope, res) != NGX_OK) {

        st = iams_jws_parse((const char *) token->data, token->len, &jws, err);
        if (st != IAMS_OK) {
            return st;
        }

        st = iams_jws_verify(&jws, scope->keys, scope->algorithms, NULL,
                             err);

        if (st == IAMS_OK) {
            st = iams_jwt_claims(&jws, &claims, err);
        }

        if (st != IAMS_OK) {
            iams_jws_clear(&jws);
            return st;
        }

        res->header = json_incref(jws.header);
        res->claims = claims;
        iams_jws_clear(&jws);

        ngx_http_iamsmart_jwt_cache_store(digest, scope, res->header,
                                          res->claims);
    }

    if (ngx_http_iamsmart_json_add_cleanup(r->pool, res->header) != NGX_OK) {
        res->header = NULL;
        json_decref(res->claims);
        res->claims = NULL;
        return iams_err_set(err, IAMS_ERR_NOMEM, "pool cleanup");
    }

    if (ngx_http_iamsmart_json_add_cleanup(r->pool, res->claims) != NGX_OK) {
        res->claims = NULL;
        return iams_err_set(err, IAMS_ERR_NOMEM, "pool cleanup");
    }

    return IAMS_OK;
}


static ngx_int_t
ngx_http_iamsmart_jwt_requirements_met(ngx_http_request_t *r,
    ngx_http_iamsmart_jwt_conf_t *jcf)
{
    ngx_str_t                  val;
    ngx_uint_t                 i;
    ngx_http_complex_value_t  *cv;

    if (jcf->require == NULL) {
        return 1;
    }

    cv = jcf->require->elts;

    for (i = 0; i < jcf->require->nelts; i++) {
        if (ngx_http_complex_value(r, &cv[i], &val) != NGX_OK) {
            return 0;
        }

        if (val.len == 0 || (val.len == 1 && val.data[0] == '0')) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_iamsmart_jwt_reject(ngx_http_request_t *r,
    ngx_http_iamsmart_jwt_conf_t *jcf, ngx_uint_t status, const char *error,
    const char *description)
{
    u_char     *p;
    size_t      len;
    json_t     *body;
    ngx_str_t   realm, challenge, err_str, desc_str;

    if (ngx_http_complex_value(r, jcf->realm, &realm) != NGX_OK) {
        return NGX_ERROR;
    }

    err_str.data = (u_char *) error;
    err_str.len = error ? ngx_strlen(error) : 0;
    desc_str.data = (u_char *) description;
    desc_str.len = description ? ngx_strlen(description) : 0;

    /* every quoted character may need a backslash */
    len = sizeof("Bearer realm=\"\", error=\"\", error_description=\"\"")
          + 2 * (realm.len + err_str.len + desc_str.len);

    challenge.data = ngx_pnalloc(r->pool, len);
    if (challenge.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(challenge.data, "Bearer realm=", 13);
    p = ngx_http_iamsmart_quote(p, &realm);

    if (error != NULL) {
        p = ngx_cpymem(p, ", error=", 8);
        p = ngx_http_iamsmart_quote(p, &err_str);
    }

    if (description != NULL) {
        p = ngx_cpymem(p, ", error_description=", 20);
        p = ngx_http_iamsmart_quote(p, &desc_str);
    }

    challenge.len = p - challenge.data;

    r->headers_out.www_authenticate = ngx_list_push(&r->headers_out.headers);
    if (r->headers_out.www_authenticate == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.www_authenticate->hash = 1;
    ngx_str_set(&r->headers_out.www_authenticate->key, "WWW-Authenticate");
    r->headers_out.www_authenticate->value = challenge;
#if (nginx_version >= 1023000)
    r->headers_out.www_authenticate->next = NULL;
#endif

    if (error == NULL) {
        body = json_pack("{s:s}", "error", "token_required");

    } else if (description == NULL) {
        body = json_pack("{s:s}", "error", error);

    } else {
        body = json_pack("{s:s, s:s}", "error", error,
                         "error_description", description);
    }

    return ngx_http_iamsmart_finalize_json(r, status, body);
}


static u_char *
ngx_http_iamsmart_quote(u_char *p, ngx_str_t *s)
{
    size_t  i;

    *p++ = '"';

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\') {
            *p++ = '\\';
        }

        /* a control character would split the header */
        *p++ = (s->data[i] < 0x20 || s->data[i] == 0x7f) ? '?' : s->data[i];
    }

    *p++ = '"';

    return p;
}


/* configuration */


void
ngx_http_iamsmart_jwt_conf_init(ngx_http_iamsmart_jwt_conf_t *jcf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     jcf->mode = NGX_HTTP_IAMSMART_JWT_UNSET;
     *     jcf->realm = NULL;
     *     jcf->token = NULL;
     *     jcf->keys = NULL;
     *     jcf->issuer = { 0, NULL };
     *     jcf->audiences = NULL;
     *     jcf->algorithms = 0;
     *     jcf->require = NULL;
     *     jcf->require_status = 0;
     */

    jcf->keys_set = NGX_CONF_UNSET;
    jcf->leeway = NGX_CONF_UNSET;
    jcf->key_cache = NGX_CONF_UNSET;
}


char *
ngx_http_iamsmart_jwt_merge(ngx_conf_t *cf, ngx_http_iamsmart_jwt_conf_t *prev,
    ngx_http_iamsmart_jwt_conf_t *conf)
{
    if (conf->mode == NGX_HTTP_IAMSMART_JWT_UNSET) {
        conf->mode = prev->mode;
        conf->realm = prev->realm;
        conf->token = prev->token;
    }

    if (conf->keys_set == NGX_CONF_UNSET) {
        conf->keys = prev->keys;
        conf->keys_set = 0;
    }

    if (conf->key_source == NULL) {
        conf->key_source = prev->key_source;
    }

    ngx_conf_merge_sec_value(conf->key_cache, prev->key_cache, 600);

    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);

    if (conf->audiences == NULL) {
        conf->audiences = prev->audiences;
    }

    if (conf->algorithms == 0) {
        conf->algorithms = prev->algorithms ? prev->algorithms
                                            : IAMS_ALG_SET_ASYMMETRIC;
    }

    if (conf->require == NULL) {
        conf->require = prev->require;
        conf->require_status = prev->require_status;
    }

    conf->policy.issuer = conf->issuer.len ? (char *) conf->issuer.data : NULL;
    conf->policy.audiences = conf->audiences
                             ? (const char *const *) conf->audiences->elts
                             : NULL;
    conf->policy.naudiences = conf->audiences ? conf->audiences->nelts : 0;
    conf->policy.leeway = conf->leeway;

    if (conf->mode == NGX_HTTP_IAMSMART_JWT_ON
        && (conf->keys == NULL) == (conf->key_source == NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"iamsmart_jwt\" needs keys from either "
                           "\"iamsmart_jwt_key_file\" or "
                           "\"iamsmart_jwt_key_request\" (one of them)");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_iamsmart_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_loc_conf_t *lcf = conf;

    ngx_str_t                         *value, token;
    ngx_http_compile_complex_value_t   ccv;

    if (lcf->jwt.mode != NGX_HTTP_IAMSMART_JWT_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no token with \"off\"";
        }

        lcf->jwt.mode = NGX_HTTP_IAMSMART_JWT_OFF;
        return NGX_CONF_OK;
    }

    lcf->jwt.realm = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (lcf->jwt.realm == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = lcf->jwt.realm;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (value[2].len <= 6 || ngx_strncmp(value[2].data, "token=", 6) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"token=$variable\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        token.data = value[2].data + 6;
        token.len = value[2].len - 6;

        lcf->jwt.token = ngx_palloc(cf->pool,
                                    sizeof(ngx_http_complex_value_t));
        if (lcf->jwt.token == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &token;
        ccv.complex_value = lcf->jwt.token;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    lcf->jwt.mode = NGX_HTTP_IAMSMART_JWT_ON;

    return NGX_CONF_OK;
}


char *
ngx_http_iamsmart_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_loc_conf_t *lcf = conf;

    iams_err             err;
    iams_jwks           *set;
    ngx_str_t           *value, path;
    iams_status          st;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    st = iams_jwks_load_file((char *) path.data, &set, &err);

    if (st == IAMS_OK && lcf->jwt.keys != NULL && lcf->jwt.keys_set == 1) {
        st = iams_jwks_merge(lcf->jwt.keys, &set, &err);
        if (st != IAMS_OK) {
            iams_jwks_free(set);
        }

    } else if (st == IAMS_OK) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            iams_jwks_free(set);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_iamsmart_jwks_cleanup;
        cln->data = set;

        lcf->jwt.keys = set;
        lcf->jwt.keys_set = 1;
    }

    if (st != IAMS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "iamsmart_jwt_key_file \"%V\": %s%s%s", &path,
                           iams_status_str(st), err.detail[0] ? ": " : "",
                           err.detail);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_iamsmart_jwks_cleanup(void *data)
{
    iams_jwks_free(data);
}


char *
ngx_http_iamsmart_jwt_audience(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_loc_conf_t *lcf = conf;

    char       **aud;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (lcf->jwt.audiences != NULL) {
        return "is duplicate";
    }

    lcf->jwt.audiences = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(char *));
    if (lcf->jwt.audiences == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0) {
            return "has an empty audience";
        }

        aud = ngx_array_push(lcf->jwt.audiences);
        if (aud == NULL) {
            return NGX_CONF_ERROR;
        }

        /* configuration arguments are NUL-terminated */
        *aud = (char *) value[i].data;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_iamsmart_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_loc_conf_t *lcf = conf;

    iams_alg     alg;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (lcf->jwt.algorithms != 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        alg = iams_alg_from_name((char *) value[i].data, value[i].len);

        if (alg == IAMS_ALG_UNKNOWN) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown JWS algorithm \"%V\" (\"none\" is "
                               "never accepted)", &value[i]);
            return NGX_CONF_ERROR;
        }

        lcf->jwt.algorithms |= IAMS_ALG_BIT(alg);
    }

    return NGX_CONF_OK;
}


char *
ngx_http_iamsmart_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_loc_conf_t *lcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i, n;
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;
    n = cf->args->nelts;

    if (lcf->jwt.require == NULL) {
        lcf->jwt.require = ngx_array_create(cf->pool, 4,
                                            sizeof(ngx_http_complex_value_t));
        if (lcf->jwt.require == NULL) {
            return NGX_CONF_ERROR;
        }

        lcf->jwt.require_status = NGX_HTTP_UNAUTHORIZED;
    }

    if (ngx_strncmp(value[n - 1].data, "error=", 6) == 0) {
        if (ngx_strcmp(value[n - 1].data, "error=401") == 0) {
            lcf->jwt.require_status = NGX_HTTP_UNAUTHORIZED;

        } else if (ngx_strcmp(value[n - 1].data, "error=403") == 0) {
            lcf->jwt.require_status = NGX_HTTP_FORBIDDEN;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"error=401\" or \"error=403\"",
                               &value[n - 1]);
            return NGX_CONF_ERROR;
        }

        n--;
    }

    if (n < 2) {
        return "needs at least one variable";
    }

    for (i = 1; i < n; i++) {
        if (value[i].len < 2 || value[i].data[0] != '$') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not a variable", &value[i]);
            return NGX_CONF_ERROR;
        }

        cv = ngx_array_push(lcf->jwt.require);
        if (cv == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = cv;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
