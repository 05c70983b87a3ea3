
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * "iamsmart_data": a signed-in citizen reads one of their own data sets
 * from the department that holds it, through that department's adapter:
 *
 *   GET /my/data?dataset=td.driving_licence
 *
 * The location needs "iamsmart_auth on".  The department sees the
 * citizen's pairwise subject, as with bridging.  Errors name the
 * department: 502 when its backend or adapter fails, 504 on a timeout.
 */


#include "ngx_http_iamsmart.h"


static void ngx_http_iamsmart_data_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_data_answer(ngx_http_request_t *r,
    ngx_http_iamsmart_source_call_t *sc);


/* The canonical query for dataset on behalf of the session's citizen. */
ngx_int_t
ngx_http_iamsmart_canonical_query(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_department_t *dept,
    iams_session *s, ngx_str_t *dataset, json_t *extra, ngx_str_t *query)
{
    char      *text, sub[IAMS_PAIRWISE_SUB_LEN + 1];
    json_t    *q;
    iams_err   err;

    if (iams_pairwise_subject(mcf->keyring, (char *) dept->ns.data,
                              dept->ns.len, s->open_id,
                              ngx_strlen(s->open_id), sub, &err)
        != IAMS_OK)
    {
        return NGX_ERROR;
    }

    q = json_pack("{s:s%, s:s}", "dataset", dataset->data, dataset->len,
                  "subject", sub);
    if (q == NULL) {
        return NGX_ERROR;
    }

    if (extra != NULL && json_object_update(q, extra) != 0) {
        json_decref(q);
        return NGX_ERROR;
    }

    text = json_dumps(q, JSON_COMPACT);
    json_decref(q);

    if (text == NULL) {
        return NGX_ERROR;
    }

    query->len = ngx_strlen(text);
    query->data = ngx_pnalloc(r->pool, query->len);

    if (query->data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(query->data, text, query->len);
    free(text);

    return NGX_OK;
}


ngx_int_t
ngx_http_iamsmart_data_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         dataset;
    ngx_http_iamsmart_ctx_t          *ctx;
    ngx_http_iamsmart_main_conf_t    *mcf;
    ngx_http_iamsmart_source_call_t  *sc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    if (ctx == NULL || ctx->session == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: \"iamsmart_data\" needs \"iamsmart_auth on\" "
                      "in its location");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);

    if (ngx_http_arg(r, (u_char *) "dataset", 7, &dataset) != NGX_OK
        || dataset.len == 0 || dataset.len > 128)
    {
        return ngx_http_iamsmart_send_json(r, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:s, s:s}", "error", "invalid_request",
                             "error_description",
                             "give the data set as ?dataset=<dept>.<name>"));
    }

    sc = ngx_pcalloc(r->pool, sizeof(ngx_http_iamsmart_source_call_t));
    if (sc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sc->dept = ngx_http_iamsmart_department_of_dataset(mcf, &dataset);

    if (sc->dept == NULL) {
        return ngx_http_iamsmart_send_json(r, NGX_HTTP_NOT_FOUND,
                   json_pack("{s:s, s:s%}", "error", "unknown_dataset",
                             "dataset", dataset.data, dataset.len));
    }

    if (ngx_http_iamsmart_canonical_query(r, mcf, sc->dept, ctx->session,
                                          &dataset, NULL, &sc->query)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sc->call.resume = ngx_http_iamsmart_data_resume;
    ctx->login = sc;

    rc = ngx_http_iamsmart_source_start(r, sc);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_iamsmart_data_answer(r, sc);
}


static void
ngx_http_iamsmart_data_resume(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_http_iamsmart_ctx_t          *ctx;
    ngx_http_iamsmart_source_call_t  *sc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    sc = ctx->login;

    if (sc->call.pending) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_iamsmart_source_finish(r, sc);

    ngx_http_finalize_request(r, rc == NGX_OK
                                 ? ngx_http_iamsmart_data_answer(r, sc)
                                 : NGX_HTTP_INTERNAL_SERVER_ERROR);
}


static ngx_int_t
ngx_http_iamsmart_data_answer(ngx_http_request_t *r,
    ngx_http_iamsmart_source_call_t *sc)
{
    json_t    *data;
    iams_err   err;

    if (sc->status != NGX_HTTP_OK) {
        return ngx_http_iamsmart_send_json(r, sc->status,
                   ngx_http_iamsmart_source_error_json(sc));
    }

    data = iams_json_parse_object((char *) sc->data.data, sc->data.len,
                                  IAMS_ADAPTER_OUTPUT_MAX, &err);
    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_iamsmart_send_json(r, NGX_HTTP_OK, data);
}
