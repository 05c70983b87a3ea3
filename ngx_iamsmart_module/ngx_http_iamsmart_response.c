
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * JSON responses the gateway produces itself (errors, API answers), and the
 * pool cleanup that ties a jansson value to a request or configuration.
 */


#include "ngx_http_iamsmart.h"


static void ngx_http_iamsmart_json_cleanup(void *data);


ngx_int_t
ngx_http_iamsmart_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    char                      *text;
    size_t                     len;
    ngx_str_t                  ct = ngx_string("application/json");
    ngx_str_t                  cc = ngx_string("no-store");
    ngx_http_complex_value_t   cv;

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(text);

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));

    cv.value.data = ngx_pnalloc(r->pool, len + 1);
    if (cv.value.data == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(cv.value.data, text, len);
    cv.value.data[len] = '\n';
    cv.value.len = len + 1;
    free(text);

    if (ngx_http_iamsmart_add_header(r, "Cache-Control", &cc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_send_response(r, status, &ct, &cv);
}


/*
 * For phase handlers (access) that answer by themselves: the response is
 * sent and the request finalized here, and NGX_DONE stops the phase engine.
 */
/* {"error": error, "error_description": description} */
ngx_int_t
ngx_http_iamsmart_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *description)
{
    return ngx_http_iamsmart_send_json(r, status,
               json_pack("{s:s, s:s}", "error", error, "error_description",
                         description ? description : ""));
}


ngx_int_t
ngx_http_iamsmart_finalize_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    return ngx_http_iamsmart_finalize(r,
               ngx_http_iamsmart_send_json(r, status, body));
}


/* Never from a content handler: the content phase finalizes by itself. */
ngx_int_t
ngx_http_iamsmart_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


ngx_int_t
ngx_http_iamsmart_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


ngx_int_t
ngx_http_iamsmart_json_add_cleanup(ngx_pool_t *pool, json_t *v)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        json_decref(v);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_iamsmart_json_cleanup;
    cln->data = v;

    return NGX_OK;
}


static void
ngx_http_iamsmart_json_cleanup(void *data)
{
    json_decref(data);
}


/*
 * Rebuilds the request's header list without the headers drop() selects,
 * with room for "extra" more.  nginx's named header pointers keep using the
 * old list, which stays intact in the pool; only what is proxied changes.
 */
ngx_int_t
ngx_http_iamsmart_filter_headers(ngx_http_request_t *r,
    ngx_http_iamsmart_header_drop_pt drop, void *data, ngx_uint_t extra)
{
    ngx_uint_t        i, n;
    ngx_list_t        list;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    n = extra;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&list, r->pool, n ? n : 1, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (drop(r, &h[i], data)) {
            continue;
        }

        copy = ngx_list_push(&list);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    /* the list's "last" may point at its own first part: move it along */
    r->headers_in.headers = list;

    if (list.last == &list.part) {
        r->headers_in.headers.last = &r->headers_in.headers.part;
    }

    return NGX_OK;
}
