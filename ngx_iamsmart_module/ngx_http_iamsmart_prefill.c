
/*
 * Copyright (C) The iAM Smart gateway authors
 *
 * e-ME form filling ("iamsmart_prefill", in a location with
 * "iamsmart_auth on"):
 *
 *   GET /prefill?form=td.idp_application[&consent=<id>&purpose=<code>]
 *
 * The form's adapter says what the form needs (profile and e-ME fields,
 * data sets).  The e-ME fields come from the platform with the citizen's
 * approval in the app: an e-ME initiateRequest, the browser sent to the
 * approval page, the encrypted callback stored at the platform callback
 * location (_stepup.c), and the browser back here with "&ticket=<id>".
 * Data sets come from other departments through a consented exchange
 * (the consent named by the link), exactly as the exchange endpoint does
 * it: checked, counted, audited.  The adapter then maps everything to the
 * form's payload, and the answer says where every field came from.
 */


#include "ngx_http_iamsmart.h"

#include <openssl/crypto.h>
#include <iamsmart/audit.h>
#include <iamsmart/sealed.h>


#define NGX_HTTP_IAMSMART_PREFILL_FIELDS_MAX  (64 * 1024)


typedef enum {
    NGX_HTTP_IAMSMART_PF_STORE = 0,      /* request record stored */
    NGX_HTTP_IAMSMART_PF_INITIATE,       /* e-ME initiateRequest */
    NGX_HTTP_IAMSMART_PF_TICKET,         /* e-ME outcome read */
    NGX_HTTP_IAMSMART_PF_EXCHANGE        /* consented data gathered */
} ngx_http_iamsmart_pf_step_e;


typedef struct {
    ngx_http_iamsmart_main_conf_t    *mcf;
    ngx_http_iamsmart_ctx_t          *ctx;
    ngx_http_iamsmart_pf_step_e       step;
    ngx_http_iamsmart_redis_wait_t    redis;
    ngx_http_iamsmart_pcall_t         pc;
    ngx_http_iamsmart_exchange_t      ex;

    ngx_http_iamsmart_department_t   *dept;      /* the form's */
    ngx_str_t                         form;
    json_t                           *inputs;    /* pool cleanup */
    json_t                           *fields;    /* canonical, merged */
    ngx_str_t                         ticket;
    ngx_str_t                         request_key;
    ngx_str_t                         outcome_key;
    char                              business_id[IAMS_BUSINESS_ID_LEN + 1];
    char                              state[IAMS_STATE_LEN + 1];
    iams_initiate_result              ir;
    iams_span                         names[IAMS_FIELDS_MAX]; /* e-ME */
    size_t                            nnames;
    ngx_http_iamsmart_anon_t          anon;
} ngx_http_iamsmart_prefill_t;


static ngx_int_t ngx_http_iamsmart_prefill_step(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf);


static ngx_http_iamsmart_page_t  ngx_http_iamsmart_waiting_page = {
    "Filling your form", "正在填寫你的表格",
    "Waiting for your approval in the iAM Smart app...",
    "正在等待你在「智方便」應用程式確認…",
    "Refresh", "重新整理", ngx_null_string
};
static void ngx_http_iamsmart_prefill_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_iamsmart_prefill_initiate(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf);
static ngx_int_t ngx_http_iamsmart_prefill_gather(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf);
static ngx_int_t ngx_http_iamsmart_prefill_store(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf);
static ngx_int_t ngx_http_iamsmart_prefill_exchanged(ngx_http_request_t *r,
    void *data);
static ngx_int_t ngx_http_iamsmart_prefill_map(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf);
static ngx_int_t ngx_http_iamsmart_prefill_anon_done(ngx_http_request_t *r,
    void *data, json_t *fields);
static ngx_int_t ngx_http_iamsmart_prefill_add_eme(
    ngx_http_iamsmart_prefill_t *pf, json_t *got);
static ngx_int_t ngx_http_iamsmart_prefill_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf, ngx_http_iamsmart_pf_step_e next,
    int argc, const char **argv, const size_t *argvlen);


ngx_int_t
ngx_http_iamsmart_prefill_handler(ngx_http_request_t *r)
{
    size_t                            len, k, j;
    json_t                           *v;
    ngx_str_t                         arg;
    ngx_uint_t                        i;
    const char                       *text;
    const char                       *lists[2] = { "profileFields",
                                                   "eMEFields" };
    ngx_http_iamsmart_ctx_t          *ctx;
    ngx_http_iamsmart_prefill_t      *pf;
    ngx_http_iamsmart_loc_conf_t     *lcf;
    ngx_http_iamsmart_department_t  **dept;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_iamsmart_module);
    ctx = ngx_http_iamsmart_get_ctx(r);
    pf = ngx_pcalloc(r->pool, sizeof(ngx_http_iamsmart_prefill_t));

    if (ctx == NULL || pf == NULL
        || (ctx->session == NULL && !lcf->prefill_anonymous))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pf->mcf = ngx_http_get_module_main_conf(r, ngx_http_iamsmart_module);
    pf->ctx = ctx;
    pf->redis.resume = ngx_http_iamsmart_prefill_resume;
    pf->pc.resume = ngx_http_iamsmart_prefill_resume;
    ctx->login = pf;

    if (ngx_http_arg(r, (u_char *) "form", 4, &pf->form) != NGX_OK
        || pf->form.len == 0 || pf->form.len > 64)
    {
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid_request", "give the form as ?form=<id>");
    }

    /* the department whose adapter fills this form */

    dept = pf->mcf->departments ? pf->mcf->departments->elts : NULL;

    for (i = 0; dept && i < pf->mcf->departments->nelts; i++) {
        if (dept[i]->adapter
            && iams_adapter_has_form(dept[i]->adapter,
                                     (char *) pf->form.data, pf->form.len))
        {
            pf->dept = dept[i];
            break;
        }
    }

    if (pf->dept == NULL) {
        return ngx_http_iamsmart_send_error(r, NGX_HTTP_NOT_FOUND,
                   "unknown_form", "no department here fills this form");
    }

    text = iams_adapter_form_inputs(pf->dept->adapter, (char *) pf->form.data,
                                    pf->form.len, &len);
    pf->inputs = text ? json_loadb(text, len, 0, NULL) : NULL;
    pf->fields = json_object();

    if (pf->inputs == NULL || pf->fields == NULL
        || ngx_http_iamsmart_json_add_cleanup(r->pool, pf->inputs) != NGX_OK
        || ngx_http_iamsmart_json_add_cleanup(r->pool, pf->fields) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the profile and e-ME fields the platform is asked for */

    for (k = 0; k < 2; k++) {
        json_array_foreach(json_object_get(pf->inputs, lists[k]), j, v) {
            if (json_is_string(v) && pf->nnames < IAMS_FIELDS_MAX) {
                pf->names[pf->nnames].data = json_string_value(v);
                pf->names[pf->nnames].len = json_string_length(v);
                pf->nnames++;
            }
        }
    }

    if (lcf->prefill_anonymous) {

        /* nobody signed in: e-ME only, as the platform's anonymous flow
         * gives it; data sets need a citizen to have consented */

        if (pf->nnames == 0) {
            return ngx_http_iamsmart_prefill_map(r, pf);
        }

        pf->anon.form = pf->form;
        pf->anon.fields = pf->names;
        pf->anon.nfields = pf->nnames;
        pf->anon.done = ngx_http_iamsmart_prefill_anon_done;
        pf->anon.data = pf;

        return ngx_http_iamsmart_anon_run(r, &pf->anon);
    }

    if (ngx_http_arg(r, (u_char *) "ticket", 6, &arg) == NGX_OK) {

        /* back from the app's approval: read what the platform sent */

        if (arg.len == 0 || arg.len > IAMS_BUSINESS_ID_MAX
            || !iams_state_valid((char *) arg.data, arg.len))
        {
            return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_REQUEST,
                       "invalid_request", "an invalid ticket");
        }

        pf->ticket = arg;
        pf->step = NGX_HTTP_IAMSMART_PF_INITIATE;

        return ngx_http_iamsmart_prefill_step(r, pf);
    }

    if (pf->nnames == 0) {
        return ngx_http_iamsmart_prefill_gather(r, pf);
    }

    return ngx_http_iamsmart_prefill_initiate(r, pf);
}


/* e-ME initiateRequest for every profile and e-ME field the form needs */
static ngx_int_t
ngx_http_iamsmart_prefill_initiate(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf)
{
    iams_err  err;

    if (iams_business_id_generate(pf->business_id, &err) != IAMS_OK
        || iams_state_generate(pf->state, &err) != IAMS_OK
        || ngx_http_iamsmart_eme_plaintext(r, pf->mcf, pf->ctx->session,
                                           &pf->form, pf->names, pf->nnames,
                                           pf->business_id, pf->state,
                                           &pf->pc)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pf->pc.mcf = pf->mcf;
    pf->pc.path = "/api/v1/account/eme/initiateRequest";
    return ngx_http_iamsmart_prefill_store(r, pf);
}


/*
 * The e-ME initiateRequest body for a form's fields, into pc->plaintext:
 * with a session the logged-in request (its callback comes to
 * iamsmart_stepup_uri), without one the anonymous request.
 */
ngx_int_t
ngx_http_iamsmart_eme_plaintext(ngx_http_request_t *r,
    ngx_http_iamsmart_main_conf_t *mcf, iams_session *s, ngx_str_t *form,
    const iams_span *fields, size_t nfields, const char *business_id,
    const char *state, ngx_http_iamsmart_pcall_t *pc)
{
    char               *body;
    size_t              len;
    iams_err            err;
    ngx_table_elt_t    *ua;
    iams_data_request   req;

    ua = r->headers_in.user_agent;

    ngx_memzero(&req, sizeof(iams_data_request));

    if (s != NULL) {
        req.common.open_id.data = s->open_id;
        req.common.open_id.len = ngx_strlen(s->open_id);
        req.common.access_token.data = s->access_token;
        req.common.access_token.len = ngx_strlen(s->access_token);
        req.common.redirect_uri.data = (char *) mcf->stepup_uri.data;
        req.common.redirect_uri.len = mcf->stepup_uri.len;
        req.common.state.data = state;
        req.common.state.len = ngx_strlen(state);
    }

    req.common.business_id.data = business_id;
    req.common.business_id.len = ngx_strlen(business_id);
    req.common.lang.data = mcf->lang.len ? (char *) mcf->lang.data : "zh-HK";
    req.common.lang.len = mcf->lang.len ? mcf->lang.len : 5;
    req.common.source = ua ? iams_source_from_user_agent(
                                 (char *) ua->value.data, ua->value.len)
                           : IAMS_SOURCE_PC_BROWSER;
    req.kind = s ? IAMS_FIELDS_EME : IAMS_FIELDS_EME_ANONYMOUS;
    req.fields = fields;
    req.nfields = nfields;
    req.form_name.data = (char *) form->data;
    req.form_name.len = form->len;
    req.form_num.data = (char *) form->data;
    req.form_num.len = ngx_min(form->len, 20);
    req.form_desc.data = (char *) form->data;
    req.form_desc.len = form->len;

    if (iams_data_request_body(&req, &body, &len, &err) != IAMS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: cannot build the e-ME request: %s",
                      err.detail);
        return NGX_ERROR;
    }

    return ngx_http_iamsmart_pcall_plaintext(r, pc, body, len);
}


/*
 * The pending request is stored before the platform hears of it, so that
 * however early its callback comes, the callback location knows it (and
 * the session and the way back here).
 */
static ngx_int_t
ngx_http_iamsmart_prefill_store(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf)
{
    u_char                       *p;
    char                         *text, *sealed;
    size_t                        len;
    json_t                       *record;
    iams_err                      err;
    ngx_int_t                     rc;
    ngx_http_iamsmart_set_cmd_t   set;

    p = ngx_pnalloc(r->pool, sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                             + sizeof("stepup:v1:") + IAMS_BUSINESS_ID_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pf->request_key.data = p;
    pf->request_key.len = ngx_sprintf(p, NGX_HTTP_IAMSMART_REDIS_PREFIX
                                      "stepup:v1:%s", pf->business_id)
                          - p;

    record = json_pack("{s:s%, s:s, s:s%, s:I, s:s}",
                       "s", pf->ctx->session_key, pf->ctx->session_key_len,
                       "st", pf->state,
                       "r", r->unparsed_uri.data, r->unparsed_uri.len,
                       "t", (json_int_t) ngx_time(),
                       "k", "eme");
    text = record ? json_dumps(record, JSON_COMPACT) : NULL;
    json_decref(record);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = iams_seal(pf->mcf->keyring, IAMS_KEY_LOGIN_STATE, "s1",
                   pf->request_key.data, pf->request_key.len,
                   (unsigned char *) text, ngx_strlen(text), &sealed, &len,
                   &err);
    free(text);

    if (rc != IAMS_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_iamsmart_set_cmd(&set, (char *) pf->request_key.data,
                              pf->request_key.len, sealed, len, 600, "NX");

    rc = ngx_http_iamsmart_prefill_wait(r, pf, NGX_HTTP_IAMSMART_PF_STORE,
                                        set.argc, set.argv, set.argvlen);
    free(sealed);

    return rc;
}


static ngx_int_t
ngx_http_iamsmart_prefill_wait(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf, ngx_http_iamsmart_pf_step_e next,
    int argc, const char **argv, const size_t *argvlen)
{
    pf->step = next;

    return ngx_http_iamsmart_redis_await(r, &pf->redis, argc, argv, argvlen);
}


static void
ngx_http_iamsmart_prefill_resume(ngx_http_request_t *r)
{
    ngx_http_iamsmart_ctx_t      *ctx;
    ngx_http_iamsmart_prefill_t  *pf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_iamsmart_module);
    pf = ctx->login;

    if (pf->redis.waiting || pf->pc.redis.waiting || pf->pc.call.pending) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_iamsmart_prefill_step(r, pf));
}


static ngx_int_t
ngx_http_iamsmart_prefill_step(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf)
{
    u_char           *p, *ctx_data;
    size_t            pt_len, ctx_len, argvlen[3];
    json_t           *got;
    iams_err          err;
    ngx_int_t         rc;
    ngx_str_t         location, *outcome;
    const char       *argv[3];
    unsigned char    *pt;

    switch (pf->step) {

    case NGX_HTTP_IAMSMART_PF_STORE:

        if (pf->redis.error != NULL || pf->redis.type != REDIS_REPLY_STATUS) {
            return ngx_http_iamsmart_unavailable(r, "e-ME request not "
                                                    "stored");
        }

        pf->step = NGX_HTTP_IAMSMART_PF_INITIATE;

        /* fall through */

    case NGX_HTTP_IAMSMART_PF_INITIATE:

        if (pf->ticket.len) {
            break;
        }

        rc = ngx_http_iamsmart_pcall(r, &pf->pc);

        if (rc == NGX_AGAIN) {
            r->main->count++;
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (pf->pc.failure) {
            return ngx_http_iamsmart_send_error(r, pf->pc.failure,
                       "platform_unavailable", pf->pc.error);
        }

        if (pf->pc.reply.pcode != IAMS_PCODE_OK
            || iams_initiate_result_parse(pf->pc.content, &pf->ir, &err)
               != IAMS_OK)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "iamsmart: e-ME initiateRequest answered %s (%s)",
                          pf->pc.reply.code,
                          iams_pcode_name(pf->pc.reply.pcode));
            return ngx_http_iamsmart_send_error(r, NGX_HTTP_BAD_GATEWAY,
                       iams_pcode_name(pf->pc.reply.pcode),
                       iams_pcode_message(pf->pc.reply.pcode,
                                          IAMS_LANG_EN));
        }

        location.len = pf->mcf->platform_url.len + sizeof("/approve/")
                       + 3 * ngx_strlen(pf->ir.ticket_id);
        location.data = ngx_pnalloc(r->pool, location.len);
        if (location.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(location.data, "%V/approve/", &pf->mcf->platform_url);
        p = (u_char *) ngx_escape_uri(p, (u_char *) pf->ir.ticket_id,
                                      ngx_strlen(pf->ir.ticket_id),
                                      NGX_ESCAPE_URI_COMPONENT);
        location.len = p - location.data;

        return ngx_http_iamsmart_redirect(r, &location);

    case NGX_HTTP_IAMSMART_PF_TICKET:

        if (pf->redis.error != NULL) {
            return ngx_http_iamsmart_unavailable(r, pf->redis.error);
        }

        if (pf->redis.nelements != 2) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (pf->redis.elements[0].type != REDIS_REPLY_STRING
            && pf->redis.elements[1].type != REDIS_REPLY_STRING)
        {
            return ngx_http_iamsmart_send_error(r, NGX_HTTP_NOT_FOUND,
                       "no_data", "no such ticket (unknown, expired or "
                                  "already used)");
        }

        if (pf->redis.elements[1].type != REDIS_REPLY_STRING) {
            /* the platform's callback may still be on its way: the page
             * asks again until it comes (the ticket lives ten minutes) */
            if (ngx_http_iamsmart_wants_json(r)) {
                return ngx_http_iamsmart_send_error(r, NGX_HTTP_ACCEPTED,
                           "pending", "the platform has not sent the data "
                                      "yet: ask again");
            }

            if (ngx_http_iamsmart_add_header(r, "Refresh",
                                             &(ngx_str_t) ngx_string("2"))
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_iamsmart_send_page(r, NGX_HTTP_ACCEPTED,
                       &ngx_http_iamsmart_waiting_page);
        }

        outcome = &pf->redis.elements[1].str;

        if (outcome->data[0] == 'D') {
            return ngx_http_iamsmart_send_error(r, NGX_HTTP_FORBIDDEN,
                       "declined",
                       iams_pcode_message(
                           iams_pcode_classify((char *) outcome->data,
                                               outcome->len),
                           IAMS_LANG_EN));
        }

        ctx_len = pf->outcome_key.len + pf->ctx->session_key_len;
        ctx_data = ngx_pnalloc(r->pool, ctx_len);
        if (ctx_data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(ngx_cpymem(ctx_data, pf->outcome_key.data,
                              pf->outcome_key.len),
                   pf->ctx->session_key, pf->ctx->session_key_len);

        /* bound to the session that asked: another one cannot open it */
        if (iams_unseal(pf->mcf->keyring, IAMS_KEY_LOGIN_STATE, "e1",
                        ctx_data, ctx_len, (char *) outcome->data,
                        outcome->len,
                        NGX_HTTP_IAMSMART_PREFILL_FIELDS_MAX, &pt, &pt_len,
                        &err)
            != IAMS_OK)
        {
            return ngx_http_iamsmart_send_error(r, NGX_HTTP_FORBIDDEN,
                       "not_yours", "this ticket belongs to another "
                                    "sign-in");
        }

        /* opened by its own session: used once, the request and its
         * outcome go (another session's attempt destroys nothing) */
        argv[0] = "DEL";
        argvlen[0] = 3;
        argv[1] = (char *) pf->outcome_key.data;
        argvlen[1] = pf->outcome_key.len - (sizeof(":outcome") - 1);
        argv[2] = (char *) pf->outcome_key.data;
        argvlen[2] = pf->outcome_key.len;
        (void) ngx_http_iamsmart_redis_send(3, argv, argvlen);

        got = iams_json_parse_object((char *) pt, pt_len,
                                     NGX_HTTP_IAMSMART_PREFILL_FIELDS_MAX,
                                     &err);
        OPENSSL_cleanse(pt, pt_len);
        free(pt);

        rc = ngx_http_iamsmart_prefill_add_eme(pf, got);
        json_decref(got);

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_iamsmart_prefill_gather(r, pf);

    case NGX_HTTP_IAMSMART_PF_EXCHANGE:
        break;
    }

    /* a ticket: read the e-ME outcome the callback stored */

    p = ngx_pnalloc(r->pool, sizeof(NGX_HTTP_IAMSMART_REDIS_PREFIX)
                             + sizeof("stepup:v1::outcome") + pf->ticket.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pf->outcome_key.data = p;
    pf->outcome_key.len = ngx_sprintf(p, NGX_HTTP_IAMSMART_REDIS_PREFIX
                                      "stepup:v1:%V:outcome", &pf->ticket)
                          - p;

    /* the request record says the ticket exists; the outcome, whether the
     * platform has answered */
    argv[0] = "MGET";
    argvlen[0] = 4;
    argv[1] = (char *) pf->outcome_key.data;
    argvlen[1] = pf->outcome_key.len - (sizeof(":outcome") - 1);
    argv[2] = (char *) pf->outcome_key.data;
    argvlen[2] = pf->outcome_key.len;

    pf->ticket.len = 0;

    return ngx_http_iamsmart_prefill_wait(r, pf, NGX_HTTP_IAMSMART_PF_TICKET,
                                          3, argv, argvlen);
}


/* e-ME values carry their source like every canonical field */
static ngx_int_t
ngx_http_iamsmart_prefill_add_eme(ngx_http_iamsmart_prefill_t *pf,
    json_t *got)
{
    char         ts[25];
    json_t      *v;
    iams_err     err;
    const char  *name;

    if (got == NULL
        || iams_audit_time(ngx_http_iamsmart_now_ms(), ts, &err) != IAMS_OK)
    {
        return NGX_ERROR;
    }

    json_object_foreach(got, name, v) {
        json_object_set_new(pf->fields, name,
                            json_pack("{s:O, s:s, s:s}", "value", v,
                                      "source", "iAM Smart",
                                      "last_updated", ts));
    }

    return NGX_OK;
}


/* The anonymous flow brought the e-ME fields: only they fill the form. */
static ngx_int_t
ngx_http_iamsmart_prefill_anon_done(ngx_http_request_t *r, void *data,
    json_t *fields)
{
    ngx_http_iamsmart_prefill_t *pf = data;

    if (ngx_http_iamsmart_prefill_add_eme(pf, fields) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_iamsmart_prefill_map(r, pf);
}


/* Data sets from other departments, through the consent the link names. */
static ngx_int_t
ngx_http_iamsmart_prefill_gather(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf)
{
    size_t                         i, len;
    json_t                        *sets, *v, *d, *f;
    iams_err                       err;
    ngx_str_t                      consent, purpose;
    const char                    *text;
    ngx_http_iamsmart_exchange_t  *ex;

    sets = json_object_get(pf->inputs, "datasets");

    if (json_array_size(sets) == 0
        || ngx_http_arg(r, (u_char *) "consent", 7, &consent) != NGX_OK
        || ngx_http_arg(r, (u_char *) "purpose", 7, &purpose) != NGX_OK)
    {
        /* nothing to gather, or no consent offered: the adapter reports
         * what stays missing */
        return ngx_http_iamsmart_prefill_map(r, pf);
    }

    ex = &pf->ex;
    ex->mcf = pf->mcf;
    ex->requester = pf->dept;
    ex->consent_id = consent;
    ex->purpose = purpose;
    ex->done = ngx_http_iamsmart_prefill_exchanged;
    ex->data = pf;
    ex->subset = 1;

    ex->subject.data = ngx_pnalloc(r->pool, IAMS_PAIRWISE_SUB_LEN + 1);
    if (ex->subject.data == NULL
        || iams_pairwise_subject(pf->mcf->keyring, (char *) pf->dept->ns.data,
                                 pf->dept->ns.len,
                                 pf->ctx->session->open_id,
                                 ngx_strlen(pf->ctx->session->open_id),
                                 (char *) ex->subject.data, &err)
           != IAMS_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ex->subject.len = IAMS_PAIRWISE_SUB_LEN;

    /* the requesting service is the form's, as its adapter declares */
    text = iams_adapter_describe_json(pf->dept->adapter, &len);
    d = text ? json_loadb(text, len, 0, NULL) : NULL;

    json_array_foreach(json_object_get(d, "forms"), i, f) {
        v = json_object_get(f, "id");

        if (json_is_string(v)
            && json_string_length(v) == pf->form.len
            && ngx_strncmp(json_string_value(v), pf->form.data,
                           pf->form.len) == 0)
        {
            v = json_object_get(f, "service");
            ex->service.len = json_string_length(v);
            ex->service.data = ngx_pnalloc(r->pool, ex->service.len + 1);

            if (ex->service.data != NULL) {
                ngx_memcpy(ex->service.data, json_string_value(v),
                           ex->service.len);
            }
        }
    }

    json_decref(d);

    ex->nitems = json_array_size(sets);
    ex->items = ngx_palloc(r->pool, ex->nitems * sizeof(iams_span));

    if (ex->items == NULL || ex->service.len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_array_foreach(sets, i, v) {
        ex->items[i].data = json_string_value(v);
        ex->items[i].len = json_string_length(v);
    }

    pf->step = NGX_HTTP_IAMSMART_PF_EXCHANGE;

    return ngx_http_iamsmart_exchange_run(r, ex);
}


/* The exchange is over (audited): merge what it released. */
static ngx_int_t
ngx_http_iamsmart_prefill_exchanged(ngx_http_request_t *r, void *data)
{
    ngx_http_iamsmart_prefill_t *pf = data;

    json_t      *item, *fields;
    const char  *key;

    if (pf->ex.status == NGX_HTTP_FORBIDDEN) {
        return ngx_http_iamsmart_send_json(r, NGX_HTTP_FORBIDDEN,
                                           json_incref(pf->ex.answer));
    }

    json_object_foreach(json_object_get(pf->ex.answer, "items"), key, item) {
        fields = json_object_get(item, "fields");

        if (json_is_object(fields)) {
            json_object_update(pf->fields, fields);
        }
    }

    return ngx_http_iamsmart_prefill_map(r, pf);
}


static ngx_int_t
ngx_http_iamsmart_prefill_map(ngx_http_request_t *r,
    ngx_http_iamsmart_prefill_t *pf)
{
    char                  *text;
    size_t                 out_len;
    json_t                *input, *out, *sources, *v;
    iams_err               err;
    const char            *out_text, *name;
    iams_adapter_env       env;
    iams_adapter_diag      diag;
    iams_adapter_status    st;

    input = json_pack("{s:s%, s:O, s:s}", "form", pf->form.data, pf->form.len,
                      "fields", pf->fields, "lang", "en");
    text = input ? json_dumps(input, JSON_COMPACT) : NULL;
    json_decref(input);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_iamsmart_adapter_env(r, &env);

    st = iams_adapter_map_form(pf->dept->adapter, &env, text,
                               ngx_strlen(text), &out_text, &out_len, &diag);
    free(text);

    if (st != IAMS_ADAPTER_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "iamsmart: department \"%V\": form mapping failed: "
                      "%s", &pf->dept->name, diag.message);

        return ngx_http_iamsmart_send_json(r, iams_adapter_status_http(st),
                   json_pack("{s:s, s:s%, s:s}", "error",
                             iams_adapter_status_str(st), "department",
                             pf->dept->name.data, pf->dept->name.len,
                             "error_description",
                             "the department's form could not be filled"));
    }

    out = iams_json_parse_object(out_text, out_len, IAMS_ADAPTER_OUTPUT_MAX,
                                 &err);
    sources = json_object();

    if (out == NULL || sources == NULL) {
        json_decref(out);
        json_decref(sources);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* where each canonical field came from, and how fresh it is */
    json_object_foreach(pf->fields, name, v) {
        json_object_set_new(sources, name,
                            json_pack("{s:O, s:O}",
                                      "source", json_object_get(v, "source"),
                                      "last_updated",
                                      json_object_get(v, "last_updated")));
    }

    json_object_set_new(out, "sources", sources);

    return ngx_http_iamsmart_send_json(r, NGX_HTTP_OK, out);
}

