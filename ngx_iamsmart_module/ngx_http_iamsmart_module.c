
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
    ngx_http_iamsmart_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_iamsmart_module);

    if (lcf->jwt.mode == NGX_HTTP_IAMSMART_JWT_ON) {
        return ngx_http_iamsmart_jwt_handler(r, lcf);
    }

    return NGX_DECLINED;
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

    return mcf;
}


static char *
ngx_http_iamsmart_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ngx_conf_init_value(mcf->redis_enabled, 0);
    ngx_conf_init_msec_value(mcf->redis_timeout, 500);

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


static void *
ngx_http_iamsmart_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_iamsmart_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_iamsmart_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    ngx_http_iamsmart_jwt_conf_init(&conf->jwt);

    return conf;
}


static char *
ngx_http_iamsmart_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_iamsmart_loc_conf_t  *prev = parent;
    ngx_http_iamsmart_loc_conf_t  *conf = child;

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
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

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
}
