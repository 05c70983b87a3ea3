
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Directives, configuration and the module definition.  The phase handlers
 * live in the file of their concern (_jwt.c, ...); this file only wires them.
 */


#include "ngx_http_iamsmart.h"


static void *ngx_http_iamsmart_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_iamsmart_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_iamsmart_redis_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_iamsmart_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_iamsmart_session_cookie(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_iamsmart_session_timeout(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_http_iamsmart_keyring_cleanup(void *data);
static char *ngx_http_iamsmart_scopes(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_iamsmart_content(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_iamsmart_audit_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_iamsmart_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_iamsmart_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_iamsmart_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_iamsmart_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_iamsmart_init_process(ngx_cycle_t *cycle);
static void ngx_http_iamsmart_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_iamsmart_leeway_bounds = {
    ngx_conf_check_num_bounds, 0, 86400
};


static ngx_command_t  ngx_http_iamsmart_commands[] = {

    { ngx_string("iamsmart_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_iamsmart_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("iamsmart_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_session_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_iamsmart_session_cookie,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_session_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_iamsmart_session_timeout,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_session_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_iamsmart_session_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_loc_conf_t, auth),
      NULL },

    { ngx_string("iamsmart_platform_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_absolute_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, platform_url),
      NULL },

    { ngx_string("iamsmart_platform_api"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_platform_api,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_client_id"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, client_id),
      NULL },

    { ngx_string("iamsmart_client_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_client_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_kek_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_kek_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_redirect_uri"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_absolute_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, redirect_uri),
      NULL },

    { ngx_string("iamsmart_scopes"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_iamsmart_scopes,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_lang"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, lang),
      NULL },

    { ngx_string("iamsmart_logout_redirect"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, logout_redirect),
      NULL },

    { ngx_string("iamsmart_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_callback_handler },

    { ngx_string("iamsmart_logout"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_logout_handler },

    { ngx_string("iamsmart_department"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_iamsmart_department_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_signing_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_iamsmart_signing_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, issuer),
      NULL },

    { ngx_string("iamsmart_bridge"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_loc_conf_t, bridge_name),
      NULL },

    { ngx_string("iamsmart_adapter"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_iamsmart_adapter_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_catalogue"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_catalogue_handler },

    { ngx_string("iamsmart_data"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_data_handler },

    { ngx_string("iamsmart_consent"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_consent_handler },

    { ngx_string("iamsmart_exchange"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_exchange_handler },

    { ngx_string("iamsmart_audit_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_audit_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_prefill"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_prefill_handler },

    { ngx_string("iamsmart_jwks"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_jwks_handler },

    { ngx_string("iamsmart_require_fr"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_loc_conf_t, require_fr),
      NULL },

    { ngx_string("iamsmart_stepup_uri"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_absolute_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, stepup_uri),
      NULL },

    { ngx_string("iamsmart_stepup_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_iamsmart_content,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_iamsmart_stepup_callback_handler },

    { ngx_string("iamsmart_callback_signature"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_main_conf_t, callback_signature),
      NULL },

    { ngx_string("iamsmart_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_iamsmart_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_jwt_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_jwt_key_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_iamsmart_jwt_key_request,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_jwt_key_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_loc_conf_t, jwt.key_cache),
      NULL },

    { ngx_string("iamsmart_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_loc_conf_t, jwt.issuer),
      NULL },

    { ngx_string("iamsmart_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_iamsmart_jwt_audience,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_iamsmart_loc_conf_t, jwt.leeway),
      &ngx_http_iamsmart_leeway_bounds },

    { ngx_string("iamsmart_jwt_algorithms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_iamsmart_jwt_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("iamsmart_jwt_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_iamsmart_jwt_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_iamsmart_module_ctx = {
    ngx_http_iamsmart_preconfiguration,    /* preconfiguration */
    ngx_http_iamsmart_postconfiguration,   /* postconfiguration */

    ngx_http_iamsmart_create_main_conf,    /* create main configuration */
    ngx_http_iamsmart_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_iamsmart_create_loc_conf,     /* create location configuration */
    ngx_http_iamsmart_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_iamsmart_module = {
    NGX_MODULE_V1,
    &ngx_http_iamsmart_module_ctx,         /* module context */
    ngx_http_iamsmart_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_iamsmart_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_iamsmart_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_iamsmart_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_iamsmart_ctx_t        *ctx;
    ngx_http_iamsmart_loc_conf_t   *lcf;
    ngx_http_iamsmart_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_iamsmart_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);

    rc = NGX_DECLINED;

    if (lcf->jwt.mode == NGX_HTTP_IAMSMART_JWT_ON) {
        rc = ngx_http_iamsmart_jwt_handler(r, lcf);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (lcf->auth != 1) {

        /* our own handlers read our cookies; nobody else gets them */
        if (mcf->sessions_used && !lcf->own_handler
            && ngx_http_iamsmart_strip_cookies(r, mcf) != NGX_OK)
        {
            return NGX_ERROR;
        }

        return rc;
    }

    ctx = ngx_http_iamsmart_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_iamsmart_session_handler(r, mcf, ctx);

    if (rc == NGX_DONE) {
        /* answered and finalized: r may be gone */
        return NGX_DONE;
    }

    /* the session handler took the cookie on its first call */
    if (!ctx->cookies_stripped) {
        ctx->cookies_stripped = 1;

        if (ngx_http_iamsmart_strip_cookies(r, mcf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_iamsmart_login_required(r, mcf, ctx);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (lcf->require_fr) {
        rc = ngx_http_iamsmart_stepup_handler(r, mcf, lcf, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (lcf->bridge == NULL) {
        /* our header names mean "the gateway says": never the client */
        return ngx_http_iamsmart_strip_identity_headers(r);
    }

    return ngx_http_iamsmart_bridge_handler(r, mcf, lcf, ctx);
}


ngx_http_iamsmart_ctx_t *
ngx_http_iamsmart_get_ctx(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    if (ctx != NULL) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_iamsmart_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_iamsmart_module);

    return ctx;
}


static void *
ngx_http_iamsmart_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_iamsmart_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_iamsmart_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    mcf->redis_enabled = NGX_CONF_UNSET;
    mcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    mcf->callback_signature = NGX_CONF_UNSET;
    mcf->session_idle = NGX_CONF_UNSET;
    mcf->session_absolute = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_iamsmart_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ngx_str_t  name = ngx_string("iamsmart_session");

    ngx_conf_init_value(mcf->redis_enabled, 0);
    ngx_conf_init_value(mcf->callback_signature, 1);
    ngx_conf_init_msec_value(mcf->redis_timeout, 500);
    ngx_conf_init_value(mcf->session_idle, 1800);
    ngx_conf_init_value(mcf->session_absolute, 8 * 3600);

    if (mcf->cookie_name.len == 0) {
        if (ngx_http_iamsmart_set_cookie_name(cf, mcf, &name) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&mcf->cookie_attrs,
                    "; Path=/; SameSite=Lax; HttpOnly; Secure");
    }

    /* Lax whatever the session cookie says: the platform's redirect back
     * to the callback is a cross-site navigation */
    ngx_str_set(&mcf->login_cookie_attrs,
                "; Path=/; SameSite=Lax; HttpOnly; Secure");

    if (mcf->lang.len
        && !(mcf->lang.len == 5
             && (ngx_strncmp(mcf->lang.data, "en-US", 5) == 0
                 || ngx_strncmp(mcf->lang.data, "zh-HK", 5) == 0
                 || ngx_strncmp(mcf->lang.data, "zh-CN", 5) == 0)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "iamsmart_lang must be en-US, zh-HK or zh-CN, "
                           "not \"%V\"", &mcf->lang);
        return NGX_CONF_ERROR;
    }

    if (mcf->logout_redirect.len == 0) {
        ngx_str_set(&mcf->logout_redirect, "/");
    }

    return NGX_CONF_OK;
}


/* iamsmart_redis host:port | unix:/path [db=N] [password_file=path]; */
static char *
ngx_http_iamsmart_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ngx_str_t   *value, path;
    ngx_url_t    u;
    ngx_uint_t   i;
    ngx_int_t    db;

    if (mcf->redis_enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    /* resolved here, in the master: DNS would block a worker */
    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in redis address \"%V\"",
                           u.err ? u.err : "no address", &u.url);
        return NGX_CONF_ERROR;
    }

    mcf->redis_addr = u.addrs[0];

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (db == NGX_ERROR || db > 65535) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis database \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            mcf->redis_db.data = value[i].data + 3;
            mcf->redis_db.len = value[i].len - 3;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            path.data = value[i].data + 14;
            path.len = value[i].len - 14;

            if (ngx_http_iamsmart_read_secret_file(cf, &path,
                                                   &mcf->redis_password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    mcf->redis_enabled = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_iamsmart_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    iams_err             err;
    ngx_str_t           *value, path;
    ngx_pool_cleanup_t  *cln;

    if (mcf->keyring != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (iams_keyring_load_file((char *) path.data, &mcf->keyring, &err)
        != IAMS_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "iamsmart_secret_file \"%V\": %s%s%s", &path,
                           iams_status_str(err.status),
                           err.detail[0] ? ": " : "", err.detail);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_iamsmart_keyring_cleanup;
    cln->data = mcf->keyring;

    return NGX_CONF_OK;
}


static void
ngx_http_iamsmart_keyring_cleanup(void *data)
{
    iams_keyring_free(data);
}


ngx_int_t
ngx_http_iamsmart_set_cookie_name(ngx_conf_t *cf,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_str_t *name)
{
    u_char  *p;

    mcf->cookie_name = *name;

    mcf->login_cookie_name.len = name->len + sizeof("_login") - 1;
    mcf->login_cookie_name.data = ngx_pnalloc(cf->pool,
                                              mcf->login_cookie_name.len);
    if (mcf->login_cookie_name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(mcf->login_cookie_name.data, name->data, name->len);
    ngx_memcpy(p, "_login", sizeof("_login") - 1);

    return NGX_OK;
}


/* iamsmart_session_cookie NAME [domain=D] [path=P] [samesite=lax|strict]; */
static char *
ngx_http_iamsmart_session_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    u_char      *p;
    ngx_str_t   *value, domain, path, samesite;
    ngx_uint_t   i;

    if (mcf->cookie_name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= 0x20 || value[1].data[i] >= 0x7f
            || ngx_strchr("()<>@,;:\\\"/[]?={}", value[1].data[i]) != NULL)
        {
            return "has an invalid cookie name";
        }
    }

    ngx_str_null(&domain);
    ngx_str_set(&path, "/");
    ngx_str_set(&samesite, "Lax");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "domain=", 7) == 0) {
            domain.data = value[i].data + 7;
            domain.len = value[i].len - 7;

        } else if (ngx_strncmp(value[i].data, "path=", 5) == 0
                   && value[i].len > 5 && value[i].data[5] == '/')
        {
            path.data = value[i].data + 5;
            path.len = value[i].len - 5;

        } else if (ngx_strcmp(value[i].data, "samesite=lax") == 0) {
            ngx_str_set(&samesite, "Lax");

        } else if (ngx_strcmp(value[i].data, "samesite=strict") == 0) {
            ngx_str_set(&samesite, "Strict");

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, ';')) {
            return "has a parameter with \";\"";
        }
    }

    if (ngx_strncmp(value[1].data, "__Host-", 7) == 0
        && (domain.len || path.len != 1))
    {
        return "uses the \"__Host-\" prefix, which forbids domain= and a "
               "path other than /";
    }

    if (ngx_http_iamsmart_set_cookie_name(cf, mcf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mcf->cookie_attrs.len = sizeof("; Path=; Domain=; SameSite=; HttpOnly; "
                                   "Secure") - 1
                            + path.len + domain.len + samesite.len;
    mcf->cookie_attrs.data = ngx_pnalloc(cf->pool, mcf->cookie_attrs.len);
    if (mcf->cookie_attrs.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(mcf->cookie_attrs.data, "; Path=%V", &path);

    if (domain.len) {
        p = ngx_sprintf(p, "; Domain=%V", &domain);
    }

    p = ngx_sprintf(p, "; SameSite=%V; HttpOnly; Secure", &samesite);
    mcf->cookie_attrs.len = p - mcf->cookie_attrs.data;

    return NGX_CONF_OK;
}


/* iamsmart_session_timeout IDLE ABSOLUTE; */
static char *
ngx_http_iamsmart_session_timeout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->session_idle != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mcf->session_idle = ngx_parse_time(&value[1], 1);
    mcf->session_absolute = ngx_parse_time(&value[2], 1);

    if (mcf->session_idle == (time_t) NGX_ERROR || mcf->session_idle < 1
        || mcf->session_absolute == (time_t) NGX_ERROR
        || mcf->session_absolute < mcf->session_idle
        || mcf->session_absolute > IAMS_SESSION_TIMEOUT_MAX)
    {
        return "needs IDLE and ABSOLUTE times with 0 < IDLE <= ABSOLUTE "
               "<= 366d";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_iamsmart_scopes(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    u_char      *p;
    size_t       len;
    ngx_str_t   *value;
    ngx_uint_t   i, j;

    if (mcf->scopes.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    len = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        for (j = 0; j < value[i].len; j++) {
            if (!isalnum(value[i].data[j])
                && ngx_strchr("_.:-", value[i].data[j]) == NULL)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid scope \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        len += value[i].len + 1;
    }

    mcf->scopes.data = ngx_pnalloc(cf->pool, len);
    if (mcf->scopes.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = mcf->scopes.data;

    for (i = 1; i < cf->args->nelts; i++) {
        if (i > 1) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, value[i].data, value[i].len);
    }

    mcf->scopes.len = p - mcf->scopes.data;

    return NGX_CONF_OK;
}


/* reopened with the logs (USR1); one line is one write */
static char *
ngx_http_iamsmart_audit_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->audit_file != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mcf->audit_file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (mcf->audit_file == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* content handler directives: cmd->post holds the handler */
static char *
ngx_http_iamsmart_content(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_loc_conf_t *lcf = conf;

    ngx_str_t                      *value;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_iamsmart_main_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate, or the location already has a content handler";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;
    lcf->own_handler = 1;

    /* "iamsmart_prefill anonymous": forms filled without a login */
    if (cf->args->nelts > 1) {
        value = cf->args->elts;

        if (ngx_strcmp(value[1].data, "anonymous") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": "
                               "\"iamsmart_prefill\" takes nothing or "
                               "\"anonymous\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        lcf->prefill_anonymous = 1;
        lcf->exempt = 1;

        mcf = ngx_http_conf_get_module_main_conf(cf,
                                                 ngx_http_iamsmart_module);
        mcf->sessions_used = 1;

        return NGX_CONF_OK;
    }

    /*
     * The platform, browsers in the middle of a login and departments
     * fetching keys reach these without a session: what the enclosing
     * block requires must not apply to them.
     */
    if (clcf->handler == ngx_http_iamsmart_data_handler
        || clcf->handler == ngx_http_iamsmart_consent_handler
        || clcf->handler == ngx_http_iamsmart_prefill_handler)
    {
        lcf->needs_session = 1;
        lcf->needs_callback =
                         (clcf->handler == ngx_http_iamsmart_prefill_handler);

    } else {
        lcf->exempt = 1;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_iamsmart_module);

    /* the published keys and the catalogue need nothing; the exchange,
     * run by departments, needs Redis but no citizen sessions */
    if (clcf->handler == ngx_http_iamsmart_exchange_handler) {
        mcf->redis_used = 1;

    } else if (clcf->handler != ngx_http_iamsmart_jwks_handler
               && clcf->handler != ngx_http_iamsmart_catalogue_handler)
    {
        mcf->sessions_used = 1;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_iamsmart_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_iamsmart_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_iamsmart_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    ngx_http_iamsmart_jwt_conf_init(&conf->jwt);
    conf->auth = NGX_CONF_UNSET;
    conf->require_fr = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_iamsmart_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_iamsmart_loc_conf_t  *prev = parent;
    ngx_http_iamsmart_loc_conf_t  *conf = child;

    ngx_http_iamsmart_main_conf_t  *mcf;

    ngx_conf_merge_value(conf->auth, prev->auth, 0);
    ngx_conf_merge_str_value(conf->bridge_name, prev->bridge_name, "");
    ngx_conf_merge_sec_value(conf->require_fr, prev->require_fr, 0);

    if (conf->exempt) {
        conf->auth = 0;
        conf->require_fr = 0;
        ngx_str_null(&conf->bridge_name);
        conf->jwt.mode = NGX_HTTP_IAMSMART_JWT_OFF;
    }

    if (conf->needs_callback) {
        mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_iamsmart_module);

        if (mcf->stepup_uri.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"iamsmart_prefill\" needs "
                               "\"iamsmart_stepup_uri\", the platform "
                               "callback URI");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->needs_session && !conf->auth) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"iamsmart_data\" and \"iamsmart_consent\" need "
                           "\"iamsmart_auth on\" in their location");
        return NGX_CONF_ERROR;
    }

    if (conf->bridge_name.len && ngx_strcmp(conf->bridge_name.data, "off")) {
        mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_iamsmart_module);

        conf->bridge = ngx_http_iamsmart_find_department(mcf,
                                                         &conf->bridge_name);
        if (conf->bridge == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "iamsmart_bridge: unknown department \"%V\" "
                               "(define it with iamsmart_department)",
                               &conf->bridge_name);
            return NGX_CONF_ERROR;
        }

        if (mcf->signing_keys == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "iamsmart_bridge needs iamsmart_signing_key");
            return NGX_CONF_ERROR;
        }

        /* bridging a citizen needs the citizen's session */
        conf->auth = 1;
    }

    if (conf->require_fr) {
        mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_iamsmart_module);

        if (mcf->stepup_uri.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "iamsmart_require_fr needs "
                               "iamsmart_stepup_uri");
            return NGX_CONF_ERROR;
        }

        conf->auth = 1;
    }

    if (conf->auth) {
        mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_iamsmart_module);
        mcf->sessions_used = 1;
    }

    return ngx_http_iamsmart_jwt_merge(cf, &prev->jwt, &conf->jwt);
}


static ngx_int_t
ngx_http_iamsmart_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_iamsmart_add_variables(cf);
}


static ngx_int_t
ngx_http_iamsmart_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_iamsmart_main_conf_t  *mcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_iamsmart_module);

    if (mcf->issuer.len == 0) {
        ngx_str_set(&mcf->issuer, "iamsmart-gateway");
    }

    if (ngx_http_iamsmart_build_jwks(cf, mcf) != NGX_OK
        || ngx_http_iamsmart_adapters_link(cf, mcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (mcf->redis_used && !mcf->redis_enabled) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"iamsmart_exchange\" needs \"iamsmart_redis\"");
        return NGX_ERROR;
    }

    if (mcf->sessions_used) {
        if (!mcf->redis_enabled) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"iamsmart_auth\" needs \"iamsmart_redis\"");
            return NGX_ERROR;
        }

        if (mcf->keyring == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"iamsmart_auth\" needs "
                               "\"iamsmart_secret_file\"");
            return NGX_ERROR;
        }

        if (ngx_http_iamsmart_platform_check(cf, mcf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_iamsmart_access_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_init_process(ngx_cycle_t *cycle)
{
    ngx_http_iamsmart_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_iamsmart_module);

    if (mcf == NULL || !mcf->redis_enabled) {
        return NGX_OK;
    }

    return ngx_http_iamsmart_redis_init_process(cycle, mcf);
}


static void
ngx_http_iamsmart_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_iamsmart_redis_exit_process();
    ngx_http_iamsmart_jwt_cache_free();
    ngx_http_iamsmart_bridge_exit_process();
    ngx_http_iamsmart_key_source_exit_process();
    ngx_http_iamsmart_session_cache_exit_process();
}
