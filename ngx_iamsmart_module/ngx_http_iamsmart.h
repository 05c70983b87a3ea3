
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
#include <iamsmart/adapter_host.h>
#include <iamsmart/consent.h>
#include <iamsmart/encoding.h>
#include <iamsmart/jose.h>
#include <iamsmart/pairwise.h>
#include <iamsmart/platform.h>
#include <iamsmart/secret.h>
#include <iamsmart/session.h>


#define NGX_HTTP_IAMSMART_REDIS_PREFIX  "iamsmart:"


#define NGX_HTTP_IAMSMART_JWT_UNSET  0
#define NGX_HTTP_IAMSMART_JWT_OFF    1
#define NGX_HTTP_IAMSMART_JWT_ON     2


typedef struct {
    ngx_str_t                   uri;
    ngx_uint_t                  index;        /* slot in the shared zone */
} ngx_http_iamsmart_key_source_t;


typedef struct {
    ngx_uint_t                  mode;         /* NGX_HTTP_IAMSMART_JWT_* */
    ngx_http_complex_value_t   *realm;
    ngx_http_complex_value_t   *token;        /* NULL: Authorization */

    iams_jwks                  *keys;         /* owned by a cf->pool cleanup */
    ngx_flag_t                  keys_set;     /* keys came from this level */
    ngx_http_iamsmart_key_source_t  *key_source;  /* or keys by subrequest */
    time_t                      key_cache;

    ngx_str_t                   issuer;       /* NUL-terminated, or empty */
    ngx_array_t                *audiences;    /* of char *, NUL-terminated */
    time_t                      leeway;       /* seconds */
    ngx_uint_t                  algorithms;   /* iams_alg_set; 0: unset */

    ngx_array_t                *require;      /* of ngx_http_complex_value_t */
    ngx_uint_t                  require_status;

    iams_jwt_policy             policy;       /* built at merge time */
} ngx_http_iamsmart_jwt_conf_t;


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   audience;
    ngx_str_t                   ns;            /* pairwise namespace */
    ngx_str_t                   subject_header;
    ngx_str_t                   assertion_header;
    time_t                      assertion_lifetime;
    ngx_str_t                   backend;       /* adapters' location */
    ngx_str_t                   adapter_name;  /* or by department code */
    iams_adapter               *adapter;       /* NULL: none */
    iams_jwks                  *client_keys;   /* exchange credentials */
} ngx_http_iamsmart_department_t;


typedef struct {
    ngx_str_t                   name;
    iams_adapter               *adapter;       /* cf->pool cleanup unloads */
} ngx_http_iamsmart_adapter_t;


typedef struct {
    iams_jwk                   *key;           /* private; cf->pool cleanup */
    ngx_str_t                   kid;
    iams_alg                    alg;
} ngx_http_iamsmart_signing_key_t;


typedef struct {
    ngx_http_iamsmart_jwt_conf_t     jwt;
    ngx_flag_t                       auth;
    ngx_str_t                        bridge_name;
    ngx_http_iamsmart_department_t  *bridge;
    time_t                           require_fr;    /* seconds; unset: -1 */
    ngx_flag_t                       own_handler;   /* reads our cookies */
    ngx_flag_t                       exempt;        /* our public endpoints:
                                                       no inherited checks */
    ngx_flag_t                       needs_session; /* iamsmart_data */
    ngx_flag_t                       needs_callback; /* iamsmart_prefill */
    ngx_flag_t                       prefill_anonymous; /* ... anonymous */
} ngx_http_iamsmart_loc_conf_t;


typedef struct {
    ngx_addr_t                  redis_addr;    /* resolved at config time */
    ngx_str_t                   redis_db;      /* decimal, or empty */
    ngx_str_t                   redis_password;
    ngx_msec_t                  redis_timeout;
    ngx_flag_t                  redis_enabled;

    iams_keyring               *keyring;       /* iamsmart_secret_file */

    ngx_str_t                   cookie_name;
    ngx_str_t                   login_cookie_name;   /* cookie_name_login */
    ngx_str_t                   cookie_attrs;  /* "; Path=/; ...; Secure" */
    time_t                      session_idle;
    time_t                      session_absolute;

    ngx_str_t                   login_cookie_attrs;
    ngx_str_t                   logout_redirect;

    ngx_shm_zone_t             *session_cache; /* NULL: off */

    ngx_flag_t                  sessions_used; /* some iamsmart_auth on */
    ngx_flag_t                  redis_used;    /* iamsmart_exchange */

    /* the iAM Smart platform */
    ngx_str_t                   platform_url;  /* public, for browsers */
    ngx_str_t                   platform_api;  /* internal location */
    ngx_str_t                   client_id;
    ngx_str_t                   client_secret; /* wiped with cf->pool */
    iams_kek                   *kek;
    ngx_str_t                   redirect_uri;
    ngx_str_t                   scopes;        /* space-separated */
    ngx_str_t                   lang;

    /* bridging */
    ngx_array_t                *departments;   /* of department_t * */
    ngx_array_t                *signing_keys;  /* of signing_key_t; [0] signs */
    ngx_str_t                   jwks;          /* public, prebuilt JSON */
    ngx_str_t                   issuer;

    ngx_array_t                *adapters;      /* of adapter_t */
    ngx_open_file_t            *audit_file;    /* JSON lines, or NULL */

    /* JWT keys by subrequest */
    ngx_array_t                *key_sources;   /* of key_source_t * */
    ngx_shm_zone_t             *key_zone;

    /* step-up */
    ngx_str_t                   stepup_uri;    /* registered redirect URI */
    ngx_flag_t                  callback_signature;
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

typedef struct {
    int                             type;       /* REDIS_REPLY_* */
    long long                       integer;
    ngx_str_t                       str;        /* NUL-terminated */
} ngx_http_iamsmart_redis_value_t;

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
    ngx_http_iamsmart_redis_value_t  *elements; /* array replies, one
                                                   level; in r->pool */
    size_t                          nelements;
} ngx_http_iamsmart_redis_wait_t;

ngx_int_t ngx_http_iamsmart_redis_call(ngx_http_request_t *r,
    ngx_http_iamsmart_redis_wait_t *w, int argc, const char **argv,
    const size_t *argvlen);
/* For content handlers: ngx_http_iamsmart_redis_call, and the request kept
 * open (r->main->count) until w->resume runs: NGX_DONE, or the status to
 * finalize with (503 when Redis is down). */
ngx_int_t ngx_http_iamsmart_redis_await(ngx_http_request_t *r,
    ngx_http_iamsmart_redis_wait_t *w, int argc, const char **argv,
    const size_t *argvlen);
ngx_int_t ngx_http_iamsmart_redis_send(int argc, const char **argv,
    const size_t *argvlen);

typedef struct {
    const char                     *argv[6];
    size_t                          argvlen[6];
    int                             argc;
    u_char                          ttl[NGX_INT64_LEN];
} ngx_http_iamsmart_set_cmd_t;

void ngx_http_iamsmart_set_cmd(ngx_http_iamsmart_set_cmd_t *cmd,
    const char *key, size_t key_len, const char *value, size_t value_len,
    int64_t ttl, const char *cond);


/* A platform API call (ngx_http_iamsmart_platform.c) */
typedef struct {
    unsigned                     pending:1;
    unsigned                     done:1;
    unsigned                     upstream_failed:1;  /* nginx's own error */
    ngx_uint_t                   status;     /* HTTP status, 502 if none */
    ngx_str_t                    body;       /* in the parent's pool */
    ngx_str_t                    content_type;

    ngx_http_event_handler_pt    resume;     /* kept across calls */
} ngx_http_iamsmart_platform_call_t;


/* Result of JWT validation, kept for variables and logging. */
typedef struct {
    json_t                     *header;       /* referenced; pool cleanup */
    json_t                     *claims;       /* referenced; pool cleanup */
    const char                 *error;        /* static reason, or NULL */
    unsigned                    done:1;       /* passed */
} ngx_http_iamsmart_jwt_result_t;


typedef enum {
    NGX_HTTP_IAMSMART_SESSION_START = 0,
    NGX_HTTP_IAMSMART_SESSION_LOOKUP,
    NGX_HTTP_IAMSMART_SESSION_DONE
} ngx_http_iamsmart_session_state_e;


typedef struct {
    ngx_http_iamsmart_jwt_result_t     jwt;

    ngx_http_iamsmart_redis_wait_t     redis;

    ngx_http_iamsmart_platform_call_t  key_fetch;     /* JWKS subrequest */
    unsigned                           key_fetched:1; /* once per request */
    ngx_uint_t                         key_waits;     /* for another's fetch */
    ngx_event_t                        key_wait;

    ngx_http_iamsmart_session_state_e  session_state;
    iams_session_id                    session_id;    /* cleansed after use */
    iams_key_slot                      session_slot;
    char                               session_key[IAMS_SESSION_KEY_MAX + 1];
    size_t                             session_key_len;
    char                               session_hash[IAMS_SESSION_HASH_LEN
                                                    + 1];
    iams_session                      *session;       /* pool cleanup */
    ngx_uint_t                         session_cache_gen;
    unsigned                           session_cached:1; /* no GET made */

    unsigned                           cookies_stripped:1;

    ngx_http_iamsmart_department_t    *department;    /* bridged to */
    char                               sub[IAMS_PAIRWISE_SUB_LEN + 1];
    ngx_str_t                          assertion;

    ngx_uint_t                         login_state;
    ngx_str_t                          login_binding;
    char                               login_statebuf[IAMS_STATE_LEN + 1];
    void                              *login;         /* content handler's */
    void                              *stepup;        /* _stepup.c state */
    void                              *exchange;      /* _exchange.c */
} ngx_http_iamsmart_ctx_t;




/* One adapter run against its backend (ngx_http_iamsmart_adapter.c) */
typedef struct {
    ngx_http_iamsmart_department_t     *dept;
    ngx_str_t                           query;     /* canonical query JSON */
    ngx_http_iamsmart_platform_call_t   call;
    ngx_msec_t                          started;

    ngx_uint_t                          status;    /* 0 running, 200, 4xx,
                                                      502, 504 */
    const char                         *error;     /* static token */
    ngx_str_t                           data;      /* canonical data, pool */
} ngx_http_iamsmart_source_call_t;


/* One consented exchange (ngx_http_iamsmart_exchange.c) */
typedef enum {
    NGX_HTTP_IAMSMART_EX_READ = 0,       /* waiting for the consent */
    NGX_HTTP_IAMSMART_EX_COUNT,          /* waiting for the use count */
    NGX_HTTP_IAMSMART_EX_SOURCES,        /* waiting for the departments */
    NGX_HTTP_IAMSMART_EX_AUDIT           /* waiting for the audit write */
} ngx_http_iamsmart_ex_step_e;


typedef struct {
    ngx_http_iamsmart_main_conf_t     *mcf;
    ngx_http_iamsmart_ex_step_e        step;
    ngx_http_iamsmart_redis_wait_t     redis;

    ngx_http_iamsmart_department_t    *requester;
    json_t                            *body;        /* pool cleanup */
    ngx_str_t                          consent_id;
    ngx_str_t                          subject;
    ngx_str_t                          service;
    ngx_str_t                          purpose;
    iams_span                         *items;
    size_t                             nitems;
    iams_consent                      *consent;     /* pool cleanup */
    char                               request_id[33];

    ngx_http_iamsmart_source_call_t   *sources;     /* one per department */
    ngx_str_t                         *source_items; /* JSON item lists */
    size_t                             nsources;

    ngx_uint_t                         status;      /* the answer */
    json_t                            *answer;

    unsigned                           subset:1;    /* ask only for the
                                                       consented items */

    /* what to do with the answer; NULL: send it (the exchange endpoint) */
    ngx_int_t                        (*done)(ngx_http_request_t *r,
                                             void *data);
    void                              *data;
} ngx_http_iamsmart_exchange_t;


/* An encrypted platform API call with its CEK (ngx_http_iamsmart_pcall.c) */
typedef enum {
    NGX_HTTP_IAMSMART_PCALL_START = 0,
    NGX_HTTP_IAMSMART_PCALL_CEK,
    NGX_HTTP_IAMSMART_PCALL_GETKEY,
    NGX_HTTP_IAMSMART_PCALL_CALL,
    NGX_HTTP_IAMSMART_PCALL_DONE
} ngx_http_iamsmart_pcall_step_e;

typedef struct {
    /* set by the caller */
    ngx_http_iamsmart_main_conf_t      *mcf;
    const char                         *path;       /* "/api/v1/..." */
    ngx_str_t                           plaintext;  /* JSON; wiped after */
    ngx_http_event_handler_pt           resume;

    /* the result, once ngx_http_iamsmart_pcall() returned NGX_OK */
    ngx_uint_t                          failure;    /* 0, 502 or 503 */
    const char                         *error;      /* static */
    iams_reply                          reply;
    json_t                             *content;    /* pool cleanup */

    ngx_http_iamsmart_pcall_step_e      step;
    unsigned                            retried:1;
    ngx_http_iamsmart_redis_wait_t      redis;
    ngx_http_iamsmart_platform_call_t   call;
    iams_cek                            cek;
    char                                cek_key[128];
    size_t                              cek_key_len;
} ngx_http_iamsmart_pcall_t;


/*
 * The anonymous e-ME flow for one form (ngx_http_iamsmart_prefill_anon.c):
 * no login before it, no session after it.  The caller sets the members
 * above "private" and calls ngx_http_iamsmart_anon_run() from its content
 * handler, which answers (redirects the browser to the platform) or, back
 * with the approval, calls done() with the e-ME fields (a JSON object,
 * borrowed for the call) and returns what done() returns.  Everything
 * lives in r->pool.
 */
typedef ngx_int_t (*ngx_http_iamsmart_anon_done_pt)(ngx_http_request_t *r,
    void *data, json_t *fields);

typedef enum {
    NGX_HTTP_IAMSMART_ANON_INITIATE = 0, /* initiateRequest -> ticketID */
    NGX_HTTP_IAMSMART_ANON_STORED,       /* state stored: off to getQR */
    NGX_HTTP_IAMSMART_ANON_HANDOFF,      /* back: the hand-off consumed */
    NGX_HTTP_IAMSMART_ANON_TOKEN,        /* getToken with its code */
    NGX_HTTP_IAMSMART_ANON_RESULT        /* getResult: the fields */
} ngx_http_iamsmart_anon_step_e;

typedef struct {
    ngx_str_t                           form;
    const iams_span                    *fields;     /* e-ME field names */
    size_t                              nfields;
    ngx_http_iamsmart_anon_done_pt      done;
    void                               *data;

    /* private */
    ngx_http_iamsmart_main_conf_t      *mcf;
    ngx_http_iamsmart_anon_step_e       step;
    ngx_http_iamsmart_redis_wait_t      redis;
    ngx_http_iamsmart_pcall_t           pc;         /* initiate, getToken */
    ngx_http_iamsmart_pcall_t           result;     /* getResult */
    ngx_str_t                           binding;
    ngx_str_t                           key;        /* the hand-off's */
    char                                business_id[IAMS_BUSINESS_ID_MAX + 1];
    char                                state[IAMS_STATE_MAX + 1];
    char                                ticket_id[IAMS_TICKET_ID_MAX + 1];
} ngx_http_iamsmart_anon_t;


/* A citizen-facing page (ngx_http_iamsmart_page.c) */
typedef struct {
    const char                  *title_en;
    const char                  *title_zh;
    const char                  *text_en;
    const char                  *text_zh;
    const char                  *action_en;
    const char                  *action_zh;
    ngx_str_t                    link;       /* escaped here; may be empty */
} ngx_http_iamsmart_page_t;


extern ngx_module_t  ngx_http_iamsmart_module;


/* ngx_http_iamsmart_module.c */
ngx_http_iamsmart_ctx_t *ngx_http_iamsmart_get_ctx(ngx_http_request_t *r);

ngx_int_t ngx_http_iamsmart_set_cookie_name(ngx_conf_t *cf,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_str_t *name);

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

/* ngx_http_iamsmart_session.c */
ngx_int_t ngx_http_iamsmart_session_handler(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx);
ngx_int_t ngx_http_iamsmart_strip_cookies(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf);
ngx_int_t ngx_http_iamsmart_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_http_iamsmart_unavailable(ngx_http_request_t *r,
    const char *cause);

/*
 * ngx_http_iamsmart_session_cache.c: sealed session records shared by all
 * workers for "valid" (iamsmart_session_cache); every call is a no-op when
 * the directive is absent.  Keys and records are (pointer, length) pairs
 * owned by the caller and copied; the session _get opens belongs to the
 * caller (iams_session_free).  Whoever writes or deletes a session record
 * in Redis calls _forget before sending the command and again once Redis
 * answered.
 */
char *ngx_http_iamsmart_session_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_iamsmart_session_cache_get(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *key, size_t len,
    ngx_uint_t *generation, iams_session **session);
void ngx_http_iamsmart_session_cache_exit_process(void);
void ngx_http_iamsmart_session_cache_put(ngx_http_iamsmart_main_conf_t *mcf,
    const char *key, size_t key_len, const u_char *record, size_t len,
    ngx_uint_t generation, ngx_log_t *log);
void ngx_http_iamsmart_session_cache_forget(
    ngx_http_iamsmart_main_conf_t *mcf, const char *key, size_t len);

/* ngx_http_iamsmart_login.c */
ngx_int_t ngx_http_iamsmart_login_required(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx);
ngx_int_t ngx_http_iamsmart_callback_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_iamsmart_logout_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_iamsmart_redirect(ngx_http_request_t *r, ngx_str_t *to);
ngx_int_t ngx_http_iamsmart_wants_json(ngx_http_request_t *r);
ngx_uint_t ngx_http_iamsmart_cross_site(ngx_http_request_t *r);
ngx_int_t ngx_http_iamsmart_set_cookie(ngx_http_request_t *r,
    ngx_str_t *name, const char *value, size_t len, ngx_str_t *attrs,
    const char *extra);
/* The browser's binding cookie value (the one it has, or a new one in
 * r->pool); a login or an anonymous form's state is bound to it. */
ngx_int_t ngx_http_iamsmart_login_binding(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_str_t *binding);
ngx_int_t ngx_http_iamsmart_binding_key(ngx_http_request_t *r,
    const char *kind, const char *id, size_t len, ngx_str_t *binding,
    ngx_str_t *key);
ngx_int_t ngx_http_iamsmart_state_store_cmd(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *state, ngx_str_t *binding,
    json_t *record, ngx_http_iamsmart_set_cmd_t *set, char **sealed);
ngx_int_t ngx_http_iamsmart_getqr_redirect(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *state,
    const char *ticket_id, ngx_str_t *scope, ngx_str_t *binding);

/* ngx_http_iamsmart_platform.c */
ngx_int_t ngx_http_iamsmart_platform_post(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *path, const char *body,
    size_t body_len, ngx_http_iamsmart_platform_call_t *call);
ngx_int_t ngx_http_iamsmart_fetch(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_str_t *args, const char *body, size_t body_len, iams_header *headers,
    size_t nheaders, ngx_http_iamsmart_platform_call_t *call);
ngx_int_t ngx_http_iamsmart_platform_check(ngx_conf_t *cf,
    ngx_http_iamsmart_main_conf_t *mcf);
char *ngx_http_iamsmart_kek_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_iamsmart_client_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_iamsmart_platform_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_iamsmart_absolute_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_iamsmart_bridge.c */
ngx_int_t ngx_http_iamsmart_bridge_handler(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_loc_conf_t *lcf,
    ngx_http_iamsmart_ctx_t *ctx);
void ngx_http_iamsmart_bridge_exit_process(void);
ngx_int_t ngx_http_iamsmart_strip_identity_headers(ngx_http_request_t *r);
ngx_int_t ngx_http_iamsmart_jwks_handler(ngx_http_request_t *r);

/* ngx_http_iamsmart_department.c */
char *ngx_http_iamsmart_department_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_iamsmart_department_t *ngx_http_iamsmart_find_department(
    ngx_http_iamsmart_main_conf_t *mcf, ngx_str_t *name);
char *ngx_http_iamsmart_signing_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_iamsmart_build_jwks(ngx_conf_t *cf,
    ngx_http_iamsmart_main_conf_t *mcf);

/* ngx_http_iamsmart_stepup.c */
ngx_int_t ngx_http_iamsmart_stepup_handler(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_loc_conf_t *lcf,
    ngx_http_iamsmart_ctx_t *ctx);
ngx_int_t ngx_http_iamsmart_stepup_callback_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_iamsmart_same_origin_path(ngx_http_request_t *r,
    ngx_str_t *url, ngx_str_t *path);

/* ngx_http_iamsmart_pcall.c */
ngx_int_t ngx_http_iamsmart_pcall(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc);
/* Sets pc->plaintext to a copy in r->pool of a body core built with
 * malloc; the body is wiped and freed either way.  NGX_OK or NGX_ERROR. */
ngx_int_t ngx_http_iamsmart_pcall_plaintext(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc, char *body, size_t len);
int64_t ngx_http_iamsmart_now_ms(void);

/* ngx_http_iamsmart_adapter.c */
char *ngx_http_iamsmart_adapter_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_iamsmart_adapters_link(ngx_conf_t *cf,
    ngx_http_iamsmart_main_conf_t *mcf);
ngx_http_iamsmart_department_t *ngx_http_iamsmart_department_of_dataset(
    ngx_http_iamsmart_main_conf_t *mcf, ngx_str_t *dataset);
void ngx_http_iamsmart_adapter_env(ngx_http_request_t *r,
    iams_adapter_env *env);
ngx_int_t ngx_http_iamsmart_source_start(ngx_http_request_t *r,
    ngx_http_iamsmart_source_call_t *sc);
ngx_int_t ngx_http_iamsmart_source_finish(ngx_http_request_t *r,
    ngx_http_iamsmart_source_call_t *sc);
json_t *ngx_http_iamsmart_source_error_json(
    ngx_http_iamsmart_source_call_t *sc);
ngx_int_t ngx_http_iamsmart_catalogue_handler(ngx_http_request_t *r);

/* ngx_http_iamsmart_consent.c */
ngx_int_t ngx_http_iamsmart_consent_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_iamsmart_consent_key(ngx_pool_t *pool, ngx_str_t *id,
    const char *suffix, ngx_str_t *key);
ngx_int_t ngx_http_iamsmart_citizen_ref(ngx_http_iamsmart_main_conf_t *mcf,
    iams_session *s, char *out);
json_t *ngx_http_iamsmart_holders(ngx_http_iamsmart_main_conf_t *mcf);

/* ngx_http_iamsmart_exchange.c */
ngx_int_t ngx_http_iamsmart_exchange_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_iamsmart_exchange_run(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex);
ngx_int_t ngx_http_iamsmart_history_key(ngx_pool_t *pool,
    const char *citizen, ngx_str_t *key);

/* ngx_http_iamsmart_prefill.c */
ngx_int_t ngx_http_iamsmart_prefill_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_iamsmart_eme_plaintext(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, iams_session *s, ngx_str_t *form,
    const iams_span *fields, size_t nfields, const char *business_id,
    const char *state, ngx_http_iamsmart_pcall_t *pc);

/* ngx_http_iamsmart_prefill_anon.c */
ngx_int_t ngx_http_iamsmart_anon_run(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an);
ngx_int_t ngx_http_iamsmart_anon_handoff_cmd(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_str_t *binding, json_t *record,
    iams_login_callback *cb, ngx_str_t *location,
    ngx_http_iamsmart_set_cmd_t *set, char **sealed);

/* ngx_http_iamsmart_data.c */
ngx_int_t ngx_http_iamsmart_canonical_query(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_department_t *dept,
    iams_session *s, ngx_str_t *dataset, json_t *extra, ngx_str_t *query);
ngx_int_t ngx_http_iamsmart_data_handler(ngx_http_request_t *r);

/* ngx_http_iamsmart_page.c */
ngx_int_t ngx_http_iamsmart_send_page(ngx_http_request_t *r,
    ngx_uint_t status, const ngx_http_iamsmart_page_t *page);

/* ngx_http_iamsmart_key_source.c */
char *ngx_http_iamsmart_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_iamsmart_key_source_keys(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_key_source_t *src,
    ngx_http_iamsmart_ctx_t *ctx, const iams_jwks **keys, uint64_t *version);
ngx_int_t ngx_http_iamsmart_key_source_force(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_key_source_t *src,
    ngx_http_iamsmart_ctx_t *ctx, uint64_t version);
void ngx_http_iamsmart_key_source_exit_process(void);

/* ngx_http_iamsmart_jwt_cache.c: per-worker cache of verified tokens;
 * scope: the key set and its version, with the allowed algorithms */
typedef struct {
    const iams_jwks            *keys;
    uint64_t                    version;
    iams_alg_set                algorithms;
} ngx_http_iamsmart_jwt_scope_t;

ngx_int_t ngx_http_iamsmart_jwt_cache_lookup(const u_char *digest,
    const ngx_http_iamsmart_jwt_scope_t *scope,
    ngx_http_iamsmart_jwt_result_t *res);
void ngx_http_iamsmart_jwt_cache_store(const u_char *digest,
    const ngx_http_iamsmart_jwt_scope_t *scope, json_t *header,
    json_t *claims);
void ngx_http_iamsmart_jwt_cache_free(void);

/* ngx_http_iamsmart_variables.c */
ngx_int_t ngx_http_iamsmart_add_variables(ngx_conf_t *cf);

/* ngx_http_iamsmart_response.c */
ngx_int_t ngx_http_iamsmart_send_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body);
ngx_int_t ngx_http_iamsmart_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *description);
ngx_int_t ngx_http_iamsmart_finalize_json(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body);
ngx_int_t ngx_http_iamsmart_finalize(ngx_http_request_t *r, ngx_int_t rc);
ngx_int_t ngx_http_iamsmart_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_http_iamsmart_json_add_cleanup(ngx_pool_t *pool, json_t *v);

typedef ngx_uint_t (*ngx_http_iamsmart_header_drop_pt)(ngx_http_request_t *r,
    ngx_table_elt_t *h, void *data);
ngx_int_t ngx_http_iamsmart_filter_headers(ngx_http_request_t *r,
    ngx_http_iamsmart_header_drop_pt drop, void *data, ngx_uint_t extra);


#endif /* _NGX_HTTP_IAMSMART_H_INCLUDED_ */
