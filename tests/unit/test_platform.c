/*
 * The iAM Smart client protocol: request signing, the payload envelope,
 * the KEK and CEK, reply codes, getToken, initiateRequest bodies and
 * encrypted callbacks.
 *
 * Expected values come from outside core: the signature known answers from
 *   printf '%s' "$msg" | openssl dgst -sha256 -hmac "$secret" -binary | base64
 * and the protocol messages under fixtures/ from python3-cryptography
 * (fixtures/make_fixtures.py), so a shared misunderstanding between the
 * encoder and the decoder in core cannot make these tests pass.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <iamsmart/encoding.h>
#include <iamsmart/platform.h>

#include "support/fixtures.h"
#include "support/vectors.h"

#define KAT_CLIENT   "iams-test-client"
#define KAT_SECRET   "client-secret-for-KAT"
#define KAT_TS       1700000000123ULL
#define KAT_NONCE    "nonceKAT5"
#define KAT_BODY     "{\"content\":\"AAAADA==\"}"
#define KAT_SIG      "LfU+KRTIdfNAy9KjkDb2p5IYVaRF86rLycPJ/SPSB/U="
#define KAT_SIG_GETKEY  "If4C5S4FwNd/Wmg3bAZOVlE4YEAVDG/0eiiqnAoLV9s="

/* made by python3-cryptography AESGCM: key = bytes 0..31,
 * IV = cafebabefacedbaddecaf888 */
#define PY_ENVELOPE  "AAAADMr+ur76ztut3sr4iPGBwUXJHzxoEmQ2uBU/sx15T6tz8zsFBC" \
                     "uxTTWcs0eQxDTsd+P4awdeK0EaV/BpC3tun2GTurituROOtZZ9HZrw" \
                     "SWO4EE2sWQ=="
#define PY_PLAIN     "{\"accessToken\":\"tok\",\"openID\":\"oid-1\"," \
                     "\"expiresIn\":60000}"

#define NOW_MS       1700000500000LL



/* The URL encoding the protocol asks for, done the obvious way. */
static void
url_encode_b64(const char *in, char *out)
{
    for ( /* void */ ; *in; in++) {
        switch (*in) {
        case '+':
            out = stpcpy(out, "%2B");
            break;
        case '/':
            out = stpcpy(out, "%2F");
            break;
        case '=':
            out = stpcpy(out, "%3D");
            break;
        default:
            *out++ = *in;
        }
    }

    *out = '\0';
}


static int
utf8_ok(const char *s)
{
    json_t  *j;

    /* jansson refuses invalid UTF-8 */
    j = json_string(s);
    json_decref(j);

    return j != NULL;
}


static iams_kek *
load_kek(const char *name)
{
    iams_err   err;
    iams_kek  *kek;

    if (iams_kek_load_file(iams_test_fixture_path(name), &kek, &err)
        != IAMS_OK)
    {
        fail_msg("%s: %s", name, err.detail);
    }

    return kek;
}


static void
cek_from_hex(const json_t *fixture, unsigned char key[IAMS_CEK_LEN])
{
    size_t          n;
    unsigned char  *k;

    k = iams_test_hex(json_string_value(json_object_get(fixture, "cek_hex")),
                      &n);
    assert_int_equal(n, IAMS_CEK_LEN);
    memcpy(key, k, n);
    free(k);
}


/* ---- signing ---- */

static void
test_sign_known_answer(void **state)
{
    char                 want[160];
    iams_err             err;
    iams_header          h[IAMS_SIGNED_HEADERS];
    iams_signed_request  req;

    (void) state;

    assert_int_equal(iams_sign_request(iams_test_span(KAT_CLIENT),
                                       (const unsigned char *) KAT_SECRET,
                                       strlen(KAT_SECRET), KAT_TS,
                                       iams_test_span(KAT_NONCE),
                                       (const unsigned char *) KAT_BODY,
                                       strlen(KAT_BODY), &req, &err),
                     IAMS_OK);

    /* the KAT holds '+', '/' and '=': all three must be escaped */
    url_encode_b64(KAT_SIG, want);
    assert_string_equal(want, "LfU%2BKRTIdfNAy9KjkDb2p5IYVaRF86rLycPJ%2FSPSB"
                              "%2FU%3D");
    assert_string_equal(req.signature, want);
    assert_int_equal(req.signature_len, strlen(want));
    assert_string_equal(req.timestamp, "1700000000123");
    assert_string_equal(req.nonce, KAT_NONCE);

    iams_signed_request_headers(&req, iams_test_span(KAT_CLIENT), h);
    assert_string_equal(h[0].name, "clientID");
    assert_memory_equal(h[0].value, KAT_CLIENT, h[0].value_len);
    assert_string_equal(h[1].name, "signatureMethod");
    assert_memory_equal(h[1].value, "HmacSHA256", h[1].value_len);
    assert_string_equal(h[2].name, "timestamp");
    assert_memory_equal(h[2].value, "1700000000123", h[2].value_len);
    assert_string_equal(h[3].name, "nonce");
    assert_string_equal(h[4].name, "signature");
    assert_memory_equal(h[4].value, want, h[4].value_len);
    assert_string_equal(h[5].name, "Content-Type");
    assert_memory_equal(h[5].value, "application/json", h[5].value_len);

    /* getKey: empty body */
    assert_int_equal(iams_sign_request(iams_test_span(KAT_CLIENT),
                                       (const unsigned char *) KAT_SECRET,
                                       strlen(KAT_SECRET), KAT_TS,
                                       iams_test_span(KAT_NONCE), NULL, 0,
                                       &req, &err),
                     IAMS_OK);
    url_encode_b64(KAT_SIG_GETKEY, want);
    assert_string_equal(req.signature, want);

    /* every input is covered */
    assert_int_equal(iams_sign_request(iams_test_span(KAT_CLIENT),
                                       (const unsigned char *) KAT_SECRET,
                                       strlen(KAT_SECRET), KAT_TS + 1,
                                       iams_test_span(KAT_NONCE), NULL, 0,
                                       &req, &err),
                     IAMS_OK);
    assert_string_not_equal(req.signature, want);
}


static void
test_sign_rejects_and_helpers(void **state)
{
    char                 n1[IAMS_NONCE_LEN + 1], n2[IAMS_NONCE_LEN + 1];
    iams_err             err;
    iams_signed_request  req;
    iams_span             client, nonce;
    const unsigned char  *sec = (const unsigned char *) "s";

    (void) state;

    client = iams_test_span("c");
    nonce = iams_test_span("n");

    assert_int_equal(iams_sign_request(iams_test_span("a b"), sec, 1, 1,
                                       nonce, NULL, 0, &req, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_sign_request(iams_test_span(""), sec, 1, 1,
                                       nonce, NULL, 0, &req, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_sign_request(client, sec, 1, 1,
                                       iams_test_span("n n"), NULL, 0, &req,
                                       &err), IAMS_ERR_MALFORMED);
    assert_int_equal(iams_sign_request(client, sec, 1, 1,
                                       iams_test_span("0123456789012345678"
                                                      "901234567890123456"),
                                       NULL, 0, &req, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_sign_request(client, sec, 0, 1, nonce, NULL, 0,
                                       &req, &err), IAMS_ERR_KEY_INVALID);

    assert_int_equal(iams_timestamp_next(5, 3), 5);
    assert_int_equal(iams_timestamp_next(5, 5), 5);
    assert_int_equal(iams_timestamp_next(5, 9), 9);

    assert_int_equal(iams_nonce_generate(n1, &err), IAMS_OK);
    assert_int_equal(iams_nonce_generate(n2, &err), IAMS_OK);
    assert_int_equal(strlen(n1), IAMS_NONCE_LEN);
    assert_string_not_equal(n1, n2);
    assert_int_equal(strspn(n1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                "qrstuvwxyz0123456789-_"), IAMS_NONCE_LEN);

    /* a generated nonce signs */
    assert_int_equal(iams_sign_request(client, sec, 1, 1, iams_test_span(n1),
                                       NULL, 0, &req, &err), IAMS_OK);
}


/* ---- envelope ---- */

static void
test_envelope_round_trip_and_tamper(void **state)
{
    char           *e1, *e2, *b64;
    size_t          n1, n2, ptn, bn, b64n;
    json_t         *doc;
    iams_err        err;
    unsigned char   key[IAMS_CEK_LEN], other[IAMS_CEK_LEN], *pt, *blob;
    const char     *c;
    const char      msg[] = "{\"code\":\"abc\",\"grantType\":"
                            "\"authorization_code\"}";

    (void) state;

    memset(key, 7, sizeof(key));
    memset(other, 8, sizeof(other));

    assert_int_equal(iams_envelope_seal(key, (const unsigned char *) msg,
                                        strlen(msg), &e1, &n1, &err),
                     IAMS_OK);
    assert_int_equal(iams_envelope_seal(key, (const unsigned char *) msg,
                                        strlen(msg), &e2, &n2, &err),
                     IAMS_OK);
    assert_int_equal(n1, strlen(e1));

    /* a fresh IV each time */
    assert_string_not_equal(e1, e2);

    doc = json_loads(e1, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_object_size(doc), 1);
    c = json_string_value(json_object_get(doc, "content"));
    assert_non_null(c);

    /* layout: uint32_be(12) || IV || ct || tag */
    blob = malloc(strlen(c));
    assert_int_equal(iams_b64_decode(c, strlen(c), blob, strlen(c), &bn),
                     IAMS_OK);
    assert_int_equal(bn, 4 + 12 + strlen(msg) + 16);
    assert_memory_equal(blob, "\0\0\0\x0c", 4);

    assert_int_equal(iams_envelope_decrypt(key, c, strlen(c), &pt, &ptn,
                                           &err), IAMS_OK);
    assert_int_equal(ptn, strlen(msg));
    assert_memory_equal(pt, msg, ptn);
    free(pt);

    assert_int_equal(iams_envelope_decrypt(other, c, strlen(c), &pt, &ptn,
                                           &err), IAMS_ERR_BAD_SIGNATURE);
    assert_null(pt);

    /* a flipped bit anywhere after the prefix */
    b64 = malloc(iams_b64_encoded_len(bn) + 1);

    for (size_t i = 4; i < bn; i++) {
        blob[i] ^= 0x01;
        b64n = iams_b64_encode(blob, bn, b64);
        assert_int_equal(iams_envelope_decrypt(key, b64, b64n, &pt, &ptn,
                                               &err),
                         IAMS_ERR_BAD_SIGNATURE);
        blob[i] ^= 0x01;
    }

    /* malformed lengths */
    blob[3] = 16;
    b64n = iams_b64_encode(blob, bn, b64);
    assert_int_equal(iams_envelope_decrypt(key, b64, b64n, &pt, &ptn, &err),
                     IAMS_ERR_MALFORMED);
    blob[3] = 12;
    blob[0] = 1;
    b64n = iams_b64_encode(blob, bn, b64);
    assert_int_equal(iams_envelope_decrypt(key, b64, b64n, &pt, &ptn, &err),
                     IAMS_ERR_MALFORMED);
    blob[0] = 0;
    b64n = iams_b64_encode(blob, 31, b64);
    assert_int_equal(iams_envelope_decrypt(key, b64, b64n, &pt, &ptn, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_envelope_decrypt(key, "AAAADA", 6, &pt, &ptn,
                                           &err), IAMS_ERR_MALFORMED);
    assert_int_equal(iams_envelope_decrypt(key, "!!!!", 4, &pt, &ptn, &err),
                     IAMS_ERR_MALFORMED);

    /* an empty plaintext is still a valid envelope */
    free(e2);
    assert_int_equal(iams_envelope_seal(key, NULL, 0, &e2, &n2, &err),
                     IAMS_OK);
    free(e2);

    free(b64);
    free(blob);
    json_decref(doc);
    free(e1);
}


static void
test_envelope_independent(void **state)
{
    size_t          ptn, n;
    json_t         *fx, *content;
    char           *body;
    iams_err        err;
    iams_reply      reply;
    iams_token      tok;
    unsigned char   key[IAMS_CEK_LEN], *pt;

    (void) state;

    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char) i;
    }

    assert_int_equal(iams_envelope_decrypt(key, PY_ENVELOPE,
                                           strlen(PY_ENVELOPE), &pt, &ptn,
                                           &err), IAMS_OK);
    assert_int_equal(ptn, strlen(PY_PLAIN));
    assert_memory_equal(pt, PY_PLAIN, ptn);
    free(pt);

    /* a whole getToken reply from the independent implementation */
    fx = iams_test_load_fixture_json("token_reply.json");
    cek_from_hex(fx, key);
    body = iams_test_dump(json_object_get(fx, "reply"), &n);

    assert_int_equal(iams_envelope_open_reply(key, body, n, &reply, &content,
                                              &err), IAMS_OK);
    assert_string_equal(reply.code, "D00000");
    assert_int_equal(reply.pcode, IAMS_PCODE_OK);
    assert_string_equal(reply.tx_id, "tx-token-1");
    assert_true(json_equal(content, json_object_get(fx, "content")));

    assert_int_equal(iams_token_parse(content, NOW_MS, &tok, &err), IAMS_OK);
    assert_string_equal(tok.access_token,
                        json_string_value(json_object_get(
                            json_object_get(fx, "content"), "accessToken")));
    assert_string_equal(tok.open_id, "oid-7f3a9c2e-5b1d-4e8f");
    assert_string_equal(tok.token_type, "Bearer");
    assert_string_equal(tok.user_type, "Normal");
    assert_string_equal(tok.scope, "eidapi_auth eidapi_profiles");
    assert_int_equal(tok.issue_at_ms, 1700000000000LL);
    assert_int_equal(tok.expires_at_ms, 1700000000000LL + 7200000);
    assert_int_equal(tok.last_modified_ms, 1700000000000LL - 86400000);
    iams_token_clear(&tok);
    assert_null(tok.access_token);
    json_decref(content);

    /* under the wrong CEK: one clear failure, not a crash or a guess */
    key[0] ^= 1;
    assert_int_equal(iams_envelope_open_reply(key, body, n, &reply, &content,
                                              &err), IAMS_ERR_BAD_SIGNATURE);
    assert_null(content);

    free(body);
    json_decref(fx);
}


/* ---- replies and codes ---- */

static void
test_reply_parse(void **state)
{
    char           long_msg[600];
    char           body[800];
    json_t        *root, *content;
    iams_err       err;
    iams_reply     r;
    unsigned char  key[IAMS_CEK_LEN];

    (void) state;

    memset(key, 1, sizeof(key));

    assert_int_equal(iams_reply_parse(LIT("{\"code\":\"D30002\",\"txID\":"
                                      "\"tx\\u0001a\",\"message\":\"CEK "
                                      "expired\",\"content\":null}"), &r,
                                      &root, &err), IAMS_OK);
    assert_string_equal(r.code, "D30002");
    assert_int_equal(r.pcode, IAMS_PCODE_KEY);
    assert_int_equal(iams_pcode_action(r.pcode), IAMS_PACTION_REFRESH_CEK);
    assert_string_equal(r.tx_id, "tx?a");
    assert_string_equal(r.message, "CEK expired");
    assert_non_null(root);
    json_decref(root);

    /* an unknown but well-formed code is reported, not refused */
    assert_int_equal(iams_reply_parse(LIT("{\"code\":\"D99999\"}"), &r, NULL,
                                      &err), IAMS_OK);
    assert_int_equal(r.pcode, IAMS_PCODE_UNKNOWN);

    memset(long_msg, 'm', sizeof(long_msg) - 1);
    long_msg[sizeof(long_msg) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"code\":\"D00000\",\"message\":\"%s\"}",
             long_msg);
    assert_int_equal(iams_reply_parse(body, strlen(body), &r, NULL, &err),
                     IAMS_OK);
    assert_int_equal(strlen(r.message), IAMS_MESSAGE_MAX);

    assert_int_equal(iams_reply_parse(LIT("{\"txID\":\"t\"}"), &r, NULL,
                                      &err), IAMS_ERR_MALFORMED);
    assert_int_equal(iams_reply_parse(LIT("{\"code\":\"D0000\"}"), &r, NULL,
                                      &err), IAMS_ERR_MALFORMED);
    assert_int_equal(iams_reply_parse(LIT("{\"code\":0}"), &r, NULL, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_reply_parse(LIT("[1]"), &r, NULL, &err),
                     IAMS_ERR_JSON);
    assert_int_equal(iams_reply_parse(LIT("{\"code\":"), &r, NULL, &err),
                     IAMS_ERR_JSON);
    assert_int_equal(iams_reply_parse(body, IAMS_PLATFORM_REPLY_MAX + 1, &r,
                                      NULL, &err), IAMS_ERR_TOO_LARGE);

    /* an error reply carries no content to decrypt */
    assert_int_equal(iams_envelope_open_reply(key, LIT("{\"code\":\"D20009\","
                                              "\"content\":\"junk\"}"),
                                              &r, &content, &err), IAMS_OK);
    assert_null(content);
    assert_int_equal(r.pcode, IAMS_PCODE_TOKEN_EXPIRED);
    assert_int_equal(iams_pcode_action(r.pcode), IAMS_PACTION_RELOGIN);

    /* but success without content is an error */
    assert_int_equal(iams_envelope_open_reply(key,
                                              LIT("{\"code\":\"D00000\"}"),
                                              &r, &content, &err),
                     IAMS_ERR_MALFORMED);
}


static void
test_pcode_table(void **state)
{
    int          i, j;
    const char  *en, *zh;

    static const struct {
        const char    *code;
        iams_pcode     pc;
        iams_paction   action;
    } cases[] = {
        { "D00000", IAMS_PCODE_OK, IAMS_PACTION_NONE },
        { "D20001", IAMS_PCODE_BAD_PARAMETER, IAMS_PACTION_FAIL },
        { "D20004", IAMS_PCODE_DUPLICATE_REQUEST, IAMS_PACTION_RETRY_LATER },
        { "D20005", IAMS_PCODE_SIGNATURE, IAMS_PACTION_FAIL },
        { "D20006", IAMS_PCODE_SIGNATURE, IAMS_PACTION_FAIL },
        { "D20008", IAMS_PCODE_REDIRECT_UNREGISTERED, IAMS_PACTION_FAIL },
        { "D20009", IAMS_PCODE_TOKEN_EXPIRED, IAMS_PACTION_RELOGIN },
        { "D20011", IAMS_PCODE_DUPLICATE_BUSINESS_ID,
          IAMS_PACTION_RETRY_LATER },
        { "D20012", IAMS_PCODE_INSUFFICIENT_SCOPE, IAMS_PACTION_USER },
        { "D20099", IAMS_PCODE_GENERAL, IAMS_PACTION_FAIL },
        { "D30001", IAMS_PCODE_KEY, IAMS_PACTION_REFRESH_CEK },
        { "D30002", IAMS_PCODE_KEY, IAMS_PACTION_REFRESH_CEK },
        { "D30003", IAMS_PCODE_KEY, IAMS_PACTION_REFRESH_CEK },
        { "D30004", IAMS_PCODE_KEY, IAMS_PACTION_REFRESH_CEK },
        { "D30005", IAMS_PCODE_ENCRYPTION, IAMS_PACTION_FAIL },
        { "D40000", IAMS_PCODE_USER_CANCELLED, IAMS_PACTION_USER },
        { "D40001", IAMS_PCODE_USER_REJECTED, IAMS_PACTION_USER },
        { "D40003", IAMS_PCODE_AUTH_TIMEOUT, IAMS_PACTION_USER },
        { "D40004", IAMS_PCODE_AUTH_CODE_EXPIRED, IAMS_PACTION_RELOGIN },
        { "D40002", IAMS_PCODE_AUTH, IAMS_PACTION_USER },
        { "D50001", IAMS_PCODE_PROFILE, IAMS_PACTION_FAIL },
        { "D60003", IAMS_PCODE_EME, IAMS_PACTION_FAIL },
        { "D70005", IAMS_PCODE_SIGNING_HKID_MISMATCH, IAMS_PACTION_USER },
        { "D70001", IAMS_PCODE_SIGNING, IAMS_PACTION_FAIL },
        { "D80002", IAMS_PCODE_STEPUP, IAMS_PACTION_USER },
        { "D10000", IAMS_PCODE_UNKNOWN, IAMS_PACTION_FAIL },
        { "D0000", IAMS_PCODE_UNKNOWN, IAMS_PACTION_FAIL },
        { "D000000", IAMS_PCODE_UNKNOWN, IAMS_PACTION_FAIL },
        { "E00000", IAMS_PCODE_UNKNOWN, IAMS_PACTION_FAIL },
        { "D0000x", IAMS_PCODE_UNKNOWN, IAMS_PACTION_FAIL },
        { "d00000", IAMS_PCODE_UNKNOWN, IAMS_PACTION_FAIL },
    };

    (void) state;

    for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++) {
        iams_pcode  pc = iams_pcode_classify(cases[i].code,
                                             strlen(cases[i].code));

        if (pc != cases[i].pc || iams_pcode_action(pc) != cases[i].action) {
            fail_msg("%s classified as %s", cases[i].code,
                     iams_pcode_name(pc));
        }
    }

    assert_int_equal(iams_pcode_action(IAMS_PCODE_RATE_LIMITED),
                     IAMS_PACTION_RETRY_LATER);

    /* every code has a distinct name and both messages; Chinese in
     * Chinese, valid UTF-8 */
    for (i = 0; i < IAMS_PCODE_COUNT; i++) {
        en = iams_pcode_message((iams_pcode) i, IAMS_LANG_EN);
        zh = iams_pcode_message((iams_pcode) i, IAMS_LANG_ZH_HK);
        assert_non_null(en);
        assert_non_null(zh);
        assert_true(strlen(en) > 3);
        assert_true(strlen(zh) > 3);
        assert_string_not_equal(en, zh);
        assert_true((unsigned char) zh[0] >= 0x80);
        assert_true(utf8_ok(zh));

        for (j = 0; j < i; j++) {
            assert_string_not_equal(iams_pcode_name((iams_pcode) i),
                                    iams_pcode_name((iams_pcode) j));
        }
    }

    assert_non_null(strstr(iams_pcode_message(IAMS_PCODE_USER_CANCELLED,
                                              IAMS_LANG_ZH_HK), "取消"));
    assert_non_null(strstr(iams_pcode_message(IAMS_PCODE_USER_CANCELLED,
                                              IAMS_LANG_EN), "cancelled"));
    assert_non_null(strstr(iams_pcode_message(IAMS_PCODE_USER_REJECTED,
                                              IAMS_LANG_ZH_HK), "拒絕"));
    assert_non_null(strstr(iams_pcode_message(IAMS_PCODE_AUTH_TIMEOUT,
                                              IAMS_LANG_ZH_HK), "逾時"));

    /* out-of-range values fall back rather than crash */
    assert_string_equal(iams_pcode_name((iams_pcode) 999), "unknown_error");
    assert_string_equal(iams_pcode_message(IAMS_PCODE_OK, (iams_lang) 9),
                        iams_pcode_message(IAMS_PCODE_OK, IAMS_LANG_EN));

    assert_int_equal(iams_lang_from_tag("zh-HK", 5), IAMS_LANG_ZH_HK);
    assert_int_equal(iams_lang_from_tag("ZH", 2), IAMS_LANG_ZH_HK);
    assert_int_equal(iams_lang_from_tag("en-US", 5), IAMS_LANG_EN);
    assert_int_equal(iams_lang_from_tag("z", 1), IAMS_LANG_EN);
    assert_string_equal(iams_lang_platform_name(IAMS_LANG_ZH_HK), "zh-HK");
    assert_string_equal(iams_lang_platform_name(IAMS_LANG_EN), "en-US");
}


/* ---- KEK and CEK ---- */

static void
test_kek_load(void **state)
{
    char      *pem;
    size_t     n;
    json_t    *fx;
    iams_err   err;
    iams_kek  *kek;

    (void) state;

    kek = load_kek("kek_rsa2048.pem");

    /* the SPKI python computed for the same key */
    fx = iams_test_load_fixture_json("getkey_pkcs1.json");
    assert_string_equal(iams_kek_spki_b64(kek),
                        json_string_value(json_object_get(json_object_get(
                            json_object_get(fx, "reply"), "content"),
                            "pubKey")));
    json_decref(fx);
    iams_kek_free(kek);

    pem = iams_test_read_fixture("kek_rsa2048.pem", &n);
    assert_int_equal(iams_kek_parse(pem, n, &kek, &err), IAMS_OK);
    iams_kek_free(kek);
    assert_int_equal(iams_kek_parse(pem, n / 2, &kek, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_null(kek);
    free(pem);

    assert_int_equal(iams_kek_load_file(
                         iams_test_fixture_path("kek_rsa1024.pem"), &kek,
                         &err), IAMS_ERR_KEY_WEAK);
    assert_int_equal(iams_kek_load_file(
                         iams_test_fixture_path("getkey_pkcs1.json"), &kek,
                         &err), IAMS_ERR_KEY_INVALID);
    assert_int_equal(iams_kek_load_file("/nonexistent/kek.pem", &kek, &err),
                     IAMS_ERR_IO);
    assert_int_equal(iams_kek_parse("junk", 4, &kek, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_int_equal(iams_kek_parse("", 0, &kek, &err),
                     IAMS_ERR_KEY_INVALID);
}


/* Wraps key[0..n) with the KEK's public key (PKCS#1 v1.5) by plain
 * OpenSSL calls, outside core; returns base64. */
static char *
wrap_with_openssl(const unsigned char *key, size_t n)
{
    FILE           *f;
    char           *b64;
    size_t          ctlen;
    EVP_PKEY       *pkey;
    EVP_PKEY_CTX   *ctx;
    unsigned char   ct[512];

    f = fopen(iams_test_fixture_path("kek_rsa2048.pem"), "r");
    assert_non_null(f);
    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pkey);

    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    ctlen = sizeof(ct);
    assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ctlen, key, n), 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);

    b64 = malloc(iams_b64_encoded_len(ctlen) + 1);
    b64[iams_b64_encode(ct, ctlen, b64)] = '\0';

    return b64;
}


static void
test_cek_getkey(void **state)
{
    char           *body, *b64;
    size_t          n;
    json_t         *fx;
    iams_err        err;
    iams_cek        cek;
    iams_kek       *kek;
    iams_reply      r;
    unsigned char   want[IAMS_CEK_LEN], key[IAMS_CEK_LEN];

    (void) state;

    kek = load_kek("kek_rsa2048.pem");

    /* PKCS#1 v1.5, numbers as JSON integers, expiresIn a duration */
    fx = iams_test_load_fixture_json("getkey_pkcs1.json");
    cek_from_hex(fx, want);
    body = iams_test_dump(json_object_get(fx, "reply"), &n);

    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_PKCS1,
                                                body, n, NOW_MS, &cek, &r,
                                                &err), IAMS_OK);
    assert_memory_equal(cek.key, want, IAMS_CEK_LEN);
    assert_int_equal(cek.issue_at_ms, 1700000000000LL);
    assert_int_equal(cek.expires_in_ms, 86400000);
    assert_int_equal(cek.fetched_at_ms, NOW_MS);
    assert_string_equal(r.tx_id, "tx-getkey-1");

    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_AUTO, body,
                                                n, NOW_MS, &cek, &r, &err),
                     IAMS_OK);
    assert_memory_equal(cek.key, want, IAMS_CEK_LEN);
    free(body);
    json_decref(fx);

    /* OAEP only works in AUTO (or OAEP) mode; numbers as strings and
     * expiresIn as an absolute epoch */
    fx = iams_test_load_fixture_json("getkey_oaep.json");
    cek_from_hex(fx, want);
    body = iams_test_dump(json_object_get(fx, "reply"), &n);

    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_AUTO, body,
                                                n, NOW_MS, &cek, &r, &err),
                     IAMS_OK);
    assert_memory_equal(cek.key, want, IAMS_CEK_LEN);
    assert_int_equal(cek.expires_in_ms, 3600000);
    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_OAEP, body,
                                                n, NOW_MS, &cek, &r, &err),
                     IAMS_OK);
    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_PKCS1,
                                                body, n, NOW_MS, &cek, &r,
                                                &err), IAMS_ERR_KEY_INVALID);
    /* nothing of a failed unwrap is left behind */
    memset(key, 0, sizeof(key));
    assert_memory_equal(cek.key, key, IAMS_CEK_LEN);
    free(body);
    json_decref(fx);

    /* the platform used another public key */
    fx = iams_test_load_fixture_json("getkey_wrong_pubkey.json");
    body = iams_test_dump(json_object_get(fx, "reply"), &n);
    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_AUTO, body,
                                                n, NOW_MS, &cek, &r, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_non_null(strstr(err.detail, "pubKey"));
    free(body);
    json_decref(fx);

    /* a platform error is not a core error */
    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_AUTO,
                                                LIT("{\"code\":\"D20006\"}"),
                                                NOW_MS, &cek, &r, &err),
                     IAMS_OK);
    assert_int_equal(r.pcode, IAMS_PCODE_SIGNATURE);
    assert_memory_equal(cek.key, key, IAMS_CEK_LEN);

    /* a wrapped key that is not 32 bytes */
    memset(key, 0x5a, sizeof(key));
    b64 = wrap_with_openssl(key, 16);
    assert_int_equal(iams_cek_unwrap(kek, IAMS_KEK_PAD_AUTO, b64,
                                     strlen(b64), want, &err),
                     IAMS_ERR_KEY_INVALID);
    free(b64);
    b64 = wrap_with_openssl(key, 32);
    assert_int_equal(iams_cek_unwrap(kek, IAMS_KEK_PAD_AUTO, b64,
                                     strlen(b64), want, &err), IAMS_OK);
    assert_memory_equal(want, key, 32);

    /* base64 must be strict */
    b64[strlen(b64) - 1] = '\0';
    assert_int_equal(iams_cek_unwrap(kek, IAMS_KEK_PAD_AUTO, b64,
                                     strlen(b64), want, &err),
                     IAMS_ERR_KEY_INVALID);
    free(b64);

    /* malformed replies */
    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_AUTO,
                                                LIT("{\"code\":\"D00000\"}"),
                                                NOW_MS, &cek, &r, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_cek_from_getkey_reply(kek, IAMS_KEK_PAD_AUTO,
                                                LIT("{\"code\":\"D00000\","
                                                "\"content\":{\"secretKey\":"
                                                "\"AAAA\"}}"), NOW_MS,
                                                &cek, &r, &err),
                     IAMS_ERR_MALFORMED);

    iams_kek_free(kek);
}


static void
test_cek_schedule_and_cache(void **state)
{
    char            *enc;
    size_t           n;
    iams_err         err;
    iams_cek         cek, back;
    iams_span        rkey;
    iams_keyring    *kr;
    const int64_t    f = 1700000000000LL;
    const char       secret[] = "current "
                                "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    (void) state;

    memset(&cek, 0, sizeof(cek));
    memset(cek.key, 0x42, sizeof(cek.key));
    cek.issue_at_ms = f - 5000;       /* the platform clock runs ahead */
    cek.expires_in_ms = 86400000;
    cek.fetched_at_ms = f;

    /* a one-day CEK: refreshed ten minutes early, on our clock */
    assert_false(iams_cek_should_refresh(&cek, f));
    assert_false(iams_cek_should_refresh(&cek, f + 86400000 - 600000 - 1));
    assert_true(iams_cek_should_refresh(&cek, f + 86400000 - 600000));
    assert_false(iams_cek_is_expired(&cek, f + 86400000 - 1));
    assert_true(iams_cek_is_expired(&cek, f + 86400000));
    /* our clock going backwards is suspicious: refresh */
    assert_true(iams_cek_should_refresh(&cek, f - 1));

    /* a ten-minute CEK: at 80% */
    cek.expires_in_ms = 600000;
    assert_false(iams_cek_should_refresh(&cek, f + 480000 - 1));
    assert_true(iams_cek_should_refresh(&cek, f + 480000));

    kr = iams_test_keyring(secret);
    rkey = iams_test_span("iamsmart:cek:v1");

    assert_int_equal(iams_cek_cache_encode(&cek, kr, rkey, &enc, &n, &err),
                     IAMS_OK);
    assert_memory_equal(enc, "c1.", 3);
    assert_null(strstr(enc, "QkJCQkJC"));     /* base64 of 0x42 bytes */

    assert_int_equal(iams_cek_cache_decode(kr, rkey, enc, n, &back, &err),
                     IAMS_OK);
    assert_memory_equal(&back, &cek, sizeof(cek));

    assert_int_equal(iams_cek_cache_decode(kr,
                                           iams_test_span("iamsmart:cek:v2"),
                                           enc, n, &back, &err),
                     IAMS_ERR_BAD_SIGNATURE);
    enc[n / 2] = enc[n / 2] == 'A' ? 'B' : 'A';
    assert_int_not_equal(iams_cek_cache_decode(kr, rkey, enc, n, &back,
                                               &err), IAMS_OK);

    iams_cek_clear(&cek);
    assert_int_equal(cek.key[0], 0);
    free(enc);
    iams_keyring_free(kr);
}


/* ---- getToken ---- */

static void
test_token(void **state)
{
    char        *body;
    size_t       n;
    json_t      *c;
    iams_err     err;
    iams_token   tok;

    (void) state;

    assert_int_equal(iams_token_request_body(iams_test_span("ab-12.x"),
                                             &body, &n, &err), IAMS_OK);
    assert_string_equal(body, "{\"code\":\"ab-12.x\",\"grantType\":"
                              "\"authorization_code\"}");
    assert_int_equal(n, strlen(body));
    free(body);

    assert_int_equal(iams_token_request_body(iams_test_span(""), &body, &n,
                                             &err), IAMS_ERR_MALFORMED);
    assert_null(body);
    assert_int_equal(iams_token_request_body(iams_test_span("a\"b c"),
                                             &body, &n, &err),
                     IAMS_ERR_MALFORMED);

    /* absolute expiresIn, numbers as strings, no issueAt or tokenType */
    c = json_pack("{s:s, s:s, s:s}", "accessToken", "tok", "openID", "o",
                  "expiresIn", "1700000900000");
    assert_int_equal(iams_token_parse(c, NOW_MS, &tok, &err), IAMS_OK);
    assert_int_equal(tok.expires_at_ms, 1700000900000LL);
    assert_int_equal(tok.issue_at_ms, NOW_MS);
    assert_string_equal(tok.token_type, "Bearer");
    assert_string_equal(tok.scope, "");
    iams_token_clear(&tok);
    json_decref(c);

    /* a duration counts from issueAt */
    c = json_pack("{s:s, s:s, s:I, s:I, s:s}", "accessToken", "tok",
                  "openID", "o", "issueAt", (json_int_t) 1000,
                  "expiresIn", (json_int_t) 60000, "tokenType", "bearer");
    assert_int_equal(iams_token_parse(c, NOW_MS, &tok, &err), IAMS_OK);
    assert_int_equal(tok.expires_at_ms, 61000);
    iams_token_clear(&tok);
    json_decref(c);

    c = json_pack("{s:s, s:I}", "openID", "o", "expiresIn",
                  (json_int_t) 60000);
    assert_int_equal(iams_token_parse(c, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    assert_null(tok.access_token);
    json_decref(c);

    c = json_pack("{s:s, s:s}", "accessToken", "t", "openID", "o");
    assert_int_equal(iams_token_parse(c, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(c);

    c = json_pack("{s:s, s:s, s:I, s:s}", "accessToken", "t", "openID", "o",
                  "expiresIn", (json_int_t) 1, "tokenType", "MAC");
    assert_int_equal(iams_token_parse(c, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(c);

    c = json_pack("{s:s, s:s, s:I}", "accessToken", "t k", "openID", "o",
                  "expiresIn", (json_int_t) 1);
    assert_int_equal(iams_token_parse(c, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(c);

    c = json_pack("{s:s, s:s, s:I}", "accessToken", "t", "openID", "o",
                  "expiresIn", (json_int_t) -5);
    assert_int_equal(iams_token_parse(c, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(c);

    c = json_pack("{s:s, s:s, s:s}", "accessToken", "t", "openID", "o",
                  "expiresIn", "12a");
    assert_int_equal(iams_token_parse(c, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(c);
}


/* ---- initiateRequest bodies ---- */

static iams_initiate_common
common_fields(void)
{
    iams_initiate_common  c;

    c.open_id = iams_test_span("oid-1");
    c.access_token = iams_test_span("at-1");
    c.business_id = iams_test_span("biz-0001");
    c.redirect_uri = iams_test_span("https://gw.example/iamsmart/stepup");
    c.state = iams_test_span("st_1");
    c.lang = iams_test_span("zh-HK");
    c.source = IAMS_SOURCE_IOS_SAFARI;

    return c;
}


static void
test_initiate_bodies(void **state)
{
    char                  *body, id1[IAMS_BUSINESS_ID_LEN + 1];
    char                   id2[IAMS_BUSINESS_ID_LEN + 1];
    size_t                 n;
    json_t                *j, *want;
    iams_err               err;
    iams_span              fields[3];
    iams_data_request      dr;
    iams_initiate_common   c;
    iams_initiate_result   ir;

    (void) state;

    c = common_fields();
    assert_int_equal(iams_stepup_request_body(&c, &body, &n, &err), IAMS_OK);
    j = json_loads(body, 0, NULL);
    want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "openID", "oid-1", "accessToken", "at-1",
                     "businessID", "biz-0001", "source", "iOS_Safari",
                     "redirectURI", "https://gw.example/iamsmart/stepup",
                     "state", "st_1", "lang", "zh-HK");
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);
    free(body);

    fields[0] = iams_test_span("enName");
    fields[1] = iams_test_span("mobileNumber");
    fields[2] = iams_test_span("residentialAddress");
    memset(&dr, 0, sizeof(dr));
    dr.common = c;
    dr.kind = IAMS_FIELDS_EME;
    dr.fields = fields;
    dr.nfields = 3;
    dr.form_name = iams_test_span("駕駛執照續期申請");
    dr.form_num = iams_test_span("TD-DL-1");
    dr.form_desc = iams_test_span("Driving licence renewal");

    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err), IAMS_OK);
    j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "eMEFields")), 3);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(j, "eMEFields"), 1)),
                        "mobileNumber");
    assert_string_equal(json_string_value(json_object_get(j, "formName")),
                        "駕駛執照續期申請");
    assert_string_equal(json_string_value(json_object_get(j, "formNum")),
                        "TD-DL-1");
    assert_string_equal(json_string_value(json_object_get(j, "businessID")),
                        "biz-0001");
    assert_null(json_object_get(j, "profileFields"));
    json_decref(j);
    free(body);

    dr.kind = IAMS_FIELDS_PROFILE;
    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err), IAMS_OK);
    j = json_loads(body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "profileFields")),
                     3);
    assert_null(json_object_get(j, "formName"));
    json_decref(j);
    free(body);

    /* refusals */
    dr.kind = IAMS_FIELDS_EME;
    fields[1] = iams_test_span("mobile-number");
    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    fields[1] = iams_test_span("mobileNumber");
    dr.form_num = iams_test_span("123456789012345678901");
    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    dr.form_num = iams_test_span("1");
    dr.form_name = iams_test_span("\xff\xfe");
    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    dr.form_name = iams_test_span("x");
    dr.nfields = 0;
    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    dr.nfields = 3;
    dr.common.business_id = iams_test_span("0123456789012345678901234567890"
                                           "123456");
    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err),
                     IAMS_ERR_MALFORMED);

    c.state = iams_test_span("bad state");
    assert_int_equal(iams_stepup_request_body(&c, &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    c = common_fields();
    c.lang = iams_test_span("fr-FR");
    assert_int_equal(iams_stepup_request_body(&c, &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    c = common_fields();
    c.source = IAMS_SOURCE_COUNT;
    assert_int_equal(iams_stepup_request_body(&c, &body, &n, &err),
                     IAMS_ERR_MALFORMED);

    assert_int_equal(iams_business_id_generate(id1, &err), IAMS_OK);
    assert_int_equal(iams_business_id_generate(id2, &err), IAMS_OK);
    assert_int_equal(strlen(id1), IAMS_BUSINESS_ID_LEN);
    assert_string_not_equal(id1, id2);

    /* the reply */
    j = json_pack("{s:b, s:s}", "authByQR", 0, "ticketID", "T-123");
    assert_int_equal(iams_initiate_result_parse(j, &ir, &err), IAMS_OK);
    assert_string_equal(ir.ticket_id, "T-123");
    assert_false(ir.auth_by_qr);
    json_decref(j);
    j = json_pack("{s:s, s:s}", "authByQR", "true", "ticketID", "T-1");
    assert_int_equal(iams_initiate_result_parse(j, &ir, &err), IAMS_OK);
    assert_true(ir.auth_by_qr);
    json_decref(j);
    j = json_pack("{s:s}", "authByQR", "yes");
    assert_int_equal(iams_initiate_result_parse(j, &ir, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(j);
    j = json_pack("{s:s, s:s}", "authByQR", "yes", "ticketID", "T-1");
    assert_int_equal(iams_initiate_result_parse(j, &ir, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(j);
}


/* ---- the anonymous e-ME flow (section 5) ---- */

static void
test_anonymous_bodies(void **state)
{
    char                  *body;
    size_t                 n;
    json_t                *j, *want;
    iams_err               err;
    iams_span              fields[2];
    iams_token             tok;
    iams_data_request      dr;
    iams_initiate_result   ir;

    (void) state;

    /* initiateRequest: no openID, token, redirect URI or state, even if
     * the caller left some in the common members */
    fields[0] = iams_test_span("enName");
    fields[1] = iams_test_span("mobileNumber");
    memset(&dr, 0, sizeof(dr));
    dr.common.business_id = iams_test_span("biz-anon-1");
    dr.common.lang = iams_test_span("en-US");
    dr.common.source = IAMS_SOURCE_PC_BROWSER;
    dr.common.state = iams_test_span("not sent");
    dr.kind = IAMS_FIELDS_EME_ANONYMOUS;
    dr.fields = fields;
    dr.nfields = 2;
    dr.form_name = iams_test_span("Form");
    dr.form_num = iams_test_span("F-1");
    dr.form_desc = iams_test_span("A form");

    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err), IAMS_OK);
    j = json_loads(body, 0, NULL);
    want = json_pack("{s:s, s:s, s:s, s:[s,s], s:s, s:s, s:s}",
                     "businessID", "biz-anon-1", "source", "PC_Browser",
                     "lang", "en-US", "eMEFields", "enName", "mobileNumber",
                     "formName", "Form", "formNum", "F-1",
                     "formDesc", "A form");
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);
    free(body);

    dr.common.business_id = iams_test_span("");
    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    dr.common.business_id = iams_test_span("biz-anon-1");
    dr.nfields = 0;
    assert_int_equal(iams_data_request_body(&dr, &body, &n, &err),
                     IAMS_ERR_MALFORMED);

    /* its reply may carry only the ticket */
    j = json_pack("{s:s}", "ticketID", "T-anon");
    assert_int_equal(iams_initiate_result_parse(j, &ir, &err), IAMS_OK);
    assert_string_equal(ir.ticket_id, "T-anon");
    assert_false(ir.auth_by_qr);
    json_decref(j);

    /* getToken: a ticket instead of a citizen */
    j = json_pack("{s:s, s:s, s:I, s:s}", "accessToken", "tok-a",
                  "ticketID", "T-anon", "expiresIn", (json_int_t) 60000,
                  "scope", "eidapi_formFilling");
    assert_int_equal(iams_anonymous_token_parse(j, NOW_MS, &tok, &err),
                     IAMS_OK);
    assert_string_equal(tok.ticket_id, "T-anon");
    assert_string_equal(tok.open_id, "");
    assert_string_equal(tok.access_token, "tok-a");
    iams_token_clear(&tok);

    /* the logged-in parser wants an openID there */
    assert_int_equal(iams_token_parse(j, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(j);

    j = json_pack("{s:s, s:s, s:I}", "accessToken", "tok-a", "openID", "o",
                  "expiresIn", (json_int_t) 60000);
    assert_int_equal(iams_anonymous_token_parse(j, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    assert_null(tok.access_token);
    json_decref(j);

    j = json_pack("{s:s, s:s, s:I}", "accessToken", "tok-a", "ticketID",
                  "T x", "expiresIn", (json_int_t) 60000);
    assert_int_equal(iams_anonymous_token_parse(j, NOW_MS, &tok, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(j);

    /* getResult */
    assert_int_equal(iams_anonymous_result_request_body(
                         iams_test_span("tok-a"), iams_test_span("T-anon"),
                         iams_test_span("biz-anon-1"), &body, &n, &err),
                     IAMS_OK);
    j = json_loads(body, 0, NULL);
    want = json_pack("{s:s, s:s, s:s}", "accessToken", "tok-a",
                     "ticketID", "T-anon", "businessID", "biz-anon-1");
    assert_true(json_equal(j, want));
    assert_int_equal(n, strlen(body));
    json_decref(j);
    json_decref(want);
    free(body);

    assert_int_equal(iams_anonymous_result_request_body(
                         iams_test_span("tok-a"), iams_test_span(""),
                         iams_test_span("biz-anon-1"), &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    assert_null(body);
    assert_int_equal(iams_anonymous_result_request_body(
                         iams_test_span("tok\n"), iams_test_span("T"),
                         iams_test_span("b"), &body, &n, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_anonymous_result_request_body(
                         iams_test_span("tok a"), iams_test_span("T"),
                         iams_test_span("b"), &body, &n, &err),
                     IAMS_ERR_MALFORMED);
}


/* ---- encrypted callbacks ---- */

static void
test_callbacks(void **state)
{
    char                *body, *t;
    size_t               n;
    json_t              *fx, *content, *j;
    iams_err             err;
    iams_kek            *kek, *other;
    iams_reply           r;
    iams_data_result     dres;
    iams_stepup_result   sres;

    (void) state;

    kek = load_kek("kek_rsa2048.pem");
    other = load_kek("kek_other_rsa2048.pem");

    fx = iams_test_load_fixture_json("callback_stepup.json");
    body = iams_test_dump(json_object_get(fx, "body"), &n);

    assert_int_equal(iams_callback_open(kek, IAMS_KEK_PAD_PKCS1, body, n, &r,
                                        &content, &err), IAMS_OK);
    assert_true(json_equal(content, json_object_get(fx, "content")));
    assert_string_equal(r.tx_id, "tx-cb-1");

    assert_int_equal(iams_stepup_result_parse(content, &sres, &err),
                     IAMS_OK);
    assert_string_equal(sres.business_id, "biz-stepup-0001");
    assert_string_equal(sres.state, "st_XYZ-789");
    assert_true(sres.passed);
    json_decref(content);

    /* only the KEK holder can open it */
    assert_int_equal(iams_callback_open(other, IAMS_KEK_PAD_AUTO, body, n,
                                        &r, &content, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_string_equal(err.detail, "callback decryption failed");
    assert_null(content);

    /* altered content: refused with the same status and detail as a key
     * that does not unwrap, so the two cannot be told apart */
    t = strstr(body, "\"content\":\"");
    assert_non_null(t);
    t += 30;
    *t = *t == 'A' ? 'B' : 'A';
    assert_int_equal(iams_callback_open(kek, IAMS_KEK_PAD_AUTO, body, n, &r,
                                        &content, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_string_equal(err.detail, "callback decryption failed");
    assert_null(content);
    free(body);
    json_decref(fx);

    /* e-ME with an OAEP-wrapped key and UTF-8 data */
    fx = iams_test_load_fixture_json("callback_eme_oaep.json");
    body = iams_test_dump(json_object_get(fx, "body"), &n);
    assert_int_equal(iams_callback_open(kek, IAMS_KEK_PAD_PKCS1, body, n, &r,
                                        &content, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_int_equal(iams_callback_open(kek, IAMS_KEK_PAD_AUTO, body, n, &r,
                                        &content, &err), IAMS_OK);
    assert_int_equal(iams_data_result_parse(content, &dres, &err), IAMS_OK);
    assert_string_equal(dres.business_id, "biz-eme-0002");
    assert_string_equal(dres.state, "st_eme");
    assert_null(json_object_get(dres.fields, "businessID"));
    assert_null(json_object_get(dres.fields, "state"));
    assert_int_equal(json_object_size(dres.fields), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(dres.fields, "chName"),
                            "ChineseName")), "陳大文");
    iams_data_result_clear(&dres);
    assert_null(dres.fields);
    json_decref(content);
    free(body);
    json_decref(fx);

    /* an error callback without content */
    assert_int_equal(iams_callback_open(kek, IAMS_KEK_PAD_AUTO,
                                        LIT("{\"code\":\"D40001\","
                                            "\"txID\":\"t\","
                                            "\"content\":\"\"}"), &r,
                                        &content, &err), IAMS_OK);
    assert_null(content);
    assert_int_equal(r.pcode, IAMS_PCODE_USER_REJECTED);

    /* success without content or without secretKey */
    assert_int_equal(iams_callback_open(kek, IAMS_KEK_PAD_AUTO,
                                        LIT("{\"code\":\"D00000\"}"), &r,
                                        &content, &err), IAMS_ERR_MALFORMED);
    assert_int_equal(iams_callback_open(kek, IAMS_KEK_PAD_AUTO,
                                        LIT("{\"code\":\"D00000\",\"content\":"
                                        "\"AAAA\"}"), &r, &content, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_callback_open(kek, IAMS_KEK_PAD_AUTO,
                                        LIT("{\"code\":\"D00000\","
                                            "\"content\":\"AAAA\","
                                            "\"secretKey\":\"AAAA\"}"),
                                        &r, &content, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_string_equal(err.detail, "callback decryption failed");

    /* result shapes */
    j = json_pack("{s:s, s:s}", "businessID", "b", "isPassed", "false");
    assert_int_equal(iams_stepup_result_parse(j, &sres, &err), IAMS_OK);
    assert_false(sres.passed);
    assert_string_equal(sres.state, "");
    json_decref(j);
    j = json_pack("{s:s, s:b}", "state", "s", "isPassed", 1);
    assert_int_equal(iams_stepup_result_parse(j, &sres, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(j);
    j = json_pack("{s:s}", "businessID", "b");
    assert_int_equal(iams_stepup_result_parse(j, &sres, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(j);
    j = json_pack("{s:s, s:b}", "businessID",
                  "0123456789012345678901234567890123456", "isPassed", 1);
    assert_int_equal(iams_stepup_result_parse(j, &sres, &err),
                     IAMS_ERR_MALFORMED);
    json_decref(j);
    j = json_pack("{s:s, s:s}", "businessID", "b", "state", "a b");
    assert_int_equal(iams_data_result_parse(j, &dres, &err),
                     IAMS_ERR_MALFORMED);
    assert_null(dres.fields);
    json_decref(j);

    iams_kek_free(kek);
    iams_kek_free(other);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sign_known_answer),
        cmocka_unit_test(test_sign_rejects_and_helpers),
        cmocka_unit_test(test_envelope_round_trip_and_tamper),
        cmocka_unit_test(test_envelope_independent),
        cmocka_unit_test(test_reply_parse),
        cmocka_unit_test(test_pcode_table),
        cmocka_unit_test(test_kek_load),
        cmocka_unit_test(test_cek_getkey),
        cmocka_unit_test(test_cek_schedule_and_cache),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_initiate_bodies),
        cmocka_unit_test(test_anonymous_bodies),
        cmocka_unit_test(test_callbacks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
