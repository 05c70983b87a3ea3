
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Anonymous e-ME form filling ("iamsmart_prefill anonymous"): a citizen
 * who has not logged in fills a form from e-ME (protocol section 5).
 *
 *   GET ?form=<id>
 *     INITIATE  anonymous initiateRequest -> ticketID
 *     STORED    a state record (kind "anon": ticket, businessID, form, the
 *               way back) bound to the browser's binding cookie, as a
 *               login's; the browser goes to getQR with the ticket
 *   the login callback (_login.c) finds the "anon" record: it does not
 *   create a session, it seals the code in a hand-off record bound to the
 *   same cookie and sends the browser back with "&anon=<handle>"
 *   GET ?form=<id>&anon=<handle>
 *     HANDOFF   GETDEL the hand-off (single use; another browser addresses
 *               another key); then getToken with its code
 *     TOKEN     the token must be the ticket's; then getResult
 *     RESULT    businessID and state must be this request's: the fields
 *               go to done()
 *
 * Nothing identifies the citizen: the platform gives no openID, the
 * gateway keeps no session, and the access token is spent at once.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/crypto.h>
#include <iamsmart/sealed.h>


#define NGX_HTTP_IAMSMART_ANON_SCOPE       "eidapi_formFilling"
#define NGX_HTTP_IAMSMART_ANON_TTL         600
#define NGX_HTTP_IAMSMART_HANDOFF_MAX      4096
#define NGX_HTTP_IAMSMART_ANON_FIELDS_MAX  (64 * 1024)


static ngx_int_t ngx_http_iamsmart_anon_initiate(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an);
static ngx_int_t ngx_http_iamsmart_anon_redeem(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an, ngx_str_t *handle);
static void ngx_http_iamsmart_anon_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_anon_step(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an);
static ngx_int_t ngx_http_iamsmart_anon_ticket(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an);
static ngx_int_t ngx_http_iamsmart_anon_handoff(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an);
static ngx_int_t ngx_http_iamsmart_anon_token(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an);
static ngx_int_t ngx_http_iamsmart_anon_result(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an);
static ngx_int_t ngx_http_iamsmart_anon_platform_error(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc, const char *call);
static ngx_int_t ngx_http_iamsmart_anon_copy(json_t *record, const char *name,
    char *out, size_t size);


ngx_int_t
ngx_http_iamsmart_anon_run(ngx_http_request_t *r, ngx_http_iamsmart_anon_t *an)
{
    ngx_str_t                 handle;
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_iamsmart_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    an->mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);
    an->redis.resume = ngx_http_iamsmart_anon_resume;
    an->pc.resume = ngx_http_iamsmart_anon_resume;
    an->pc.mcf = an->mcf;
    an->result.resume = ngx_http_iamsmart_anon_resume;
    an->result.mcf = an->mcf;
    ctx->login = an;

    if (ngx_http_arg(r, (u_char *) "anon", 4, &handle) == NGX_OK) {
        return ngx_http_iamsmart_anon_redeem(r, an, &handle);
    }

    return ngx_http_iamsmart_anon_initiate(r, an);
}


static ngx_int_t
ngx_http_iamsmart_anon_initiate(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an)
{
    iams_err  err;

    if (iams_business_id_generate(an->business_id, &err) != IAMS_OK
        || iams_state_generate(an->state, &err) != IAMS_OK
        || ngx_http_iamsmart_eme_plaintext(r, an->mcf, NULL, &an->form,
                                           an->fields, an->nfields,
                                           an->business_id, an->state,
                                           &an->pc)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    an->pc.path = "/api/v1/anonymous/eme/initiateRequest";
    an->step = NGX_HTTP_IAMSMART_ANON_INITIATE;

    return ngx_http_iamsmart_anon_step(r, an);
}


/* back from the approval: the hand-off the login callback left */
static ngx_int_t
ngx_http_iamsmart_anon_redeem(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an, ngx_str_t *handle)
{
    size_t       argvlen[2];
    const char  *argv[2];

    if (handle->len == 0 || handle->len > IAMS_STATE_MAX
        || !iams_state_valid((char *) handle->data, handle->len))
    {
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid_request", "an invalid anon parameter");
    }

    if (ngx_http_iamsmart_get_cookie(r, &an->mcf->login_cookie_name,
                                     &an->binding)
        != NGX_OK)
    {
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "another_browser", "this form filling was started in "
                   "another browser, or the browser keeps no cookies: "
                   "start again here");
    }

    if (ngx_http_iamsmart_binding_key(r, "anon", (char *) handle->data,
                                      handle->len, &an->binding, &an->key)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "GETDEL";
    argvlen[0] = 6;
    argv[1] = (char *) an->key.data;
    argvlen[1] = an->key.len;

    an->step = NGX_HTTP_IAMSMART_ANON_HANDOFF;

    return ngx_http_iamsmart_redis_await(r, &an->redis, 2, argv, argvlen);
}


static void
ngx_http_iamsmart_anon_resume(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t   *ctx;
    ngx_http_iamsmart_anon_t  *an;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    an = ctx->login;

    if (an->redis.waiting || an->pc.redis.waiting || an->pc.call.pending
        || an->result.redis.waiting || an->result.call.pending)
    {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_iamsmart_anon_step(r, an));
}


static ngx_int_t
ngx_http_iamsmart_anon_step(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an)
{
    ngx_int_t                   rc;
    ngx_http_iamsmart_pcall_t  *pc;

    switch (an->step) {

    case NGX_HTTP_IAMSMART_ANON_STORED:

        if (an->redis.error != NULL) {
            return ngx_http_iamsmart_unavailable(r, an->redis.error);
        }

        if (an->redis.type != REDIS_REPLY_STATUS) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_iamsmart_getqr_redirect(r, an->mcf, an->state,
                   an->ticket_id,
                   &(ngx_str_t) ngx_string(NGX_HTTP_IAMSMART_ANON_SCOPE),
                   &an->binding);

    case NGX_HTTP_IAMSMART_ANON_HANDOFF:
        return ngx_http_iamsmart_anon_handoff(r, an);

    default:
        break;
    }

    /* the platform calls */

    pc = (an->step == NGX_HTTP_IAMSMART_ANON_RESULT) ? &an->result : &an->pc;

    rc = ngx_http_iamsmart_pcall(r, pc);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (pc->failure) {
        return ngx_http_iamsmart_send_error(r, pc->failure,
                                            "platform_unavailable",
                                            pc->error);
    }

    switch (an->step) {

    case NGX_HTTP_IAMSMART_ANON_INITIATE:
        return ngx_http_iamsmart_anon_ticket(r, an);

    case NGX_HTTP_IAMSMART_ANON_TOKEN:
        return ngx_http_iamsmart_anon_token(r, an);

    default: /* NGX_HTTP_IAMSMART_ANON_RESULT */
        return ngx_http_iamsmart_anon_result(r, an);
    }
}


/* INITIATE answered: keep the ticket in a state bound to this browser */
static ngx_int_t
ngx_http_iamsmart_anon_ticket(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an)
{
    char                         *sealed;
    json_t                       *record;
    iams_err                      err;
    ngx_int_t                     rc;
    ngx_str_t                     back;
    iams_initiate_result          ir;
    ngx_http_iamsmart_set_cmd_t   set;

    if (an->pc.reply.pcode != IAMS_PCODE_OK
        || iams_initiate_result_parse(an->pc.content, &ir, &err) != IAMS_OK)
    {
        return ngx_http_iamsmart_anon_platform_error(r, &an->pc,
                                                     "initiateRequest");
    }

    ngx_memcpy(an->ticket_id, ir.ticket_id, sizeof(ir.ticket_id));

    back = r->unparsed_uri;

    if (iams_return_url_check((char *) back.data, back.len, &err) != IAMS_OK) {
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid_request", "this address cannot be returned to");
    }

    if (ngx_http_iamsmart_login_binding(r, an->mcf, &an->binding) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    record = json_pack("{s:s%, s:s, s:s, s:s, s:s%}",
                       "r", back.data, back.len,
                       "k", "anon",
                       "tk", an->ticket_id,
                       "bi", an->business_id,
                       "f", an->form.data, an->form.len);

    if (ngx_http_iamsmart_state_store_cmd(r, an->mcf, an->state,
                                          &an->binding, record, &set,
                                          &sealed)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    an->step = NGX_HTTP_IAMSMART_ANON_STORED;

    rc = ngx_http_iamsmart_redis_await(r, &an->redis, set.argc, set.argv,
                                       set.argvlen);
    free(sealed);

    return rc;
}


/*
 * The login callback's part: the code, the ticket and the request's
 * identifiers sealed under a new handle bound to the browser, and the way
 * back (*location: the form's address with "anon=<handle>" added).
 * *sealed is malloc()ed and backs *set until it is sent.
 */
ngx_int_t
ngx_http_iamsmart_anon_handoff_cmd(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_str_t *binding, json_t *record,
    iams_login_callback *cb, ngx_str_t *location,
    ngx_http_iamsmart_set_cmd_t *set, char **sealed)
{
    u_char     *p;
    char       *text, handle[IAMS_STATE_LEN + 1];
    size_t      len;
    json_t     *handoff;
    iams_err    err;
    ngx_int_t   rc;
    ngx_str_t   key;

    if (iams_state_generate(handle, &err) != IAMS_OK
        || ngx_http_iamsmart_binding_key(r, "anon", handle, IAMS_STATE_LEN,
                                         binding, &key)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    handoff = json_pack("{s:s%, s:s%, s:O, s:O, s:O}",
                        "c", cb->code, cb->code_len,
                        "st", cb->state, cb->state_len,
                        "tk", json_object_get(record, "tk"),
                        "bi", json_object_get(record, "bi"),
                        "f", json_object_get(record, "f"));
    text = handoff ? json_dumps(handoff, JSON_COMPACT) : NULL;
    json_decref(handoff);

    if (text == NULL) {
        return NGX_ERROR;
    }

    rc = iams_seal(mcf->keyring, IAMS_KEY_LOGIN_STATE, "a1", key.data,
                   key.len, (unsigned char *) text, ngx_strlen(text), sealed,
                   &len, &err);
    OPENSSL_cleanse(text, ngx_strlen(text));
    free(text);

    if (rc != IAMS_OK) {
        return NGX_ERROR;
    }

    ngx_http_iamsmart_set_cmd(set, (char *) key.data, key.len, *sealed, len,
                              NGX_HTTP_IAMSMART_ANON_TTL, "NX");

    p = ngx_pnalloc(r->pool, location->len + sizeof("&anon=")
                             + IAMS_STATE_LEN);
    if (p == NULL) {
        free(*sealed);
        return NGX_ERROR;
    }

    len = ngx_sprintf(p, "%V%sanon=%s", location,
                      ngx_strlchr(location->data,
                                  location->data + location->len, '?')
                      ? "&" : "?",
                      handle)
          - p;

    location->data = p;
    location->len = len;

    return NGX_OK;
}


/* HANDOFF: the sealed code opens only for this browser and this form */
static ngx_int_t
ngx_http_iamsmart_anon_handoff(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an)
{
    char           *body, code[IAMS_AUTH_CODE_MAX + 1];
    size_t          pt_len, len;
    json_t         *record, *form;
    iams_err        err;
    ngx_int_t       rc;
    iams_span       span;
    unsigned char  *pt;

    if (an->redis.error != NULL) {
        return ngx_http_iamsmart_unavailable(r, an->redis.error);
    }

    if (an->redis.type != REDIS_REPLY_STRING) {
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_NOT_FOUND, "no_data",
                   "this approval is unknown, expired or already used: "
                   "start the form again");
    }

    if (iams_unseal(an->mcf->keyring, IAMS_KEY_LOGIN_STATE, "a1",
                    an->key.data, an->key.len, (char *) an->redis.str.data,
                    an->redis.str.len, NGX_HTTP_IAMSMART_HANDOFF_MAX, &pt,
                    &pt_len, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: anonymous form hand-off rejected: %s",
                      err.detail);
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_FORBIDDEN,
                   "not_yours", "this approval belongs to another browser");
    }

    record = iams_json_parse_object((char *) pt, pt_len,
                                    NGX_HTTP_IAMSMART_HANDOFF_MAX, &err);
    OPENSSL_cleanse(pt, pt_len);
    free(pt);

    form = json_object_get(record, "f");

    rc = (json_is_string(form)
          && json_string_length(form) == an->form.len
          && ngx_strncmp(json_string_value(form), an->form.data,
                         an->form.len) == 0)
         ? NGX_OK : NGX_DECLINED;

    if (rc == NGX_OK
        && (ngx_http_iamsmart_anon_copy(record, "c", code, sizeof(code))
            != NGX_OK
            || ngx_http_iamsmart_anon_copy(record, "st", an->state,
                                           sizeof(an->state)) != NGX_OK
            || ngx_http_iamsmart_anon_copy(record, "tk", an->ticket_id,
                                           sizeof(an->ticket_id)) != NGX_OK
            || ngx_http_iamsmart_anon_copy(record, "bi", an->business_id,
                                           sizeof(an->business_id))
               != NGX_OK))
    {
        rc = NGX_ERROR;
    }

    json_decref(record);

    if (rc == NGX_DECLINED) {
        OPENSSL_cleanse(code, sizeof(code));
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "another_form", "this approval was given for another "
                   "form");
    }

    span.data = code;
    span.len = ngx_strlen(code);

    if (rc != NGX_OK
        || iams_token_request_body(span, &body, &len, &err) != IAMS_OK)
    {
        OPENSSL_cleanse(code, sizeof(code));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    OPENSSL_cleanse(code, sizeof(code));

    if (ngx_http_iamsmart_pcall_plaintext(r, &an->pc, body, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    an->pc.path = "/api/v1/auth/getToken";
    an->step = NGX_HTTP_IAMSMART_ANON_TOKEN;

    return ngx_http_iamsmart_anon_step(r, an);
}


/* TOKEN: a token for this ticket, spent at once on getResult */
static ngx_int_t
ngx_http_iamsmart_anon_token(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an)
{
    char         *body;
    size_t        len;
    iams_err      err;
    iams_span     token, ticket, business;
    iams_token    tok;
    iams_status   st;

    if (an->pc.reply.pcode != IAMS_PCODE_OK) {
        return ngx_http_iamsmart_anon_platform_error(r, &an->pc, "getToken");
    }

    if (iams_anonymous_token_parse(an->pc.content, ngx_http_iamsmart_now_ms(),
                                   &tok, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: anonymous getToken content rejected: %s",
                      err.detail);
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_GATEWAY,
                   "platform_error", "the platform's token was not usable");
    }

    if (ngx_strcmp(tok.ticket_id, an->ticket_id) != 0) {
        iams_token_clear(&tok);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: anonymous getToken gave a token for "
                      "another ticket");
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_GATEWAY,
                   "platform_error", "the platform's token was for another "
                   "request");
    }

    token.data = tok.access_token;
    token.len = ngx_strlen(tok.access_token);
    ticket.data = an->ticket_id;
    ticket.len = ngx_strlen(an->ticket_id);
    business.data = an->business_id;
    business.len = ngx_strlen(an->business_id);

    st = iams_anonymous_result_request_body(token, ticket, business, &body,
                                            &len, &err);
    iams_token_clear(&tok);

    if (st != IAMS_OK
        || ngx_http_iamsmart_pcall_plaintext(r, &an->result, body, len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    an->result.path = "/api/v1/anonymous/eme/getResult";
    an->step = NGX_HTTP_IAMSMART_ANON_RESULT;

    return ngx_http_iamsmart_anon_step(r, an);
}


/* RESULT: the citizen's e-ME fields, for this request only */
static ngx_int_t
ngx_http_iamsmart_anon_result(ngx_http_request_t *r,
    ngx_http_iamsmart_anon_t *an)
{
    size_t             state_len;
    iams_err           err;
    ngx_int_t          rc;
    iams_data_result   res;

    if (an->result.reply.pcode != IAMS_PCODE_OK) {
        return ngx_http_iamsmart_anon_platform_error(r, &an->result,
                                                     "getResult");
    }

    if (iams_data_result_parse(an->result.content, &res, &err) != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: anonymous getResult content rejected: %s",
                      err.detail);
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_GATEWAY,
                   "platform_error", "the platform's answer was not usable");
    }

    state_len = ngx_strlen(an->state);

    if (ngx_strcmp(res.business_id, an->business_id) != 0
        || ngx_strlen(res.state) != state_len
        || CRYPTO_memcmp(res.state, an->state, state_len) != 0
        || json_object_size(res.fields) > NGX_HTTP_IAMSMART_ANON_FIELDS_MAX)
    {
        iams_data_result_clear(&res);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: anonymous getResult answered for another "
                      "request (businessID or state differ)");
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_GATEWAY,
                   "platform_error", "the platform answered for another "
                   "request");
    }

    rc = an->done(r, an->data, res.fields);
    iams_data_result_clear(&res);

    return rc;
}


static ngx_int_t
ngx_http_iamsmart_anon_platform_error(ngx_http_request_t *r,
    ngx_http_iamsmart_pcall_t *pc, const char *call)
{
    ngx_uint_t  status;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "iamsmart: anonymous e-ME %s answered %s (%s)", call,
                  pc->reply.code, iams_pcode_name(pc->reply.pcode));

    /* the citizen's own refusal, or an approval gone stale, is no fault
     * of the gateway or the platform: start again */
    switch (iams_pcode_action(pc->reply.pcode)) {
    case IAMS_PACTION_RELOGIN:
    case IAMS_PACTION_USER:
        status = NGX_HTTP_FORBIDDEN;
        break;
    case IAMS_PACTION_RETRY_LATER:
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        break;
    default:
        status = NGX_HTTP_BAD_GATEWAY;
    }

    return ngx_http_iamsmart_send_error(r, status,
                                        iams_pcode_name(pc->reply.pcode),
                                        iams_pcode_message(pc->reply.pcode,
                                                           IAMS_LANG_EN));
}


/* a string member of at most size - 1 bytes, as a C string */
static ngx_int_t
ngx_http_iamsmart_anon_copy(json_t *record, const char *name, char *out,
    size_t size)
{
    json_t  *v;

    v = json_object_get(record, name);

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) >= size
        || ngx_strlen(json_string_value(v)) != json_string_length(v))
    {
        return NGX_ERROR;
    }

    ngx_memcpy(out, json_string_value(v), json_string_length(v) + 1);

    return NGX_OK;
}
