
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * The citizen's side of consent ("iamsmart_consent" in a location with
 * "iamsmart_auth on", e.g. location /my/consents/):
 *
 *   GET  /my/consents/                 the citizen's consents
 *   GET  /my/consents/new?...          the consent page for a request
 *   POST /my/consents/                 grant (the page's form)
 *   GET  /my/consents/<id>             one consent, with its usage history
 *   POST /my/consents/<id>/pause       } state changes; each POST carries
 *   POST /my/consents/<id>/resume      } the page's CSRF token and must
 *   POST /my/consents/<id>/revoke      } come from this site
 *   GET  /my/consents/data             "my data": which departments hold
 *                                      which data sets, the consents, and
 *                                      every release of the citizen's data
 *
 * A grant is written with one script (record and the citizen's index
 * together) and acknowledged only after Redis answered, so with
 * appendfsync always an acknowledged grant survives a crash.  A state
 * change is a compare-and-set on the record's text: a pause can never
 * overwrite a revocation that happened in between.  Exchanges read the
 * record on every request, so a revocation applies to the very next one.
 *
 * Records are stored as plain JSON (not sealed: they live for years and
 * must outlast secret rotations); they hold pseudonyms only, never the
 * openID, and Redis must be kept as private as the secret file.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <iamsmart/consent.h>


#define NGX_HTTP_IAMSMART_CONSENT_FORM_MAX   16384
#define NGX_HTTP_IAMSMART_CONSENT_LIST_MAX   100
#define NGX_HTTP_IAMSMART_CONSENT_LOG_MAX    50
#define NGX_HTTP_IAMSMART_ARGV_MAX           (NGX_HTTP_IAMSMART_CONSENT_LIST_MAX \
                                              + 1)
#define NGX_HTTP_IAMSMART_CSRF_LEN           32

#define NGX_HTTP_IAMSMART_GRANT_SCRIPT                                       \
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX') then\n"                    \
    "  redis.call('SADD', KEYS[2], ARGV[2])\n"                               \
    "  return 1\n"                                                           \
    "end\n"                                                                  \
    "return 0\n"

#define NGX_HTTP_IAMSMART_CAS_SCRIPT                                         \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"                        \
    "  redis.call('SET', KEYS[1], ARGV[2])\n"                                \
    "  return 1\n"                                                           \
    "end\n"                                                                  \
    "return 0\n"


typedef enum {
    NGX_HTTP_IAMSMART_CS_START = 0,
    NGX_HTTP_IAMSMART_CS_VIEW_START,
    NGX_HTTP_IAMSMART_CS_CHANGE_START,
    NGX_HTTP_IAMSMART_CS_LIST_IDS,
    NGX_HTTP_IAMSMART_CS_LIST_RECORDS,
    NGX_HTTP_IAMSMART_CS_HISTORY,
    NGX_HTTP_IAMSMART_CS_VIEW_RECORD,
    NGX_HTTP_IAMSMART_CS_VIEW_LOG,
    NGX_HTTP_IAMSMART_CS_GRANTED,
    NGX_HTTP_IAMSMART_CS_CHANGE_READ,
    NGX_HTTP_IAMSMART_CS_CHANGED
} ngx_http_iamsmart_cs_step_e;


typedef struct {
    ngx_http_iamsmart_main_conf_t   *mcf;
    ngx_http_iamsmart_ctx_t         *ctx;
    ngx_http_iamsmart_cs_step_e      step;
    ngx_http_iamsmart_redis_wait_t   redis;

    char                             citizen[IAMS_PAIRWISE_SUB_LEN + 1];
    ngx_str_t                        prefix;     /* the location's URI */
    ngx_str_t                        id;
    ngx_str_t                        action;     /* pause, resume, revoke */
    ngx_str_t                        record_key;
    ngx_str_t                        old_text;   /* CAS */
    ngx_str_t                        return_url; /* the requester's page */
    iams_consent                    *consent;    /* pool cleanup */
    json_t                          *out;        /* answer being built */
    ngx_uint_t                       retries;
    unsigned                         my_data:1;
} ngx_http_iamsmart_consent_req_t;


static void ngx_http_iamsmart_consent_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_consent_step(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr);
static void ngx_http_iamsmart_consent_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_consent_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_http_iamsmart_cs_step_e next,
    int argc, const char **argv, const size_t *argvlen);
static ngx_int_t ngx_http_iamsmart_consent_page(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr);
static ngx_int_t ngx_http_iamsmart_consent_grant(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_str_t *form);
static ngx_int_t ngx_http_iamsmart_consent_change(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr);
static ngx_int_t ngx_http_iamsmart_consent_answer(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_uint_t status, json_t *body);
static ngx_int_t ngx_http_iamsmart_csrf_token(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, u_char *out);
static ngx_int_t ngx_http_iamsmart_form_value(ngx_http_request_t *r,
    ngx_str_t *form, const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_iamsmart_consent_load(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_str_t *text);
static void ngx_http_iamsmart_consent_cleanup(void *data);
static ngx_int_t ngx_http_iamsmart_consent_artefact(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, json_t *out);
static ngx_int_t ngx_http_iamsmart_consent_return(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, json_t *item);


/* ---- keys ---- */


ngx_int_t
ngx_http_iamsmart_consent_key(ngx_pool_t *pool, ngx_str_t *id,
    const char *suffix, ngx_str_t *key)
{
    u_char  *p;

    key->data = ngx_pnalloc(pool, sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                                  + sizeof("consent:v1:{}") + id->len
                                  + ngx_strlen(suffix));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(key->data,
                    NGX_HTTP_IAMSMART_REDIS_PREFIX "consent:v1:{%V}%s", id,
                    suffix);
    key->len = p - key->data;

    return NGX_OK;
}


/* The gateway's own reference to a citizen: a keyed hash of the openID. */
ngx_int_t
ngx_http_iamsmart_citizen_ref(ngx_http_iamsmart_main_conf_t *mcf,
    iams_session *s, char *out)
{
    iams_err  err;

    return iams_pairwise_subject(mcf->keyring, "iamsmart-citizen", 16,
                                 s->open_id, ngx_strlen(s->open_id), out,
                                 &err)
           == IAMS_OK ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_iamsmart_index_key(ngx_pool_t *pool, const char *citizen,
    ngx_str_t *key)
{
    u_char  *p;

    key->data = ngx_pnalloc(pool, sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                                  + sizeof("consents:v1:")
                                  + IAMS_PAIRWISE_SUB_LEN);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(key->data, NGX_HTTP_IAMSMART_REDIS_PREFIX "consents:v1:%s",
                    citizen);
    key->len = p - key->data;

    return NGX_OK;
}


/* ---- the handler ---- */


ngx_int_t
ngx_http_iamsmart_consent_handler(ngx_http_request_t *r)
{
    u_char                           *p, *last, *slash;
    ngx_int_t                         rc;
    ngx_http_iamsmart_ctx_t          *ctx;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_iamsmart_consent_req_t  *cr;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    if (ctx == NULL || ctx->session == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cr = ngx_pcalloc(r->pool, sizeof(ngx_http_iamsmart_consent_req_t));
    if (cr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cr->mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);
    cr->ctx = ctx;
    cr->redis.resume = ngx_http_iamsmart_consent_resume;
    ctx->login = cr;

    if (ngx_http_iamsmart_citizen_ref(cr->mcf, ctx->session, cr->citizen)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the path below the location: "", "new", "<id>", "<id>/<action>" */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    cr->prefix = clcf->name;

    p = r->uri.data + ngx_min(clcf->name.len, r->uri.len);
    last = r->uri.data + r->uri.len;

    slash = ngx_strlchr(p, last, '/');
    cr->id.data = p;
    cr->id.len = (slash ? slash : last) - p;

    if (slash) {
        cr->action.data = slash + 1;
        cr->action.len = last - slash - 1;
    }

    if (cr->id.len == 0) {

        if (r->method == NGX_HTTP_POST) {
            rc = ngx_http_read_client_request_body(r,
                                           ngx_http_iamsmart_consent_body);
            return rc >= NGX_HTTP_SPECIAL_RESPONSE ? rc : NGX_DONE;
        }

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        cr->step = NGX_HTTP_IAMSMART_CS_START;
        return ngx_http_iamsmart_consent_step(r, cr);
    }

    if (cr->id.len == 4 && ngx_strncmp(cr->id.data, "data", 4) == 0
        && cr->action.len == 0)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        cr->my_data = 1;
        cr->step = NGX_HTTP_IAMSMART_CS_START;
        return ngx_http_iamsmart_consent_step(r, cr);
    }

    if (cr->id.len == 3 && ngx_strncmp(cr->id.data, "new", 3) == 0
        && cr->action.len == 0)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        return ngx_http_iamsmart_consent_page(r, cr);
    }

    if (!iams_consent_id_ok((char *) cr->id.data, cr->id.len)) {
        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_NOT_FOUND,
                   json_pack("{s:s}", "error", "no such consent"));
    }

    if (ngx_http_iamsmart_consent_key(r->pool, &cr->id, "", &cr->record_key)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (cr->action.len == 0) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        cr->step = NGX_HTTP_IAMSMART_CS_VIEW_START;
        return ngx_http_iamsmart_consent_step(r, cr);
    }

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (!((cr->action.len == 5
           && ngx_strncmp(cr->action.data, "pause", 5) == 0)
          || (cr->action.len == 6
              && (ngx_strncmp(cr->action.data, "resume", 6) == 0
                  || ngx_strncmp(cr->action.data, "revoke", 6) == 0))))
    {
        return NGX_HTTP_NOT_FOUND;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_iamsmart_consent_body);

    return rc >= NGX_HTTP_SPECIAL_RESPONSE ? rc : NGX_DONE;
}


/* a POST body has arrived: a grant or a state change */
static void
ngx_http_iamsmart_consent_body(ngx_http_request_t *r)
{
    u_char                           *p, csrf[NGX_HTTP_IAMSMART_CSRF_LEN];
    size_t                            len;
    ngx_int_t                         rc;
    ngx_str_t                         form, token;
    ngx_chain_t                      *cl;
    ngx_http_iamsmart_ctx_t          *ctx;
    ngx_http_iamsmart_consent_req_t  *cr;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    cr = ctx->login;

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        if (!ngx_buf_in_memory(cl->buf)) {
            ngx_http_finalize_request(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
            return;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len > NGX_HTTP_IAMSMART_CONSENT_FORM_MAX) {
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
        return;
    }

    form.data = ngx_pnalloc(r->pool, len + 1);
    if (form.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = form.data;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    form.len = p - form.data;

    /* a state change is the citizen's own decision, made on our page */

    if (ngx_http_iamsmart_cross_site(r)
        || ngx_http_iamsmart_csrf_token(r, cr, csrf) != NGX_OK
        || ngx_http_iamsmart_form_value(r, &form, "csrf", &token) != NGX_OK
        || token.len != NGX_HTTP_IAMSMART_CSRF_LEN
        || CRYPTO_memcmp(token.data, csrf, NGX_HTTP_IAMSMART_CSRF_LEN) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: consent change without a valid CSRF token "
                      "or from another site refused");

        ngx_http_finalize_request(r,
            ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_FORBIDDEN,
                json_pack("{s:s, s:s}", "error", "forbidden",
                          "error_description",
                          "this change must be made on the consent page")));
        return;
    }

    if (cr->id.len == 0) {
        rc = ngx_http_iamsmart_consent_grant(r, cr, &form);

    } else {
        cr->step = NGX_HTTP_IAMSMART_CS_CHANGE_START;
        rc = ngx_http_iamsmart_consent_step(r, cr);
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_iamsmart_consent_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_http_iamsmart_cs_step_e next,
    int argc, const char **argv, const size_t *argvlen)
{
    cr->step = next;

    return ngx_http_iamsmart_redis_await(r, &cr->redis, argc, argv, argvlen);
}


static void
ngx_http_iamsmart_consent_resume(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    ngx_http_finalize_request(r,
                              ngx_http_iamsmart_consent_step(r, ctx->login));
}


static ngx_int_t
ngx_http_iamsmart_consent_step(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr)
{
    size_t                          i;
    size_t                          argvlen[NGX_HTTP_IAMSMART_ARGV_MAX];
    json_t                         *list, *item;
    ngx_str_t                       key, text;
    const char                     *argv[NGX_HTTP_IAMSMART_ARGV_MAX];
    ngx_http_iamsmart_redis_value_t  *v;

    if (cr->step != NGX_HTTP_IAMSMART_CS_START
        && cr->step != NGX_HTTP_IAMSMART_CS_VIEW_START
        && cr->step != NGX_HTTP_IAMSMART_CS_CHANGE_START
        && cr->redis.error != NULL)
    {
        return ngx_http_iamsmart_unavailable(r, cr->redis.error);
    }

    switch (cr->step) {

    case NGX_HTTP_IAMSMART_CS_START:

        if (ngx_http_iamsmart_index_key(r->pool, cr->citizen, &key) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[0] = "SMEMBERS";
        argvlen[0] = 8;
        argv[1] = (char *) key.data;
        argvlen[1] = key.len;

        return ngx_http_iamsmart_consent_wait(r, cr,
                                              NGX_HTTP_IAMSMART_CS_LIST_IDS,
                                              2, argv, argvlen);

    case NGX_HTTP_IAMSMART_CS_LIST_IDS:

        if (cr->redis.nelements == 0) {
            cr->redis.nelements = 0;
            cr->step = NGX_HTTP_IAMSMART_CS_LIST_RECORDS;
            return ngx_http_iamsmart_consent_step(r, cr);
        }

        argv[0] = "MGET";
        argvlen[0] = 4;

        for (i = 0;
             i < cr->redis.nelements && i < NGX_HTTP_IAMSMART_CONSENT_LIST_MAX;
             i++)
        {
            if (ngx_http_iamsmart_consent_key(r->pool,
                                              &cr->redis.elements[i].str, "",
                                              &key)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            argv[i + 1] = (char *) key.data;
            argvlen[i + 1] = key.len;
        }

        return ngx_http_iamsmart_consent_wait(r, cr,
                                          NGX_HTTP_IAMSMART_CS_LIST_RECORDS,
                                          i + 1, argv, argvlen);

    case NGX_HTTP_IAMSMART_CS_LIST_RECORDS:

        list = json_array();
        if (list == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        for (i = 0; i < cr->redis.nelements; i++) {
            v = &cr->redis.elements[i];

            if (v->type != REDIS_REPLY_STRING
                || ngx_http_iamsmart_consent_load(r, cr, &v->str) != NGX_OK)
            {
                continue;
            }

            item = iams_consent_to_json(cr->consent);
            if (item == NULL) {
                continue;
            }

            json_object_set_new(item, "status", json_string(
                iams_consent_status_name(
                    iams_consent_effective_status(cr->consent, ngx_time()))));
            json_object_del(item, "citizen");
            json_array_append_new(list, item);
        }

        if (!cr->my_data) {
            return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_OK,
                                     json_pack("{s:o}", "consents", list));
        }

        cr->out = json_pack("{s:o, s:o}", "consents", list,
                            "holders", ngx_http_iamsmart_holders(cr->mcf));
        if (cr->out == NULL
            || ngx_http_iamsmart_json_add_cleanup(r->pool, cr->out) != NGX_OK
            || ngx_http_iamsmart_history_key(r->pool, cr->citizen, &key)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[0] = "LRANGE";
        argvlen[0] = 6;
        argv[1] = (char *) key.data;
        argvlen[1] = key.len;
        argv[2] = "0";
        argvlen[2] = 1;
        argv[3] = "199";
        argvlen[3] = 3;

        return ngx_http_iamsmart_consent_wait(r, cr,
                                              NGX_HTTP_IAMSMART_CS_HISTORY,
                                              4, argv, argvlen);


    case NGX_HTTP_IAMSMART_CS_VIEW_START:

        if (ngx_http_iamsmart_consent_key(r->pool, &cr->id, ":uses", &key)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[0] = "MGET";
        argvlen[0] = 4;
        argv[1] = (char *) cr->record_key.data;
        argvlen[1] = cr->record_key.len;
        argv[2] = (char *) key.data;
        argvlen[2] = key.len;

        if (ngx_http_iamsmart_consent_key(r->pool, &cr->id, ":last", &key)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[3] = (char *) key.data;
        argvlen[3] = key.len;

        return ngx_http_iamsmart_consent_wait(r, cr,
                                           NGX_HTTP_IAMSMART_CS_VIEW_RECORD,
                                           4, argv, argvlen);

    case NGX_HTTP_IAMSMART_CS_VIEW_RECORD:

        if (cr->redis.nelements != 3
            || cr->redis.elements[0].type != REDIS_REPLY_STRING
            || ngx_http_iamsmart_consent_load(r, cr,
                                              &cr->redis.elements[0].str)
               != NGX_OK)
        {
            return ngx_http_iamsmart_consent_answer(r, cr,
                                                    NGX_HTTP_NOT_FOUND,
                       json_pack("{s:s}", "error", "no such consent"));
        }

        iams_consent_set_usage(cr->consent,
                               ngx_atoof(cr->redis.elements[1].str.data,
                                         cr->redis.elements[1].str.len),
                               ngx_atoof(cr->redis.elements[2].str.data,
                                         cr->redis.elements[2].str.len));

        cr->out = iams_consent_to_json(cr->consent);
        if (cr->out == NULL
            || ngx_http_iamsmart_json_add_cleanup(r->pool, cr->out) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        json_object_del(cr->out, "citizen");
        json_object_set_new(cr->out, "status", json_string(
            iams_consent_status_name(
                iams_consent_effective_status(cr->consent, ngx_time()))));

        if (ngx_http_iamsmart_consent_artefact(r, cr, cr->out) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_iamsmart_consent_key(r->pool, &cr->id, ":log", &key)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[0] = "LRANGE";
        argvlen[0] = 6;
        argv[1] = (char *) key.data;
        argvlen[1] = key.len;
        argv[2] = "0";
        argvlen[2] = 1;
        argv[3] = "49";
        argvlen[3] = 2;

        return ngx_http_iamsmart_consent_wait(r, cr,
                                              NGX_HTTP_IAMSMART_CS_VIEW_LOG,
                                              4, argv, argvlen);

    case NGX_HTTP_IAMSMART_CS_HISTORY:      /* "my data": releases */
    case NGX_HTTP_IAMSMART_CS_VIEW_LOG:     /* one consent: its usage */

        list = json_array();

        for (i = 0; list && i < cr->redis.nelements; i++) {
            item = iams_json_parse_object(
                       (char *) cr->redis.elements[i].str.data,
                       cr->redis.elements[i].str.len, 8192, NULL);
            if (item) {
                json_object_del(item, "citizen");
                json_array_append_new(list, item);
            }
        }

        json_object_set_new(cr->out, cr->my_data ? "releases" : "usage",
                            list ? list : json_array());

        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_OK,
                                                json_incref(cr->out));

    case NGX_HTTP_IAMSMART_CS_GRANTED:

        if (cr->redis.type != REDIS_REPLY_INTEGER || cr->redis.integer != 1) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: consent %s granted to %s for %s",
                      cr->consent->id, cr->consent->requester.department,
                      cr->consent->purpose_code);

        cr->id.data = (u_char *) cr->consent->id;
        cr->id.len = ngx_strlen(cr->consent->id);

        item = json_pack("{s:s, s:s}", "id", cr->consent->id,
                         "status", "ACTIVE");

        if (item != NULL
            && ngx_http_iamsmart_consent_artefact(r, cr, item) != NGX_OK)
        {
            json_decref(item);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* back to the requesting service, with the proof of consent */
        if (cr->return_url.len && item != NULL
            && !ngx_http_iamsmart_wants_json(r))
        {
            return ngx_http_iamsmart_consent_return(r, cr, item);
        }

        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_CREATED,
                                                item);

    case NGX_HTTP_IAMSMART_CS_CHANGE_START:

        argv[0] = "GET";
        argvlen[0] = 3;
        argv[1] = (char *) cr->record_key.data;
        argvlen[1] = cr->record_key.len;

        return ngx_http_iamsmart_consent_wait(r, cr,
                                           NGX_HTTP_IAMSMART_CS_CHANGE_READ,
                                           2, argv, argvlen);

    case NGX_HTTP_IAMSMART_CS_CHANGE_READ:

        if (cr->redis.type != REDIS_REPLY_STRING) {
            return ngx_http_iamsmart_consent_answer(r, cr,
                                                    NGX_HTTP_NOT_FOUND,
                       json_pack("{s:s}", "error", "no such consent"));
        }

        text = cr->redis.str;

        if (ngx_http_iamsmart_consent_load(r, cr, &text) != NGX_OK) {
            return ngx_http_iamsmart_consent_answer(r, cr,
                                                    NGX_HTTP_NOT_FOUND,
                       json_pack("{s:s}", "error", "no such consent"));
        }

        cr->old_text = text;

        return ngx_http_iamsmart_consent_change(r, cr);

    default: /* NGX_HTTP_IAMSMART_CS_CHANGED */

        if (cr->redis.type != REDIS_REPLY_INTEGER) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (cr->redis.integer != 1) {

            /* changed meanwhile (an exchange never writes the record, so
             * another state change did): read again and decide again */

            if (++cr->retries > 3) {
                return ngx_http_iamsmart_consent_answer(r, cr,
                                                        NGX_HTTP_CONFLICT,
                           json_pack("{s:s}", "error", "try again"));
            }

            cr->step = NGX_HTTP_IAMSMART_CS_CHANGE_START;
            return ngx_http_iamsmart_consent_step(r, cr);
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: consent %V: %V", &cr->id, &cr->action);

        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_OK,
                   json_pack("{s:s%, s:s}", "id", cr->id.data, cr->id.len,
                             "status",
                             iams_consent_status_name(cr->consent->status)));
    }
}


static ngx_int_t
ngx_http_iamsmart_consent_load(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_str_t *text)
{
    iams_err             err;
    iams_consent        *c;
    ngx_pool_cleanup_t  *cln;

    if (iams_consent_parse((char *) text->data, text->len, &c, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: stored consent rejected: %s", err.detail);
        return NGX_ERROR;
    }

    /* a citizen sees and changes only their own consents */
    if (!iams_consent_citizen_is(c, cr->citizen, IAMS_PAIRWISE_SUB_LEN)) {
        iams_consent_free(c);
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        iams_consent_free(c);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_iamsmart_consent_cleanup;
    cln->data = c;
    cr->consent = c;

    return NGX_OK;
}


static void
ngx_http_iamsmart_consent_cleanup(void *data)
{
    iams_consent_free(data);
}


/* pause, resume or revoke: compare-and-set on the text read */
static ngx_int_t
ngx_http_iamsmart_consent_change(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr)
{
    char             *text;
    size_t            len, argvlen[6];
    iams_err          err;
    ngx_int_t         rc;
    const char       *argv[6];
    iams_consent_tx   tx;

    if (cr->action.data[0] == 'p') {
        tx = iams_consent_pause(cr->consent, ngx_time());

    } else if (cr->action.data[2] == 's') {
        tx = iams_consent_resume(cr->consent, ngx_time());

    } else {
        tx = iams_consent_revoke(cr->consent, ngx_time());
    }

    if (tx != IAMS_CONSENT_TX_OK) {
        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_CONFLICT,
                   json_pack("{s:s, s:s}", "error", iams_consent_tx_str(tx),
                             "status",
                             iams_consent_status_name(
                                 iams_consent_effective_status(cr->consent,
                                                               ngx_time()))));
    }

    if (iams_consent_serialize(cr->consent, &text, &len, &err) != IAMS_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = NGX_HTTP_IAMSMART_CAS_SCRIPT;
    argvlen[1] = sizeof(NGX_HTTP_IAMSMART_CAS_SCRIPT) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (char *) cr->record_key.data;
    argvlen[3] = cr->record_key.len;
    argv[4] = (char *) cr->old_text.data;
    argvlen[4] = cr->old_text.len;
    argv[5] = text;
    argvlen[5] = len;

    rc = ngx_http_iamsmart_consent_wait(r, cr, NGX_HTTP_IAMSMART_CS_CHANGED,
                                        6, argv, argvlen);
    free(text);

    return rc;
}


/* ---- the consent page and the grant ---- */


/* Terms from the requesting service's link, checked by core on grant. */
static json_t *
ngx_http_iamsmart_consent_terms(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_str_t *form, ngx_str_t *error)
{
    u_char                          *p, *last, *comma;
    char                             sub[IAMS_PAIRWISE_SUB_LEN + 1];
    json_t                          *terms, *sources, *src, *items;
    int64_t                          days, uses, life;
    iams_err                         err;
    ngx_str_t                        requester, service, purpose, en, zh,
                                     list, v, item;
    ngx_uint_t                       i;
    ngx_http_iamsmart_department_t  *dept, *rdept;

    if (ngx_http_iamsmart_form_value(r, form, "requester", &requester)
           != NGX_OK
        || ngx_http_iamsmart_form_value(r, form, "service", &service)
           != NGX_OK
        || ngx_http_iamsmart_form_value(r, form, "purpose", &purpose)
           != NGX_OK
        || ngx_http_iamsmart_form_value(r, form, "purpose_en", &en) != NGX_OK
        || ngx_http_iamsmart_form_value(r, form, "purpose_zh", &zh) != NGX_OK
        || ngx_http_iamsmart_form_value(r, form, "items", &list) != NGX_OK)
    {
        ngx_str_set(error, "requester, service, purpose, purpose_en, "
                           "purpose_zh and items are required");
        return NULL;
    }

    days = 90;
    uses = 0;
    life = 0;

    if (ngx_http_iamsmart_form_value(r, form, "days", &v) == NGX_OK) {
        days = ngx_atoi(v.data, v.len);
    }

    if (ngx_http_iamsmart_form_value(r, form, "max_uses", &v) == NGX_OK) {
        uses = ngx_atoi(v.data, v.len);
    }

    if (ngx_http_iamsmart_form_value(r, form, "data_life_days", &v)
        == NGX_OK)
    {
        life = ngx_atoi(v.data, v.len);
    }

    if (days < 1 || days > 5 * 365 || uses < 0 || life < 0
        || life > 10 * 365)
    {
        ngx_str_set(error, "days, max_uses or data_life_days out of range");
        return NULL;
    }

    rdept = ngx_http_iamsmart_find_department(cr->mcf, &requester);
    if (rdept == NULL
        || iams_pairwise_subject(cr->mcf->keyring, (char *) rdept->ns.data,
                                 rdept->ns.len, cr->ctx->session->open_id,
                                 ngx_strlen(cr->ctx->session->open_id), sub,
                                 &err)
           != IAMS_OK)
    {
        ngx_str_set(error, "unknown requesting department");
        return NULL;
    }

    sources = json_array();
    terms = json_pack("{s:{s:s%, s:s%, s:s}, s:o, s:{s:s%, s:{s:s%, s:s%}},"
                      " s:I, s:I, s:I}",
                      "requester", "department", rdept->name.data,
                      rdept->name.len, "service", service.data, service.len,
                      "subject", sub,
                      "sources", sources,
                      "purpose", "code", purpose.data, purpose.len,
                      "text", "en", en.data, en.len, "zh-HK", zh.data, zh.len,
                      "expires", (json_int_t) (ngx_time() + days * 86400),
                      "max_uses", (json_int_t) uses,
                      "data_life", (json_int_t) (life * 86400));
    if (terms == NULL) {
        ngx_str_set(error, "invalid terms");
        return NULL;
    }

    /* each item's source is the department whose adapter provides it */

    p = list.data;
    last = p + list.len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        item.data = p;
        item.len = (comma ? comma : last) - p;
        p = comma ? comma + 1 : last;

        if (item.len == 0) {
            continue;
        }

        dept = ngx_http_iamsmart_department_of_dataset(cr->mcf, &item);

        if (dept == NULL) {
            json_decref(terms);
            ngx_str_set(error, "an item no department provides");
            return NULL;
        }

        src = NULL;

        for (i = 0; i < json_array_size(sources); i++) {
            v.data = (u_char *) json_string_value(
                         json_object_get(json_array_get(sources, i),
                                         "department"));
            if (ngx_strlen(v.data) == dept->name.len
                && ngx_strncmp(v.data, dept->name.data, dept->name.len) == 0)
            {
                src = json_array_get(sources, i);
                break;
            }
        }

        if (src == NULL) {
            if (iams_pairwise_subject(cr->mcf->keyring,
                                      (char *) dept->ns.data, dept->ns.len,
                                      cr->ctx->session->open_id,
                                      ngx_strlen(cr->ctx->session->open_id),
                                      sub, &err)
                != IAMS_OK)
            {
                json_decref(terms);
                return NULL;
            }

            src = json_pack("{s:s%, s:s, s:[]}", "department",
                            dept->name.data, dept->name.len, "subject", sub,
                            "items");
            if (src == NULL || json_array_append_new(sources, src) != 0) {
                json_decref(terms);
                return NULL;
            }
        }

        items = json_object_get(src, "items");
        json_array_append_new(items, json_stringn((char *) item.data,
                                                  item.len));
    }

    return terms;
}


static ngx_int_t
ngx_http_iamsmart_consent_grant(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_str_t *form)
{
    char                *text;
    size_t               len, argvlen[7];
    json_t              *terms;
    iams_err             err;
    ngx_int_t            rc;
    ngx_str_t            error, id, index;
    iams_status          st;
    const char          *argv[7];
    iams_consent        *c;
    ngx_pool_cleanup_t  *cln;

    terms = ngx_http_iamsmart_consent_terms(r, cr, form, &error);

    if (terms == NULL) {
        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:s, s:s%}", "error", "invalid_terms",
                             "error_description", error.data, error.len));
    }

    st = iams_consent_create(terms, cr->citizen, IAMS_PAIRWISE_SUB_LEN,
                             ngx_time(), &c, &err);
    json_decref(terms);

    if (ngx_http_iamsmart_form_value(r, form, "return", &cr->return_url)
        != NGX_OK)
    {
        ngx_str_null(&cr->return_url);
    }

    if (st != IAMS_OK) {
        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:s, s:s}", "error", "invalid_terms",
                             "error_description", err.detail));
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        iams_consent_free(c);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_iamsmart_consent_cleanup;
    cln->data = c;
    cr->consent = c;

    id.data = (u_char *) c->id;
    id.len = ngx_strlen(c->id);

    if (ngx_http_iamsmart_consent_key(r->pool, &id, "", &cr->record_key)
        != NGX_OK
        || ngx_http_iamsmart_index_key(r->pool, cr->citizen, &index) != NGX_OK
        || iams_consent_serialize(c, &text, &len, &err) != IAMS_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = NGX_HTTP_IAMSMART_GRANT_SCRIPT;
    argvlen[1] = sizeof(NGX_HTTP_IAMSMART_GRANT_SCRIPT) - 1;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = (char *) cr->record_key.data;
    argvlen[3] = cr->record_key.len;
    argv[4] = (char *) index.data;
    argvlen[4] = index.len;
    argv[5] = text;
    argvlen[5] = len;
    argv[6] = c->id;
    argvlen[6] = id.len;

    rc = ngx_http_iamsmart_consent_wait(r, cr, NGX_HTTP_IAMSMART_CS_GRANTED,
                                        7, argv, argvlen);
    free(text);

    return rc;
}


static ngx_int_t
ngx_http_iamsmart_consent_page(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr)
{
    u_char                     *p, *q, csrf[NGX_HTTP_IAMSMART_CSRF_LEN];
    size_t                      len;
    json_t                     *terms, *src, *it;
    ngx_tm_t                    tm;
    ngx_str_t                   args, error;
    ngx_uint_t                  i, j;
    ngx_http_complex_value_t    cv;
    ngx_str_t                   html = ngx_string("text/html; charset=utf-8");

    /* the form's fields are the link's query, shown, then posted back */
    args = r->args;

    terms = ngx_http_iamsmart_consent_terms(r, cr, &args, &error);

    if (terms == NULL) {
        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:s, s:s%}", "error", "invalid_terms",
                             "error_description", error.data, error.len));
    }

    if (ngx_http_iamsmart_json_add_cleanup(r->pool, terms) != NGX_OK
        || ngx_http_iamsmart_csrf_token(r, cr, csrf) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 8192 + 6 * (args.len + 4096);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value.data = p;

#define NGX_HTTP_IAMSMART_ESC(s)                                             \
    q = (u_char *) (s);                                                      \
    p = (u_char *) ngx_escape_html(p, q, ngx_strlen(q))

    p = ngx_sprintf(p, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                    "<meta charset=\"utf-8\"><title>iAM Smart consent"
                    "</title></head><body>\n<h1>Share your data / "
                    "分享你的資料</h1>\n<p>Requested by / 要求部門: <b>");
    NGX_HTTP_IAMSMART_ESC(json_string_value(json_object_get(
        json_object_get(terms, "requester"), "department")));
    p = ngx_cpymem(p, "</b> (", 6);
    NGX_HTTP_IAMSMART_ESC(json_string_value(json_object_get(
        json_object_get(terms, "requester"), "service")));
    p = ngx_cpymem(p, ")</p>\n<p>Purpose: ", 18);
    NGX_HTTP_IAMSMART_ESC(json_string_value(json_object_get(json_object_get(
        json_object_get(terms, "purpose"), "text"), "en")));
    p = ngx_sprintf(p, "</p>\n<p lang=\"zh-HK\">目的：");
    NGX_HTTP_IAMSMART_ESC(json_string_value(json_object_get(json_object_get(
        json_object_get(terms, "purpose"), "text"), "zh-HK")));
    p = ngx_sprintf(p, "</p>\n<p>Data, and the department that holds it / "
                    "資料及持有部門:</p>\n<ul>\n");

    json_array_foreach(json_object_get(terms, "sources"), i, src) {
        json_array_foreach(json_object_get(src, "items"), j, it) {
            p = ngx_cpymem(p, "<li>", 4);
            NGX_HTTP_IAMSMART_ESC(json_string_value(it));
            p = ngx_cpymem(p, " &mdash; ", 9);
            NGX_HTTP_IAMSMART_ESC(json_string_value(json_object_get(src,
                                                          "department")));
            p = ngx_cpymem(p, "</li>\n", 6);
        }
    }

    ngx_gmtime((time_t) json_integer_value(json_object_get(terms, "expires")),
               &tm);

    p = ngx_sprintf(p, "</ul>\n<p>Valid until / 有效期至: %4d-%02d-%02d "
                    "(UTC)</p>\n<form method=\"post\" action=\"%V\">\n"
                    "<input type=\"hidden\" name=\"csrf\" value=\"%*s\">\n",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    &cr->prefix, (size_t) NGX_HTTP_IAMSMART_CSRF_LEN, csrf);

    /* the terms travel back exactly as shown */
    p = ngx_cpymem(p, "<input type=\"hidden\" name=\"terms\" value=\"", 41);
    p = (u_char *) ngx_escape_html(p, args.data, args.len);
    p = ngx_sprintf(p, "\">\n<button type=\"submit\">I agree / 我同意"
                    "</button>\n</form>\n</body></html>\n");

#undef NGX_HTTP_IAMSMART_ESC

    cv.value.len = p - cv.value.data;

    return ngx_http_send_response(r, NGX_HTTP_OK, &html, &cv);
}


/* ---- helpers ---- */


/*
 * The signed artefact (iams_consent_sign, with the gateway's first signing
 * key) the requester keeps as proof; omitted when no key is configured.
 */
static ngx_int_t
ngx_http_iamsmart_consent_artefact(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, json_t *out)
{
    char                             *jws;
    size_t                            len;
    iams_err                          err;
    ngx_http_iamsmart_signing_key_t  *key;

    if (cr->mcf->signing_keys == NULL) {
        return NGX_OK;
    }

    key = cr->mcf->signing_keys->elts;

    if (iams_consent_sign(cr->consent, key[0].key, key[0].alg,
                          (char *) key[0].kid.data,
                          (char *) cr->mcf->issuer.data, &jws, &len, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: consent artefact not signed: %s",
                      err.detail);
        return NGX_ERROR;
    }

    json_object_set_new(out, "artefact", json_stringn(jws, len));
    free(jws);

    return NGX_OK;
}


/*
 * 303 to the requesting department's page with ?consent=&artefact=; only
 * to an address under the department's audience URL, never elsewhere.
 */
static ngx_int_t
ngx_http_iamsmart_consent_return(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, json_t *item)
{
    u_char                          *p;
    size_t                           len;
    ngx_str_t                        to, name;
    const char                      *artefact;
    ngx_http_iamsmart_department_t  *dept;

    name.data = (u_char *) cr->consent->requester.department;
    name.len = ngx_strlen(cr->consent->requester.department);
    dept = ngx_http_iamsmart_find_department(cr->mcf, &name);

    artefact = json_string_value(json_object_get(item, "artefact"));

    if (dept == NULL
        || dept->audience.len < 9
        || ngx_strncmp(dept->audience.data, "https://", 8) != 0
        || cr->return_url.len <= dept->audience.len
        || ngx_strncmp(cr->return_url.data, dept->audience.data,
                       dept->audience.len) != 0
        || cr->return_url.data[dept->audience.len] != '/'
        || ngx_strlchr(cr->return_url.data,
                       cr->return_url.data + cr->return_url.len, '#')
        || ngx_strlchr(cr->return_url.data,
                       cr->return_url.data + cr->return_url.len, '\\'))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: consent return address refused: not under "
                      "the requesting department's audience URL");
        return ngx_http_iamsmart_consent_answer(r, cr, NGX_HTTP_CREATED,
                                                item);
    }

    len = cr->return_url.len + sizeof("?consent=&artefact=")
          + ngx_strlen(cr->consent->id) + (artefact ? ngx_strlen(artefact)
                                                    : 0);
    to.data = ngx_pnalloc(r->pool, len);
    if (to.data == NULL) {
        json_decref(item);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(to.data, cr->return_url.data, cr->return_url.len);
    p = ngx_sprintf(p, "%sconsent=%s",
                    ngx_strlchr(cr->return_url.data,
                                cr->return_url.data + cr->return_url.len, '?')
                    ? "&" : "?", cr->consent->id);

    if (artefact) {
        p = ngx_sprintf(p, "&artefact=%s", artefact);
    }

    to.len = p - to.data;
    json_decref(item);

    for (p = to.data; p < to.data + to.len; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    if (ngx_http_iamsmart_redirect(r, &to) != NGX_HTTP_MOVED_TEMPORARILY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_SEE_OTHER;
}


/* Which department holds which data sets, from the adapters' metadata. */
json_t *
ngx_http_iamsmart_holders(ngx_http_iamsmart_main_conf_t *mcf)
{
    size_t                        len;
    json_t                       *holders, *d, *sets, *set;
    ngx_uint_t                    i, j;
    const char                   *text;
    ngx_http_iamsmart_adapter_t  *a;

    holders = json_array();

    if (holders == NULL || mcf->adapters == NULL) {
        return holders;
    }

    a = mcf->adapters->elts;

    for (i = 0; i < mcf->adapters->nelts; i++) {
        text = iams_adapter_describe_json(a[i].adapter, &len);
        d = text ? json_loadb(text, len, 0, NULL) : NULL;

        if (d == NULL) {
            continue;
        }

        sets = json_array();

        json_array_foreach(json_object_get(d, "datasets"), j, set) {
            json_array_append_new(sets, json_pack("{s:O, s:O}",
                                      "id", json_object_get(set, "id"),
                                      "name", json_object_get(set, "name")));
        }

        json_array_append_new(holders, json_pack("{s:O, s:o}",
                                  "department", json_object_get(d,
                                                             "department"),
                                  "datasets", sets));
        json_decref(d);
    }

    return holders;
}


static ngx_int_t
ngx_http_iamsmart_consent_answer(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, ngx_uint_t status, json_t *body)
{
    u_char     *p;
    ngx_str_t   location;

    /* a browser that granted or changed goes to the consent's page */
    if (r->method == NGX_HTTP_POST && !ngx_http_iamsmart_wants_json(r)
        && (status == NGX_HTTP_OK || status == NGX_HTTP_CREATED)
        && cr->id.len)
    {
        json_decref(body);

        location.len = cr->prefix.len + cr->id.len;
        location.data = ngx_pnalloc(r->pool, location.len);
        if (location.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(location.data, cr->prefix.data, cr->prefix.len);
        ngx_memcpy(p, cr->id.data, cr->id.len);

        if (ngx_http_iamsmart_redirect(r, &location)
            != NGX_HTTP_MOVED_TEMPORARILY)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_SEE_OTHER;
    }

    return ngx_http_iamsmart_send_json(r, status, body);
}


/* Tied to the session: a page from one session cannot act in another. */
static ngx_int_t
ngx_http_iamsmart_csrf_token(ngx_http_request_t *r,
    ngx_http_iamsmart_consent_req_t *cr, u_char *out)
{
    u_char              mac[EVP_MAX_MD_SIZE];
    unsigned int        len;
    const iams_subkey  *key;

    key = iams_keyring_key(cr->mcf->keyring, IAMS_KEY_STATE_COOKIE,
                           IAMS_KEY_CURRENT);

    if (key == NULL
        || HMAC(EVP_sha256(), key->key, IAMS_SUBKEY_LEN,
                (u_char *) cr->ctx->session_key, cr->ctx->session_key_len,
                mac, &len) == NULL)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(out, mac, NGX_HTTP_IAMSMART_CSRF_LEN / 2);

    return NGX_OK;
}


/*
 * One value of an application/x-www-form-urlencoded text, decoded into
 * r->pool.  A form that carries "terms" (the consent page) is read
 * through it.
 */
static ngx_int_t
ngx_http_iamsmart_form_value(ngx_http_request_t *r, ngx_str_t *form,
    const char *name, ngx_str_t *value)
{
    u_char     *p, *last, *amp, *eq, *dst, *src;
    size_t      n;
    ngx_str_t   terms;

    n = ngx_strlen(name);
    p = form->data;
    last = p + form->len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');

        if (eq != NULL && (size_t) (eq - p) == n
            && ngx_strncmp(p, name, n) == 0)
        {
            value->data = ngx_pnalloc(r->pool, amp - eq);
            if (value->data == NULL) {
                return NGX_ERROR;
            }

            /* '+' is a space in forms, which ngx_unescape_uri leaves */
            for (dst = value->data, src = eq + 1; src < amp; src++) {
                *dst++ = (*src == '+') ? ' ' : *src;
            }

            /* in place: the decoded text is never longer */
            dst = value->data;
            src = value->data;
            ngx_unescape_uri(&dst, &src, amp - eq - 1, 0);
            value->len = dst - value->data;

            return value->len ? NGX_OK : NGX_DECLINED;
        }

        p = amp + 1;
    }

    if (ngx_strcmp(name, "terms") != 0 && ngx_strcmp(name, "csrf") != 0
        && ngx_http_iamsmart_form_value(r, form, "terms", &terms) == NGX_OK)
    {
        return ngx_http_iamsmart_form_value(r, &terms, name, value);
    }

    return NGX_DECLINED;
}
