
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * Face-recognition step-up: "iamsmart_require_fr TIME" in a location wants
 * a face recognition (amr "fr") newer than TIME in the session.
 *
 * Without one, in the access phase:
 *   API clients     401, WWW-Authenticate error="insufficient_user_
 *                   authentication" with acr_values and max_age (RFC 9470);
 *   a form POST     a page that explains and leads to the step-up, after
 *                   which the citizen resubmits (nothing is lost silently);
 *   a browser GET   initiateRequest (encrypted, pcall.c); the request is
 *                   kept in Redis under its businessID for ten minutes,
 *                   sealed and bound to the session; the browser goes to
 *                   the platform's approval page.
 *
 * The step-up location ("iamsmart_stepup_callback", at the registered
 * redirect URI) receives both:
 *   POST  the platform's encrypted callback: signature checked, CEK
 *         unwrapped with the KEK, the outcome stored once (SET NX) under
 *         the businessID, then acknowledged;
 *   GET   the browser coming back: the stored request must belong to this
 *         browser's session; on a pass the session gains "fr" now and the
 *         browser returns to the page it wanted; a fail, cancel or timeout
 *         shows a bilingual page and records nothing.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/crypto.h>
#include <iamsmart/encoding.h>
#include <iamsmart/sealed.h>


#define NGX_HTTP_IAMSMART_STEPUP_TTL         600
#define NGX_HTTP_IAMSMART_STEPUP_RECORD_MAX  4096
#define NGX_HTTP_IAMSMART_CALLBACK_SKEW_MS   (5 * 60 * 1000)


typedef enum {
    NGX_HTTP_IAMSMART_SU_STORE = 0,      /* the pending request stored */
    NGX_HTTP_IAMSMART_SU_INITIATE,       /* initiateRequest answered */
    NGX_HTTP_IAMSMART_SU_REDIRECT
} ngx_http_iamsmart_su_step_e;


typedef struct {
    ngx_http_iamsmart_su_step_e      step;
    ngx_http_iamsmart_pcall_t        pc;
    char                             business_id[IAMS_BUSINESS_ID_LEN + 1];
    iams_initiate_result             ir;
} ngx_http_iamsmart_stepup_t;


typedef enum {
    NGX_HTTP_IAMSMART_SC_PENDING = 0,    /* POST: request record read */
    NGX_HTTP_IAMSMART_SC_STORED,         /* POST: outcome stored */
    NGX_HTTP_IAMSMART_SC_REQUEST,        /* GET: request record read */
    NGX_HTTP_IAMSMART_SC_OUTCOME,        /* GET: outcome read */
    NGX_HTTP_IAMSMART_SC_SESSION,        /* GET: session read */
    NGX_HTTP_IAMSMART_SC_SAVED           /* GET: session written */
} ngx_http_iamsmart_sc_step_e;


typedef struct {
    ngx_http_iamsmart_main_conf_t   *mcf;
    ngx_http_iamsmart_sc_step_e      step;
    ngx_http_iamsmart_redis_wait_t   redis;

    ngx_str_t                        business_id;
    ngx_str_t                        request_key;
    ngx_str_t                        outcome_key;
    ngx_str_t                        return_url;
    char                             session_key[IAMS_SESSION_KEY_MAX + 1];
    size_t                           session_key_len;
    ngx_str_t                        outcome;     /* POST: "1", "0", code,
                                                     or sealed e-ME data */
    ngx_str_t                        state;       /* POST: from content */
    json_t                          *content;     /* POST: pool cleanup */
    iams_reply                       reply;       /* POST */
    ngx_uint_t                       eme;         /* an e-ME request */
} ngx_http_iamsmart_stepup_cb_t;


static ngx_int_t ngx_http_iamsmart_stepup_start(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx);
static ngx_int_t ngx_http_iamsmart_stepup_initiated(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx);
static ngx_int_t ngx_http_iamsmart_stepup_key(ngx_pool_t *pool,
    const char *bid, size_t len, const char *suffix, ngx_str_t *key);
static ngx_int_t ngx_http_iamsmart_stepup_page(ngx_http_request_t *r,
    ngx_uint_t status, const char *en, const char *zh, ngx_str_t *link);
static void ngx_http_iamsmart_stepup_post_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_stepup_receive(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc);
static ngx_int_t ngx_http_iamsmart_stepup_outcome(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc, ngx_uint_t eme,
    const char *session_key, size_t session_key_len);
static ngx_int_t ngx_http_iamsmart_callback_signed(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, u_char *body, size_t len);
static ngx_int_t ngx_http_iamsmart_stepup_return(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc);
static ngx_int_t ngx_http_iamsmart_stepup_ticket_redirect(
    ngx_http_request_t *r, ngx_http_iamsmart_stepup_cb_t *sc);
static ngx_int_t ngx_http_iamsmart_stepup_cb_step(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc);
static void ngx_http_iamsmart_stepup_cb_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_stepup_cb_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc, ngx_http_iamsmart_sc_step_e next,
    int argc, const char **argv, const size_t *argvlen);


/* ---- the access phase ---- */


ngx_int_t
ngx_http_iamsmart_stepup_handler(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_loc_conf_t *lcf,
    ngx_http_iamsmart_ctx_t *ctx)
{
    u_char     *p;
    ngx_str_t   challenge, back;

    if (ctx->stepup != NULL) {
        return ngx_http_iamsmart_stepup_initiated(r, mcf, ctx);
    }

    if (iams_session_amr_fresh(ctx->session, "fr", lcf->require_fr,
                               ngx_time()))
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "iamsmart: session %s needs a face recognition newer "
                  "than %T s", ctx->session_hash, lcf->require_fr);

    if (ngx_http_iamsmart_wants_json(r)) {
        challenge.data = ngx_pnalloc(r->pool, 160 + NGX_TIME_T_LEN);
        if (challenge.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(challenge.data,
                        "Bearer error=\"insufficient_user_authentication\", "
                        "error_description=\"a recent face recognition is "
                        "required\", acr_values=\"fr\", max_age=%T",
                        lcf->require_fr);
        challenge.len = p - challenge.data;

        if (ngx_http_iamsmart_add_header(r, "WWW-Authenticate", &challenge)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_iamsmart_finalize_json(r, NGX_HTTP_UNAUTHORIZED,
                   json_pack("{s:s, s:s, s:s, s:I}",
                             "error", "insufficient_user_authentication",
                             "error_description",
                             "a recent face recognition is required",
                             "acr_values", "fr",
                             "max_age", (json_int_t) lcf->require_fr));
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {

        /* the form cannot survive the trip: say so, and come back to it */

        if (r->headers_in.referer == NULL
            || ngx_http_iamsmart_same_origin_path(r,
                                                  &r->headers_in.referer->value,
                                                  &back)
               != NGX_OK)
        {
            ngx_str_set(&back, "/");
        }

        return ngx_http_iamsmart_finalize(r,
                   ngx_http_iamsmart_stepup_page(r, NGX_HTTP_UNAUTHORIZED,
                       "This action needs a fresh face recognition with "
                       "iAM Smart. Your form was not sent: verify, then "
                       "submit it again.",
                       "此操作需要以「智方便」再次進行人臉識別。表格尚未遞交："
                       "請先完成驗證，然後再次遞交。", &back));
    }

    return ngx_http_iamsmart_stepup_start(r, mcf, ctx);
}


static ngx_int_t
ngx_http_iamsmart_stepup_start(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx)
{
    char                         *body, *text, *sealed;
    size_t                        len, sealed_len;
    json_t                       *record;
    iams_err                      err;
    ngx_int_t                     rc;
    ngx_str_t                     key, return_url;
    ngx_table_elt_t              *ua;
    iams_initiate_common          c;
    ngx_http_iamsmart_stepup_t   *st;
    ngx_http_iamsmart_set_cmd_t   set;

    st = ngx_pcalloc(r->pool, sizeof(ngx_http_iamsmart_stepup_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    if (iams_business_id_generate(st->business_id, &err) != IAMS_OK
        || iams_state_generate(ctx->login_statebuf, &err) != IAMS_OK)
    {
        return NGX_ERROR;
    }

    ua = r->headers_in.user_agent;

    ngx_memzero(&c, sizeof(iams_initiate_common));
    c.open_id.data = ctx->session->open_id;
    c.open_id.len = ngx_strlen(ctx->session->open_id);
    c.access_token.data = ctx->session->access_token;
    c.access_token.len = ngx_strlen(ctx->session->access_token);
    c.business_id.data = st->business_id;
    c.business_id.len = IAMS_BUSINESS_ID_LEN;
    c.redirect_uri.data = (char *) mcf->stepup_uri.data;
    c.redirect_uri.len = mcf->stepup_uri.len;
    c.state.data = ctx->login_statebuf;
    c.state.len = IAMS_STATE_LEN;
    c.lang.data = mcf->lang.len ? (char *) mcf->lang.data : "zh-HK";
    c.lang.len = mcf->lang.len ? mcf->lang.len : 5;
    c.source = ua ? iams_source_from_user_agent((char *) ua->value.data,
                                                ua->value.len)
                  : IAMS_SOURCE_PC_BROWSER;

    if (iams_stepup_request_body(&c, &body, &len, &err) != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: cannot build the step-up request: %s",
                      err.detail);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_iamsmart_pcall_plaintext(r, &st->pc, body, len) != NGX_OK) {
        return NGX_ERROR;
    }

    st->pc.mcf = mcf;
    st->pc.path = "/api/v1/account/stepup/initiateRequest";
    st->pc.resume = ngx_http_core_run_phases;

    ctx->stepup = st;

    /*
     * The pending request is stored before the platform hears of it, so
     * that however early its callback comes, the gateway knows the request.
     */

    return_url = r->unparsed_uri;

    if (iams_return_url_check((char *) return_url.data, return_url.len, &err)
        != IAMS_OK)
    {
        ngx_str_set(&return_url, "/");
    }

    if (ngx_http_iamsmart_stepup_key(r->pool, st->business_id,
                                     IAMS_BUSINESS_ID_LEN, "", &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    record = json_pack("{s:s%, s:s, s:s%, s:I, s:s}",
                       "s", ctx->session_key, ctx->session_key_len,
                       "st", ctx->login_statebuf,
                       "r", return_url.data, return_url.len,
                       "t", (json_int_t) ngx_time(),
                       "k", "fr");
    text = record ? json_dumps(record, JSON_COMPACT) : NULL;
    json_decref(record);

    if (text == NULL) {
        return NGX_ERROR;
    }

    rc = iams_seal(mcf->keyring, IAMS_KEY_LOGIN_STATE, "s1", key.data,
                   key.len, (unsigned char *) text, ngx_strlen(text),
                   &sealed, &sealed_len, &err);
    free(text);

    if (rc != IAMS_OK) {
        return NGX_ERROR;
    }

    ngx_http_iamsmart_set_cmd(&set, (char *) key.data, key.len, sealed,
                              sealed_len, NGX_HTTP_IAMSMART_STEPUP_TTL, "NX");

    ctx->redis.resume = ngx_http_core_run_phases;

    rc = ngx_http_iamsmart_redis_call(r, &ctx->redis, set.argc, set.argv,
                                      set.argvlen);
    free(sealed);

    if (rc == NGX_DECLINED) {
        return ngx_http_iamsmart_finalize(r,
                   ngx_http_iamsmart_unavailable(r, "redis is down"));
    }

    if (rc != NGX_AGAIN) {
        return NGX_ERROR;
    }

    st->step = NGX_HTTP_IAMSMART_SU_STORE;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_iamsmart_stepup_initiated(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, ngx_http_iamsmart_ctx_t *ctx)
{
    u_char                      *p;
    iams_err                     err;
    ngx_int_t                    rc;
    ngx_str_t                    location;
    ngx_http_iamsmart_stepup_t  *st;

    st = ctx->stepup;

    switch (st->step) {

    case NGX_HTTP_IAMSMART_SU_STORE:

        if (!ctx->redis.done) {
            return NGX_AGAIN;
        }

        if (ctx->redis.error != NULL || ctx->redis.type != REDIS_REPLY_STATUS)
        {
            return ngx_http_iamsmart_finalize(r,
                       ngx_http_iamsmart_unavailable(r,
                           ctx->redis.error ? ctx->redis.error
                                            : "step-up not stored"));
        }

        st->step = NGX_HTTP_IAMSMART_SU_INITIATE;

        /* fall through */

    case NGX_HTTP_IAMSMART_SU_INITIATE:

        rc = ngx_http_iamsmart_pcall(r, &st->pc);
        if (rc != NGX_OK) {
            return rc;
        }

        if (st->pc.failure) {
            return ngx_http_iamsmart_finalize(r,
                       ngx_http_iamsmart_stepup_page(r, st->pc.failure,
                           "Face recognition is unavailable right now. "
                           "Please try again in a moment.",
                           "人臉識別暫時未能使用，請稍後再試。", NULL));
        }

        if (st->pc.reply.pcode != IAMS_PCODE_OK
            || iams_initiate_result_parse(st->pc.content, &st->ir, &err)
               != IAMS_OK)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "iamsmart: step-up initiateRequest answered %s (%s)",
                          st->pc.reply.code,
                          iams_pcode_name(st->pc.reply.pcode));

            return ngx_http_iamsmart_finalize(r,
                       ngx_http_iamsmart_stepup_page(r, NGX_HTTP_BAD_GATEWAY,
                           iams_pcode_message(st->pc.reply.pcode,
                                              IAMS_LANG_EN),
                           iams_pcode_message(st->pc.reply.pcode,
                                              IAMS_LANG_ZH_HK), NULL));
        }

        location.len = mcf->platform_url.len
                       + sizeof("/api/v1/account/stepup/approve?ticketID=")
                       + 3 * ngx_strlen(st->ir.ticket_id);
        location.data = ngx_pnalloc(r->pool, location.len);
        if (location.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(location.data,
                        "%V/api/v1/account/stepup/approve?ticketID=",
                        &mcf->platform_url);
        p = (u_char *) ngx_escape_uri(p, (u_char *) st->ir.ticket_id,
                                      ngx_strlen(st->ir.ticket_id),
                                      NGX_ESCAPE_ARGS);
        location.len = p - location.data;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: session %s sent to face recognition, "
                      "businessID %s", ctx->session_hash, st->business_id);

        st->step = NGX_HTTP_IAMSMART_SU_REDIRECT;

        if (ngx_http_iamsmart_redirect(r, &location)
            != NGX_HTTP_MOVED_TEMPORARILY)
        {
            return NGX_ERROR;
        }

        return NGX_HTTP_MOVED_TEMPORARILY;

    default:
        return NGX_ERROR;
    }
}


static ngx_int_t
ngx_http_iamsmart_stepup_key(ngx_pool_t *pool, const char *bid, size_t len,
    const char *suffix, ngx_str_t *key)
{
    u_char  *p;

    key->data = ngx_pnalloc(pool, sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                                  + sizeof("stepup:v1:") + len
                                  + ngx_strlen(suffix));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(key->data, NGX_HTTP_IAMSMART_REDIS_PREFIX "stepup:v1:%*s%s",
                    len, bid, suffix);
    key->len = p - key->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_iamsmart_stepup_page(ngx_http_request_t *r, ngx_uint_t status,
    const char *en, const char *zh, ngx_str_t *link)
{
    ngx_http_iamsmart_page_t  page;

    ngx_memzero(&page, sizeof(ngx_http_iamsmart_page_t));
    page.title_en = "Face recognition with iAM Smart";
    page.title_zh = "以「智方便」進行人臉識別";
    page.text_en = en;
    page.text_zh = zh;
    page.action_en = link ? "Continue" : "Back to the start";
    page.action_zh = link ? "繼續" : "返回首頁";

    if (link) {
        page.link = *link;

    } else {
        ngx_str_set(&page.link, "/");
    }

    return ngx_http_iamsmart_send_page(r, status, &page);
}


/* ---- the step-up location ---- */


ngx_int_t
ngx_http_iamsmart_stepup_callback_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_iamsmart_ctx_t        *ctx;
    ngx_http_iamsmart_stepup_cb_t  *sc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    ctx = ngx_http_iamsmart_get_ctx(r);
    sc = ngx_pcalloc(r->pool, sizeof(ngx_http_iamsmart_stepup_cb_t));

    if (ctx == NULL || sc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sc->mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);
    sc->redis.resume = ngx_http_iamsmart_stepup_cb_resume;
    ctx->login = sc;

    if (r->method == NGX_HTTP_POST) {
        rc = ngx_http_read_client_request_body(r,
                                          ngx_http_iamsmart_stepup_post_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_iamsmart_stepup_return(r, sc);
}


static void
ngx_http_iamsmart_stepup_post_body(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    ngx_http_finalize_request(r,
                              ngx_http_iamsmart_stepup_receive(r, ctx->login));
}


static ngx_int_t
ngx_http_iamsmart_callback_answer(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    return ngx_http_iamsmart_send_json(r, status,
               json_pack("{s:s, s:s}", "code", code, "message", message));
}


/* POST: the platform's encrypted callback */
static ngx_int_t
ngx_http_iamsmart_stepup_receive(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc)
{
    u_char              *body, *p;
    size_t               len, argvlen[2];
    json_t              *content, *bid, *st;
    iams_err             err;
    iams_reply           reply;
    ngx_chain_t         *cl;
    const char          *argv[2];

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return ngx_http_iamsmart_callback_answer(r, NGX_HTTP_BAD_REQUEST,
                                                 "D20001", "empty callback");
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (!ngx_buf_in_memory(cl->buf)) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "iamsmart: step-up callback larger than "
                          "client_body_buffer_size rejected");
            return ngx_http_iamsmart_callback_answer(r,
                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "D20001",
                       "callback too large");
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len > IAMS_PLATFORM_REPLY_MAX) {
        return ngx_http_iamsmart_callback_answer(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "D20001",
                   "callback too large");
    }

    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *p = '\0';

    if (sc->mcf->callback_signature
        && ngx_http_iamsmart_callback_signed(r, sc->mcf, body, len) != NGX_OK)
    {
        return ngx_http_iamsmart_callback_answer(r, NGX_HTTP_UNAUTHORIZED,
                                                 "D20006", "bad signature");
    }

    if (iams_callback_open(sc->mcf->kek, IAMS_KEK_PAD_AUTO, (char *) body,
                           len, &reply, &content, &err)
        != IAMS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: step-up callback rejected: %s", err.detail);
        return ngx_http_iamsmart_callback_answer(r, NGX_HTTP_BAD_REQUEST,
                                                 "D30004",
                                                 "cannot open the callback");
    }

    bid = json_object_get(content, "businessID");

    if (!json_is_string(bid)
        || json_string_length(bid) == 0
        || json_string_length(bid) > IAMS_BUSINESS_ID_MAX)
    {
        json_decref(content);
        return ngx_http_iamsmart_callback_answer(r, NGX_HTTP_BAD_REQUEST,
                                                 "D20001",
                                                 "no businessID");
    }

    st = json_object_get(content, "state");

    if (!json_is_string(st)
        || !iams_state_valid(json_string_value(st), json_string_length(st))
        || ngx_http_iamsmart_stepup_key(r->pool, json_string_value(bid),
                                        json_string_length(bid), "",
                                        &sc->request_key) != NGX_OK
        || ngx_http_iamsmart_stepup_key(r->pool, json_string_value(bid),
                                        json_string_length(bid), ":outcome",
                                        &sc->outcome_key) != NGX_OK
        || ngx_http_iamsmart_json_add_cleanup(r->pool, content) != NGX_OK)
    {
        json_decref(content);
        return ngx_http_iamsmart_callback_answer(r, NGX_HTTP_BAD_REQUEST,
                                                 "D20001",
                                                 "no valid state");
    }

    /* what it means depends on the request it answers (step-up or e-ME) */
    sc->content = content;
    sc->reply = reply;

    sc->state.len = json_string_length(st);
    sc->state.data = ngx_pnalloc(r->pool, sc->state.len);
    if (sc->state.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(sc->state.data, json_string_value(st), sc->state.len);

    /* the encryption proves nothing: only a pending request may be answered */

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (char *) sc->request_key.data;
    argvlen[1] = sc->request_key.len;

    return ngx_http_iamsmart_stepup_cb_wait(r, sc,
                                            NGX_HTTP_IAMSMART_SC_PENDING,
                                            2, argv, argvlen);
}


/*
 * What the callback means for the request it answers: for a step-up "1"
 * (passed), "0" (failed) or the platform's code; for an e-ME request the
 * fields, sealed and bound to the session that asked (so that only that
 * session's prefill opens them), or the platform's code.
 */
static ngx_int_t
ngx_http_iamsmart_stepup_outcome(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc, ngx_uint_t eme,
    const char *session_key, size_t session_key_len)
{
    u_char               *ctx;
    char                 *text, *sealed;
    size_t                len, ctx_len;
    iams_err              err;
    iams_status           st;
    iams_data_result      dr;
    iams_stepup_result    result;

    sc->eme = eme;

    if (sc->reply.pcode != IAMS_PCODE_OK) {
        sc->outcome.len = ngx_strlen(sc->reply.code);
        sc->outcome.data = ngx_pnalloc(r->pool, sc->outcome.len);
        if (sc->outcome.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(sc->outcome.data, sc->reply.code, sc->outcome.len);
        return NGX_OK;
    }

    if (!eme) {
        if (iams_stepup_result_parse(sc->content, &result, &err) != IAMS_OK) {
            return NGX_ERROR;
        }

        if (result.passed) {
            ngx_str_set(&sc->outcome, "1");

        } else {
            ngx_str_set(&sc->outcome, "0");
        }

        return NGX_OK;
    }

    if (iams_data_result_parse(sc->content, &dr, &err) != IAMS_OK) {
        return NGX_ERROR;
    }

    text = json_dumps(dr.fields, JSON_COMPACT);
    iams_data_result_clear(&dr);

    if (text == NULL) {
        return NGX_ERROR;
    }

    ctx_len = sc->outcome_key.len + session_key_len;
    ctx = ngx_pnalloc(r->pool, ctx_len);
    if (ctx == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(ctx, sc->outcome_key.data, sc->outcome_key.len),
               session_key, session_key_len);

    st = iams_seal(sc->mcf->keyring, IAMS_KEY_LOGIN_STATE, "e1", ctx,
                   ctx_len, (unsigned char *) text, ngx_strlen(text),
                   &sealed, &len, &err);

    OPENSSL_cleanse(text, ngx_strlen(text));
    free(text);

    if (st != IAMS_OK) {
        return NGX_ERROR;
    }

    sc->outcome.data = ngx_pnalloc(r->pool, len);
    if (sc->outcome.data == NULL) {
        free(sealed);
        return NGX_ERROR;
    }

    ngx_memcpy(sc->outcome.data, sealed, len);
    sc->outcome.len = len;
    free(sealed);

    return NGX_OK;
}


/*
 * The platform signs callbacks like requests; a sandbox or a platform that
 * authenticates with TLS client certificates instead can be accepted with
 * "iamsmart_callback_signature off".
 */
static ngx_int_t
ngx_http_iamsmart_callback_signed(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, u_char *body, size_t len)
{
    int64_t               now;
    uint64_t              ts;
    iams_err              err;
    ngx_str_t             name, client, method, timestamp, nonce, signature;
    iams_span             client_id, nonce_span;
    ngx_uint_t            i;
    ngx_list_part_t      *part;
    ngx_table_elt_t      *h;
    iams_signed_request   expected;

    ngx_str_null(&client);
    ngx_str_null(&method);
    ngx_str_null(&timestamp);
    ngx_str_null(&nonce);
    ngx_str_null(&signature);

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

        name = h[i].key;

        if (name.len == 8 && ngx_strncasecmp(name.data, (u_char *) "clientID",
                                             8) == 0)
        {
            client = h[i].value;

        } else if (name.len == 15
                   && ngx_strncasecmp(name.data, (u_char *) "signatureMethod",
                                      15) == 0)
        {
            method = h[i].value;

        } else if (name.len == 9
                   && ngx_strncasecmp(name.data, (u_char *) "timestamp", 9)
                      == 0)
        {
            timestamp = h[i].value;

        } else if (name.len == 5
                   && ngx_strncasecmp(name.data, (u_char *) "nonce", 5) == 0)
        {
            nonce = h[i].value;

        } else if (name.len == 9
                   && ngx_strncasecmp(name.data, (u_char *) "signature", 9)
                      == 0)
        {
            signature = h[i].value;
        }
    }

    if (client.len != mcf->client_id.len
        || ngx_strncmp(client.data, mcf->client_id.data, client.len) != 0
        || method.len != sizeof(IAMS_SIGNATURE_METHOD) - 1
        || ngx_strncmp(method.data, IAMS_SIGNATURE_METHOD, method.len) != 0
        || timestamp.len == 0 || timestamp.len > IAMS_TIMESTAMP_MAX
        || nonce.len == 0 || nonce.len > IAMS_NONCE_MAX
        || signature.len == 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: platform callback without valid signature "
                      "headers rejected");
        return NGX_DECLINED;
    }

    ts = 0;

    for (i = 0; i < timestamp.len; i++) {
        if (timestamp.data[i] < '0' || timestamp.data[i] > '9') {
            return NGX_DECLINED;
        }

        ts = ts * 10 + (timestamp.data[i] - '0');
    }

    now = ngx_http_iamsmart_now_ms();

    if ((int64_t) ts < now - NGX_HTTP_IAMSMART_CALLBACK_SKEW_MS
        || (int64_t) ts > now + NGX_HTTP_IAMSMART_CALLBACK_SKEW_MS)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: platform callback with a stale timestamp "
                      "rejected");
        return NGX_DECLINED;
    }

    client_id.data = (char *) mcf->client_id.data;
    client_id.len = mcf->client_id.len;
    nonce_span.data = (char *) nonce.data;
    nonce_span.len = nonce.len;

    if (iams_sign_request(client_id, mcf->client_secret.data,
                          mcf->client_secret.len, ts, nonce_span, body, len,
                          &expected, &err)
        != IAMS_OK
        || expected.signature_len != signature.len
        || CRYPTO_memcmp(expected.signature, signature.data, signature.len)
           != 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "iamsmart: platform callback with a bad signature "
                      "rejected");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* GET: the browser comes back */
static ngx_int_t
ngx_http_iamsmart_stepup_return(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc)
{
    size_t       argvlen[2];
    ngx_str_t    bid;
    const char  *argv[2];

    if (ngx_http_arg(r, (u_char *) "businessID", 10, &bid) != NGX_OK
        || bid.len == 0 || bid.len > IAMS_BUSINESS_ID_MAX
        || !iams_state_valid((char *) bid.data, bid.len))
    {
        return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_BAD_REQUEST,
                   "This face recognition link is not valid.",
                   "此人臉識別連結無效。", NULL);
    }

    sc->business_id = bid;

    if (ngx_http_iamsmart_stepup_key(r->pool, (char *) bid.data, bid.len, "",
                                     &sc->request_key) != NGX_OK
        || ngx_http_iamsmart_stepup_key(r->pool, (char *) bid.data, bid.len,
                                        ":outcome", &sc->outcome_key)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (char *) sc->request_key.data;
    argvlen[1] = sc->request_key.len;

    return ngx_http_iamsmart_stepup_cb_wait(r, sc,
                                            NGX_HTTP_IAMSMART_SC_REQUEST,
                                            2, argv, argvlen);
}


static ngx_int_t
ngx_http_iamsmart_stepup_cb_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc, ngx_http_iamsmart_sc_step_e next,
    int argc, const char **argv, const size_t *argvlen)
{
    sc->step = next;

    return ngx_http_iamsmart_redis_await(r, &sc->redis, argc, argv, argvlen);
}


static void
ngx_http_iamsmart_stepup_cb_resume(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);

    ngx_http_finalize_request(r,
                              ngx_http_iamsmart_stepup_cb_step(r, ctx->login));
}


static ngx_int_t
ngx_http_iamsmart_stepup_cb_step(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc)
{
    char                      *sealed;
    size_t                     pt_len, sealed_len, argvlen[4];
    json_t                    *record, *s, *st, *u;
    int64_t                    ttl;
    iams_err                   err;
    ngx_str_t                  cookie, state, refresh;
    ngx_int_t                  rc;
    iams_status                ist;
    const char                *argv[4];
    iams_session              *session;
    iams_session_id            id;
    unsigned char             *pt;
    iams_pcode                 pcode;
    ngx_http_iamsmart_set_cmd_t  set;

    if (sc->redis.error != NULL) {
        return ngx_http_iamsmart_unavailable(r, sc->redis.error);
    }

    switch (sc->step) {

    case NGX_HTTP_IAMSMART_SC_PENDING:

        rc = NGX_DECLINED;

        if (sc->redis.type == REDIS_REPLY_STRING
            && iams_unseal(sc->mcf->keyring, IAMS_KEY_LOGIN_STATE, "s1",
                           sc->request_key.data, sc->request_key.len,
                           (char *) sc->redis.str.data, sc->redis.str.len,
                           NGX_HTTP_IAMSMART_STEPUP_RECORD_MAX, &pt, &pt_len,
                           &err)
               == IAMS_OK)
        {
            record = iams_json_parse_object((char *) pt, pt_len,
                                          NGX_HTTP_IAMSMART_STEPUP_RECORD_MAX,
                                          &err);
            OPENSSL_cleanse(pt, pt_len);
            free(pt);

            st = json_object_get(record, "st");
            s = json_object_get(record, "s");

            if (json_is_string(st) && json_is_string(s)
                && json_string_length(st) == sc->state.len
                && CRYPTO_memcmp(json_string_value(st), sc->state.data,
                                 sc->state.len) == 0
                && ngx_http_iamsmart_stepup_outcome(r, sc,
                       json_is_string(json_object_get(record, "k"))
                       && ngx_strcmp(json_string_value(
                                         json_object_get(record, "k")),
                                     "eme") == 0,
                       json_string_value(s), json_string_length(s))
                   == NGX_OK)
            {
                rc = NGX_OK;
            }

            json_decref(record);
        }

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "iamsmart: step-up callback for no pending "
                          "request (unknown businessID or state) ignored");

            return ngx_http_iamsmart_callback_answer(r, NGX_HTTP_BAD_REQUEST,
                                                     "D20001",
                                                     "no such request");
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: %s outcome stored at %V",
                      sc->eme ? "e-ME" : "step-up", &sc->outcome_key);

        ngx_http_iamsmart_set_cmd(&set, (char *) sc->outcome_key.data,
                                  sc->outcome_key.len,
                                  (char *) sc->outcome.data, sc->outcome.len,
                                  NGX_HTTP_IAMSMART_STEPUP_TTL, "NX");

        return ngx_http_iamsmart_stepup_cb_wait(r, sc,
                                                NGX_HTTP_IAMSMART_SC_STORED,
                                                set.argc, set.argv,
                                                set.argvlen);

    case NGX_HTTP_IAMSMART_SC_STORED:
        return ngx_http_iamsmart_callback_answer(r, NGX_HTTP_OK, "D00000",
                                                 "received");

    case NGX_HTTP_IAMSMART_SC_REQUEST:

        if (sc->redis.type != REDIS_REPLY_STRING) {
            return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_BAD_REQUEST,
                       "This face recognition has expired or was already "
                       "used.", "此人臉識別已逾時或已使用。", NULL);
        }

        ist = iams_unseal(sc->mcf->keyring, IAMS_KEY_LOGIN_STATE, "s1",
                          sc->request_key.data, sc->request_key.len,
                          (char *) sc->redis.str.data, sc->redis.str.len,
                          NGX_HTTP_IAMSMART_STEPUP_RECORD_MAX, &pt, &pt_len,
                          &err);
        if (ist != IAMS_OK) {
            return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_BAD_REQUEST,
                       "This face recognition link is not valid.",
                       "此人臉識別連結無效。", NULL);
        }

        record = iams_json_parse_object((char *) pt, pt_len,
                                        NGX_HTTP_IAMSMART_STEPUP_RECORD_MAX,
                                        &err);
        OPENSSL_cleanse(pt, pt_len);
        free(pt);

        s = json_object_get(record, "s");
        st = json_object_get(record, "st");
        u = json_object_get(record, "r");

        /* the browser must carry the session that asked, and the state */

        rc = NGX_DECLINED;

        if (json_is_string(s) && json_is_string(st) && json_is_string(u)
            && ngx_http_iamsmart_get_cookie(r, &sc->mcf->cookie_name, &cookie)
               == NGX_OK
            && iams_session_id_from_cookie((char *) cookie.data, cookie.len,
                                           &id, &err) == IAMS_OK)
        {
            if (iams_session_redis_key(sc->mcf->keyring, IAMS_KEY_CURRENT,
                                       NGX_HTTP_IAMSMART_REDIS_PREFIX,
                                       sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                                       - 1, &id, sc->session_key,
                                       sizeof(sc->session_key),
                                       &sc->session_key_len, &err)
                == IAMS_OK
                && sc->session_key_len == json_string_length(s)
                && CRYPTO_memcmp(sc->session_key, json_string_value(s),
                                 sc->session_key_len) == 0
                && ngx_http_arg(r, (u_char *) "state", 5, &state) == NGX_OK
                && state.len == json_string_length(st)
                && CRYPTO_memcmp(state.data, json_string_value(st),
                                 state.len) == 0)
            {
                rc = NGX_OK;
            }

            iams_session_id_clear(&id);
        }

        if (rc != NGX_OK) {
            json_decref(record);

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "iamsmart: step-up return from another session or "
                          "with a wrong state");

            return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_FORBIDDEN,
                       "This face recognition belongs to another sign-in.",
                       "此人臉識別屬於另一個登入。", NULL);
        }

        sc->return_url.len = json_string_length(u);
        sc->return_url.data = ngx_pnalloc(r->pool, sc->return_url.len);
        if (sc->return_url.data == NULL) {
            json_decref(record);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(sc->return_url.data, json_string_value(u),
                   sc->return_url.len);

        sc->eme = json_is_string(json_object_get(record, "k"))
                  && ngx_strcmp(json_string_value(json_object_get(record,
                                                                  "k")),
                                "eme") == 0;
        json_decref(record);

        if (iams_return_url_check((char *) sc->return_url.data,
                                  sc->return_url.len, &err) != IAMS_OK)
        {
            ngx_str_set(&sc->return_url, "/");
        }

        if (sc->eme) {
            /* the prefill reads the data itself, with this ticket */
            return ngx_http_iamsmart_stepup_ticket_redirect(r, sc);
        }

        argv[0] = "GET";
        argvlen[0] = 3;
        argv[1] = (char *) sc->outcome_key.data;
        argvlen[1] = sc->outcome_key.len;

        return ngx_http_iamsmart_stepup_cb_wait(r, sc,
                                                NGX_HTTP_IAMSMART_SC_OUTCOME,
                                                2, argv, argvlen);

    case NGX_HTTP_IAMSMART_SC_OUTCOME:

        if (sc->redis.type != REDIS_REPLY_STRING) {

            /* the platform has not called back yet: wait here a little */

            refresh = r->unparsed_uri;

            if (ngx_http_iamsmart_add_header(r, "Refresh",
                                             &(ngx_str_t) ngx_string("2"))
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_OK,
                       "Waiting for your confirmation in the iAM Smart "
                       "app...", "正在等待你在「智方便」應用程式確認…",
                       &refresh);
        }

        argv[0] = "DEL";
        argvlen[0] = 3;
        argv[1] = (char *) sc->request_key.data;
        argvlen[1] = sc->request_key.len;
        argv[2] = (char *) sc->outcome_key.data;
        argvlen[2] = sc->outcome_key.len;
        (void) ngx_http_iamsmart_redis_send(3, argv, argvlen);

        if (sc->redis.str.len != 1 || sc->redis.str.data[0] != '1') {
            pcode = (sc->redis.str.len == 1)
                    ? IAMS_PCODE_STEPUP
                    : iams_pcode_classify((char *) sc->redis.str.data,
                                          sc->redis.str.len);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "iamsmart: face recognition not passed (%V)",
                          &sc->redis.str);

            if (sc->redis.str.len == 1) {
                return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_FORBIDDEN,
                           "The face recognition did not succeed, so this "
                           "action was not allowed. You can try again.",
                           "人臉識別未能成功，因此未能進行此操作。你可以再試一次。",
                           &sc->return_url);
            }

            return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_FORBIDDEN,
                       iams_pcode_message(pcode, IAMS_LANG_EN),
                       iams_pcode_message(pcode, IAMS_LANG_ZH_HK),
                       &sc->return_url);
        }

        argv[0] = "GET";
        argvlen[0] = 3;
        argv[1] = sc->session_key;
        argvlen[1] = sc->session_key_len;

        return ngx_http_iamsmart_stepup_cb_wait(r, sc,
                                                NGX_HTTP_IAMSMART_SC_SESSION,
                                                2, argv, argvlen);

    case NGX_HTTP_IAMSMART_SC_SESSION:

        if (sc->redis.type != REDIS_REPLY_STRING
            || iams_session_decode(sc->mcf->keyring, sc->session_key,
                                   sc->session_key_len,
                                   (char *) sc->redis.str.data,
                                   sc->redis.str.len, &session, &err)
               != IAMS_OK)
        {
            return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_FORBIDDEN,
                       "Your sign-in has ended. Please sign in again.",
                       "你的登入已結束，請重新登入。", &sc->return_url);
        }

        ttl = iams_session_ttl(session, ngx_time());

        if (ttl <= 0
            || iams_session_add_amr(session, "fr", ngx_time(), &err)
               != IAMS_OK
            || iams_session_encode(session, sc->mcf->keyring, sc->session_key,
                                   sc->session_key_len, &sealed, &sealed_len,
                                   &err)
               != IAMS_OK)
        {
            iams_session_free(session);
            return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_FORBIDDEN,
                       "Your sign-in has ended. Please sign in again.",
                       "你的登入已結束，請重新登入。", &sc->return_url);
        }

        iams_session_free(session);

        ngx_http_iamsmart_set_cmd(&set, sc->session_key, sc->session_key_len,
                                  sealed, sealed_len, ttl, "XX");

        ngx_http_iamsmart_session_cache_forget(sc->mcf, sc->session_key,
                                               sc->session_key_len);

        rc = ngx_http_iamsmart_stepup_cb_wait(r, sc,
                                              NGX_HTTP_IAMSMART_SC_SAVED,
                                              set.argc, set.argv,
                                              set.argvlen);
        free(sealed);

        return rc;

    default: /* NGX_HTTP_IAMSMART_SC_SAVED */

        /* again: a GET answered before the SET may have refilled it */
        ngx_http_iamsmart_session_cache_forget(sc->mcf, sc->session_key,
                                               sc->session_key_len);

        if (sc->redis.type != REDIS_REPLY_STATUS) {
            return ngx_http_iamsmart_stepup_page(r, NGX_HTTP_FORBIDDEN,
                       "Your sign-in has ended. Please sign in again.",
                       "你的登入已結束，請重新登入。", &sc->return_url);
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "iamsmart: face recognition passed, businessID %V",
                      &sc->business_id);

        return ngx_http_iamsmart_redirect(r, &sc->return_url);
    }
}


static ngx_int_t
ngx_http_iamsmart_stepup_ticket_redirect(ngx_http_request_t *r,
    ngx_http_iamsmart_stepup_cb_t *sc)
{
    u_char     *p;
    ngx_str_t   to;

    to.len = sc->return_url.len + sizeof("&ticket=") - 1
             + sc->business_id.len;
    to.data = ngx_pnalloc(r->pool, to.len);
    if (to.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(to.data, sc->return_url.data, sc->return_url.len);
    p = ngx_cpymem(p, ngx_strlchr(sc->return_url.data,
                                  sc->return_url.data + sc->return_url.len,
                                  '?') ? "&ticket=" : "?ticket=", 8);
    ngx_memcpy(p, sc->business_id.data, sc->business_id.len);

    return ngx_http_iamsmart_redirect(r, &to);
}


/* Only a path on this site, taken from an absolute Referer. */
ngx_int_t
ngx_http_iamsmart_same_origin_path(ngx_http_request_t *r, ngx_str_t *url,
    ngx_str_t *path)
{
    u_char    *p, *last;
    iams_err   err;

    p = url->data;
    last = p + url->len;

    if (r->headers_in.host == NULL) {
        return NGX_DECLINED;
    }

    if (last - p > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        p += 8;

    } else if (last - p > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        p += 7;

    } else {
        return NGX_DECLINED;
    }

    /* the authority must be exactly the Host header, port included */
    if ((size_t) (last - p) <= r->headers_in.host->value.len
        || ngx_strncasecmp(p, r->headers_in.host->value.data,
                           r->headers_in.host->value.len) != 0)
    {
        return NGX_DECLINED;
    }

    p += r->headers_in.host->value.len;

    if (*p != '/') {
        return NGX_DECLINED;
    }

    path->data = p;
    path->len = last - p;

    return iams_return_url_check((char *) p, last - p, &err) == IAMS_OK
           ? NGX_OK : NGX_DECLINED;
}
