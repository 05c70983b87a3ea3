
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Login with iAM Smart: the redirect to getQR, the callback, and logout.
 *
 * Starting a login (access phase, no session):
 *   a random state is stored in Redis for ten minutes, sealed, together
 *   with the URL to return to and a random value also set in a browser
 *   cookie ("<session cookie>_login"), then the browser goes to getQR.
 *
 * The callback (content handler "iamsmart_callback"), one step per wait:
 *
 *   START      parse code/state/error_code; GETDEL the state (single use)
 *   STATE      the state must exist and match the browser's cookie; an
 *              error_code ends here with a friendly page; else GET the CEK
 *   CEK        a cached, fresh CEK: getToken; otherwise getKey first
 *   GETKEY     unwrap and cache the CEK, then getToken
 *   TOKEN      D3000x: one more getKey and getToken; success: a new
 *              session id (never the one the browser had) is stored
 *   SESSION    Set-Cookie and a redirect to the stored return URL
 *   HANDOFF    a state made for an anonymous form (_prefill_anon.c): no
 *              getToken and no session here; the code was handed over,
 *              sealed, and the browser goes back to the form
 *
 * Every wait returns NGX_DONE with r->main->count raised once; the resume
 * handler runs the next step and finalizes with what it returns.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <iamsmart/encoding.h>
#include <iamsmart/random.h>
#include <iamsmart/sealed.h>


#define NGX_HTTP_IAMSMART_LOGIN_TTL      600
#define NGX_HTTP_IAMSMART_BINDING_BYTES  32
#define NGX_HTTP_IAMSMART_BINDING_LEN    43
#define NGX_HTTP_IAMSMART_STATE_RECORD_MAX  4096


typedef enum {
    NGX_HTTP_IAMSMART_CB_START = 0,
    NGX_HTTP_IAMSMART_CB_STATE,
    NGX_HTTP_IAMSMART_CB_TOKEN,
    NGX_HTTP_IAMSMART_CB_SESSION,
    NGX_HTTP_IAMSMART_CB_HANDOFF         /* an anonymous form's approval */
} ngx_http_iamsmart_cb_step_e;


typedef struct {
    ngx_http_iamsmart_main_conf_t      *mcf;
    ngx_http_iamsmart_cb_step_e         step;
    ngx_http_iamsmart_redis_wait_t      redis;
    ngx_http_iamsmart_pcall_t           token;

    iams_login_callback                 cb;
    ngx_str_t                           binding;     /* browser's cookie */
    ngx_str_t                           state_key;
    ngx_str_t                           return_url;
    json_t                             *anonymous;  /* its state record */

    char                                session_key[IAMS_SESSION_KEY_MAX + 1];
    size_t                              session_key_len;
    char                                cookie[IAMS_SESSION_COOKIE_LEN + 1];
} ngx_http_iamsmart_callback_t;


static ngx_int_t ngx_http_iamsmart_login_redirect(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx);

static void ngx_http_iamsmart_callback_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_callback_step(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb);
static ngx_int_t ngx_http_iamsmart_callback_state(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb);
static ngx_int_t ngx_http_iamsmart_callback_check_state(
    ngx_http_request_t *r, ngx_http_iamsmart_callback_t *cb);
static ngx_int_t ngx_http_iamsmart_callback_token(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb);
static ngx_int_t ngx_http_iamsmart_callback_session(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb);
static ngx_int_t ngx_http_iamsmart_callback_wait_redis(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb, ngx_http_iamsmart_cb_step_e next,
    int argc, const char **argv, const size_t *argvlen);
static ngx_int_t ngx_http_iamsmart_login_failed(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb, ngx_uint_t status, iams_pcode pcode);
static ngx_int_t ngx_http_iamsmart_login_problem(ngx_http_request_t *r,
    ngx_uint_t status, const char *en, const char *zh, ngx_str_t *retry);


/* ---- starting a login ---- */


ngx_int_t
ngx_http_iamsmart_login_required(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx)
{
    char                         *sealed, state[IAMS_STATE_LEN + 1];
    json_t                       *record;
    iams_err                      err;
    ngx_int_t                     rc;
    ngx_str_t                     binding, return_url;
    ngx_http_iamsmart_set_cmd_t   set;

    if (ctx->login_state == 1) {
        return ngx_http_iamsmart_login_redirect(r, mcf, ctx);
    }

    if (ngx_http_iamsmart_wants_json(r)) {
        return ngx_http_iamsmart_finalize_json(r, NGX_HTTP_UNAUTHORIZED,
                   json_pack("{s:s, s:s}", "error", "login_required",
                             "error_description",
                             "sign in with iAM Smart first"));
    }

    return_url = r->unparsed_uri;

    if (iams_return_url_check((char *) return_url.data, return_url.len, &err)
        != IAMS_OK)
    {
        ngx_str_set(&return_url, "/");
    }

    if (ngx_http_iamsmart_login_binding(r, mcf, &binding) != NGX_OK
        || iams_state_generate(state, &err) != IAMS_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    record = json_pack("{s:s%}", "r", return_url.data, return_url.len);

    if (ngx_http_iamsmart_state_store_cmd(r, mcf, state, &binding, record,
                                          &set, &sealed)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_iamsmart_redis_call(r, &ctx->redis, set.argc, set.argv,
                                      set.argvlen);
    free(sealed);

    if (rc == NGX_DECLINED) {
        return ngx_http_iamsmart_finalize(r,
                   ngx_http_iamsmart_unavailable(r, "redis is down"));
    }

    if (rc != NGX_AGAIN) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->login_state = 1;
    ctx->login_binding = binding;

    ngx_memcpy(ctx->login_statebuf, state, IAMS_STATE_LEN + 1);

    return NGX_AGAIN;
}


/* one binding cookie per browser, so two tabs can log in at once */
ngx_int_t
ngx_http_iamsmart_login_binding(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_str_t *binding)
{
    size_t          len;
    iams_err        err;
    ngx_int_t       rc;
    unsigned char   raw[NGX_HTTP_IAMSMART_BINDING_BYTES];

    rc = NGX_OK;

    if (ngx_http_iamsmart_get_cookie(r, &mcf->login_cookie_name, binding)
        != NGX_OK
        || binding->len != NGX_HTTP_IAMSMART_BINDING_LEN
        || iams_b64url_decode((char *) binding->data, binding->len, raw,
                              sizeof(raw), &len) != IAMS_OK)
    {
        binding->data = ngx_pnalloc(r->pool, NGX_HTTP_IAMSMART_BINDING_LEN);

        if (binding->data == NULL
            || iams_random_bytes(raw, sizeof(raw), &err) != IAMS_OK)
        {
            rc = NGX_ERROR;

        } else {
            binding->len = iams_b64url_encode(raw, sizeof(raw),
                                              (char *) binding->data);
        }
    }

    OPENSSL_cleanse(raw, sizeof(raw));

    return rc;
}


/*
 * Seals a state record (takes the reference; "b", the binding, and "t"
 * are added) under the state's key for this browser, ready to SET NX for
 * ten minutes: *sealed is malloc()ed and backs *set until it is sent.
 */
ngx_int_t
ngx_http_iamsmart_state_store_cmd(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *state, ngx_str_t *binding,
    json_t *record, ngx_http_iamsmart_set_cmd_t *set, char **sealed)
{
    char       *text;
    size_t      sealed_len;
    iams_err    err;
    ngx_str_t   key;
    ngx_int_t   rc;

    text = NULL;

    if (record != NULL
        && json_object_set_new(record, "b",
                               json_stringn((char *) binding->data,
                                            binding->len)) == 0
        && json_object_set_new(record, "t",
                               json_integer((json_int_t) ngx_time())) == 0)
    {
        text = json_dumps(record, JSON_COMPACT);
    }

    json_decref(record);

    if (text == NULL
        || ngx_http_iamsmart_binding_key(r, "login", state,
                                         ngx_strlen(state), binding, &key)
           != NGX_OK)
    {
        free(text);
        return NGX_ERROR;
    }

    rc = iams_seal(mcf->keyring, IAMS_KEY_LOGIN_STATE, "l1",
                   key.data, key.len, (unsigned char *) text,
                   ngx_strlen(text), sealed, &sealed_len, &err);
    OPENSSL_cleanse(text, ngx_strlen(text));
    free(text);

    if (rc != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: cannot seal login state: %s", err.detail);
        return NGX_ERROR;
    }

    ngx_http_iamsmart_set_cmd(set, (char *) key.data, key.len, *sealed,
                              sealed_len, NGX_HTTP_IAMSMART_LOGIN_TTL, "NX");

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_login_redirect(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx)
{
    if (!ctx->redis.done) {
        return NGX_AGAIN;
    }

    if (ctx->redis.error != NULL) {
        return ngx_http_iamsmart_finalize(r,
                   ngx_http_iamsmart_unavailable(r, ctx->redis.error));
    }

    if (ctx->redis.type != REDIS_REPLY_STATUS) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: login state not stored");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_iamsmart_getqr_redirect(r, mcf, ctx->login_statebuf,
                                            NULL, &mcf->scopes,
                                            &ctx->login_binding);
}


/* The browser to getQR, holding the binding cookie its state is bound to;
 * a ticket (the anonymous flow) goes along. */
ngx_int_t
ngx_http_iamsmart_getqr_redirect(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, const char *state,
    const char *ticket_id, ngx_str_t *scope, ngx_str_t *binding)
{
    char               *url;
    size_t              len;
    iams_err            err;
    iams_source         source;
    ngx_str_t           location;
    ngx_table_elt_t    *ua;
    iams_getqr_params   p;

    ua = r->headers_in.user_agent;
    source = ua ? iams_source_from_user_agent((char *) ua->value.data,
                                              ua->value.len)
                : IAMS_SOURCE_PC_BROWSER;

    ngx_memzero(&p, sizeof(iams_getqr_params));
    p.base_url.data = (char *) mcf->platform_url.data;
    p.base_url.len = mcf->platform_url.len;
    p.client_id.data = (char *) mcf->client_id.data;
    p.client_id.len = mcf->client_id.len;
    p.redirect_uri.data = (char *) mcf->redirect_uri.data;
    p.redirect_uri.len = mcf->redirect_uri.len;
    p.scope.data = (char *) scope->data;
    p.scope.len = scope->len;
    p.lang.data = (char *) mcf->lang.data;
    p.lang.len = mcf->lang.len;
    p.state.data = state;
    p.state.len = ngx_strlen(state);
    p.source = source;
    p.broker_page = iams_source_broker_page(source);

    if (ticket_id != NULL) {
        p.ticket_id.data = ticket_id;
        p.ticket_id.len = ngx_strlen(ticket_id);
    }

    if (iams_getqr_url(&p, &url, &len, &err) != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: cannot build the getQR URL: %s", err.detail);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    location.data = ngx_pnalloc(r->pool, len);
    if (location.data == NULL) {
        free(url);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(location.data, url, len);
    location.len = len;
    free(url);

    if (ngx_http_iamsmart_set_cookie(r, &mcf->login_cookie_name,
                                     (char *) binding->data, binding->len,
                                     &mcf->login_cookie_attrs,
                                     "; Max-Age=600")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_iamsmart_redirect(r, &location)
        != NGX_HTTP_MOVED_TEMPORARILY)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
           ? NGX_HTTP_MOVED_TEMPORARILY : NGX_HTTP_SEE_OTHER;
}


ngx_int_t
ngx_http_iamsmart_wants_json(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 6
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept", 6) == 0
            && ngx_strlcasestrn(h[i].value.data,
                                h[i].value.data + h[i].value.len,
                                (u_char *) "application/json", 16 - 1)
               != NULL)
        {
            return 1;
        }

        if (h[i].key.len == 16
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Requested-With",
                               16) == 0)
        {
            return 1;
        }
    }
}


/*
 * A key that includes a hash of the browser's binding cookie: another
 * browser holding the callback URL (or a form's return link) addresses
 * another key, so it can neither use nor consume (GETDEL) the citizen's
 * record.  kind: "login" for states, "anon" for anonymous form hand-offs.
 */
ngx_int_t
ngx_http_iamsmart_binding_key(ngx_http_request_t *r, const char *kind,
    const char *id, size_t len, ngx_str_t *binding, ngx_str_t *key)
{
    u_char  *p, digest[32];
    size_t   kind_len;

    if (EVP_Digest(binding->data, binding->len, digest, NULL, EVP_sha256(),
                   NULL) != 1)
    {
        return NGX_ERROR;
    }

    kind_len = ngx_strlen(kind);

    key->data = ngx_pnalloc(r->pool, sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                                     + kind_len + sizeof(":v1:.") + len + 16);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(key->data, NGX_HTTP_IAMSMART_REDIS_PREFIX "%s:v1:%*s.%*xs",
                    kind, len, id, (size_t) 8, digest);
    key->len = p - key->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_iamsmart_set_cookie(ngx_http_request_t *r, ngx_str_t *name,
    const char *value, size_t len, ngx_str_t *attrs, const char *extra)
{
    u_char     *p;
    size_t      n;
    ngx_str_t   header;

    n = name->len + 1 + len + attrs->len + (extra ? ngx_strlen(extra) : 0);

    header.data = ngx_pnalloc(r->pool, n);
    if (header.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(header.data, name->data, name->len);
    *p++ = '=';
    p = ngx_cpymem(p, value, len);

    if (extra) {
        p = ngx_cpymem(p, extra, ngx_strlen(extra));
    }

    p = ngx_cpymem(p, attrs->data, attrs->len);
    header.len = p - header.data;

    return ngx_http_iamsmart_add_header(r, "Set-Cookie", &header);
}


/* ---- the callback ---- */


ngx_int_t
ngx_http_iamsmart_callback_handler(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t       *ctx;
    ngx_http_iamsmart_callback_t  *cb;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cb = ngx_pcalloc(r->pool, sizeof(ngx_http_iamsmart_callback_t));
    if (cb == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cb->mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);
    cb->redis.resume = ngx_http_iamsmart_callback_resume;

    ctx = ngx_http_iamsmart_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->login = cb;

    return ngx_http_iamsmart_callback_step(r, cb);
}


static void
ngx_http_iamsmart_callback_resume(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t       *ctx;
    ngx_http_iamsmart_callback_t  *cb;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    cb = ctx->login;

    /* the parent of a subrequest may be woken for other reasons */
    if (cb->redis.waiting || cb->token.redis.waiting
        || cb->token.call.pending)
    {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_iamsmart_callback_step(r, cb));
}


static ngx_int_t
ngx_http_iamsmart_callback_step(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb)
{
    ngx_int_t  rc;

    switch (cb->step) {

    case NGX_HTTP_IAMSMART_CB_START:
        return ngx_http_iamsmart_callback_state(r, cb);

    case NGX_HTTP_IAMSMART_CB_STATE:
        return ngx_http_iamsmart_callback_check_state(r, cb);

    case NGX_HTTP_IAMSMART_CB_TOKEN:
        rc = ngx_http_iamsmart_pcall(r, &cb->token);

        if (rc == NGX_AGAIN) {
            r->main->count++;
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_iamsmart_callback_token(r, cb);

    case NGX_HTTP_IAMSMART_CB_HANDOFF:
        if (cb->redis.error != NULL || cb->redis.type != REDIS_REPLY_STATUS) {
            return ngx_http_iamsmart_login_failed(r, cb,
                       NGX_HTTP_SERVICE_UNAVAILABLE, IAMS_PCODE_UNKNOWN);
        }

        return ngx_http_iamsmart_redirect(r, &cb->return_url);

    default: /* NGX_HTTP_IAMSMART_CB_SESSION */
        return ngx_http_iamsmart_callback_session(r, cb);
    }
}


static ngx_int_t
ngx_http_iamsmart_callback_wait_redis(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb, ngx_http_iamsmart_cb_step_e next,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_int_t  rc;

    rc = ngx_http_iamsmart_redis_call(r, &cb->redis, argc, argv, argvlen);

    if (rc == NGX_DECLINED) {
        return ngx_http_iamsmart_login_failed(r, cb,
                                              NGX_HTTP_SERVICE_UNAVAILABLE,
                                              IAMS_PCODE_UNKNOWN);
    }

    if (rc != NGX_AGAIN) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cb->step = next;
    r->main->count++;

    return NGX_DONE;
}


/* START: parse the callback, consume the state */
static ngx_int_t
ngx_http_iamsmart_callback_state(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb)
{
    size_t       argvlen[2];
    iams_err     err;
    ngx_str_t    key;
    const char  *argv[2];

    if (iams_login_callback_parse((char *) r->args.data, r->args.len,
                                  &cb->cb, &err)
        != IAMS_OK || cb->cb.state_len == 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: invalid login callback: %s", err.detail);

        return ngx_http_iamsmart_login_problem(r, NGX_HTTP_BAD_REQUEST,
                   "This sign-in link is not valid.",
                   "此登入連結無效。", NULL);
    }

    if (ngx_http_iamsmart_get_cookie(r, &cb->mcf->login_cookie_name,
                                     &cb->binding) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: login callback without the browser's "
                      "binding cookie");

        return ngx_http_iamsmart_login_problem(r, NGX_HTTP_BAD_REQUEST,
                   "This sign-in was started in another browser, or your "
                   "browser does not keep cookies. Please sign in again "
                   "here.",
                   "此登入由另一瀏覽器開始，或你的瀏覽器未有保留 cookie。"
                   "請在此重新登入。", NULL);
    }

    if (ngx_http_iamsmart_binding_key(r, "login", cb->cb.state,
                                      cb->cb.state_len, &cb->binding,
                                      &cb->state_key)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key = cb->state_key;

    argv[0] = "GETDEL";
    argvlen[0] = 6;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;

    return ngx_http_iamsmart_callback_wait_redis(r, cb,
                                                 NGX_HTTP_IAMSMART_CB_STATE,
                                                 2, argv, argvlen);
}


/* STATE: the state record must match this browser; then getToken */
static ngx_int_t
ngx_http_iamsmart_callback_check_state(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb)
{
    char                         *plain;
    size_t                        pt_len, plain_len;
    json_t                       *record, *b, *u;
    iams_err                      err;
    ngx_int_t                     rc;
    ngx_str_t                     key, binding;
    iams_span                     code;
    iams_status                   st;
    unsigned char                *pt;
    ngx_http_iamsmart_set_cmd_t   set;

    if (cb->redis.error != NULL) {
        return ngx_http_iamsmart_login_failed(r, cb,
                   NGX_HTTP_SERVICE_UNAVAILABLE, IAMS_PCODE_UNKNOWN);
    }

    if (cb->redis.type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: login callback with an unknown, expired "
                      "or already used state");

        return ngx_http_iamsmart_login_problem(r, NGX_HTTP_BAD_REQUEST,
                   "This sign-in has expired or was already completed. "
                   "Please sign in again.",
                   "此登入已逾時或已完成，請重新登入。", NULL);
    }

    key = cb->state_key;

    st = iams_unseal(cb->mcf->keyring, IAMS_KEY_LOGIN_STATE, "l1", key.data,
                     key.len, (char *) cb->redis.str.data, cb->redis.str.len,
                     NGX_HTTP_IAMSMART_STATE_RECORD_MAX, &pt, &pt_len, &err);
    if (st != IAMS_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: login state rejected: %s", err.detail);
        return ngx_http_iamsmart_login_failed(r, cb, NGX_HTTP_BAD_REQUEST,
                                              IAMS_PCODE_UNKNOWN);
    }

    record = iams_json_parse_object((char *) pt, pt_len,
                                    NGX_HTTP_IAMSMART_STATE_RECORD_MAX, &err);
    OPENSSL_cleanse(pt, pt_len);
    free(pt);

    b = json_object_get(record, "b");
    u = json_object_get(record, "r");

    binding = cb->binding;

    if (!json_is_string(b) || !json_is_string(u)
        || binding.len != json_string_length(b)
        || CRYPTO_memcmp(binding.data, json_string_value(b), binding.len)
           != 0)
    {
        json_decref(record);

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: login callback from another browser "
                      "(state not bound to this browser's cookie)");

        return ngx_http_iamsmart_login_problem(r, NGX_HTTP_BAD_REQUEST,
                   "This sign-in was started in another browser. Please "
                   "sign in again here.",
                   "此登入由另一瀏覽器開始，請在此重新登入。", NULL);
    }

    cb->return_url.len = json_string_length(u);
    cb->return_url.data = ngx_pnalloc(r->pool, cb->return_url.len);

    if (cb->return_url.data == NULL) {
        json_decref(record);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(cb->return_url.data, json_string_value(u), cb->return_url.len);

    /* a form filled without a login: its own record, no session */
    if (json_is_string(json_object_get(record, "k"))
        && ngx_strcmp(json_string_value(json_object_get(record, "k")),
                      "anon") == 0)
    {
        cb->anonymous = record;

        if (ngx_http_iamsmart_json_add_cleanup(r->pool, record) != NGX_OK) {
            json_decref(record);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        json_decref(record);
    }

    if (iams_return_url_check((char *) cb->return_url.data,
                              cb->return_url.len, &err)
        != IAMS_OK)
    {
        ngx_str_set(&cb->return_url, "/");
    }

    if (cb->cb.is_error) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: login ended by the platform: %s (%s)",
                      cb->cb.error_code, iams_pcode_name(cb->cb.error_pcode));

        return ngx_http_iamsmart_login_failed(r, cb, NGX_HTTP_OK,
                                              cb->cb.error_pcode);
    }

    if (cb->anonymous != NULL) {
        /* the form's location redeems the code; hand it over, sealed */
        if (ngx_http_iamsmart_anon_handoff_cmd(r, cb->mcf, &cb->binding,
                                               cb->anonymous, &cb->cb,
                                               &cb->return_url, &set, &plain)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_iamsmart_callback_wait_redis(r, cb,
                                                   NGX_HTTP_IAMSMART_CB_HANDOFF,
                                                   set.argc, set.argv,
                                                   set.argvlen);
        free(plain);

        return rc;
    }

    code.data = cb->cb.code;
    code.len = cb->cb.code_len;

    if (iams_token_request_body(code, &plain, &plain_len, &err) != IAMS_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_iamsmart_pcall_plaintext(r, &cb->token, plain, plain_len)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cb->token.mcf = cb->mcf;
    cb->token.path = "/api/v1/auth/getToken";
    cb->token.resume = ngx_http_iamsmart_callback_resume;
    cb->step = NGX_HTTP_IAMSMART_CB_TOKEN;

    rc = ngx_http_iamsmart_pcall(r, &cb->token);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_iamsmart_callback_token(r, cb);
}


/* TOKEN: the getToken answer; success creates the session */
static ngx_int_t
ngx_http_iamsmart_callback_token(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb)
{
    char                         *sealed;
    size_t                        sealed_len, len;
    int64_t                       ttl;
    ngx_int_t                     rc;
    iams_err                      err;
    iams_token                    tok;
    iams_status                   st;
    iams_session                 *s;
    iams_session_id               id;
    iams_session_init             init;
    ngx_http_iamsmart_set_cmd_t   set;

    if (cb->token.failure) {
        return ngx_http_iamsmart_login_failed(r, cb, cb->token.failure,
                                              IAMS_PCODE_UNKNOWN);
    }

    if (cb->token.reply.pcode != IAMS_PCODE_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: getToken answered %s (%s), txID %s",
                      cb->token.reply.code,
                      iams_pcode_name(cb->token.reply.pcode),
                      cb->token.reply.tx_id);

        return ngx_http_iamsmart_login_failed(r, cb, NGX_HTTP_OK,
                                              cb->token.reply.pcode);
    }

    st = iams_token_parse(cb->token.content, ngx_http_iamsmart_now_ms(),
                          &tok, &err);

    if (st != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: getToken content rejected: %s", err.detail);
        return ngx_http_iamsmart_login_failed(r, cb, NGX_HTTP_BAD_GATEWAY,
                                              IAMS_PCODE_UNKNOWN);
    }

    ngx_memzero(&init, sizeof(iams_session_init));
    init.open_id = tok.open_id;
    init.open_id_len = ngx_strlen(tok.open_id);
    init.scope = tok.scope;
    init.scope_len = ngx_strlen(tok.scope);
    init.user_type = tok.user_type;
    init.user_type_len = ngx_strlen(tok.user_type);
    init.access_token = tok.access_token;
    init.access_token_len = ngx_strlen(tok.access_token);
    init.token_expires_at = tok.expires_at_ms / 1000;
    init.now = ngx_time();
    init.idle_timeout = cb->mcf->session_idle;
    init.max_lifetime = cb->mcf->session_absolute;

    st = iams_session_new(&init, &s, &err);
    iams_token_clear(&tok);

    if (st != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: cannot create the session: %s", err.detail);
        return ngx_http_iamsmart_login_failed(r, cb, NGX_HTTP_BAD_GATEWAY,
                                              IAMS_PCODE_UNKNOWN);
    }

    /* a fresh id: whatever cookie the browser had is never promoted */

    if (iams_session_id_generate(&id, &err) != IAMS_OK
        || iams_session_redis_key(cb->mcf->keyring, IAMS_KEY_CURRENT,
                                  NGX_HTTP_IAMSMART_REDIS_PREFIX,
                                  sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX) - 1,
                                  &id, cb->session_key,
                                  sizeof(cb->session_key), &len, &err)
           != IAMS_OK)
    {
        iams_session_free(s);
        iams_session_id_clear(&id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cb->session_key_len = len;
    iams_session_id_to_cookie(&id, cb->cookie);
    iams_session_id_clear(&id);

    ttl = iams_session_ttl(s, init.now);
    st = iams_session_encode(s, cb->mcf->keyring, cb->session_key, len,
                             &sealed, &sealed_len, &err);
    iams_session_free(s);

    if (st != IAMS_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_iamsmart_set_cmd(&set, cb->session_key, len, sealed, sealed_len,
                              ttl, "NX");

    rc = ngx_http_iamsmart_callback_wait_redis(r, cb,
                                               NGX_HTTP_IAMSMART_CB_SESSION,
                                               set.argc, set.argv,
                                               set.argvlen);
    free(sealed);

    return rc;
}


/* SESSION: stored; hand the cookie over and go back */
static ngx_int_t
ngx_http_iamsmart_callback_session(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb)
{
    char       hash[IAMS_SESSION_HASH_LEN + 1];
    ngx_int_t  rc;

    if (cb->redis.error != NULL || cb->redis.type != REDIS_REPLY_STATUS) {
        OPENSSL_cleanse(cb->cookie, sizeof(cb->cookie));
        return ngx_http_iamsmart_login_failed(r, cb,
                   NGX_HTTP_SERVICE_UNAVAILABLE, IAMS_PCODE_UNKNOWN);
    }

    iams_session_log_hash(cb->session_key, cb->session_key_len, hash);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "iamsmart: login complete, session %s", hash);

    rc = ngx_http_iamsmart_set_cookie(r, &cb->mcf->cookie_name, cb->cookie,
                                      IAMS_SESSION_COOKIE_LEN,
                                      &cb->mcf->cookie_attrs, NULL);
    OPENSSL_cleanse(cb->cookie, sizeof(cb->cookie));

    if (rc != NGX_OK
        || ngx_http_iamsmart_set_cookie(r, &cb->mcf->login_cookie_name, "", 0,
                                        &cb->mcf->login_cookie_attrs,
                                        "; Max-Age=0")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_iamsmart_redirect(r, &cb->return_url);
}


static ngx_int_t
ngx_http_iamsmart_login_failed(ngx_http_request_t *r,
    ngx_http_iamsmart_callback_t *cb, ngx_uint_t status, iams_pcode pcode)
{
    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        return ngx_http_iamsmart_login_problem(r, status,
                   "The sign-in service is temporarily unavailable. "
                   "Please try again in a moment.",
                   "登入服務暫時未能使用，請稍後再試。", &cb->return_url);
    }

    return ngx_http_iamsmart_login_problem(r, status,
               iams_pcode_message(pcode, IAMS_LANG_EN),
               iams_pcode_message(pcode, IAMS_LANG_ZH_HK),
               cb->return_url.len ? &cb->return_url : NULL);
}


static ngx_int_t
ngx_http_iamsmart_login_problem(ngx_http_request_t *r, ngx_uint_t status,
    const char *en, const char *zh, ngx_str_t *retry)
{
    ngx_http_iamsmart_page_t  page;

    ngx_memzero(&page, sizeof(ngx_http_iamsmart_page_t));
    page.title_en = "Sign in with iAM Smart";
    page.title_zh = "以「智方便」登入";
    page.text_en = en;
    page.text_zh = zh;
    page.action_en = "Try again";
    page.action_zh = "再試一次";

    if (retry != NULL) {
        page.link = *retry;

    } else {
        ngx_str_set(&page.link, "/");
    }

    return ngx_http_iamsmart_send_page(r, status, &page);
}


/* 302 to a same-origin path or to the platform (an absolute URL) */
ngx_int_t
ngx_http_iamsmart_redirect(ngx_http_request_t *r, ngx_str_t *to)
{
    ngx_table_elt_t  *location;

    ngx_http_clear_location(r);

    location = ngx_list_push(&r->headers_out.headers);
    if (location == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    location->hash = 1;
    ngx_str_set(&location->key, "Location");
    location->value = *to;
#if (nginx_version >= 1023000)
    location->next = NULL;
#endif
    r->headers_out.location = location;

    return NGX_HTTP_MOVED_TEMPORARILY;
}


/* ---- logout ---- */


static void ngx_http_iamsmart_logout_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_logout_done(ngx_http_request_t *r);


ngx_int_t
ngx_http_iamsmart_logout_handler(ngx_http_request_t *r)
{
    int                             argc;
    char                            previous[IAMS_SESSION_KEY_MAX + 1];
    size_t                          len, argvlen[3];
    ngx_int_t                       rc;
    iams_err                        err;
    ngx_str_t                       value;
    const char                     *argv[3];
    iams_session_id                 id;
    ngx_http_iamsmart_ctx_t        *ctx;
    ngx_http_iamsmart_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* another site must not sign a citizen out (a link or an image) */
    if (ngx_http_iamsmart_cross_site(r)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: cross-site logout refused");
        return NGX_HTTP_FORBIDDEN;
    }

    ctx = ngx_http_iamsmart_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_iamsmart_get_cookie(r, &mcf->cookie_name, &value) != NGX_OK
        || iams_session_id_from_cookie((char *) value.data, value.len, &id,
                                       &err)
           != IAMS_OK)
    {
        return ngx_http_iamsmart_logout_done(r);
    }

    rc = iams_session_redis_key(mcf->keyring, IAMS_KEY_CURRENT,
                                NGX_HTTP_IAMSMART_REDIS_PREFIX,
                                sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX) - 1,
                                &id, ctx->session_key,
                                sizeof(ctx->session_key), &len, &err);

    argv[0] = "DEL";
    argvlen[0] = 3;
    argv[1] = ctx->session_key;
    argvlen[1] = len;
    argc = 2;

    /* after a secret rotation the record may still sit under the previous
     * secret's key, where the next request would find it */
    if (rc == IAMS_OK && iams_keyring_has_previous(mcf->keyring)) {
        rc = iams_session_redis_key(mcf->keyring, IAMS_KEY_PREVIOUS,
                                    NGX_HTTP_IAMSMART_REDIS_PREFIX,
                                    sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                                    - 1, &id, previous, sizeof(previous),
                                    &argvlen[2], &err);
        argv[2] = previous;
        argc = 3;
    }

    iams_session_id_clear(&id);

    if (rc != IAMS_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    iams_session_log_hash(ctx->session_key, len, ctx->session_hash);
    ctx->session_key_len = len;

    ngx_http_iamsmart_session_cache_forget(mcf, ctx->session_key, len);

    ctx->redis.resume = ngx_http_iamsmart_logout_resume;

    return ngx_http_iamsmart_redis_await(r, &ctx->redis, argc, argv,
                                         argvlen);
}


static void
ngx_http_iamsmart_logout_resume(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    /* again: a worker's GET answered before the DEL may have refilled it */
    ngx_http_iamsmart_session_cache_forget(
        ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module),
        ctx->session_key, ctx->session_key_len);

    if (ctx->redis.error != NULL) {
        ngx_http_finalize_request(r,
            ngx_http_iamsmart_unavailable(r, ctx->redis.error));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "iamsmart: logout, session %s deleted",
                  ctx->session_hash);

    ngx_http_finalize_request(r, ngx_http_iamsmart_logout_done(r));
}


static ngx_int_t
ngx_http_iamsmart_logout_done(ngx_http_request_t *r)
{
    ngx_http_iamsmart_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);

    if (ngx_http_iamsmart_set_cookie(r, &mcf->cookie_name, "", 0,
                                     &mcf->cookie_attrs, "; Max-Age=0")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_iamsmart_redirect(r, &mcf->logout_redirect);
}


/*
 * Whether the browser says the request comes from another site: the Fetch
 * Metadata header when present, else Origin, else Referer compared with
 * Host.  A request with none of them (a typed URL, an old browser) is not
 * refused.
 */
ngx_uint_t
ngx_http_iamsmart_cross_site(ngx_http_request_t *r)
{
    u_char           *p, *last;
    ngx_str_t         v;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *origin, *site;

    origin = NULL;
    site = NULL;

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

        if (h[i].key.len == 14
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Sec-Fetch-Site", 14)
               == 0)
        {
            site = &h[i];

        } else if (h[i].key.len == 6
                   && ngx_strncasecmp(h[i].key.data, (u_char *) "Origin", 6)
                      == 0)
        {
            origin = &h[i];
        }
    }

    if (site != NULL) {
        v = site->value;

        return !((v.len == 11
                  && ngx_strncasecmp(v.data, (u_char *) "same-origin", 11)
                     == 0)
                 || (v.len == 4
                     && ngx_strncasecmp(v.data, (u_char *) "none", 4) == 0));
    }

    if (origin == NULL && r->headers_in.referer == NULL) {
        return 0;
    }

    if (r->headers_in.host == NULL) {
        return 1;
    }

    v = origin ? origin->value : r->headers_in.referer->value;
    p = v.data;
    last = p + v.len;

    if (last - p > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        p += 8;

    } else if (last - p > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        p += 7;

    } else {
        return 1;
    }

    /* the authority must be exactly the Host header, port included */
    return !((size_t) (last - p) >= r->headers_in.host->value.len
             && ngx_strncasecmp(p, r->headers_in.host->value.data,
                                r->headers_in.host->value.len) == 0
             && ((size_t) (last - p) == r->headers_in.host->value.len
                 || p[r->headers_in.host->value.len] == '/'));
}
