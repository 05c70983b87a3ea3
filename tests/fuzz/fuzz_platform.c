/*
 * libFuzzer target for what the iAM Smart platform sends the gateway: a
 * reply's outer members, and a decrypted content read as a getToken
 * answer (logged-in and anonymous), an initiateRequest answer, a step-up
 * result and an e-ME result (the callback's, and the anonymous
 * getResult's).  The input is also tried as a login callback's query
 * string, which a browser brings.
 *
 * Whatever parses must keep the documented promises: bounded, NUL-free
 * strings of the right shape, and exactly what the contract says is
 * there (an anonymous token names a ticket and no citizen, a logged-in
 * one a citizen; a callback carries a code or an error, never both).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/encoding.h>
#include <iamsmart/platform.h>


#define FUZZ_NOW_MS  1700000000000LL


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_contents(const json_t *content);
static void fuzz_token(const iams_token *tok, int anonymous);
static void fuzz_callback(const char *buf, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t      *root, *content;
    iams_err     err;
    iams_reply   reply;

    root = NULL;

    if (iams_reply_parse((const char *) data, size, &reply, &root, &err)
        == IAMS_OK)
    {
        if (root == NULL || strlen(reply.code) != IAMS_CODE_LEN
            || reply.code[0] != 'D'
            || strlen(reply.tx_id) > IAMS_TXID_MAX
            || strlen(reply.message) > IAMS_MESSAGE_MAX)
        {
            abort();
        }

        json_decref(root);
    }

    content = iams_json_parse_object((const char *) data, size, 1 << 16,
                                     &err);
    if (content != NULL) {
        fuzz_contents(content);
        json_decref(content);
    }

    fuzz_callback((const char *) data, size);

    return 0;
}


static void
fuzz_contents(const json_t *content)
{
    iams_err              err;
    iams_token            tok;
    iams_data_result      dr;
    iams_stepup_result    sr;
    iams_initiate_result  ir;

    if (iams_token_parse(content, FUZZ_NOW_MS, &tok, &err) == IAMS_OK) {
        fuzz_token(&tok, 0);
        iams_token_clear(&tok);

    } else if (tok.access_token != NULL) {
        abort();                      /* a failure leaves *tok cleared */
    }

    if (iams_anonymous_token_parse(content, FUZZ_NOW_MS, &tok, &err)
        == IAMS_OK)
    {
        fuzz_token(&tok, 1);
        iams_token_clear(&tok);

    } else if (tok.access_token != NULL) {
        abort();
    }

    if (iams_initiate_result_parse(content, &ir, &err) == IAMS_OK
        && (ir.ticket_id[0] == '\0'
            || strlen(ir.ticket_id) > IAMS_TICKET_ID_MAX
            || (ir.auth_by_qr != 0 && ir.auth_by_qr != 1)))
    {
        abort();
    }

    if (iams_stepup_result_parse(content, &sr, &err) == IAMS_OK
        && (sr.business_id[0] == '\0'
            || (sr.passed != 0 && sr.passed != 1)))
    {
        abort();
    }

    if (iams_data_result_parse(content, &dr, &err) == IAMS_OK) {
        /* the fields are the rest: never the identifiers themselves */
        if (dr.business_id[0] == '\0' || !json_is_object(dr.fields)
            || json_object_get(dr.fields, "businessID") != NULL
            || json_object_get(dr.fields, "state") != NULL)
        {
            abort();
        }

        iams_data_result_clear(&dr);
    }
}


static void
fuzz_token(const iams_token *tok, int anonymous)
{
    size_t  at;

    if (tok->access_token == NULL || tok->token_type == NULL
        || tok->open_id == NULL || tok->user_type == NULL
        || tok->scope == NULL || tok->ticket_id == NULL)
    {
        abort();
    }

    at = strlen(tok->access_token);

    if (at == 0 || at > IAMS_TOKEN_MAX
        || strlen(tok->open_id) > IAMS_OPENID_MAX
        || strlen(tok->ticket_id) > IAMS_TICKET_ID_MAX)
    {
        abort();
    }

    if (anonymous ? (tok->ticket_id[0] == '\0' || tok->open_id[0] != '\0')
                  : (tok->open_id[0] == '\0' || tok->ticket_id[0] != '\0'))
    {
        abort();
    }
}


static void
fuzz_callback(const char *buf, size_t len)
{
    iams_err             err;
    iams_login_callback  cb;

    if (iams_login_callback_parse(buf, len, &cb, &err) != IAMS_OK) {
        return;
    }

    if (cb.is_error ? (cb.code_len != 0 || strlen(cb.error_code) != 6
                       || cb.error_code[0] != 'D')
                    : (cb.code_len == 0 || cb.code_len > IAMS_AUTH_CODE_MAX
                       || cb.state_len == 0))
    {
        abort();
    }

    if (strlen(cb.code) != cb.code_len || strlen(cb.state) != cb.state_len
        || (cb.state_len && !iams_state_valid(cb.state, cb.state_len)))
    {
        abort();
    }
}
