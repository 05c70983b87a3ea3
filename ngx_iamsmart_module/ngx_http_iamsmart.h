
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Types shared by the files of ngx_http_iamsmart_module.  Configuration
 * structures are filled at configuration time and never written while
 * serving requests; per-request state lives in ngx_http_iamsmart_ctx_t.
 */


#ifndef _NGX_HTTP_IAMSMART_H_INCLUDED_
#define _NGX_HTTP_IAMSMART_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>
#include <hiredis/hiredis.h>
#include <iamsmart/jose.h>


#define NGX_HTTP_IAMSMART_JWT_UNSET  0
#define NGX_HTTP_IAMSMART_JWT_OFF    1
#define NGX_HTTP_IAMSMART_JWT_ON     2


typedef struct {
    ngx_uint_t                  mode;         /* NGX_HTTP_IAMSMART_JWT_* */
    ngx_http_complex_value_t   *realm;
    ngx_http_complex_value_t   *token;        /* NULL: Authorization */

    iams_jwks                  *keys;         /* owned by a cf->pool cleanup */
    ngx_flag_t                  keys_set;     /* keys came from this level */

    ngx_str_t                   issuer;       /* NUL-terminated, or empty */
    ngx_array_t                *audiences;    /* of char *, NUL-terminated */
    time_t                      leeway;       /* seconds */
    ngx_uint_t                  algorithms;   /* iams_alg_set; 0: unset */

    ngx_array_t                *require;      /* of ngx_http_complex_value_t */
    ngx_uint_t                  require_status;

    iams_jwt_policy             policy;       /* built at merge time */
} ngx_http_iamsmart_jwt_conf_t;


typedef struct {
    ngx_http_iamsmart_jwt_conf_t  jwt;
} ngx_http_iamsmart_loc_conf_t;


typedef struct {
    ngx_addr_t                  redis_addr;    /* resolved at config time */
    ngx_str_t                   redis_db;      /* decimal, or empty */
    ngx_str_t                   redis_password;
    ngx_msec_t                  redis_timeout;
    ngx_flag_t                  redis_enabled;
} ngx_http_iamsmart_main_conf_t;


/* Redis (ngx_http_iamsmart_redis.c) */

typedef struct ngx_http_iamsmart_redis_cmd_s  ngx_http_iamsmart_redis_cmd_t;

/*
 * Called exactly once per queued command, never from inside
 * ngx_http_iamsmart_redis_command(): with the reply (owned by the caller of
 * the handler, freed when it returns) or with reply == NULL and a static
 * error text.
 */
typedef void (*ngx_http_iamsmart_redis_handler_pt)(void *data,
    redisReply *reply, const char *error);

ngx_int_t ngx_http_iamsmart_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_iamsmart_main_conf_t *mcf);
void ngx_http_iamsmart_redis_exit_process(void);

/* NGX_OK: queued; NGX_DECLINED: Redis is down (answer 503); NGX_ERROR */
ngx_int_t ngx_http_iamsmart_redis_command(int argc, const char **argv,
    const size_t *argvlen, ngx_http_iamsmart_redis_handler_pt handler,
    void *data, ngx_http_iamsmart_redis_cmd_t **cmdp);
void ngx_http_iamsmart_redis_cancel(ngx_http_iamsmart_redis_cmd_t *cmd);


/* A request waiting for one Redis reply (ngx_http_iamsmart_wait.c) */

typedef void (*ngx_http_iamsmart_resume_pt)(ngx_http_request_t *r);

typedef struct {
    ngx_http_request_t             *request;
    ngx_http_iamsmart_resume_pt     resume;     /* default: run phases */
    ngx_event_t                     event;      /* posted on completion */
    ngx_http_iamsmart_redis_cmd_t  *cmd;
    unsigned                        waiting:1;
    unsigned                        done:1;
    unsigned                        cleanup_added:1;

    const char                     *error;      /* static; NULL on reply */
    int                             type;       /* REDIS_REPLY_* */
    long long                       integer;
    ngx_str_t                       str;        /* in r->pool */
} ngx_http_iamsmart_redis_wait_t;

ngx_int_t ngx_http_iamsmart_redis_call(ngx_http_request_t *r,
    ngx_http_iamsmart_redis_wait_t *w, int argc, const char **argv,
    const size_t *argvlen);
ngx_int_t ngx_http_iamsmart_redis_send(int argc, const char **argv,
    const size_t *argvlen);


/* Result of JWT validation, kept for variables and logging. */
typedef struct {
    json_t                     *header;       /* referenced; pool cleanup */
    json_t                     *claims;       /* referenced; pool cleanup */
    const char                 *error;        /* static reason, or NULL */
} ngx_http_iamsmart_jwt_result_t;


typedef struct {
    ngx_http_iamsmart_jwt_result_t  jwt;
} ngx_http_iamsmart_ctx_t;


extern ngx_module_t  ngx_http_iamsmart_module;


/* ngx_http_iamsmart_module.c */
ngx_http_iamsmart_ctx_t *ngx_http_iamsmart_get_ctx(ngx_http_request_t *r);

/* ngx_http_iamsmart_conf.c */
ngx_int_t ngx_http_iamsmart_read_secret_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *secret);

/* ngx_http_iamsmart_jwt.c */
char *ngx_http_iamsmart_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_iamsmart_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_iamsmart_jwt_audience(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_iamsmart_jwt_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_iamsmart_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_iamsmart_jwt_conf_init(ngx_http_iamsmart_jwt_conf_t *jcf);
char *ngx_http_iamsmart_jwt_merge(ngx_conf_t *cf,
    ngx_http_iamsmart_jwt_conf_t *prev, ngx_http_iamsmart_jwt_conf_t *conf);
ngx_int_t ngx_http_iamsmart_jwt_handler(ngx_http_request_t *r,
    ngx_http_iamsmart_loc_conf_t *lcf);

/* ngx_http_iamsmart_jwt_cache.c: per-worker cache of verified tokens */
ngx_int_t ngx_http_iamsmart_jwt_cache_lookup(const u_char *digest,
    ngx_http_iamsmart_jwt_conf_t *jcf, ngx_http_iamsmart_jwt_result_t *res);
void ngx_http_iamsmart_jwt_cache_store(const u_char *digest,
    ngx_http_iamsmart_jwt_conf_t *jcf, json_t *header, json_t *claims);
void ngx_http_iamsmart_jwt_cache_free(void);

/* ngx_http_iamsmart_variables.c */
ngx_int_t ngx_http_iamsmart_add_variables(ngx_conf_t *cf);

/* ngx_http_iamsmart_response.c */
ngx_int_t ngx_http_iamsmart_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body);
ngx_int_t ngx_http_iamsmart_finalize_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body);
ngx_int_t ngx_http_iamsmart_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_http_iamsmart_json_add_cleanup(ngx_pool_t *pool, json_t *v);


#endif /* _NGX_HTTP_IAMSMART_H_INCLUDED_ */
