
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Calls to the iAM Smart platform API.  Each call is an nginx subrequest to
 * the internal location the operator names with "iamsmart_platform_api"
 * (proxy_pass, TLS, timeouts and keepalive stay nginx's); the body is built
 * and signed by core (platform.h) and the reply is read from memory.
 *
 * The operator's location must hold the whole reply in one buffer:
 * "subrequest_output_buffer_size" at least as large as the largest reply
 * (64k is plenty; a smaller one makes nginx drop the connection).
 */


#include "ngx_http_iamsmart.h"

#include <sys/time.h>


static ngx_int_t ngx_http_iamsmart_platform_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_iamsmart_push_header(ngx_http_request_t *sr,
    const char *name, const char *value, size_t len);


/* per worker: the platform wants non-decreasing timestamps */
static uint64_t  ngx_http_iamsmart_last_timestamp;


ngx_int_t
ngx_http_iamsmart_platform_post(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *path, const char *body,
    size_t body_len, ngx_http_iamsmart_platform_call_t *call)
{
    u_char               *p;
    uint64_t              now;
    iams_err              err;
    iams_span             client_id, nonce_span;
    ngx_str_t             uri;
    iams_header           headers[IAMS_SIGNED_HEADERS];
    struct timeval        tv;
    iams_signed_request   signed_req;
    char                  nonce[IAMS_NONCE_LEN + 1];

    ngx_gettimeofday(&tv);
    now = (uint64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
    ngx_http_iamsmart_last_timestamp =
        iams_timestamp_next(ngx_http_iamsmart_last_timestamp, now);

    if (iams_nonce_generate(nonce, &err) != IAMS_OK) {
        return NGX_ERROR;
    }

    client_id.data = (char *) mcf->client_id.data;
    client_id.len = mcf->client_id.len;
    nonce_span.data = nonce;
    nonce_span.len = IAMS_NONCE_LEN;

    if (iams_sign_request(client_id, mcf->client_secret.data,
                          mcf->client_secret.len,
                          ngx_http_iamsmart_last_timestamp, nonce_span,
                          (const unsigned char *) body, body_len,
                          &signed_req, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: cannot sign platform request: %s",
                      err.detail);
        return NGX_ERROR;
    }

    uri.len = mcf->platform_api.len + ngx_strlen(path);
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, mcf->platform_api.data, mcf->platform_api.len);
    ngx_memcpy(p, path, ngx_strlen(path));

    iams_signed_request_headers(&signed_req, client_id, headers);

    return ngx_http_iamsmart_fetch(r, &uri, NULL, body, body_len, headers,
                                   IAMS_SIGNED_HEADERS, call);
}


/*
 * An in-memory subrequest carrying only the headers given (never the
 * citizen's), a POST when body is not NULL, else a GET.
 */
ngx_int_t
ngx_http_iamsmart_fetch(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_str_t *args, const char *body, size_t body_len, iams_header *headers,
    size_t nheaders, ngx_http_iamsmart_platform_call_t *call)
{
    size_t                        i;
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_request_t           *sr;
    ngx_http_request_body_t      *rb;
    ngx_http_post_subrequest_t   *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(call, offsetof(ngx_http_iamsmart_platform_call_t, resume));
    ps->handler = ngx_http_iamsmart_platform_done;
    ps->data = call;

    if (ngx_http_subrequest(r, uri, args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_array_init(&sr->headers_in.cookies, r->pool, 1,
                          sizeof(ngx_table_elt_t *))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < nheaders; i++) {
        if (ngx_http_iamsmart_push_header(sr, headers[i].name,
                                          headers[i].value,
                                          headers[i].value_len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    call->pending = 1;

    if (body == NULL) {
        sr->method = NGX_HTTP_GET;
        ngx_str_set(&sr->method_name, "GET");
        sr->headers_in.content_length_n = -1;
        sr->request_body = NULL;
        sr->header_only = 0;
        return NGX_OK;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");
    sr->headers_in.content_length_n = body_len;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (rb == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    if (body_len) {
        b->start = ngx_pnalloc(r->pool, body_len);
        if (b->start == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(b->start, body, body_len);
        b->pos = b->start;
        b->last = b->start + body_len;
        b->end = b->last;
        b->memory = 1;
    }

    b->last_buf = 1;
    cl->buf = b;
    cl->next = NULL;
    rb->bufs = cl;
    sr->request_body = rb;

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_push_header(ngx_http_request_t *sr, const char *name,
    const char *value, size_t len)
{
    size_t            n;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    n = ngx_strlen(name);

    h->key.data = (u_char *) name;
    h->key.len = n;

    h->value.data = ngx_pnalloc(sr->pool, len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(h->value.data, value, len);
    h->value.len = len;

    h->lowcase_key = ngx_pnalloc(sr->pool, n);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, n);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_platform_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_iamsmart_platform_call_t *call = data;

    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl;

    if (!call->pending) {
        /* called again, with an error found after the reply was taken:
         * already answered, and it must not end the main request */
        return (rc == NGX_ERROR) ? NGX_OK : rc;
    }

    call->pending = 0;
    call->done = 1;
    call->status = sr->headers_out.status;

    if (rc == NGX_ERROR) {
        /*
         * e.g. a reply larger than subrequest_output_buffer_size: a failed
         * call for the caller to answer, not the end of the main request
         * (which NGX_ERROR from here would be)
         */
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "iamsmart: subrequest \"%V\" failed", &sr->uri);

        call->status = NGX_HTTP_BAD_GATEWAY;
        call->upstream_failed = 1;
        call->body.len = 0;

        if (call->resume) {
            sr->parent->write_event_handler = call->resume;
        }

        return NGX_OK;
    }

    if (call->status == 0 || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* no answer from upstream: nginx's own error (502, 504, ...) */
        call->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) rc
                                                         : 502;
        call->upstream_failed = 1;
    }

    if (sr->headers_out.content_type.len) {
        call->content_type.data = ngx_pnalloc(sr->parent->pool,
                                        sr->headers_out.content_type.len);
        if (call->content_type.data != NULL) {
            ngx_memcpy(call->content_type.data,
                       sr->headers_out.content_type.data,
                       sr->headers_out.content_type.len);
            call->content_type.len = sr->headers_out.content_type.len;
        }
    }

    len = 0;

    for (cl = sr->out; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > IAMS_PLATFORM_REPLY_MAX) {
        call->status = 502;
        len = 0;
    }

    call->body.data = ngx_pnalloc(sr->parent->pool, len + 1);
    if (call->body.data == NULL) {
        call->status = 500;
        return rc;
    }

    p = call->body.data;

    for (cl = sr->out; cl && len; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    *p = '\0';
    call->body.len = p - call->body.data;

    if (call->resume) {
        sr->parent->write_event_handler = call->resume;
    }

    return rc;
}


/* configuration */


ngx_int_t
ngx_http_iamsmart_platform_check(ngx_conf_t *cf,
    ngx_http_iamsmart_main_conf_t *mcf)
{
    const char  *missing;

    missing = NULL;

    if (mcf->platform_url.len == 0) {
        missing = "iamsmart_platform_url";

    } else if (mcf->platform_api.len == 0) {
        missing = "iamsmart_platform_api";

    } else if (mcf->client_id.len == 0) {
        missing = "iamsmart_client_id";

    } else if (mcf->client_secret.len == 0) {
        missing = "iamsmart_client_secret_file";

    } else if (mcf->kek == NULL) {
        missing = "iamsmart_kek_file";

    } else if (mcf->redirect_uri.len == 0) {
        missing = "iamsmart_redirect_uri";
    }

    if (missing) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"iamsmart_auth\" needs \"%s\"", missing);
        return NGX_ERROR;
    }

    if (mcf->scopes.len == 0) {
        ngx_str_set(&mcf->scopes, "eidapi_auth");
    }

    return NGX_OK;
}


static void
ngx_http_iamsmart_kek_cleanup(void *data)
{
    iams_kek_free(data);
}


char *
ngx_http_iamsmart_kek_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    iams_err             err;
    ngx_str_t           *value, path;
    ngx_pool_cleanup_t  *cln;

    if (mcf->kek != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (iams_kek_load_file((char *) path.data, &mcf->kek, &err) != IAMS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "iamsmart_kek_file \"%V\": %s%s%s", &path,
                           iams_status_str(err.status),
                           err.detail[0] ? ": " : "", err.detail);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_iamsmart_kek_cleanup;
    cln->data = mcf->kek;

    return NGX_CONF_OK;
}


char *
ngx_http_iamsmart_client_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->client_secret.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_iamsmart_read_secret_file(cf, &value[1], &mcf->client_secret)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_iamsmart_platform_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->platform_api.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '/'
        || value[1].data[value[1].len - 1] == '/')
    {
        return "must be a location prefix such as /_iamsmart_api "
               "(starting with \"/\", without a trailing \"/\")";
    }

    mcf->platform_api = value[1];

    return NGX_CONF_OK;
}


char *
ngx_http_iamsmart_absolute_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *field, *value;

    field = (ngx_str_t *) ((u_char *) conf + cmd->offset);

    if (field->len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (!(value[1].len > 8 && ngx_strncmp(value[1].data, "https://", 8) == 0)
        && !(value[1].len > 7
             && ngx_strncmp(value[1].data, "http://", 7) == 0))
    {
        return "must be an absolute http:// or https:// URL";
    }

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '?')
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, '#'))
    {
        return "must not have a query or fragment";
    }

    *field = value[1];

    return NGX_CONF_OK;
}
