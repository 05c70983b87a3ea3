
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * The session micro-cache ("iamsmart_session_cache SIZE [valid=TIME]"): a
 * zone shared by all workers that keeps, for at most "valid", the sealed
 * session records that Redis GETs returned, so that a busy session is
 * checked without a Redis round trip.
 *
 * An entry is the session's Redis key and the record exactly as Redis holds
 * it (sealed: the access token stays encrypted in shared memory too), the
 * time it stops being valid and a serial number unique to this content.  A
 * hit gives the request the record opened as a GET's reply would be, and
 * the caller runs the same expiry checks; the entry's time is never
 * extended by a hit, so a session in use is read from Redis again at least
 * once per "valid".
 *
 * Opening the record (AES-GCM, then JSON) costs more than the round trip
 * it saves, so each worker keeps the opened form of the few entries it
 * used last, by serial number, and hands each request a copy: a worker
 * opens an entry's bytes once, not once per request.  The opened form
 * lives no longer than its entry's "valid" (an expired one is dropped on
 * the next lookups; the token is cleansed when freed) and is only used
 * while the shared entry with that serial still exists, so forgetting the
 * entry also retires every worker's opened copy.
 * Entries sit in a red-black tree (keyed by a CRC32 of the Redis key, the
 * whole key compared to confirm) and an LRU queue; when the zone is full the
 * least recently used entries go.
 *
 * Invariants:
 *   - only a record that decoded and was live is stored; a Redis error or a
 *     miss never is (a missing record must not hide a login made on another
 *     host, an outage must not look like a miss);
 *   - whatever this gateway writes to a session record (logout, step-up,
 *     the sliding write-back, the end of a session) reaches the cache at
 *     once: the writer forgets the entry (or stores the bytes it wrote);
 *   - a record read from Redis is stored only if no entry was forgotten
 *     since its GET was sent (the zone's generation): a GET answered just
 *     before another worker's DEL or SET cannot put the old record back.
 *     Writers therefore forget before sending and again once Redis has
 *     answered, so that a GET overtaking the write is caught either way.
 *
 * Writes made by other gateway hosts reach this cache only when the entry
 * expires: "valid" bounds that staleness, and how long a cached session
 * keeps working while Redis is unreachable.
 *
 * If you change what a session record holds or who writes it, check that
 * every writer calls ngx_http_iamsmart_session_cache_forget().
 */


#include "ngx_http_iamsmart.h"


#define NGX_HTTP_IAMSMART_SESSION_CACHE_MIN        (64 * 1024)
#define NGX_HTTP_IAMSMART_SESSION_CACHE_VALID      1000
#define NGX_HTTP_IAMSMART_SESSION_CACHE_VALID_MAX  60000
#define NGX_HTTP_IAMSMART_SESSION_CACHE_RECORD_MAX 4096
#define NGX_HTTP_IAMSMART_SESSION_CACHE_EVICT_MAX  64


typedef struct {
    ngx_rbtree_node_t               node;     /* key: CRC32 of the key */
    ngx_queue_t                     queue;    /* most recently used first */
    ngx_msec_t                      expires;  /* ngx_current_msec */
    uint64_t                        serial;   /* of this content */
    u_short                         key_len;
    u_short                         len;      /* of the sealed record */
    u_char                          data[];   /* key, then record */
} ngx_http_iamsmart_scache_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
    ngx_atomic_uint_t               generation;  /* grows with each forget */
    uint64_t                        serial;      /* grows with each put */
} ngx_http_iamsmart_scache_sh_t;


typedef struct {
    ngx_http_iamsmart_scache_sh_t  *sh;
    ngx_slab_pool_t                *shpool;
    ngx_msec_t                      valid;
} ngx_http_iamsmart_scache_t;


/* one worker's opened records, by serial */
#define NGX_HTTP_IAMSMART_SESSION_CACHE_OPENED     64

typedef struct {
    uint64_t                        serial;   /* 0: empty */
    ngx_msec_t                      expires;
    iams_session                   *session;
} ngx_http_iamsmart_scache_opened_t;


static ngx_http_iamsmart_scache_opened_t
    ngx_http_iamsmart_scache_opened[NGX_HTTP_IAMSMART_SESSION_CACHE_OPENED];
static ngx_uint_t  ngx_http_iamsmart_scache_sweep;

/* drops the copies of a worker that gets no more requests, so that no
 * opened record (access token included) lingers in its memory */
static ngx_event_t       ngx_http_iamsmart_scache_sweeper;
static ngx_connection_t  ngx_http_iamsmart_scache_dumb;  /* for debug logs,
                                                            which read fd */


static ngx_int_t ngx_http_iamsmart_session_cache_init_zone(
    ngx_shm_zone_t *zone, void *data);
static void ngx_http_iamsmart_scache_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_iamsmart_scache_node_t *ngx_http_iamsmart_scache_lookup(
    ngx_http_iamsmart_scache_t *cache, const char *key, size_t len,
    uint32_t hash);
static void ngx_http_iamsmart_scache_delete(ngx_http_iamsmart_scache_t *cache,
    ngx_http_iamsmart_scache_node_t *sn);
static ngx_http_iamsmart_scache_node_t *ngx_http_iamsmart_scache_alloc(
    ngx_http_iamsmart_scache_t *cache, size_t size);
static iams_session *ngx_http_iamsmart_scache_open(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *key, size_t len,
    u_char *record, size_t record_len, uint64_t serial, ngx_msec_t expires);
static void ngx_http_iamsmart_scache_opened_free(
    ngx_http_iamsmart_scache_opened_t *o);
static void ngx_http_iamsmart_scache_sweep_handler(ngx_event_t *ev);


/* iamsmart_session_cache SIZE [valid=TIME]; */
char *
ngx_http_iamsmart_session_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ssize_t                      size;
    ngx_int_t                    valid;
    ngx_str_t                   *value, s;
    ngx_str_t                    name = ngx_string("iamsmart_session_cache");
    ngx_uint_t                   i;
    ngx_shm_zone_t              *zone;
    ngx_http_iamsmart_scache_t  *cache;

    if (mcf->session_cache != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid iamsmart_session_cache size \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < NGX_HTTP_IAMSMART_SESSION_CACHE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "iamsmart_session_cache size \"%V\" is too "
                           "small, the minimum is 64k", &value[1]);
        return NGX_CONF_ERROR;
    }

    valid = NGX_HTTP_IAMSMART_SESSION_CACHE_VALID;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "valid=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            valid = ngx_parse_time(&s, 0);

            if (valid == NGX_ERROR || valid == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid iamsmart_session_cache "
                                   "\"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (valid > NGX_HTTP_IAMSMART_SESSION_CACHE_VALID_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "iamsmart_session_cache \"%V\" is too "
                                   "long, the maximum is 60s (a logout on "
                                   "another gateway host takes up to "
                                   "\"valid\" to reach this one)",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_iamsmart_scache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    cache->valid = (ngx_msec_t) valid;

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_iamsmart_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->data != NULL) {
        return "is duplicate";
    }

    zone->init = ngx_http_iamsmart_session_cache_init_zone;
    zone->data = cache;

    mcf->session_cache = zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_iamsmart_session_cache_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_iamsmart_scache_t  *ocache = data;

    size_t                       len;
    ngx_http_iamsmart_scache_t  *cache;

    cache = zone->data;

    if (ocache != NULL) {
        /* a reload with the same size keeps the entries: they are keyed by
         * the secret's HMAC, so a new secret cannot find them */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_http_iamsmart_scache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_iamsmart_scache_insert_value);
    ngx_queue_init(&cache->sh->queue);
    cache->sh->generation = 0;
    cache->sh->serial = 0;

    len = sizeof(" in iamsmart_session_cache zone \"\"") + zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx,
                " in iamsmart_session_cache zone \"%V\"%Z", &zone->shm.name);

    /* a full zone is normal: the oldest entries make room */
    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * NGX_OK: *session is the cached record, opened, for the caller to own
 * (iams_session_free) and to check for expiry; NGX_DECLINED: ask Redis.
 * Either way *generation is what ngx_http_iamsmart_session_cache_put()
 * needs to store what is read next.
 */
ngx_int_t
ngx_http_iamsmart_session_cache_get(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *key, size_t len,
    ngx_uint_t *generation, iams_session **session)
{
    u_char                              buf[
                                    NGX_HTTP_IAMSMART_SESSION_CACHE_RECORD_MAX];
    size_t                              n;
    uint32_t                            hash;
    uint64_t                            serial;
    ngx_msec_t                          expires;
    ngx_http_iamsmart_scache_t         *cache;
    ngx_http_iamsmart_scache_node_t    *sn;
    ngx_http_iamsmart_scache_opened_t  *o;

    if (mcf->session_cache == NULL) {
        return NGX_DECLINED;
    }

    cache = mcf->session_cache->data;
    hash = ngx_crc32_short((u_char *) key, len);

    /* a few steps of a sweep that drops opened copies past their time */
    o = &ngx_http_iamsmart_scache_opened[ngx_http_iamsmart_scache_sweep++
                                    % NGX_HTTP_IAMSMART_SESSION_CACHE_OPENED];

    if (o->serial && (ngx_msec_int_t) (o->expires - ngx_current_msec) <= 0) {
        ngx_http_iamsmart_scache_opened_free(o);
    }

    ngx_shmtx_lock(&cache->shpool->mutex);

    *generation = cache->sh->generation;

    sn = ngx_http_iamsmart_scache_lookup(cache, key, len, hash);

    if (sn == NULL
        || (ngx_msec_int_t) (sn->expires - ngx_current_msec) <= 0)
    {
        if (sn != NULL) {
            ngx_http_iamsmart_scache_delete(cache, sn);
        }

        ngx_shmtx_unlock(&cache->shpool->mutex);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "iamsmart: session cache %s",
                       sn ? "expired" : "miss");
        return NGX_DECLINED;
    }

    serial = sn->serial;
    expires = sn->expires;

    o = &ngx_http_iamsmart_scache_opened[serial
                                    % NGX_HTTP_IAMSMART_SESSION_CACHE_OPENED];
    n = 0;

    if (o->serial != serial) {
        n = sn->len;
        ngx_memcpy(buf, sn->data + sn->key_len, n);
    }

    ngx_queue_remove(&sn->queue);
    ngx_queue_insert_head(&cache->sh->queue, &sn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    if (o->serial == serial) {
        if (iams_session_clone(o->session, session, NULL) != IAMS_OK) {
            return NGX_DECLINED;
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "iamsmart: session cache hit");
        return NGX_OK;
    }

    *session = ngx_http_iamsmart_scache_open(r, mcf, key, len, buf, n, serial,
                                             expires);

    if (*session == NULL) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "iamsmart: session cache hit, record opened");

    return NGX_OK;
}


/*
 * Opens an entry's record as iams_session_decode() does after a GET, and
 * keeps the opened form for the next requests of this worker.  A record
 * that does not open is forgotten (the caller asks Redis, which then
 * decides).
 */
static iams_session *
ngx_http_iamsmart_scache_open(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *key, size_t len,
    u_char *record, size_t record_len, uint64_t serial, ngx_msec_t expires)
{
    iams_err                            err;
    iams_session                       *s, *kept;
    ngx_http_iamsmart_scache_opened_t  *o;

    if (iams_session_decode(mcf->keyring, key, len, (char *) record,
                            record_len, &s, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: cached session record rejected: %s: %s",
                      iams_status_str(err.status), err.detail);
        ngx_http_iamsmart_session_cache_forget(mcf, key, len);
        return NULL;
    }

    if (iams_session_clone(s, &kept, NULL) == IAMS_OK) {
        o = &ngx_http_iamsmart_scache_opened[serial
                                    % NGX_HTTP_IAMSMART_SESSION_CACHE_OPENED];
        ngx_http_iamsmart_scache_opened_free(o);

        o->serial = serial;
        o->expires = expires;
        o->session = kept;

        if (!ngx_http_iamsmart_scache_sweeper.timer_set) {
            ngx_http_iamsmart_scache_dumb.fd = (ngx_socket_t) -1;
            ngx_http_iamsmart_scache_sweeper.data =
                                      &ngx_http_iamsmart_scache_dumb;
            ngx_http_iamsmart_scache_sweeper.handler =
                                      ngx_http_iamsmart_scache_sweep_handler;
            ngx_http_iamsmart_scache_sweeper.log = ngx_cycle->log;
            ngx_http_iamsmart_scache_sweeper.cancelable = 1;
            ngx_add_timer(&ngx_http_iamsmart_scache_sweeper,
                          ((ngx_http_iamsmart_scache_t *)
                           mcf->session_cache->data)->valid);
        }
    }

    return s;
}


static void
ngx_http_iamsmart_scache_sweep_handler(ngx_event_t *ev)
{
    ngx_uint_t                          i, left, dropped;
    ngx_msec_t                          next;
    ngx_http_iamsmart_scache_opened_t  *o;

    left = 0;
    next = 0;
    dropped = 0;

    for (i = 0; i < NGX_HTTP_IAMSMART_SESSION_CACHE_OPENED; i++) {
        o = &ngx_http_iamsmart_scache_opened[i];

        if (o->serial == 0) {
            continue;
        }

        if ((ngx_msec_int_t) (o->expires - ngx_current_msec) <= 0) {
            ngx_http_iamsmart_scache_opened_free(o);
            dropped++;
            continue;
        }

        if (!left || (ngx_msec_int_t) (o->expires - next) < 0) {
            next = o->expires;
        }

        left = 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "iamsmart: session cache sweep dropped %ui opened copies",
                   dropped);

    if (left) {
        ngx_add_timer(ev, next - ngx_current_msec + 1);
    }
}


static void
ngx_http_iamsmart_scache_opened_free(ngx_http_iamsmart_scache_opened_t *o)
{
    iams_session_free(o->session);
    o->session = NULL;
    o->serial = 0;
}


void
ngx_http_iamsmart_session_cache_exit_process(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_IAMSMART_SESSION_CACHE_OPENED; i++) {
        ngx_http_iamsmart_scache_opened_free(
                                       &ngx_http_iamsmart_scache_opened[i]);
    }
}


/*
 * Stores a live session's sealed record for "valid", replacing any entry
 * of the key, unless an entry was forgotten since generation was read.
 */
void
ngx_http_iamsmart_session_cache_put(ngx_http_iamsmart_main_conf_t *mcf,
    const char *key, size_t key_len, const u_char *record, size_t len,
    ngx_uint_t generation, ngx_log_t *log)
{
    uint32_t                          hash;
    ngx_http_iamsmart_scache_t       *cache;
    ngx_http_iamsmart_scache_node_t  *sn;

    if (mcf->session_cache == NULL) {
        return;
    }

    if (len > NGX_HTTP_IAMSMART_SESSION_CACHE_RECORD_MAX
        || key_len > IAMS_SESSION_KEY_MAX)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "iamsmart: session record of %uz bytes not cached",
                       len);
        return;
    }

    cache = mcf->session_cache->data;
    hash = ngx_crc32_short((u_char *) key, key_len);

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (cache->sh->generation != generation) {
        ngx_shmtx_unlock(&cache->shpool->mutex);

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                       "iamsmart: session cache not filled: a session was "
                       "written meanwhile");
        return;
    }

    sn = ngx_http_iamsmart_scache_lookup(cache, key, key_len, hash);
    if (sn != NULL) {
        ngx_http_iamsmart_scache_delete(cache, sn);
    }

    sn = ngx_http_iamsmart_scache_alloc(cache,
                     offsetof(ngx_http_iamsmart_scache_node_t, data)
                     + key_len + len);
    if (sn == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "iamsmart: iamsmart_session_cache zone is too small "
                      "for a record of %uz bytes", len);
        return;
    }

    sn->node.key = hash;
    sn->expires = ngx_current_msec + cache->valid;
    sn->serial = ++cache->sh->serial;
    sn->key_len = (u_short) key_len;
    sn->len = (u_short) len;
    ngx_memcpy(sn->data, key, key_len);
    ngx_memcpy(sn->data + key_len, record, len);

    ngx_rbtree_insert(&cache->sh->rbtree, &sn->node);
    ngx_queue_insert_head(&cache->sh->queue, &sn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                   "iamsmart: session cache filled");
}


/* Before and after this gateway writes or deletes a session record. */
void
ngx_http_iamsmart_session_cache_forget(ngx_http_iamsmart_main_conf_t *mcf,
    const char *key, size_t len)
{
    uint32_t                          hash;
    ngx_http_iamsmart_scache_t       *cache;
    ngx_http_iamsmart_scache_node_t  *sn;

    if (mcf->session_cache == NULL) {
        return;
    }

    cache = mcf->session_cache->data;
    hash = ngx_crc32_short((u_char *) key, len);

    ngx_shmtx_lock(&cache->shpool->mutex);

    cache->sh->generation++;

    sn = ngx_http_iamsmart_scache_lookup(cache, key, len, hash);
    if (sn != NULL) {
        ngx_http_iamsmart_scache_delete(cache, sn);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


static void
ngx_http_iamsmart_scache_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t               **p;
    ngx_http_iamsmart_scache_node_t  *sn, *st;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            sn = (ngx_http_iamsmart_scache_node_t *) node;
            st = (ngx_http_iamsmart_scache_node_t *) temp;

            p = (ngx_memn2cmp(sn->data, st->data, sn->key_len, st->key_len)
                 < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_iamsmart_scache_node_t *
ngx_http_iamsmart_scache_lookup(ngx_http_iamsmart_scache_t *cache,
    const char *key, size_t len, uint32_t hash)
{
    ngx_int_t                         rc;
    ngx_rbtree_node_t                *node, *sentinel;
    ngx_http_iamsmart_scache_node_t  *sn;

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        sn = (ngx_http_iamsmart_scache_node_t *) node;

        rc = ngx_memn2cmp((u_char *) key, sn->data, len, sn->key_len);

        if (rc == 0) {
            return sn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_iamsmart_scache_delete(ngx_http_iamsmart_scache_t *cache,
    ngx_http_iamsmart_scache_node_t *sn)
{
    ngx_queue_remove(&sn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, &sn->node);
    ngx_slab_free_locked(cache->shpool, sn);
}


/*
 * Room for an entry: expired entries at the old end go first; when the
 * zone is still full, the least recently used ones, a bounded number.
 */
static ngx_http_iamsmart_scache_node_t *
ngx_http_iamsmart_scache_alloc(ngx_http_iamsmart_scache_t *cache, size_t size)
{
    ngx_uint_t                        n;
    ngx_queue_t                      *q;
    ngx_http_iamsmart_scache_node_t  *sn, *old;

    for (n = 0; n < 2 && !ngx_queue_empty(&cache->sh->queue); n++) {
        q = ngx_queue_last(&cache->sh->queue);
        old = ngx_queue_data(q, ngx_http_iamsmart_scache_node_t, queue);

        if ((ngx_msec_int_t) (old->expires - ngx_current_msec) > 0) {
            break;
        }

        ngx_http_iamsmart_scache_delete(cache, old);
    }

    for (n = 0; n < NGX_HTTP_IAMSMART_SESSION_CACHE_EVICT_MAX; n++) {

        sn = ngx_slab_alloc_locked(cache->shpool, size);
        if (sn != NULL) {
            return sn;
        }

        if (ngx_queue_empty(&cache->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&cache->sh->queue);
        old = ngx_queue_data(q, ngx_http_iamsmart_scache_node_t, queue);
        ngx_http_iamsmart_scache_delete(cache, old);
    }

    return NULL;
}
