
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Department adapters in nginx: loading at configuration time, running one
 * adapter against its department's backend, and the service catalogue.
 *
 *   iamsmart_adapter NAME /path/adapter.so [config=file.json] [slow=5ms];
 *   iamsmart_department TD { backend /_dept/td; adapter td; ... }
 *   location /_dept/td/ { internal; proxy_pass http://td-backend/; }
 *   location = /catalogue { iamsmart_catalogue; }
 *
 * Loading and every check live in core (adapter_host.h); its messages name
 * the file and the cause and become `nginx -t` errors as they are.  The
 * adapter is unloaded with the configuration that loaded it, so a reload
 * swaps adapters while old workers finish with the old code.
 *
 * A source call (one adapter, one data set) is: map_request in the worker,
 * the backend request as an in-memory subrequest to the department's
 * backend location (proxy timeouts stay the operator's), map_response.
 * Several source calls of one request run at the same time.
 */


#include "ngx_http_iamsmart.h"


#define NGX_HTTP_IAMSMART_HEADERS_MAX  16


static void *ngx_http_iamsmart_adapter_alloc(void *ctx, size_t n);
static void ngx_http_iamsmart_adapter_log(void *ctx, int level,
    const char *msg, size_t len);
static void ngx_http_iamsmart_adapter_cleanup(void *data);
static ngx_int_t ngx_http_iamsmart_source_fail(ngx_http_request_t *r,
    ngx_http_iamsmart_source_call_t *sc, ngx_uint_t status,
    const char *error, const char *detail);


/* iamsmart_adapter NAME PATH [config=FILE] [slow=TIME]; */
char *
ngx_http_iamsmart_adapter_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_iamsmart_main_conf_t *mcf = conf;

    ngx_int_t                  slow;
    ngx_str_t                 *value, path, config, s;
    ngx_uint_t                 i;
    iams_adapter              *adapter;
    iams_adapter_env           env;
    iams_adapter_spec          spec;
    iams_adapter_diag          diag;
    ngx_pool_cleanup_t        *cln;
    iams_adapter_load_status   st;
    ngx_http_iamsmart_adapter_t  *a;

    value = cf->args->elts;
    path = value[2];
    ngx_str_null(&config);
    slow = 0;

    for (i = 3; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "config=", 7) == 0) {
            config.data = value[i].data + 7;
            config.len = value[i].len - 7;

            if (ngx_conf_full_name(cf->cycle, &config, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

        } else if (ngx_strncmp(value[i].data, "slow=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;
            slow = ngx_parse_time(&s, 0);

            if (slow == NGX_ERROR || slow == 0) {
                return "has an invalid slow= time";
            }

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (mcf->adapters == NULL) {
        mcf->adapters = ngx_array_create(cf->pool, 8,
                                         sizeof(ngx_http_iamsmart_adapter_t));
        if (mcf->adapters == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    a = mcf->adapters->elts;

    for (i = 0; i < mcf->adapters->nelts; i++) {
        if (a[i].name.len == value[1].len
            && ngx_strncmp(a[i].name.data, value[1].data, value[1].len) == 0)
        {
            return "names an adapter twice";
        }
    }

    ngx_memzero(&spec, sizeof(iams_adapter_spec));
    spec.name = (char *) value[1].data;
    spec.path = (char *) path.data;
    spec.config_path = config.len ? (char *) config.data : NULL;
    spec.slow_usec = (uint64_t) slow * 1000;

    ngx_memzero(&env, sizeof(iams_adapter_env));
    env.log = ngx_http_iamsmart_adapter_log;
    env.log_ctx = cf->log;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    st = iams_adapter_load(&spec, &env, &adapter, &diag);

    if (st != IAMS_ADAPTER_LOAD_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", diag.message);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_iamsmart_adapter_cleanup;
    cln->data = adapter;

    a = ngx_array_push(mcf->adapters);
    if (a == NULL) {
        return NGX_CONF_ERROR;
    }

    a->name = value[1];
    a->adapter = adapter;

    ngx_conf_log_error(NGX_LOG_INFO, cf, 0,
                       "iamsmart: adapter \"%V\" (%s %s) loaded in %uLus",
                       &value[1], iams_adapter_department(adapter),
                       iams_adapter_version(adapter), diag.usec);

    return NGX_CONF_OK;
}


static void
ngx_http_iamsmart_adapter_cleanup(void *data)
{
    iams_adapter_unload(data);
}


/* Departments find their adapter by name, or by department code. */
ngx_int_t
ngx_http_iamsmart_adapters_link(ngx_conf_t *cf,
    ngx_http_iamsmart_main_conf_t *mcf)
{
    size_t                            len;
    ngx_uint_t                        i, j;
    const char                       *code;
    ngx_http_iamsmart_adapter_t      *a;
    ngx_http_iamsmart_department_t  **dept;

    if (mcf->departments == NULL) {
        return NGX_OK;
    }

    dept = mcf->departments->elts;
    a = mcf->adapters ? mcf->adapters->elts : NULL;

    for (i = 0; i < mcf->departments->nelts; i++) {

        for (j = 0; a && j < mcf->adapters->nelts; j++) {
            code = iams_adapter_department(a[j].adapter);
            len = code ? ngx_strlen(code) : 0;

            if (dept[i]->adapter_name.len
                ? (a[j].name.len == dept[i]->adapter_name.len
                   && ngx_strncmp(a[j].name.data, dept[i]->adapter_name.data,
                                  a[j].name.len) == 0)
                : (len == dept[i]->name.len
                   && ngx_strncasecmp((u_char *) code, dept[i]->name.data,
                                      len) == 0))
            {
                dept[i]->adapter = a[j].adapter;
                break;
            }
        }

        if (dept[i]->adapter_name.len && dept[i]->adapter == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "iamsmart_department \"%V\": no adapter "
                               "named \"%V\"", &dept[i]->name,
                               &dept[i]->adapter_name);
            return NGX_ERROR;
        }

        if (dept[i]->adapter && dept[i]->backend.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "iamsmart_department \"%V\" has an adapter "
                               "but no \"backend\" location", &dept[i]->name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_http_iamsmart_department_t *
ngx_http_iamsmart_department_of_dataset(ngx_http_iamsmart_main_conf_t *mcf,
    ngx_str_t *dataset)
{
    ngx_uint_t                        i;
    ngx_http_iamsmart_department_t  **dept;

    if (mcf->departments == NULL) {
        return NULL;
    }

    dept = mcf->departments->elts;

    for (i = 0; i < mcf->departments->nelts; i++) {
        if (dept[i]->adapter
            && iams_adapter_has_dataset(dept[i]->adapter,
                                        (char *) dataset->data, dataset->len))
        {
            return dept[i];
        }
    }

    return NULL;
}


void
ngx_http_iamsmart_adapter_env(ngx_http_request_t *r, iams_adapter_env *env)
{
    env->alloc = ngx_http_iamsmart_adapter_alloc;
    env->alloc_ctx = r->pool;
    env->log = ngx_http_iamsmart_adapter_log;
    env->log_ctx = r->connection->log;
}


static void *
ngx_http_iamsmart_adapter_alloc(void *ctx, size_t n)
{
    return ngx_palloc(ctx, n);
}


static void
ngx_http_iamsmart_adapter_log(void *ctx, int level, const char *msg,
    size_t len)
{
    ngx_uint_t  nlevel;

    switch (level) {
    case IAMS_ADAPTER_LOG_ERROR:
        nlevel = NGX_LOG_ERR;
        break;
    case IAMS_ADAPTER_LOG_WARN:
        nlevel = NGX_LOG_WARN;
        break;
    case IAMS_ADAPTER_LOG_INFO:
        nlevel = NGX_LOG_INFO;
        break;
    default:
        nlevel = NGX_LOG_DEBUG;
    }

    ngx_log_error(nlevel, (ngx_log_t *) ctx, 0, "iamsmart: %*s", len, msg);
}


/* ---- one source call ---- */


/*
 * Starts the backend request for sc->query.  NGX_AGAIN: the subrequest is
 * under way; NGX_OK: finished already (a mapping failure, in sc->status).
 */
ngx_int_t
ngx_http_iamsmart_source_start(ngx_http_request_t *r,
    ngx_http_iamsmart_source_call_t *sc)
{
    u_char                        *q, *p;
    size_t                         i, n;
    ngx_str_t                      uri, args;
    iams_header                    headers[NGX_HTTP_IAMSMART_HEADERS_MAX];
    iams_adapter_env               env;
    iams_adapter_diag              diag;
    iams_adapter_status            st;
    iams_adapter_backend_request   req;

    ngx_http_iamsmart_adapter_env(r, &env);

    st = iams_adapter_map_request(sc->dept->adapter, &env,
                                  (char *) sc->query.data, sc->query.len,
                                  &req, &diag);
    if (st != IAMS_ADAPTER_OK) {
        return ngx_http_iamsmart_source_fail(r, sc,
                                             iams_adapter_status_http(st),
                                             iams_adapter_status_str(st),
                                             diag.message);
    }

    q = ngx_strlchr((u_char *) req.path, (u_char *) req.path + req.path_len,
                    '?');

    uri.len = sc->dept->backend.len + (q ? (size_t) (q - (u_char *) req.path)
                                         : req.path_len);
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, sc->dept->backend.data, sc->dept->backend.len);
    ngx_memcpy(p, req.path, uri.len - sc->dept->backend.len);

    args.data = q ? q + 1 : NULL;
    args.len = q ? req.path_len - (q + 1 - (u_char *) req.path) : 0;

    n = ngx_min(req.nheaders, NGX_HTTP_IAMSMART_HEADERS_MAX);

    for (i = 0; i < n; i++) {
        /* names arrive lower case and are NUL-terminated (adapter_host.h) */
        headers[i].name = req.headers[i].name;
        headers[i].value = req.headers[i].value;
        headers[i].value_len = req.headers[i].value_len;
    }

    sc->started = ngx_current_msec;

    if (ngx_http_iamsmart_fetch(r, &uri, q ? &args : NULL,
                                (req.method_len == 4
                                 && ngx_strncmp(req.method, "POST", 4) == 0)
                                ? req.body : NULL,
                                req.body_len, headers, n, &sc->call)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* The backend answered (or could not be reached): map the reply. */
ngx_int_t
ngx_http_iamsmart_source_finish(ngx_http_request_t *r,
    ngx_http_iamsmart_source_call_t *sc)
{
    iams_adapter_env      env;
    iams_adapter_diag     diag;
    iams_adapter_reply    reply;
    iams_adapter_status   st;
    iams_adapter_header   ct;

    if (sc->call.status == NGX_HTTP_GATEWAY_TIME_OUT) {
        return ngx_http_iamsmart_source_fail(r, sc, NGX_HTTP_GATEWAY_TIME_OUT,
                                             "backend_timeout",
                                             "the backend did not answer in "
                                             "time");
    }

    if (sc->call.upstream_failed) {
        return ngx_http_iamsmart_source_fail(r, sc, NGX_HTTP_BAD_GATEWAY,
                                             "backend_unreachable",
                                             "the backend could not be "
                                             "reached");
    }

    ngx_memzero(&reply, sizeof(iams_adapter_reply));
    reply.size = sizeof(iams_adapter_reply);
    reply.status = sc->call.status;
    reply.body = (char *) sc->call.body.data;
    reply.body_len = sc->call.body.len;

    if (sc->call.content_type.len) {
        ct.name = "content-type";
        ct.name_len = sizeof("content-type") - 1;
        ct.value = (char *) sc->call.content_type.data;
        ct.value_len = sc->call.content_type.len;
        reply.headers = &ct;
        reply.nheaders = 1;
    }

    ngx_http_iamsmart_adapter_env(r, &env);

    st = iams_adapter_map_response(sc->dept->adapter, &env,
                                   (char *) sc->query.data, sc->query.len,
                                   &reply, (const char **) &sc->data.data,
                                   &sc->data.len, &diag);
    if (st != IAMS_ADAPTER_OK) {
        return ngx_http_iamsmart_source_fail(r, sc,
                                             iams_adapter_status_http(st),
                                             iams_adapter_status_str(st),
                                             diag.message);
    }

    sc->status = NGX_HTTP_OK;

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_source_fail(ngx_http_request_t *r,
    ngx_http_iamsmart_source_call_t *sc, ngx_uint_t status,
    const char *error, const char *detail)
{
    ngx_uint_t  level;

    level = (status >= 500) ? NGX_LOG_ERR : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0,
                  "iamsmart: department \"%V\": %s%s%s", &sc->dept->name,
                  error, detail[0] ? ": " : "", detail);

    sc->status = status;
    sc->error = error;
    sc->data.len = 0;

    return NGX_OK;
}


/* The JSON error body naming the department. */
json_t *
ngx_http_iamsmart_source_error_json(ngx_http_iamsmart_source_call_t *sc)
{
    return json_pack("{s:s, s:s%, s:s}",
                     "error", sc->error ? sc->error : "internal",
                     "department", sc->dept->name.data, sc->dept->name.len,
                     "error_description",
                     sc->status == NGX_HTTP_GATEWAY_TIME_OUT
                     ? "the department's system did not answer in time"
                     : sc->status >= 500
                     ? "the department's system failed to answer properly"
                     : "the department could not provide this data");
}


/* ---- the service catalogue ---- */


ngx_int_t
ngx_http_iamsmart_catalogue_handler(ngx_http_request_t *r)
{
    char                           *out, theme[33], age[33];
    size_t                          out_len, i;
    ngx_str_t                       arg, ct = ngx_string("application/json");
    ngx_str_t                       cc = ngx_string("public, max-age=60");
    iams_adapter                  **list;
    iams_adapter_diag               diag;
    iams_adapter_status             st;
    ngx_http_complex_value_t        cv;
    ngx_http_iamsmart_adapter_t    *a;
    ngx_http_iamsmart_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);

    theme[0] = '\0';
    age[0] = '\0';

    if (ngx_http_arg(r, (u_char *) "theme", 5, &arg) == NGX_OK) {
        if (arg.len == 0 || arg.len >= sizeof(theme)) {
            return ngx_http_iamsmart_send_json(r, NGX_HTTP_BAD_REQUEST,
                       json_pack("{s:s}", "error", "unknown theme"));
        }

        ngx_memcpy(theme, arg.data, arg.len);
        theme[arg.len] = '\0';
    }

    if (ngx_http_arg(r, (u_char *) "age_group", 9, &arg) == NGX_OK) {
        if (arg.len == 0 || arg.len >= sizeof(age)) {
            return ngx_http_iamsmart_send_json(r, NGX_HTTP_BAD_REQUEST,
                       json_pack("{s:s}", "error", "unknown age_group"));
        }

        ngx_memcpy(age, arg.data, arg.len);
        age[arg.len] = '\0';
    }

    i = mcf->adapters ? mcf->adapters->nelts : 0;

    list = ngx_palloc(r->pool, (i + 1) * sizeof(iams_adapter *));
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    a = mcf->adapters ? mcf->adapters->elts : NULL;

    for (i = 0; a && i < mcf->adapters->nelts; i++) {
        list[i] = a[i].adapter;
    }

    st = iams_adapter_catalogue(list, i, theme[0] ? theme : NULL,
                                age[0] ? age : NULL, &out, &out_len, &diag);

    if (st == IAMS_ADAPTER_ERR_INVALID_INPUT) {
        return ngx_http_iamsmart_send_json(r, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:s, s:s}", "error", "invalid_filter",
                             "error_description", diag.message));
    }

    if (st != IAMS_ADAPTER_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: catalogue: %s", diag.message);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value.data = ngx_pnalloc(r->pool, out_len);
    if (cv.value.data == NULL) {
        free(out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(cv.value.data, out, out_len);
    cv.value.len = out_len;
    free(out);

    if (ngx_http_iamsmart_add_header(r, "Cache-Control", &cc) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_send_response(r, NGX_HTTP_OK, &ct, &cv);
}
