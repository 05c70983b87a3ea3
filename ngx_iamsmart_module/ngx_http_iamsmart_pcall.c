
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * One encrypted platform API call (getToken, initiateRequest, ...), with
 * the CEK that the envelope needs:
 *
 *   CEK      GET the sealed CEK cached in Redis; fresh: CALL, else GETKEY
 *   GETKEY   POST getKey, unwrap with the KEK, cache it sealed, then CALL
 *   CALL     POST the sealed body; on D3000x (key missing, expired,
 *            undecryptable) fetch a new CEK and call once more
 *
 * ngx_http_iamsmart_pcall() advances the call and returns NGX_AGAIN while
 * it waits (the request is resumed through pc->resume, by a posted Redis
 * event or by the end of the subrequest), NGX_OK when it is over: then
 * pc->failure is 0 and pc->reply/pc->content hold the answer, or it is the
 * HTTP status to answer with (503: Redis, 502: the platform) and pc->error
 * says why.  Callers in a content handler raise r->main->count for each
 * NGX_AGAIN; access-phase callers simply return NGX_AGAIN.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/crypto.h>


static ngx_int_t ngx_http_iamsmart_pcall_getkey(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc);
static ngx_int_t ngx_http_iamsmart_pcall_send(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc);
static ngx_int_t ngx_http_iamsmart_pcall_fail(ngx_http_iamsmart_pcall_t *pc,
    ngx_uint_t status, const char *error);
static void ngx_http_iamsmart_pcall_cleanup(void *data);


int64_t
ngx_http_iamsmart_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_http_iamsmart_pcall_plaintext(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc, char *body, size_t len)
{
    pc->plaintext.data = ngx_pnalloc(r->pool, len);

    if (pc->plaintext.data != NULL) {
        ngx_memcpy(pc->plaintext.data, body, len);
        pc->plaintext.len = len;
    }

    OPENSSL_cleanse(body, len);
    free(body);

    return pc->plaintext.data != NULL ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_iamsmart_pcall(ngx_http_request_t *r, ngx_http_iamsmart_pcall_t *pc)
{
    u_char                       *p;
    char                         *sealed;
    size_t                        sealed_len, argvlen[2];
    int64_t                       now, remaining;
    iams_err                      err;
    ngx_int_t                     rc;
    iams_span                     key;
    const char                   *argv[2];
    ngx_pool_cleanup_t           *cln;
    ngx_http_iamsmart_set_cmd_t   set;

    if (pc->redis.waiting || pc->call.pending) {
        return NGX_AGAIN;
    }

    now = ngx_http_iamsmart_now_ms();

    switch (pc->step) {

    case NGX_HTTP_IAMSMART_PCALL_START:

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_iamsmart_pcall_cleanup;
        cln->data = pc;

        pc->redis.resume = pc->resume;
        pc->call.resume = pc->resume;

        p = ngx_snprintf((u_char *) pc->cek_key, sizeof(pc->cek_key) - 1,
                         NGX_HTTP_IAMSMART_REDIS_PREFIX "cek:v1:%V",
                         &pc->mcf->client_id);
        pc->cek_key_len = p - (u_char *) pc->cek_key;

        argv[0] = "GET";
        argvlen[0] = 3;
        argv[1] = pc->cek_key;
        argvlen[1] = pc->cek_key_len;

        rc = ngx_http_iamsmart_redis_call(r, &pc->redis, 2, argv, argvlen);

        if (rc == NGX_DECLINED) {
            return ngx_http_iamsmart_pcall_fail(pc, 503, "redis is down");
        }

        if (rc != NGX_AGAIN) {
            return NGX_ERROR;
        }

        pc->step = NGX_HTTP_IAMSMART_PCALL_CEK;
        return NGX_AGAIN;

    case NGX_HTTP_IAMSMART_PCALL_CEK:

        if (pc->redis.error != NULL) {
            return ngx_http_iamsmart_pcall_fail(pc, 503, pc->redis.error);
        }

        key.data = pc->cek_key;
        key.len = pc->cek_key_len;

        if (pc->redis.type == REDIS_REPLY_STRING
            && iams_cek_cache_decode(pc->mcf->keyring, key,
                                     (char *) pc->redis.str.data,
                                     pc->redis.str.len, &pc->cek, &err)
               == IAMS_OK
            && !iams_cek_should_refresh(&pc->cek, now))
        {
            return ngx_http_iamsmart_pcall_send(r, pc);
        }

        iams_cek_clear(&pc->cek);

        return ngx_http_iamsmart_pcall_getkey(r, pc);

    case NGX_HTTP_IAMSMART_PCALL_GETKEY:

        err.status = IAMS_OK;

        if (pc->call.status != NGX_HTTP_OK
            || iams_cek_from_getkey_reply(pc->mcf->kek, IAMS_KEK_PAD_AUTO,
                                          (char *) pc->call.body.data,
                                          pc->call.body.len, now, &pc->cek,
                                          &pc->reply, &err)
               != IAMS_OK
            || pc->reply.pcode != IAMS_PCODE_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "iamsmart: getKey failed: HTTP %ui, %s",
                          pc->call.status,
                          pc->call.status != NGX_HTTP_OK ? "no usable reply"
                          : (err.status != IAMS_OK ? err.detail
                                                   : pc->reply.code));

            return ngx_http_iamsmart_pcall_fail(pc, 502, "getKey failed");
        }

        /* shared with the other workers, sealed */

        remaining = (pc->cek.fetched_at_ms + pc->cek.expires_in_ms - now)
                    / 1000;
        key.data = pc->cek_key;
        key.len = pc->cek_key_len;

        if (remaining > 0
            && iams_cek_cache_encode(&pc->cek, pc->mcf->keyring, key,
                                     &sealed, &sealed_len, &err)
               == IAMS_OK)
        {
            ngx_http_iamsmart_set_cmd(&set, pc->cek_key, pc->cek_key_len,
                                      sealed, sealed_len, remaining, NULL);

            (void) ngx_http_iamsmart_redis_send(set.argc, set.argv,
                                                set.argvlen);

            OPENSSL_cleanse(sealed, sealed_len);
            free(sealed);
        }

        return ngx_http_iamsmart_pcall_send(r, pc);

    case NGX_HTTP_IAMSMART_PCALL_CALL:

        if (pc->call.status != NGX_HTTP_OK
            || iams_envelope_open_reply(pc->cek.key,
                                        (char *) pc->call.body.data,
                                        pc->call.body.len, &pc->reply,
                                        &pc->content, &err)
               != IAMS_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "iamsmart: %s failed: HTTP %ui%s%s", pc->path,
                          pc->call.status,
                          pc->call.status == NGX_HTTP_OK ? ", " : "",
                          pc->call.status == NGX_HTTP_OK ? err.detail : "");

            return ngx_http_iamsmart_pcall_fail(pc, 502,
                                                "the platform call failed");
        }

        if (iams_pcode_action(pc->reply.pcode) == IAMS_PACTION_REFRESH_CEK
            && !pc->retried)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "iamsmart: %s answered %s, fetching a new CEK",
                          pc->path, pc->reply.code);

            pc->retried = 1;
            iams_cek_clear(&pc->cek);
            return ngx_http_iamsmart_pcall_getkey(r, pc);
        }

        iams_cek_clear(&pc->cek);
        pc->step = NGX_HTTP_IAMSMART_PCALL_DONE;
        return NGX_OK;

    default: /* NGX_HTTP_IAMSMART_PCALL_DONE */
        return NGX_OK;
    }
}


static ngx_int_t
ngx_http_iamsmart_pcall_getkey(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc)
{
    if (ngx_http_iamsmart_platform_post(r, pc->mcf,
                                        "/api/v1/security/getKey", "", 0,
                                        &pc->call)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    pc->step = NGX_HTTP_IAMSMART_PCALL_GETKEY;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_iamsmart_pcall_send(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc)
{
    char       *body;
    size_t      body_len;
    iams_err    err;
    ngx_int_t   rc;

    if (iams_envelope_seal(pc->cek.key, pc->plaintext.data,
                           pc->plaintext.len, &body, &body_len, &err)
        != IAMS_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_iamsmart_platform_post(r, pc->mcf, pc->path, body,
                                         body_len, &pc->call);
    free(body);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    pc->step = NGX_HTTP_IAMSMART_PCALL_CALL;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_iamsmart_pcall_fail(ngx_http_iamsmart_pcall_t *pc,
    ngx_uint_t status, const char *error)
{
    iams_cek_clear(&pc->cek);
    pc->failure = status;
    pc->error = error;
    pc->step = NGX_HTTP_IAMSMART_PCALL_DONE;

    return NGX_OK;
}


static void
ngx_http_iamsmart_pcall_cleanup(void *data)
{
    ngx_http_iamsmart_pcall_t  *pc = data;

    iams_cek_clear(&pc->cek);

    if (pc->plaintext.data) {
        OPENSSL_cleanse(pc->plaintext.data, pc->plaintext.len);
    }

    if (pc->content) {
        json_decref(pc->content);
        pc->content = NULL;
    }
}
