
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * The Consented Data Exchange endpoint ("iamsmart_exchange"), for
 * requesting departments, server to server:
 *
 *   POST /exchange
 *   Authorization: Bearer <a JWT the department signs with its registered
 *                          key: iss = sub = its department name, aud = the
 *                          gateway's issuer, exp at most 5 minutes ahead>
 *   {"consent": "<id>", "subject": "<the requester's pairwise subject>",
 *    "service": "td.idp", "purpose": "<code>",
 *    "items": ["immd.travel_records"]}
 *
 * Steps: authenticate the department; read the consent and its counters;
 * iams_consent_check (requester, subject, status, time, purpose, every
 * item); count the use atomically (the use script), so racing requests
 * never exceed a limit; call every source department's adapter at once;
 * answer with canonical data in which every field names its source and
 * freshness.  Every decision is audited before the answer leaves: one
 * record per source released, one per denial, to the Redis stream, the
 * JSON-lines file, the consent's usage list and the citizen's history.
 * A denial answers 403 with the reason and no data at all.
 */


#include "ngx_http_iamsmart.h"

#include <iamsmart/audit.h>
#include <iamsmart/consent.h>
#include <iamsmart/random.h>


#define NGX_HTTP_IAMSMART_EXCHANGE_BODY_MAX   16384
#define NGX_HTTP_IAMSMART_CREDENTIAL_MAX_AGE  300
#define NGX_HTTP_IAMSMART_AUDIT_STREAM                                       \
    NGX_HTTP_IAMSMART_REDIS_PREFIX "audit:v1"


static void ngx_http_iamsmart_exchange_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_exchange_start(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex);
static ngx_int_t ngx_http_iamsmart_exchange_step(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex);
static void ngx_http_iamsmart_exchange_resume(ngx_http_request_t *r);
static ngx_http_iamsmart_department_t *ngx_http_iamsmart_exchange_client(
    ngx_http_request_t *r, ngx_http_iamsmart_main_conf_t *mcf);
static ngx_int_t ngx_http_iamsmart_exchange_deny(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex, const char *reason);
static ngx_int_t ngx_http_iamsmart_exchange_sources(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex);
static ngx_int_t ngx_http_iamsmart_exchange_finish(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex);
static void ngx_http_iamsmart_exchange_log_push(ngx_str_t *key,
    const iams_audit_record *rec, const char *keep);
static ngx_int_t ngx_http_iamsmart_exchange_audit(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex, ngx_uint_t last,
    const iams_audit_event *ev);
static ngx_int_t ngx_http_iamsmart_exchange_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex, ngx_http_iamsmart_ex_step_e next,
    int argc, const char **argv, const size_t *argvlen);
static void ngx_http_iamsmart_exchange_cleanup(void *data);


ngx_int_t
ngx_http_iamsmart_exchange_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_iamsmart_ctx_t       *ctx;
    ngx_http_iamsmart_exchange_t  *ex;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    ctx = ngx_http_iamsmart_get_ctx(r);
    ex = ngx_pcalloc(r->pool, sizeof(ngx_http_iamsmart_exchange_t));

    if (ctx == NULL || ex == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ex->mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);
    ctx->exchange = ex;

    ex->requester = ngx_http_iamsmart_exchange_client(r, ex->mcf);

    if (ex->requester == NULL) {
        return ngx_http_iamsmart_send_json(r, NGX_HTTP_UNAUTHORIZED,
                   json_pack("{s:s, s:s}", "error", "invalid_client",
                             "error_description",
                             "a department credential is required"));
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_iamsmart_exchange_body);

    return rc >= NGX_HTTP_SPECIAL_RESPONSE ? rc : NGX_DONE;
}


/*
 * The requesting department, from its signed credential, or NULL (logged
 * at info, the reason never echoed to the caller).
 */
static ngx_http_iamsmart_department_t *
ngx_http_iamsmart_exchange_client(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf)
{
    u_char                           *p, *last;
    json_t                           *claims, *iss, *exp, *iat;
    iams_jws                          jws;
    iams_err                          err;
    ngx_str_t                         token, name;
    iams_status                       st;
    iams_jwt_policy                   policy;
    const char                       *aud[1];
    ngx_http_iamsmart_department_t   *dept;

    if (r->headers_in.authorization == NULL) {
        return NULL;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if (last - p < 8 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0) {
        return NULL;
    }

    token.data = p + 7;
    token.len = last - p - 7;

    if (iams_jws_parse((char *) token.data, token.len, &jws, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: exchange credential rejected: %s",
                      err.detail);
        return NULL;
    }

    claims = NULL;
    dept = NULL;

    if (iams_jwt_claims(&jws, &claims, &err) != IAMS_OK) {
        goto done;
    }

    iss = json_object_get(claims, "iss");
    exp = json_object_get(claims, "exp");
    iat = json_object_get(claims, "iat");

    if (!json_is_string(iss) || !json_is_number(exp) || !json_is_number(iat)
        || json_number_value(exp) - json_number_value(iat)
           > NGX_HTTP_IAMSMART_CREDENTIAL_MAX_AGE
        || !json_equal(iss, json_object_get(claims, "sub")))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: exchange credential needs iss = sub, iat "
                      "and an exp at most 300 s after iat");
        goto done;
    }

    name.data = (u_char *) json_string_value(iss);
    name.len = json_string_length(iss);

    dept = ngx_http_iamsmart_find_department(mcf, &name);

    if (dept == NULL || dept->client_keys == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: exchange credential from \"%V\", which has "
                      "no client_keys", &name);
        dept = NULL;
        goto done;
    }

    aud[0] = (char *) mcf->issuer.data;

    ngx_memzero(&policy, sizeof(iams_jwt_policy));
    policy.audiences = aud;
    policy.naudiences = 1;
    policy.leeway = 30;

    st = iams_jws_verify(&jws, dept->client_keys, IAMS_ALG_SET_ALL, NULL,
                         &err);

    if (st == IAMS_OK) {
        st = iams_jwt_check(claims, &policy, ngx_time(), &err);
    }

    if (st != IAMS_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: exchange credential of \"%V\" rejected: %s",
                      &name, iams_status_str(st));
        dept = NULL;
    }

done:

    json_decref(claims);
    iams_jws_clear(&jws);

    return dept;
}


static void
ngx_http_iamsmart_exchange_body(ngx_http_request_t *r)
{
    u_char                        *p;
    size_t                         len;
    iams_err                       err;
    ngx_chain_t                   *cl;
    ngx_http_iamsmart_ctx_t       *ctx;
    ngx_http_iamsmart_exchange_t  *ex;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    ex = ctx->exchange;

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        if (!ngx_buf_in_memory(cl->buf) && ngx_buf_size(cl->buf) > 0) {
            ngx_http_finalize_request(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
            return;
        }

        len += ngx_buf_size(cl->buf);
    }

    if (len == 0 || len > NGX_HTTP_IAMSMART_EXCHANGE_BODY_MAX) {
        ngx_http_finalize_request(r,
            ngx_http_iamsmart_send_json(r, NGX_HTTP_BAD_REQUEST,
                json_pack("{s:s}", "error", "a JSON body of at most 16 KiB "
                                            "is required")));
        return;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        ngx_memcpy(p + len, cl->buf->pos, cl->buf->last - cl->buf->pos);
        len += cl->buf->last - cl->buf->pos;
    }

    ex->body = iams_json_parse_object((char *) p, len,
                                      NGX_HTTP_IAMSMART_EXCHANGE_BODY_MAX,
                                      &err);

    if (ex->body == NULL
        || ngx_http_iamsmart_json_add_cleanup(r->pool, ex->body) != NGX_OK)
    {
        ex->body = NULL;
        ngx_http_finalize_request(r,
            ngx_http_iamsmart_send_json(r, NGX_HTTP_BAD_REQUEST,
                json_pack("{s:s, s:s}", "error", "invalid_request",
                          "error_description", err.detail)));
        return;
    }

    ngx_http_finalize_request(r, ngx_http_iamsmart_exchange_start(r, ex));
}


static ngx_int_t
ngx_http_iamsmart_exchange_span(json_t *obj, const char *name, ngx_str_t *s,
    size_t max)
{
    json_t  *v;

    v = json_object_get(obj, name);

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) > max)
    {
        return NGX_ERROR;
    }

    s->data = (u_char *) json_string_value(v);
    s->len = json_string_length(v);

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_exchange_start(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex)
{
    size_t   i;
    json_t  *items, *it;

    items = json_object_get(ex->body, "items");

    if (ngx_http_iamsmart_exchange_span(ex->body, "consent", &ex->consent_id,
                                        IAMS_CONSENT_ID_LEN) != NGX_OK
        || ngx_http_iamsmart_exchange_span(ex->body, "subject", &ex->subject,
                                           IAMS_CONSENT_REF_MAX) != NGX_OK
        || ngx_http_iamsmart_exchange_span(ex->body, "service", &ex->service,
                                           IAMS_CONSENT_SERVICE_MAX) != NGX_OK
        || ngx_http_iamsmart_exchange_span(ex->body, "purpose", &ex->purpose,
                                           IAMS_CONSENT_PURPOSE_CODE_MAX)
           != NGX_OK
        || !json_is_array(items) || json_array_size(items) == 0
        || json_array_size(items) > IAMS_CONSENT_ITEMS_MAX)
    {
        return ngx_http_iamsmart_send_json(r, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:s, s:s}", "error", "invalid_request",
                             "error_description",
                             "consent, subject, service, purpose (strings) "
                             "and items (1 to 32 strings) are required"));
    }

    ex->nitems = json_array_size(items);
    ex->items = ngx_palloc(r->pool, ex->nitems * sizeof(iams_span));
    if (ex->items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_array_foreach(items, i, it) {
        if (!json_is_string(it)
            || !iams_consent_item_ok(json_string_value(it),
                                     json_string_length(it)))
        {
            return ngx_http_iamsmart_send_json(r, NGX_HTTP_BAD_REQUEST,
                       json_pack("{s:s, s:s}", "error", "invalid_request",
                                 "error_description", "an invalid item"));
        }

        ex->items[i].data = json_string_value(it);
        ex->items[i].len = json_string_length(it);
    }

    return ngx_http_iamsmart_exchange_run(r, ex);
}


/*
 * Runs an exchange whose requester, consent id, subject, service, purpose
 * and items are set: NGX_DONE while it waits (count raised), else the
 * answer's rc.  With ex->done set, the answer goes to it instead.
 */
ngx_int_t
ngx_http_iamsmart_exchange_run(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex)
{
    size_t                    argvlen[4];
    iams_err                  err;
    ngx_str_t                 uses, lastk;
    const char               *argv[4];
    u_char                    raw[16];
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    ctx->exchange = ex;
    ex->redis.resume = ngx_http_iamsmart_exchange_resume;

    if (iams_random_bytes(raw, sizeof(raw), &err) != IAMS_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump((u_char *) ex->request_id, raw, sizeof(raw));
    ex->request_id[32] = '\0';

    if (!iams_consent_id_ok((char *) ex->consent_id.data,
                            ex->consent_id.len))
    {
        return ngx_http_iamsmart_exchange_deny(r, ex,
                   iams_consent_reason_str(IAMS_CONSENT_NONE));
    }

    if (ngx_http_iamsmart_consent_key(r->pool, &ex->consent_id, "",
                                      &lastk) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "MGET";
    argvlen[0] = 4;
    argv[1] = (char *) lastk.data;
    argvlen[1] = lastk.len;

    if (ngx_http_iamsmart_consent_key(r->pool, &ex->consent_id, ":uses",
                                      &uses) != NGX_OK
        || ngx_http_iamsmart_consent_key(r->pool, &ex->consent_id, ":last",
                                         &lastk) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[2] = (char *) uses.data;
    argvlen[2] = uses.len;
    argv[3] = (char *) lastk.data;
    argvlen[3] = lastk.len;

    return ngx_http_iamsmart_exchange_wait(r, ex, NGX_HTTP_IAMSMART_EX_READ,
                                           4, argv, argvlen);
}


static ngx_int_t
ngx_http_iamsmart_exchange_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex, ngx_http_iamsmart_ex_step_e next,
    int argc, const char **argv, const size_t *argvlen)
{
    ex->step = next;

    return ngx_http_iamsmart_redis_await(r, &ex->redis, argc, argv, argvlen);
}


static void
ngx_http_iamsmart_exchange_resume(ngx_http_request_t *r)
{
    size_t                         i;
    ngx_http_iamsmart_ctx_t       *ctx;
    ngx_http_iamsmart_exchange_t  *ex;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    ex = ctx->exchange;

    if (ex->redis.waiting) {
        return;
    }

    if (ex->step == NGX_HTTP_IAMSMART_EX_SOURCES) {
        for (i = 0; i < ex->nsources; i++) {
            if (ex->sources[i].call.pending) {
                return;
            }
        }

        r->write_event_handler = ngx_http_request_empty_handler;
    }

    ngx_http_finalize_request(r, ngx_http_iamsmart_exchange_step(r, ex));
}


static ngx_int_t
ngx_http_iamsmart_exchange_step(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex)
{
    size_t                            i, n, argvlen[11];
    int64_t                           index, ttl;
    iams_err                          err;
    ngx_str_t                         uses, period, lastk;
    const char                       *argv[11];
    iams_consent                     *c;
    ngx_pool_cleanup_t               *cln;
    iams_consent_query                q;
    iams_consent_reason               reason;
    iams_consent_verdict              v;
    u_char                            num[4][NGX_INT64_LEN + 1];
    ngx_http_iamsmart_redis_value_t  *e;

    if (ex->redis.error != NULL) {
        return ngx_http_iamsmart_unavailable(r, ex->redis.error);
    }

    switch (ex->step) {

    case NGX_HTTP_IAMSMART_EX_READ:

        e = ex->redis.elements;

        if (ex->redis.nelements != 3 || e[0].type != REDIS_REPLY_STRING) {
            return ngx_http_iamsmart_exchange_deny(r, ex,
                       iams_consent_reason_str(IAMS_CONSENT_NONE));
        }

        if (iams_consent_parse((char *) e[0].str.data, e[0].str.len, &c,
                               &err)
            != IAMS_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "iamsmart: stored consent %V rejected: %s",
                          &ex->consent_id, err.detail);
            return ngx_http_iamsmart_exchange_deny(r, ex,
                       iams_consent_reason_str(IAMS_CONSENT_NONE));
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            iams_consent_free(c);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_iamsmart_exchange_cleanup;
        cln->data = c;
        ex->consent = c;

        iams_consent_set_usage(c, ngx_atoof(e[1].str.data, e[1].str.len),
                               ngx_atoof(e[2].str.data, e[2].str.len));

        if (ex->subset) {
            /* a form asks for what it could use: keep what is consented */
            for (i = 0, n = 0; i < ex->nitems; i++) {
                if (iams_consent_item_source(c, ex->items[i].data,
                                             ex->items[i].len) >= 0)
                {
                    ex->items[n++] = ex->items[i];
                }
            }

            ex->nitems = n;

            if (n == 0) {
                ex->status = NGX_HTTP_OK;
                ex->answer = NULL;
                return ex->done(r, ex->data);
            }
        }

        ngx_memzero(&q, sizeof(iams_consent_query));
        q.department.data = (char *) ex->requester->name.data;
        q.department.len = ex->requester->name.len;
        q.service.data = (char *) ex->service.data;
        q.service.len = ex->service.len;
        q.subject.data = (char *) ex->subject.data;
        q.subject.len = ex->subject.len;
        q.purpose.data = (char *) ex->purpose.data;
        q.purpose.len = ex->purpose.len;
        q.items = ex->items;
        q.nitems = ex->nitems;

        reason = iams_consent_check(c, &q, ngx_time(), &v);

        if (reason != IAMS_CONSENT_LIVE) {
            return ngx_http_iamsmart_exchange_deny(r, ex, v.text);
        }

        /* count the use before any data moves */

        iams_consent_period(c, ngx_time(), &index, &ttl);

        if (ngx_http_iamsmart_consent_key(r->pool, &ex->consent_id, ":uses",
                                          &uses) != NGX_OK
            || ngx_http_iamsmart_consent_key(r->pool, &ex->consent_id,
                                             ":last", &lastk) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_sprintf(num[0], ":w:%L", index) = '\0';

        if (ngx_http_iamsmart_consent_key(r->pool, &ex->consent_id,
                                          (char *) num[0], &period) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = IAMS_CONSENT_USE_SCRIPT;
        argvlen[1] = sizeof(IAMS_CONSENT_USE_SCRIPT) - 1;
        argv[2] = "3";
        argvlen[2] = 1;
        argv[3] = (char *) uses.data;
        argvlen[3] = uses.len;
        argv[4] = (char *) period.data;
        argvlen[4] = period.len;
        argv[5] = (char *) lastk.data;
        argvlen[5] = lastk.len;
        argv[6] = (char *) num[0];
        argvlen[6] = ngx_sprintf(num[0], "%L", c->max_uses) - num[0];
        argv[7] = (char *) num[1];
        argvlen[7] = ngx_sprintf(num[1], "%L", c->freq_max) - num[1];
        argv[8] = (char *) num[2];
        argvlen[8] = ngx_sprintf(num[2], "%L", ttl ? ttl : 1) - num[2];
        argv[9] = (char *) num[3];
        argvlen[9] = ngx_sprintf(num[3], "%T", ngx_time()) - num[3];

        return ngx_http_iamsmart_exchange_wait(r, ex,
                                               NGX_HTTP_IAMSMART_EX_COUNT,
                                               10, argv, argvlen);

    case NGX_HTTP_IAMSMART_EX_COUNT:

        e = ex->redis.elements;

        reason = iams_consent_use_verdict(ex->consent,
                     ex->redis.nelements == 2 ? e[0].integer : 0,
                     ex->redis.nelements == 2 ? e[1].integer : 0, &v);

        if (reason != IAMS_CONSENT_LIVE) {
            return ngx_http_iamsmart_exchange_deny(r, ex, v.text);
        }

        return ngx_http_iamsmart_exchange_sources(r, ex);

    case NGX_HTTP_IAMSMART_EX_SOURCES:
        return ngx_http_iamsmart_exchange_finish(r, ex);

    default: /* NGX_HTTP_IAMSMART_EX_AUDIT */

        if (ex->redis.type == REDIS_REPLY_ERROR) {
            return ngx_http_iamsmart_unavailable(r, "audit not written");
        }

        if (ex->done) {
            return ex->done(r, ex->data);
        }

        return ngx_http_iamsmart_send_json(r, ex->status, ex->answer);
    }
}


/* One source call per department that holds requested items, at once. */
static ngx_int_t
ngx_http_iamsmart_exchange_sources(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex)
{
    int                               src;
    size_t                            i, j, n;
    ngx_int_t                         rc;
    ngx_str_t                         dataset;
    iams_consent                     *c;
    ngx_http_iamsmart_source_call_t  *sc;

    c = ex->consent;

    ex->sources = ngx_pcalloc(r->pool, ex->nitems
                              * sizeof(ngx_http_iamsmart_source_call_t));
    if (ex->sources == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; i < ex->nitems; i++) {
        src = iams_consent_item_source(c, ex->items[i].data,
                                       ex->items[i].len);

        dataset.data = (u_char *) ex->items[i].data;
        dataset.len = ex->items[i].len;

        sc = &ex->sources[n];
        sc->dept = ngx_http_iamsmart_department_of_dataset(ex->mcf, &dataset);

        if (src < 0 || sc->dept == NULL) {
            /* an e-ME field or an item no adapter provides here */
            sc->status = NGX_HTTP_NOT_FOUND;
            sc->error = "unsupported";
            sc->query = dataset;
            n++;
            continue;
        }

        /* the source department knows the citizen by its own subject */
        {
            json_t  *q;
            char    *text;

            q = json_pack("{s:s%, s:s}", "dataset", dataset.data, dataset.len,
                          "subject", c->sources[src].subject);
            text = q ? json_dumps(q, JSON_COMPACT) : NULL;
            json_decref(q);

            if (text == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            sc->query.len = ngx_strlen(text);
            sc->query.data = ngx_pnalloc(r->pool, sc->query.len);

            if (sc->query.data == NULL) {
                free(text);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(sc->query.data, text, sc->query.len);
            free(text);
        }

        sc->call.resume = ngx_http_iamsmart_exchange_resume;

        rc = ngx_http_iamsmart_source_start(r, sc);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n++;
    }

    ex->nsources = n;
    ex->step = NGX_HTTP_IAMSMART_EX_SOURCES;

    for (j = 0; j < n; j++) {
        if (ex->sources[j].call.pending) {
            r->main->count++;
            return NGX_DONE;
        }
    }

    return ngx_http_iamsmart_exchange_finish(r, ex);
}


/* All sources answered: audit each, then answer. */
static ngx_int_t
ngx_http_iamsmart_exchange_finish(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex)
{
    size_t                            i, released;
    json_t                           *data, *errors, *hashes, *d;
    iams_err                          err;
    ngx_int_t                         rc;
    iams_span                         item;
    iams_audit_event                  ev;
    ngx_http_iamsmart_source_call_t  *sc;
    char                              sha[IAMS_AUDIT_SHA256_HEX_LEN + 1];

    data = json_object();
    errors = json_object();
    hashes = json_object();

    if (data == NULL || errors == NULL || hashes == NULL) {
        json_decref(data);
        json_decref(errors);
        json_decref(hashes);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    released = 0;

    for (i = 0; i < ex->nsources; i++) {
        sc = &ex->sources[i];

        if (sc->status == 0) {
            if (ngx_http_iamsmart_source_finish(r, sc) != NGX_OK) {
                sc->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
                sc->error = "internal";
            }
        }

        item = ex->items[i];

        ngx_memzero(&ev, sizeof(iams_audit_event));
        ev.time_ms = ngx_http_iamsmart_now_ms();
        ev.request_id.data = ex->request_id;
        ev.request_id.len = 32;
        ev.requester.data = (char *) ex->requester->name.data;
        ev.requester.len = ex->requester->name.len;
        ev.service.data = (char *) ex->service.data;
        ev.service.len = ex->service.len;
        ev.citizen.data = (char *) ex->subject.data;
        ev.citizen.len = ex->subject.len;
        ev.consent_id.data = (char *) ex->consent_id.data;
        ev.consent_id.len = ex->consent_id.len;
        ev.items = &item;
        ev.nitems = 1;

        if (sc->dept) {
            ev.source.data = (char *) sc->dept->name.data;
            ev.source.len = sc->dept->name.len;
        }

        if (sc->status == NGX_HTTP_OK) {
            d = iams_json_parse_object((char *) sc->data.data, sc->data.len,
                                       IAMS_ADAPTER_OUTPUT_MAX, &err);
            if (d == NULL) {
                sc->status = NGX_HTTP_BAD_GATEWAY;
                sc->error = "adapter_output";
            }
        }

        if (sc->status == NGX_HTTP_OK) {
            iams_audit_sha256_hex(sc->data.data, sc->data.len, sha);
            ev.outcome = IAMS_AUDIT_RELEASED;
            ev.sha256.data = sha;
            ev.sha256.len = IAMS_AUDIT_SHA256_HEX_LEN;

            /* the department can check its copy against the audit */
            json_object_set_new(hashes, item.data, json_string(sha));
            json_object_set_new(data, item.data, d);
            released++;

        } else {
            ev.outcome = IAMS_AUDIT_DENIED;
            ev.reason.data = sc->error ? sc->error : "source failed";
            ev.reason.len = ngx_strlen(ev.reason.data);

            json_object_set_new(errors, item.data,
                                sc->dept
                                ? ngx_http_iamsmart_source_error_json(sc)
                                : json_pack("{s:s, s:s}", "error",
                                            "unsupported",
                                            "error_description",
                                            "no department here provides "
                                            "this item by exchange"));
        }

        rc = ngx_http_iamsmart_exchange_audit(r, ex, i + 1 == ex->nsources,
                                              &ev);
        if (rc != NGX_OK) {
            json_decref(data);
            json_decref(errors);
            json_decref(hashes);
            return rc;
        }
    }

    /* nothing released: the sources' own status when they agree (504 for
     * timeouts, 404 for "no such record"), else 502 */
    ex->status = NGX_HTTP_OK;

    if (released == 0) {
        ex->status = ex->sources[0].status;

        for (i = 1; i < ex->nsources; i++) {
            if (ex->sources[i].status != ex->status) {
                ex->status = NGX_HTTP_BAD_GATEWAY;
            }
        }
    }
    ex->answer = json_pack("{s:s%, s:s, s:o, s:o, s:o}",
                           "consent", ex->consent_id.data, ex->consent_id.len,
                           "request_id", ex->request_id,
                           "items", data, "sha256", hashes,
                           "errors", errors);

    if (ex->answer == NULL
        || ngx_http_iamsmart_json_add_cleanup(r->pool, ex->answer) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_incref(ex->answer);

    r->main->count++;
    ex->step = NGX_HTTP_IAMSMART_EX_AUDIT;

    return NGX_DONE;
}


static ngx_int_t
ngx_http_iamsmart_exchange_deny(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex, const char *reason)
{
    ngx_int_t         rc;
    iams_audit_event  ev;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "iamsmart: exchange for \"%V\" denied: %s",
                  &ex->requester->name, reason);

    ngx_memzero(&ev, sizeof(iams_audit_event));
    ev.time_ms = ngx_http_iamsmart_now_ms();
    ev.request_id.data = ex->request_id;
    ev.request_id.len = ngx_strlen(ex->request_id);
    ev.requester.data = (char *) ex->requester->name.data;
    ev.requester.len = ex->requester->name.len;
    ev.service.data = (char *) ex->service.data;
    ev.service.len = ex->service.len;
    ev.citizen.data = (char *) ex->subject.data;
    ev.citizen.len = ex->subject.len;

    if (iams_consent_id_ok((char *) ex->consent_id.data, ex->consent_id.len)) {
        ev.consent_id.data = (char *) ex->consent_id.data;
        ev.consent_id.len = ex->consent_id.len;
    }

    ev.items = ex->items;
    ev.nitems = ex->nitems;
    ev.outcome = IAMS_AUDIT_DENIED;
    ev.reason.data = reason;
    ev.reason.len = ngx_strlen(reason);

    ex->status = NGX_HTTP_FORBIDDEN;
    ex->answer = json_pack("{s:s, s:s}", "error", "consent_denied",
                           "reason", reason);

    if (ex->answer == NULL
        || ngx_http_iamsmart_json_add_cleanup(r->pool, ex->answer) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_incref(ex->answer);

    rc = ngx_http_iamsmart_exchange_audit(r, ex, 1, &ev);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;
    ex->step = NGX_HTTP_IAMSMART_EX_AUDIT;

    return NGX_DONE;
}


/*
 * Prepends an audit line to a capped Redis list (keep: its last index).
 * Fire and forget: on the one connection they go ahead of the stream
 * entry, whose reply the last record of a request awaits.
 */
static void
ngx_http_iamsmart_exchange_log_push(ngx_str_t *key,
    const iams_audit_record *rec, const char *keep)
{
    size_t       argvlen[4];
    const char  *argv[4];

    argv[0] = "LPUSH";
    argvlen[0] = 5;
    argv[1] = (char *) key->data;
    argvlen[1] = key->len;
    argv[2] = rec->line;
    argvlen[2] = rec->line_len;
    (void) ngx_http_iamsmart_redis_send(3, argv, argvlen);

    argv[0] = "LTRIM";
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = keep;
    argvlen[3] = ngx_strlen(keep);
    (void) ngx_http_iamsmart_redis_send(4, argv, argvlen);
}


/*
 * One audit record: the Redis stream, the consent's usage list, the
 * citizen's history (by the requester's subject), the JSON-lines file.
 * The last record of a request is awaited before the answer leaves.
 */
static ngx_int_t
ngx_http_iamsmart_exchange_audit(ngx_http_request_t *r,
    ngx_http_iamsmart_exchange_t *ex, ngx_uint_t last,
    const iams_audit_event *ev)
{
    u_char             *line;
    size_t              i, n, argvlen[4 + 2 * IAMS_AUDIT_NFIELDS];
    iams_err            err;
    ngx_int_t           rc;
    ngx_str_t           key;
    const char         *argv[4 + 2 * IAMS_AUDIT_NFIELDS];
    iams_audit_record   rec;

    if (iams_audit_build(ev, &rec, &err) != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: audit record not built: %s", err.detail);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ex->mcf->audit_file != NULL) {
        line = ngx_pnalloc(r->pool, rec.line_len + 1);
        if (line == NULL) {
            iams_audit_record_clear(&rec);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(line, rec.line, rec.line_len);
        line[rec.line_len] = '\n';

        /* like access_log: one write(2) of one line, O_APPEND */
        if (ngx_write_fd(ex->mcf->audit_file->fd, line, rec.line_len + 1)
            != (ssize_t) (rec.line_len + 1))
        {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                          "iamsmart: audit file write failed");
        }
    }

    /* only an existing consent gets a usage list (no keys on demand) */
    if (ev->consent_id.data != NULL && ex->consent != NULL) {
        if (ngx_http_iamsmart_consent_key(r->pool, &ex->consent_id, ":log",
                                          &key)
            == NGX_OK)
        {
            ngx_http_iamsmart_exchange_log_push(&key, &rec, "49");
        }

        if (ngx_http_iamsmart_history_key(r->pool, ex->consent->citizen,
                                          &key)
            == NGX_OK)
        {
            ngx_http_iamsmart_exchange_log_push(&key, &rec, "199");
        }
    }

    argv[0] = "XADD";
    argvlen[0] = 4;
    argv[1] = NGX_HTTP_IAMSMART_AUDIT_STREAM;
    argvlen[1] = sizeof(NGX_HTTP_IAMSMART_AUDIT_STREAM) - 1;
    argv[2] = "*";
    argvlen[2] = 1;
    n = 3;

    for (i = 0; i < rec.nfields; i++) {
        argv[n] = rec.fields[i].name;
        argvlen[n++] = ngx_strlen(rec.fields[i].name);
        argv[n] = rec.fields[i].value;
        argvlen[n++] = rec.fields[i].len;
    }

    if (last) {
        rc = ngx_http_iamsmart_redis_call(r, &ex->redis, n, argv, argvlen);
        rc = (rc == NGX_AGAIN) ? NGX_OK
                               : (rc == NGX_DECLINED
                                  ? ngx_http_iamsmart_unavailable(r,
                                                            "redis is down")
                                  : NGX_HTTP_INTERNAL_SERVER_ERROR);

    } else {
        rc = ngx_http_iamsmart_redis_send(n, argv, argvlen) == NGX_OK
             ? NGX_OK : ngx_http_iamsmart_unavailable(r, "redis is down");
    }

    iams_audit_record_clear(&rec);

    return rc;
}


ngx_int_t
ngx_http_iamsmart_history_key(ngx_pool_t *pool, const char *citizen,
    ngx_str_t *key)
{
    u_char  *p;

    key->data = ngx_pnalloc(pool, sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                                  + sizeof("history:v1:")
                                  + ngx_strlen(citizen));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(key->data, NGX_HTTP_IAMSMART_REDIS_PREFIX "history:v1:%s",
                    citizen);
    key->len = p - key->data;

    return NGX_OK;
}


static void
ngx_http_iamsmart_exchange_cleanup(void *data)
{
    iams_consent_free(data);
}
