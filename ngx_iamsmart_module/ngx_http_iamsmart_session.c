
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * The session check behind "iamsmart_auth on": cookie -> hashed Redis key ->
 * sealed record -> expiry -> the request carries the session.
 *
 * States of one request (ctx->session_state):
 *
 *   START     read the cookie; no valid cookie: no session.
 *   LOOKUP    waiting for GET on the current key (then, on a miss and when a
 *             previous secret exists, on the previous key).
 *   DONE      ctx->session is set, or the request was answered.
 *
 * A Redis failure answers 503 and never counts as a miss, so an outage
 * cannot send browsers round the login loop.  The record is written back
 * only when last_seen moved by more than the write interval, so most
 * requests cost one GET, or none while the session micro-cache
 * (ngx_http_iamsmart_session_cache.c) holds the record: a hit brings the
 * record opened, and the same expiry checks follow as after a GET.
 */


#include "ngx_http_iamsmart.h"

#include <iamsmart/session.h>


#define NGX_HTTP_IAMSMART_SESSION_WRITE_INTERVAL  60


static ngx_int_t ngx_http_iamsmart_session_lookup(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx,
    iams_key_slot slot);
static ngx_int_t ngx_http_iamsmart_session_found(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx,
    ngx_str_t *record, iams_session *s);
static void ngx_http_iamsmart_session_cleanup(void *data);
static ngx_uint_t ngx_http_iamsmart_empty_cookie(ngx_http_request_t *r,
    ngx_table_elt_t *h, void *data);


ngx_int_t
ngx_http_iamsmart_session_handler(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx)
{
    ngx_str_t        value;
    iams_err         err;
    ngx_http_iamsmart_redis_wait_t  *w;

    w = &ctx->redis;

    switch (ctx->session_state) {

    case NGX_HTTP_IAMSMART_SESSION_START:

        if (ngx_http_iamsmart_get_cookie(r, &mcf->cookie_name, &value)
            != NGX_OK)
        {
            ctx->session_state = NGX_HTTP_IAMSMART_SESSION_DONE;
            return NGX_DECLINED;
        }

        if (iams_session_id_from_cookie((char *) value.data, value.len,
                                        &ctx->session_id, &err)
            != IAMS_OK)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "iamsmart: malformed session cookie ignored");
            ctx->session_state = NGX_HTTP_IAMSMART_SESSION_DONE;
            return NGX_DECLINED;
        }

        ctx->session_slot = IAMS_KEY_CURRENT;

        return ngx_http_iamsmart_session_lookup(r, mcf, ctx,
                                                IAMS_KEY_CURRENT);

    case NGX_HTTP_IAMSMART_SESSION_LOOKUP:

        if (!w->done) {
            return NGX_AGAIN;
        }

        if (w->error != NULL) {
            iams_session_id_clear(&ctx->session_id);
            return ngx_http_iamsmart_finalize(r,
                       ngx_http_iamsmart_unavailable(r, w->error));
        }

        if (w->type == REDIS_REPLY_NIL) {

            if (ctx->session_slot == IAMS_KEY_CURRENT
                && iams_keyring_has_previous(mcf->keyring))
            {
                ctx->session_slot = IAMS_KEY_PREVIOUS;
                return ngx_http_iamsmart_session_lookup(r, mcf, ctx,
                                                        IAMS_KEY_PREVIOUS);
            }

            iams_session_id_clear(&ctx->session_id);
            ctx->session_state = NGX_HTTP_IAMSMART_SESSION_DONE;

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "iamsmart: session %s unknown or expired",
                          ctx->session_hash);
            return NGX_DECLINED;
        }

        ctx->session_state = NGX_HTTP_IAMSMART_SESSION_DONE;

        return ngx_http_iamsmart_session_found(r, mcf, ctx, &w->str, NULL);

    default: /* NGX_HTTP_IAMSMART_SESSION_DONE */
        return ctx->session ? NGX_OK : NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_iamsmart_session_lookup(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx,
    iams_key_slot slot)
{
    size_t         len, argvlen[2];
    ngx_int_t      rc;
    iams_err       err;
    const char    *argv[2];
    iams_session  *s;

    if (iams_session_redis_key(mcf->keyring, slot,
                               NGX_HTTP_IAMSMART_REDIS_PREFIX,
                               sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX) - 1,
                               &ctx->session_id, ctx->session_key,
                               sizeof(ctx->session_key), &len, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: session key: %s", err.detail);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->session_key_len = len;

    if (slot == IAMS_KEY_CURRENT) {
        iams_session_log_hash(ctx->session_key, len, ctx->session_hash);

        if (ngx_http_iamsmart_session_cache_get(r, mcf, ctx->session_key,
                                                len, &ctx->session_cache_gen,
                                                &s)
            == NGX_OK)
        {
            ctx->session_cached = 1;
            ctx->session_state = NGX_HTTP_IAMSMART_SESSION_DONE;
            return ngx_http_iamsmart_session_found(r, mcf, ctx, NULL, s);
        }
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = ctx->session_key;
    argvlen[1] = len;

    rc = ngx_http_iamsmart_redis_call(r, &ctx->redis, 2, argv, argvlen);

    if (rc == NGX_DECLINED) {
        iams_session_id_clear(&ctx->session_id);
        return ngx_http_iamsmart_finalize(r,
                   ngx_http_iamsmart_unavailable(r, "redis is down"));
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->session_state = NGX_HTTP_IAMSMART_SESSION_LOOKUP;

    return NGX_AGAIN;
}


/* record: a GET's reply, to open; or s: a record the cache opened */
static ngx_int_t
ngx_http_iamsmart_session_found(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx,
    ngx_str_t *record, iams_session *s)
{
    char                         *sealed;
    size_t                        sealed_len, argvlen[2];
    int64_t                       now, previous_seen, ttl;
    iams_err                      err;
    iams_status                   st;
    const char                   *argv[2];
    ngx_pool_cleanup_t           *cln;
    iams_session_state            state;
    ngx_http_iamsmart_set_cmd_t   set;

    if (s == NULL) {
        st = iams_session_decode(mcf->keyring, ctx->session_key,
                                 ctx->session_key_len, (char *) record->data,
                                 record->len, &s, &err);

        if (st != IAMS_OK) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "iamsmart: session %s record rejected: %s: %s",
                          ctx->session_hash, iams_status_str(st),
                          err.detail);
            iams_session_id_clear(&ctx->session_id);
            return NGX_DECLINED;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        iams_session_free(s);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_iamsmart_session_cleanup;
    cln->data = s;

    now = ngx_time();
    previous_seen = s->last_seen;

    state = iams_session_touch(s, now, &ttl);

    if (state != IAMS_SESSION_LIVE) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: session %s ended: %s", ctx->session_hash,
                      iams_session_state_str(state));

        ngx_http_iamsmart_session_cache_forget(mcf, ctx->session_key,
                                               ctx->session_key_len);

        argv[0] = "DEL";
        argvlen[0] = 3;
        argv[1] = ctx->session_key;
        argvlen[1] = ctx->session_key_len;
        (void) ngx_http_iamsmart_redis_send(2, argv, argvlen);

        iams_session_id_clear(&ctx->session_id);
        return NGX_DECLINED;
    }

    ctx->session = s;

    if (ctx->session_slot == IAMS_KEY_CURRENT
        && now - previous_seen
           < ngx_min(NGX_HTTP_IAMSMART_SESSION_WRITE_INTERVAL,
                     s->idle_timeout / 10))
    {
        iams_session_id_clear(&ctx->session_id);

        if (!ctx->session_cached) {
            ngx_http_iamsmart_session_cache_put(mcf, ctx->session_key,
                                                ctx->session_key_len,
                                                record->data, record->len,
                                                ctx->session_cache_gen,
                                                r->connection->log);
        }

        return NGX_OK;
    }

    /* slide the idle expiry; a record found under the previous secret moves
     * to the current one */

    if (ctx->session_slot == IAMS_KEY_PREVIOUS) {
        argv[0] = "DEL";
        argvlen[0] = 3;
        argv[1] = ctx->session_key;
        argvlen[1] = ctx->session_key_len;
        (void) ngx_http_iamsmart_redis_send(2, argv, argvlen);

        if (iams_session_redis_key(mcf->keyring, IAMS_KEY_CURRENT,
                                   NGX_HTTP_IAMSMART_REDIS_PREFIX,
                                   sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX) - 1,
                                   &ctx->session_id, ctx->session_key,
                                   sizeof(ctx->session_key),
                                   &ctx->session_key_len, &err)
            != IAMS_OK)
        {
            iams_session_id_clear(&ctx->session_id);
            return NGX_OK;
        }

        iams_session_log_hash(ctx->session_key, ctx->session_key_len,
                              ctx->session_hash);
    }

    iams_session_id_clear(&ctx->session_id);

    if (iams_session_encode(s, mcf->keyring, ctx->session_key,
                            ctx->session_key_len, &sealed, &sealed_len, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: session %s not refreshed: %s",
                      ctx->session_hash, err.detail);
        return NGX_OK;
    }

    /* XX: a logout that deleted the record since the GET must win; a
     * record moving to the current secret's key takes a free one (NX) */
    ngx_http_iamsmart_set_cmd(&set, ctx->session_key, ctx->session_key_len,
                              sealed, sealed_len, ttl,
                              ctx->session_slot == IAMS_KEY_PREVIOUS
                              ? "NX" : "XX");

    (void) ngx_http_iamsmart_redis_send(set.argc, set.argv, set.argvlen);

    /*
     * Redis answered this request's GET: cache what was just written (under
     * the current key only).  A record that came from the cache is dropped
     * instead, so that an entry never outlives "valid" past Redis's last
     * answer.
     */
    if (ctx->session_cached) {
        ngx_http_iamsmart_session_cache_forget(mcf, ctx->session_key,
                                               ctx->session_key_len);

    } else {
        ngx_http_iamsmart_session_cache_put(mcf, ctx->session_key,
                                            ctx->session_key_len,
                                            (u_char *) sealed, sealed_len,
                                            ctx->session_cache_gen,
                                            r->connection->log);
    }

    free(sealed);

    return NGX_OK;
}


static void
ngx_http_iamsmart_session_cleanup(void *data)
{
    iams_session_free(data);
}


/*
 * Removes the gateway's own cookies from the request's Cookie headers so
 * that backends never see them.  A header left empty stays, empty: nginx's
 * header list cannot drop an entry that other fields point to.
 */
ngx_int_t
ngx_http_iamsmart_strip_cookies(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf)
{
    u_char            *p, *end, *name, *name_end, *out, *start;
    ngx_uint_t         i, ours, emptied;
    ngx_table_elt_t  **h;

    emptied = 0;

    h = r->headers_in.cookies.elts;

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {

        if (ngx_strlcasestrn(h[i]->value.data,
                             h[i]->value.data + h[i]->value.len,
                             mcf->cookie_name.data, mcf->cookie_name.len - 1)
            == NULL)
        {
            continue;
        }

        out = ngx_pnalloc(r->pool, h[i]->value.len);
        if (out == NULL) {
            return NGX_ERROR;
        }

        start = out;
        p = h[i]->value.data;
        end = p + h[i]->value.len;

        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';')) {
                p++;
            }

            name = p;

            while (p < end && *p != ';') {
                p++;
            }

            name_end = ngx_strlchr(name, p, '=');
            if (name_end == NULL) {
                name_end = p;
            }

            ours = ((size_t) (name_end - name) == mcf->cookie_name.len
                    && ngx_strncmp(name, mcf->cookie_name.data,
                                   mcf->cookie_name.len) == 0)
                   || ((size_t) (name_end - name) == mcf->login_cookie_name.len
                       && ngx_strncmp(name, mcf->login_cookie_name.data,
                                      mcf->login_cookie_name.len) == 0);

            if (ours || p == name) {
                continue;
            }

            if (out != start) {
                *out++ = ';';
                *out++ = ' ';
            }

            out = ngx_cpymem(out, name, p - name);
        }

        h[i]->value.data = start;
        h[i]->value.len = out - start;

        if (h[i]->value.len == 0) {
            emptied = 1;
        }
    }

    return emptied ? ngx_http_iamsmart_filter_headers(r,
                                            ngx_http_iamsmart_empty_cookie,
                                            NULL, 0)
                   : NGX_OK;
}


/* A Cookie header that held only our cookies goes, rather than reaching
 * the backend empty. */
static ngx_uint_t
ngx_http_iamsmart_empty_cookie(ngx_http_request_t *r, ngx_table_elt_t *h,
    void *data)
{
    return h->value.len == 0 && h->key.len == 6
           && ngx_strncasecmp(h->key.data, (u_char *) "Cookie", 6) == 0;
}


ngx_int_t
ngx_http_iamsmart_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, name, value)
        == NGX_DECLINED)
    {
        return NGX_DECLINED;
    }

    return value->len ? NGX_OK : NGX_DECLINED;
}


/* 503 with a body that says why; the cause goes to the error log */
ngx_int_t
ngx_http_iamsmart_unavailable(ngx_http_request_t *r, const char *cause)
{
    ngx_http_iamsmart_ctx_t   *ctx;
    ngx_http_iamsmart_page_t   page;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "iamsmart: session store unavailable: %s", cause);

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    /* departments calling the exchange get JSON, whatever they accept */
    if (!ngx_http_iamsmart_wants_json(r)
        && (ctx == NULL || ctx->exchange == NULL))
    {
        ngx_memzero(&page, sizeof(ngx_http_iamsmart_page_t));
        page.title_en = "Service temporarily unavailable";
        page.title_zh = "服務暫時未能使用";
        page.text_en = "We cannot check your sign-in right now. Please try "
                       "again in a moment.";
        page.text_zh = "我們暫時未能確認你的登入，請稍後再試。";
        page.action_en = "Try again";
        page.action_zh = "再試一次";
        page.link = r->unparsed_uri;

        if (iams_return_url_check((char *) page.link.data, page.link.len,
                                  NULL) != IAMS_OK)
        {
            ngx_str_set(&page.link, "/");
        }

        return ngx_http_iamsmart_send_page(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           &page);
    }

    return ngx_http_iamsmart_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
               json_pack("{s:s, s:s, s:s}",
                         "error", "session_store_unavailable",
                         "error_description",
                         "the gateway cannot reach its session store "
                         "(Redis); please try again shortly",
                         "cause", cause));
}
