/*
 * getToken: the request plaintext and the decrypted reply content.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "platform_util.h"

#define IAMS_TOKEN_STR_MAX     1024               /* userType, scope */


iams_status
iams_token_request_body(iams_span code, char **out, size_t *out_len,
    iams_err *err)
{
    if (!iams_pf_chars(code, 1, IAMS_AUTH_CODE_MAX, IAMS_PF_PRINT)) {
        *out = NULL;
        *out_len = 0;
        return iams_err_set(err, IAMS_ERR_MALFORMED, "bad authorization code");
    }

    return iams_pf_dump(json_pack("{s:s%, s:s}", "code", code.data, code.len,
                                  "grantType", "authorization_code"),
                        out, out_len, err);
}


static iams_status
iams_token_times(const json_t *content, int64_t now_ms, iams_token *tok,
    iams_err *err)
{
    int      has_issue, has_exp, has_mod;
    int64_t  exp;

    if (iams_pf_json_int(content, "issueAt", &tok->issue_at_ms, &has_issue,
                         err) != IAMS_OK
        || iams_pf_json_int(content, "expiresIn", &exp, &has_exp, err)
           != IAMS_OK
        || iams_pf_json_int(content, "lastModifiedDate",
                            &tok->last_modified_ms, &has_mod, err)
           != IAMS_OK)
    {
        return IAMS_ERR_MALFORMED;
    }

    if (!has_exp) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "getToken reply has no expiresIn");
    }

    if (!has_issue) {
        tok->issue_at_ms = now_ms;
    }

    /* some clients read expiresIn as an absolute epoch; accept both */
    tok->expires_at_ms = exp > IAMS_PF_EPOCH_MS_MIN
                         ? exp : tok->issue_at_ms + exp;

    return IAMS_OK;
}


/* anonymous: the platform names a ticket instead of a citizen */
static iams_status
iams_token_parse_any(const json_t *content, int64_t now_ms, int anonymous,
    iams_token *tok, iams_err *err)
{
    iams_span    at, type, oid, utype, scope, ticket;
    iams_status  rc;

    memset(tok, 0, sizeof(*tok));

    if (!json_is_object(content)) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "getToken content is not an object");
    }

    rc = iams_pf_json_str(content, "accessToken", 1, 1, IAMS_TOKEN_MAX,
                          IAMS_PF_PRINT, &at, err);

    if (rc == IAMS_OK) {
        rc = iams_pf_json_str(content, "tokenType", 0, 1, 32, IAMS_PF_PRINT,
                              &type, err);
    }

    if (rc == IAMS_OK && type.data != NULL
        && strcasecmp(type.data, "Bearer") != 0)
    {
        rc = iams_err_set(err, IAMS_ERR_MALFORMED,
                          "getToken tokenType is not Bearer");
    }

    oid.data = "";
    oid.len = 0;
    ticket = oid;

    if (rc == IAMS_OK && !anonymous) {
        rc = iams_pf_json_str(content, "openID", 1, 1, IAMS_OPENID_MAX,
                              IAMS_PF_PRINT, &oid, err);
    }

    if (rc == IAMS_OK && anonymous) {
        rc = iams_pf_json_str(content, "ticketID", 1, 1, IAMS_TICKET_ID_MAX,
                              IAMS_PF_PRINT, &ticket, err);
    }

    if (rc == IAMS_OK) {
        rc = iams_pf_json_str(content, "userType", 0, 0, IAMS_TOKEN_STR_MAX,
                              0, &utype, err);
    }

    if (rc == IAMS_OK) {
        /* scopes are space-separated: any byte but NUL, checked by users */
        rc = iams_pf_json_str(content, "scope", 0, 0, IAMS_TOKEN_STR_MAX, 0,
                              &scope, err);
    }

    if (rc == IAMS_OK) {
        rc = iams_token_times(content, now_ms, tok, err);
    }

    if (rc != IAMS_OK) {
        iams_token_clear(tok);
        return rc;
    }

    if (type.data == NULL) {
        type.data = "Bearer";
        type.len = 6;
    }

    tok->access_token = iams_pf_strdup(at);
    tok->token_type = iams_pf_strdup(type);
    tok->open_id = iams_pf_strdup(oid);
    tok->user_type = iams_pf_strdup(utype);
    tok->scope = iams_pf_strdup(scope);
    tok->ticket_id = iams_pf_strdup(ticket);

    if (tok->access_token == NULL || tok->token_type == NULL
        || tok->open_id == NULL || tok->user_type == NULL
        || tok->scope == NULL || tok->ticket_id == NULL)
    {
        iams_token_clear(tok);
        return iams_err_set(err, IAMS_ERR_NOMEM, "out of memory");
    }

    return IAMS_OK;
}


iams_status
iams_token_parse(const json_t *content, int64_t now_ms, iams_token *tok,
    iams_err *err)
{
    return iams_token_parse_any(content, now_ms, 0, tok, err);
}


iams_status
iams_anonymous_token_parse(const json_t *content, int64_t now_ms,
    iams_token *tok, iams_err *err)
{
    return iams_token_parse_any(content, now_ms, 1, tok, err);
}


void
iams_token_clear(iams_token *tok)
{
    if (tok->access_token != NULL) {
        OPENSSL_cleanse(tok->access_token, strlen(tok->access_token));
    }

    free(tok->access_token);
    free(tok->token_type);
    free(tok->open_id);
    free(tok->user_type);
    free(tok->scope);
    free(tok->ticket_id);
    memset(tok, 0, sizeof(*tok));
}
