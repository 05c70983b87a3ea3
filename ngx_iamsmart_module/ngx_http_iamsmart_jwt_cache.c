
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Per-worker cache of verified tokens, so that a client repeating one token
 * does not pay for a signature check on every request.
 *
 * The key is the SHA-256 of the token plus the key set (and its version,
 * for keys fetched by subrequest) and algorithm list it was verified under:
 * a token verified in one location never counts as verified in a location
 * with other keys.  Only signature verification is
 * cached; the caller still checks exp/nbf/iss/aud on every request.  The
 * table is direct-mapped with a fixed number of slots (a collision evicts),
 * so memory is bounded whatever clients send.  Entries expire with the token
 * (at most NGX_HTTP_IAMSMART_JWT_CACHE_TTL).  Workers are single-threaded,
 * so jansson reference counts need no locking; memory is freed at worker
 * exit.
 */


#include "ngx_http_iamsmart.h"


#define NGX_HTTP_IAMSMART_JWT_CACHE_SLOTS  1024
#define NGX_HTTP_IAMSMART_JWT_CACHE_TTL    600


typedef struct {
    u_char                          digest[32];
    ngx_http_iamsmart_jwt_scope_t   scope;
    time_t                          expires;
    json_t                         *header;
    json_t                         *claims;
} ngx_http_iamsmart_jwt_cache_entry_t;


static ngx_http_iamsmart_jwt_cache_entry_t  *ngx_http_iamsmart_jwt_cache;


static ngx_http_iamsmart_jwt_cache_entry_t *
ngx_http_iamsmart_jwt_cache_slot(const u_char *digest)
{
    uint32_t  h;

    if (ngx_http_iamsmart_jwt_cache == NULL) {
        ngx_http_iamsmart_jwt_cache = ngx_calloc(
            NGX_HTTP_IAMSMART_JWT_CACHE_SLOTS
            * sizeof(ngx_http_iamsmart_jwt_cache_entry_t), ngx_cycle->log);

        if (ngx_http_iamsmart_jwt_cache == NULL) {
            return NULL;
        }
    }

    ngx_memcpy(&h, digest, sizeof(uint32_t));

    return &ngx_http_iamsmart_jwt_cache[h % NGX_HTTP_IAMSMART_JWT_CACHE_SLOTS];
}


static void
ngx_http_iamsmart_jwt_cache_evict(ngx_http_iamsmart_jwt_cache_entry_t *e)
{
    json_decref(e->header);
    json_decref(e->claims);
    ngx_memzero(e, sizeof(ngx_http_iamsmart_jwt_cache_entry_t));
}


ngx_int_t
ngx_http_iamsmart_jwt_cache_lookup(const u_char *digest,
    const ngx_http_iamsmart_jwt_scope_t *scope,
    ngx_http_iamsmart_jwt_result_t *res)
{
    ngx_http_iamsmart_jwt_cache_entry_t  *e;

    e = ngx_http_iamsmart_jwt_cache_slot(digest);

    if (e == NULL || e->header == NULL
        || e->scope.keys != scope->keys
        || e->scope.version != scope->version
        || e->scope.algorithms != scope->algorithms
        || ngx_memcmp(e->digest, digest, sizeof(e->digest)) != 0)
    {
        return NGX_DECLINED;
    }

    if (e->expires < ngx_time()) {
        ngx_http_iamsmart_jwt_cache_evict(e);
        return NGX_DECLINED;
    }

    res->header = json_incref(e->header);
    res->claims = json_incref(e->claims);

    return NGX_OK;
}


void
ngx_http_iamsmart_jwt_cache_store(const u_char *digest,
    const ngx_http_iamsmart_jwt_scope_t *scope, json_t *header,
    json_t *claims)
{
    time_t                                now, expires;
    json_t                               *exp;
    ngx_http_iamsmart_jwt_cache_entry_t  *e;

    now = ngx_time();
    expires = now + NGX_HTTP_IAMSMART_JWT_CACHE_TTL;

    exp = json_object_get(claims, "exp");

    if (json_is_number(exp)) {
        if (json_number_value(exp) < (double) now) {
            return;
        }

        if (json_number_value(exp) < (double) expires) {
            expires = (time_t) json_number_value(exp);
        }
    }

    e = ngx_http_iamsmart_jwt_cache_slot(digest);
    if (e == NULL) {
        return;
    }

    if (e->header != NULL) {
        ngx_http_iamsmart_jwt_cache_evict(e);
    }

    ngx_memcpy(e->digest, digest, sizeof(e->digest));
    e->scope = *scope;
    e->expires = expires;
    e->header = json_incref(header);
    e->claims = json_incref(claims);
}


void
ngx_http_iamsmart_jwt_cache_free(void)
{
    ngx_uint_t  i;

    if (ngx_http_iamsmart_jwt_cache == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_IAMSMART_JWT_CACHE_SLOTS; i++) {
        if (ngx_http_iamsmart_jwt_cache[i].header != NULL) {
            ngx_http_iamsmart_jwt_cache_evict(&ngx_http_iamsmart_jwt_cache[i]);
        }
    }

    ngx_free(ngx_http_iamsmart_jwt_cache);
    ngx_http_iamsmart_jwt_cache = NULL;
}
