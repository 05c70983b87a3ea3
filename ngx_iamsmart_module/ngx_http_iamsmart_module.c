
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Directives, configuration and the module definition.  The phase handlers
 * live in the file of their concern (_jwt.c, ...); this file only wires them.
 */


#include "ngx_http_iamsmart.h"


static void *ngx_http_iamsmart_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_iamsmart_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_iamsmart_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_iamsmart_postconfiguration(ngx_conf_t *cf);
static void ngx_http_iamsmart_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_iamsmart_leeway_bounds = {
    ngx_conf_check_num_bounds, 0, 86400
};


static ngx_command_t  ngx_http_iamsmart_commands[] = {

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

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

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
    NULL,                                  /* init process */
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


static void
ngx_http_iamsmart_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_iamsmart_jwt_cache_free();
}
