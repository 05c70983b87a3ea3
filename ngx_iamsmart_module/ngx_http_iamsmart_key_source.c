
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * JWT keys fetched by subrequest ("iamsmart_jwt_key_request uri"), cached
 * for all workers in shared memory ("iamsmart_jwt_key_cache time").
 *
 * Each distinct URI is a source with a slot in the zone: the JWKS text, a
 * version that grows with every successful fetch, its expiry, and the time
 * of the last forced refetch.  Each worker parses a slot's text once per
 * version and keeps the parsed set.
 *
 * Rules:
 *   - no keys yet, or expired: the request fetches them (subrequest) and
 *     waits; a failed fetch keeps whatever was cached and is logged; with
 *     nothing cached, validation fails closed ("no usable key");
 *   - a token whose kid is unknown forces a refetch at most once per
 *     NGX_HTTP_IAMSMART_FORCED_REFETCH seconds per source, across all
 *     workers, so a flood of made-up kids cannot hammer the issuer;
 *   - a JWKS that does not parse is never stored;
 *   - after a failed fetch, nothing is fetched for NGX_HTTP_IAMSMART_KEY_RETRY
 *     seconds (the cached keys serve meanwhile; with none, requests fail
 *     closed without waiting).
 */


#include "ngx_http_iamsmart.h"


#define NGX_HTTP_IAMSMART_KEY_SOURCES      16
#define NGX_HTTP_IAMSMART_JWKS_TEXT_MAX    (64 * 1024)
#define NGX_HTTP_IAMSMART_FORCED_REFETCH   60
#define NGX_HTTP_IAMSMART_KEY_RETRY        10
#define NGX_HTTP_IAMSMART_FORCED_WAIT      2     /* s; polled every 50 ms */


typedef struct {
    uint64_t        version;          /* 0: never fetched */
    time_t          expires;
    time_t          last_forced;
    time_t          forcing_until;    /* a forced refetch is under way */
    size_t          len;
    u_char          text[NGX_HTTP_IAMSMART_JWKS_TEXT_MAX];
} ngx_http_iamsmart_key_slot_t;


typedef struct {
    ngx_http_iamsmart_key_slot_t   slot[NGX_HTTP_IAMSMART_KEY_SOURCES];
} ngx_http_iamsmart_key_shm_t;


/*
 * The zone's own slab mutex: it lives in the shared memory, as its
 * semaphore must for a waiting worker to be woken by another.
 */
#define ngx_http_iamsmart_key_lock(mcf)                                      \
    ngx_shmtx_lock(&((ngx_slab_pool_t *) (mcf)->key_zone->shm.addr)->mutex)
#define ngx_http_iamsmart_key_unlock(mcf)                                    \
    ngx_shmtx_unlock(&((ngx_slab_pool_t *) (mcf)->key_zone->shm.addr)->mutex)


typedef struct {
    uint64_t        version;
    iams_jwks      *keys;
} ngx_http_iamsmart_worker_keys_t;


static ngx_http_iamsmart_worker_keys_t
    ngx_http_iamsmart_worker_keys[NGX_HTTP_IAMSMART_KEY_SOURCES];


static ngx_int_t ngx_http_iamsmart_key_zone_init(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_iamsmart_key_fetch(ngx_http_request_t *r,
    ngx_http_iamsmart_key_source_t *src, ngx_http_iamsmart_ctx_t *ctx);
static void ngx_http_iamsmart_key_fetched(ngx_http_request_t *r,
    ngx_http_iamsmart_key_source_t *src, ngx_http_iamsmart_ctx_t *ctx);
static ngx_int_t ngx_http_iamsmart_key_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_ctx_t *ctx);
static void ngx_http_iamsmart_key_wait_handler(ngx_event_t *ev);
static void ngx_http_iamsmart_key_wait_cleanup(void *data);
static void ngx_http_iamsmart_key_retry_later(
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_key_source_t *src);


/* configuration: one source per distinct URI */
char *
ngx_http_iamsmart_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_loc_conf_t *lcf = conf;

    ngx_str_t                        *value, name = ngx_string("iamsmart_keys");
    ngx_uint_t                        i;
    ngx_http_iamsmart_main_conf_t    *mcf;
    ngx_http_iamsmart_key_source_t  **src, *s;

    if (lcf->jwt.key_source != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        return "must be a URI of this server, such as /_jwks";
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_iamsmart_module);

    if (mcf->key_sources == NULL) {
        mcf->key_sources = ngx_array_create(cf->pool, 4,
                                   sizeof(ngx_http_iamsmart_key_source_t *));
        if (mcf->key_sources == NULL) {
            return NGX_CONF_ERROR;
        }

        mcf->key_zone = ngx_shared_memory_add(cf, &name,
                                        sizeof(ngx_http_iamsmart_key_shm_t)
                                        + 8 * ngx_pagesize,
                                        &ngx_http_iamsmart_module);
        if (mcf->key_zone == NULL) {
            return NGX_CONF_ERROR;
        }

        mcf->key_zone->init = ngx_http_iamsmart_key_zone_init;
    }

    src = mcf->key_sources->elts;

    for (i = 0; i < mcf->key_sources->nelts; i++) {
        if (src[i]->uri.len == value[1].len
            && ngx_strncmp(src[i]->uri.data, value[1].data, value[1].len) == 0)
        {
            lcf->jwt.key_source = src[i];
            return NGX_CONF_OK;
        }
    }

    if (mcf->key_sources->nelts == NGX_HTTP_IAMSMART_KEY_SOURCES) {
        return "names too many distinct key URIs (at most 16)";
    }

    s = ngx_pcalloc(cf->pool, sizeof(ngx_http_iamsmart_key_source_t));
    src = ngx_array_push(mcf->key_sources);

    if (s == NULL || src == NULL) {
        return NGX_CONF_ERROR;
    }

    s->uri = value[1];
    s->index = mcf->key_sources->nelts - 1;
    *src = s;

    lcf->jwt.key_source = s;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_iamsmart_key_zone_init(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t              *shpool;
    ngx_http_iamsmart_key_shm_t  *sh;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (data) {
        zone->data = data;
        sh = data;

    } else if (shpool->data) {
        zone->data = shpool->data;
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_iamsmart_key_shm_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;
        zone->data = sh;
    }

    if (data != NULL) {
        /* a reload may number the sources differently: fetch afresh */
        ngx_memzero(sh->slot, sizeof(sh->slot));
    }

    return NGX_OK;
}


/*
 * NGX_OK: *keys is the current set (NULL when none could ever be fetched);
 * NGX_AGAIN: a fetch is under way, the phase handler runs again after it.
 */
ngx_int_t
ngx_http_iamsmart_key_source_keys(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_key_source_t *src,
    ngx_http_iamsmart_ctx_t *ctx, const iams_jwks **keys, uint64_t *version)
{
    time_t                            expires;
    uint64_t                          v;
    iams_err                          err;
    iams_jwks                        *parsed;
    ngx_http_iamsmart_key_shm_t      *sh;
    ngx_http_iamsmart_key_slot_t     *slot;
    ngx_http_iamsmart_worker_keys_t  *wk;

    if (ctx->key_fetch.pending) {
        return NGX_AGAIN;
    }

    if (ctx->key_fetch.done) {
        ngx_http_iamsmart_key_fetched(r, src, ctx);
        ctx->key_fetch.done = 0;
    }

    sh = mcf->key_zone->data;
    slot = &sh->slot[src->index];
    wk = &ngx_http_iamsmart_worker_keys[src->index];

    ngx_http_iamsmart_key_lock(mcf);
    v = slot->version;
    expires = slot->expires;
    ngx_http_iamsmart_key_unlock(mcf);

    if (expires < ngx_time() && !ctx->key_fetched) {
        return ngx_http_iamsmart_key_fetch(r, src, ctx);
    }

    if (v != 0 && v != wk->version) {
        parsed = NULL;

        ngx_http_iamsmart_key_lock(mcf);
        v = slot->version;

        if (iams_jwks_parse((char *) slot->text, slot->len, &parsed, &err)
            != IAMS_OK)
        {
            parsed = NULL;
        }

        ngx_http_iamsmart_key_unlock(mcf);

        if (parsed != NULL) {
            iams_jwks_free(wk->keys);
            wk->keys = parsed;
            wk->version = v;
        }
    }

    *keys = wk->keys;
    *version = wk->version;

    return NGX_OK;
}


/*
 * An unknown kid in the keys of "version": refetch now unless a worker did
 * within the limit.
 */
ngx_int_t
ngx_http_iamsmart_key_source_force(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_key_source_t *src,
    ngx_http_iamsmart_ctx_t *ctx, uint64_t version)
{
    time_t                         now;
    ngx_uint_t                     allowed, busy, newer;
    ngx_http_iamsmart_key_shm_t   *sh;
    ngx_http_iamsmart_key_slot_t  *slot;

    if (ctx->key_fetched && !ctx->key_waits) {
        return NGX_DECLINED;
    }

    sh = mcf->key_zone->data;
    slot = &sh->slot[src->index];
    now = ngx_time();

    ngx_http_iamsmart_key_lock(mcf);

    /* another worker's fetch may have ended since these keys were read */
    newer = (slot->version != version);
    allowed = !newer
              && now - slot->last_forced >= NGX_HTTP_IAMSMART_FORCED_REFETCH;
    busy = (slot->forcing_until > now);

    if (allowed) {
        slot->last_forced = now;
        slot->forcing_until = now + NGX_HTTP_IAMSMART_FORCED_WAIT;
    }

    ngx_http_iamsmart_key_unlock(mcf);

    if (!allowed) {
        /*
         * Another request (of any worker) is fetching the keys this token
         * may need, or has just stored newer ones: look again shortly
         * rather than fail it meanwhile.
         */
        if ((busy || newer)
            && ctx->key_waits++ < NGX_HTTP_IAMSMART_FORCED_WAIT * 20)
        {
            return ngx_http_iamsmart_key_wait(r, ctx);
        }

        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "iamsmart: unknown kid, refetching keys from \"%V\"",
                  &src->uri);

    return ngx_http_iamsmart_key_fetch(r, src, ctx);
}


static ngx_int_t
ngx_http_iamsmart_key_fetch(ngx_http_request_t *r,
    ngx_http_iamsmart_key_source_t *src, ngx_http_iamsmart_ctx_t *ctx)
{
    ctx->key_fetched = 1;

    /* the parent resumes through ngx_http_core_run_phases as it is */
    ctx->key_fetch.resume = NULL;

    if (ngx_http_iamsmart_fetch(r, &src->uri, NULL, NULL, 0, NULL, 0,
                                &ctx->key_fetch)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static void
ngx_http_iamsmart_key_fetched(ngx_http_request_t *r,
    ngx_http_iamsmart_key_source_t *src, ngx_http_iamsmart_ctx_t *ctx)
{
    iams_err                          err;
    iams_jwks                        *parsed;
    ngx_http_iamsmart_key_shm_t      *sh;
    ngx_http_iamsmart_key_slot_t     *slot;
    ngx_http_iamsmart_loc_conf_t     *lcf;
    ngx_http_iamsmart_main_conf_t    *mcf;
    ngx_http_iamsmart_worker_keys_t  *wk;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_iamsmart_module);

    if (ctx->key_fetch.status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: fetching keys from \"%V\" failed with "
                      "HTTP %ui, keeping the cached keys",
                      &src->uri, ctx->key_fetch.status);
        ngx_http_iamsmart_key_retry_later(mcf, src);
        return;
    }

    if (ctx->key_fetch.body.len > NGX_HTTP_IAMSMART_JWKS_TEXT_MAX
        || iams_jwks_parse((char *) ctx->key_fetch.body.data,
                           ctx->key_fetch.body.len, &parsed, &err)
           != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: keys from \"%V\" rejected (%s%s%s), "
                      "keeping the cached keys", &src->uri,
                      ctx->key_fetch.body.len > NGX_HTTP_IAMSMART_JWKS_TEXT_MAX
                      ? "larger than 64 KiB" : iams_status_str(err.status),
                      err.detail[0] ? ": " : "", err.detail);
        ngx_http_iamsmart_key_retry_later(mcf, src);
        return;
    }

    sh = mcf->key_zone->data;
    slot = &sh->slot[src->index];
    wk = &ngx_http_iamsmart_worker_keys[src->index];

    ngx_http_iamsmart_key_lock(mcf);

    ngx_memcpy(slot->text, ctx->key_fetch.body.data, ctx->key_fetch.body.len);
    slot->len = ctx->key_fetch.body.len;
    slot->version++;
    slot->forcing_until = 0;
    slot->expires = ngx_time() + lcf->jwt.key_cache;

    iams_jwks_free(wk->keys);
    wk->keys = parsed;
    wk->version = slot->version;

    ngx_http_iamsmart_key_unlock(mcf);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "iamsmart: %uz keys fetched from \"%V\"",
                  iams_jwks_count(parsed), &src->uri);
}


/*
 * After a failed fetch the cached keys (if any) serve a while longer, so
 * that an issuer outage does not make every request wait for a refetch.
 */
static void
ngx_http_iamsmart_key_retry_later(ngx_http_iamsmart_main_conf_t *mcf,
    ngx_http_iamsmart_key_source_t *src)
{
    ngx_http_iamsmart_key_shm_t   *sh;
    ngx_http_iamsmart_key_slot_t  *slot;

    sh = mcf->key_zone->data;
    slot = &sh->slot[src->index];

    ngx_http_iamsmart_key_lock(mcf);

    if (slot->expires < ngx_time() + NGX_HTTP_IAMSMART_KEY_RETRY) {
        slot->expires = ngx_time() + NGX_HTTP_IAMSMART_KEY_RETRY;
    }

    slot->forcing_until = 0;

    ngx_http_iamsmart_key_unlock(mcf);
}


/* the request runs its access phase again in 50 ms */
static ngx_int_t
ngx_http_iamsmart_key_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    if (ctx->key_wait.handler == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_iamsmart_key_wait_cleanup;
        cln->data = ctx;

        ctx->key_wait.handler = ngx_http_iamsmart_key_wait_handler;
        ctx->key_wait.data = r;
        ctx->key_wait.log = r->connection->log;
    }

    ngx_add_timer(&ctx->key_wait, 50);

    return NGX_AGAIN;
}


static void
ngx_http_iamsmart_key_wait_handler(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_iamsmart_key_wait_cleanup(void *data)
{
    ngx_http_iamsmart_ctx_t  *ctx = data;

    if (ctx->key_wait.timer_set) {
        ngx_del_timer(&ctx->key_wait);
    }
}


void
ngx_http_iamsmart_key_source_exit_process(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_IAMSMART_KEY_SOURCES; i++) {
        iams_jwks_free(ngx_http_iamsmart_worker_keys[i].keys);
        ngx_http_iamsmart_worker_keys[i].keys = NULL;
        ngx_http_iamsmart_worker_keys[i].version = 0;
    }
}
