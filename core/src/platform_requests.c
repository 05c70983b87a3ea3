/*
 * initiateRequest bodies (step-up, e-ME, profile) and their replies.
 */

#include <string.h>

#include <iamsmart/random.h>

#include "platform_util.h"

#define IAMS_FIELD_NAME_MAX  64
#define IAMS_FORM_NAME_MAX   255
#define IAMS_FORM_NUM_MAX    20
#define IAMS_FORM_DESC_MAX   255


iams_status
iams_business_id_generate(char out[IAMS_BUSINESS_ID_LEN + 1], iams_err *err)
{
    return iams_random_token(out, IAMS_BUSINESS_ID_LEN, err);
}


/* anonymous: no login, so no openID, token, redirect URI or state */
static iams_status
iams_initiate_check(const iams_initiate_common *c, int anonymous,
    iams_err *err)
{
    const char  *bad;

    bad = NULL;

    if (!anonymous
        && !iams_pf_chars(c->open_id, 1, IAMS_OPENID_MAX, IAMS_PF_PRINT))
    {
        bad = "openID";

    } else if (!anonymous
               && !iams_pf_chars(c->access_token, 1, IAMS_TOKEN_MAX,
                                 IAMS_PF_PRINT))
    {
        bad = "access token";

    } else if (!iams_pf_chars(c->business_id, 1, IAMS_BUSINESS_ID_MAX,
                              IAMS_PF_PRINT))
    {
        bad = "businessID";

    } else if (!anonymous
               && !iams_pf_chars(c->redirect_uri, 8, 2048, IAMS_PF_PRINT))
    {
        bad = "redirect URI";

    } else if (!anonymous && !iams_state_valid(c->state.data, c->state.len)) {
        bad = "state";

    } else if (!iams_pf_lang_ok(c->lang)) {
        bad = "lang";

    } else if ((unsigned) c->source >= IAMS_SOURCE_COUNT) {
        bad = "source";
    }

    if (bad != NULL) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "initiateRequest: bad %s", bad);
    }

    return IAMS_OK;
}


static json_t *
iams_initiate_json(const iams_initiate_common *c, int anonymous)
{
    if (anonymous) {
        return json_pack("{s:s%, s:s, s:s%}",
                         "businessID", c->business_id.data,
                         c->business_id.len,
                         "source", iams_source_name(c->source),
                         "lang", c->lang.data, c->lang.len);
    }

    return json_pack("{s:s%, s:s%, s:s%, s:s, s:s%, s:s%, s:s%}",
                     "openID", c->open_id.data, c->open_id.len,
                     "accessToken", c->access_token.data,
                     c->access_token.len,
                     "businessID", c->business_id.data, c->business_id.len,
                     "source", iams_source_name(c->source),
                     "redirectURI", c->redirect_uri.data,
                     c->redirect_uri.len,
                     "state", c->state.data, c->state.len,
                     "lang", c->lang.data, c->lang.len);
}


iams_status
iams_stepup_request_body(const iams_initiate_common *c, char **out,
    size_t *out_len, iams_err *err)
{
    *out = NULL;
    *out_len = 0;

    if (iams_initiate_check(c, 0, err) != IAMS_OK) {
        return IAMS_ERR_MALFORMED;
    }

    return iams_pf_dump(iams_initiate_json(c, 0), out, out_len, err);
}


/* Adds name: [fields...] to obj; 0 on failure. */
static int
iams_fields_add(json_t *obj, const char *name, const iams_span *fields,
    size_t n)
{
    size_t   i;
    json_t  *arr;

    arr = json_array();

    if (arr == NULL || json_object_set_new(obj, name, arr) != 0) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (json_array_append_new(arr, json_stringn(fields[i].data,
                                                    fields[i].len)) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static int
iams_utf8_text_ok(iams_span s, size_t max)
{
    json_t  *j;

    if (s.len > max || (s.len > 0 && memchr(s.data, '\0', s.len) != NULL)) {
        return 0;
    }

    /* jansson validates UTF-8 */
    j = json_stringn(s.data, s.len);
    json_decref(j);

    return j != NULL;
}


iams_status
iams_data_request_body(const iams_data_request *r, char **out,
    size_t *out_len, iams_err *err)
{
    int      ok, anonymous, eme;
    size_t   i;
    json_t  *obj;

    *out = NULL;
    *out_len = 0;

    anonymous = (r->kind == IAMS_FIELDS_EME_ANONYMOUS);
    eme = anonymous || r->kind == IAMS_FIELDS_EME;

    if (iams_initiate_check(&r->common, anonymous, err) != IAMS_OK) {
        return IAMS_ERR_MALFORMED;
    }

    if (r->nfields == 0 || r->nfields > IAMS_FIELDS_MAX) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "initiateRequest: 1 to %d fields",
                            IAMS_FIELDS_MAX);
    }

    for (i = 0; i < r->nfields; i++) {
        if (!iams_pf_chars(r->fields[i], 1, IAMS_FIELD_NAME_MAX,
                           IAMS_PF_ALNUM))
        {
            return iams_err_set(err, IAMS_ERR_MALFORMED,
                                "initiateRequest: bad field name %zu", i);
        }
    }

    if (eme
        && (!iams_utf8_text_ok(r->form_name, IAMS_FORM_NAME_MAX)
            || !iams_utf8_text_ok(r->form_num, IAMS_FORM_NUM_MAX)
            || !iams_utf8_text_ok(r->form_desc, IAMS_FORM_DESC_MAX)))
    {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "initiateRequest: formName, formNum or formDesc "
                            "too long or not UTF-8");
    }

    obj = iams_initiate_json(&r->common, anonymous);

    if (eme) {
        ok = obj != NULL
             && iams_fields_add(obj, "eMEFields", r->fields, r->nfields)
             && json_object_set_new(obj, "formName",
                                    json_stringn(r->form_name.data,
                                                 r->form_name.len)) == 0
             && json_object_set_new(obj, "formNum",
                                    json_stringn(r->form_num.data,
                                                 r->form_num.len)) == 0
             && json_object_set_new(obj, "formDesc",
                                    json_stringn(r->form_desc.data,
                                                 r->form_desc.len)) == 0;

    } else {
        ok = obj != NULL
             && iams_fields_add(obj, "profileFields", r->fields, r->nfields);
    }

    if (!ok) {
        json_decref(obj);
        obj = NULL;
    }

    return iams_pf_dump(obj, out, out_len, err);
}


iams_status
iams_initiate_result_parse(const json_t *content, iams_initiate_result *r,
    iams_err *err)
{
    iams_span  t;

    memset(r, 0, sizeof(*r));

    if (!json_is_object(content)
        || iams_pf_json_str(content, "ticketID", 1, 1, IAMS_TICKET_ID_MAX,
                            IAMS_PF_PRINT, &t, err) != IAMS_OK
        || (json_object_get(content, "authByQR") != NULL
            && iams_pf_json_bool(content, "authByQR", &r->auth_by_qr, err)
               != IAMS_OK))
    {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "initiateRequest reply needs a ticketID "
                            "(and authByQR, if any, a boolean)");
    }

    memcpy(r->ticket_id, t.data, t.len);
    r->ticket_id[t.len] = '\0';

    return IAMS_OK;
}


iams_status
iams_anonymous_result_request_body(iams_span access_token,
    iams_span ticket_id, iams_span business_id, char **out, size_t *out_len,
    iams_err *err)
{
    *out = NULL;
    *out_len = 0;

    if (!iams_pf_chars(access_token, 1, IAMS_TOKEN_MAX, IAMS_PF_PRINT)
        || !iams_pf_chars(ticket_id, 1, IAMS_TICKET_ID_MAX, IAMS_PF_PRINT)
        || !iams_pf_chars(business_id, 1, IAMS_BUSINESS_ID_MAX,
                          IAMS_PF_PRINT))
    {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "getResult: bad access token, ticketID or "
                            "businessID");
    }

    return iams_pf_dump(json_pack("{s:s%, s:s%, s:s%}",
                                  "accessToken", access_token.data,
                                  access_token.len,
                                  "ticketID", ticket_id.data, ticket_id.len,
                                  "businessID", business_id.data,
                                  business_id.len),
                        out, out_len, err);
}
