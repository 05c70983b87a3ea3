/*
 * Compact JWS: parsing bounds and shape, the header rules (none, crit,
 * embedded keys), key selection by kid, alg and key metadata, signature
 * encodings, and sign/verify round trips for every algorithm.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <iamsmart/encoding.h>
#include <iamsmart/jose.h>

#include "support/keys.h"
#include "support/vectors.h"


#define CLAIMS  "{\"sub\":\"alice\"}"


/* header_json '.' payload '.' sig, signed with iams_sig_create so that any
 * header can be built; without a key the signature part is empty. */
static char *
build_token(const char *header_json, const char *payload,
    const iams_jwk *key, iams_alg alg)
{
    char           *h, *p, *s, *input, *token;
    size_t          sig_len, n;
    iams_err        err;
    unsigned char  *sig;

    h = iams_test_b64url((const unsigned char *) header_json,
                         strlen(header_json));
    p = iams_test_b64url((const unsigned char *) payload, strlen(payload));

    n = strlen(h) + strlen(p) + 2;
    input = malloc(n);
    assert_non_null(input);
    snprintf(input, n, "%s.%s", h, p);

    if (key != NULL) {
        if (iams_sig_create(alg, key, (const unsigned char *) input,
                            strlen(input), &sig, &sig_len, &err) != IAMS_OK)
        {
            fail_msg("sig_create: %s", err.detail);
        }

        s = iams_test_b64url(sig, sig_len);
        free(sig);

    } else {
        s = strdup("");
    }

    n = strlen(input) + strlen(s) + 2;
    token = malloc(n);
    assert_non_null(token);
    snprintf(token, n, "%s.%s", input, s);

    free(h);
    free(p);
    free(s);
    free(input);

    return token;
}


static iams_status
parse(const char *token, iams_jws *jws)
{
    iams_err     err;
    iams_status  rc;

    rc = iams_jws_parse(token, strlen(token), jws, &err);

    if (rc != IAMS_OK) {
        /* a failed parse leaves nothing behind */
        assert_null(jws->header);
        assert_null(jws->payload);
        assert_null(jws->sig);
        assert_null(jws->kid);
        assert_int_equal(jws->alg, IAMS_ALG_UNKNOWN);
        assert_true(err.detail[0] != '\0');
    }

    return rc;
}


/* Parses and verifies; returns the first failing status. */
static iams_status
parse_verify(const char *token, const iams_jwks *set, iams_alg_set allowed,
    const iams_jwk **used)
{
    iams_jws     jws;
    iams_err     err;
    iams_status  rc;

    rc = parse(token, &jws);

    if (rc != IAMS_OK) {
        return rc;
    }

    rc = iams_jws_verify(&jws, set, allowed, used, &err);
    iams_jws_clear(&jws);

    return rc;
}


static iams_jwks *
public_set_with_kid(const iams_jwk *key, const char *kid)
{
    json_t  *jwk = iams_test_public_jwk(key);

    if (kid != NULL) {
        json_object_set_new(jwk, "kid", json_string(kid));
    }

    return iams_test_set(jwk, NULL);
}


static void
test_sign_verify_every_alg(void **state)
{
    int              a;
    char            *token, *dot;
    size_t           len;
    json_t          *typ;
    iams_jws         jws;
    iams_err         err;
    iams_jwk        *key;
    iams_jwks       *set;
    const iams_jwk  *used;

    (void) state;

    for (a = IAMS_ALG_UNKNOWN + 1; a < IAMS_ALG_COUNT; a++) {
        key = iams_test_key_for_alg((iams_alg) a);
        set = public_set_with_kid(key, "k");

        if (iams_jws_sign(key, (iams_alg) a, "k", "JWT",
                          (const unsigned char *) CLAIMS, strlen(CLAIMS),
                          &token, &len, &err) != IAMS_OK)
        {
            fail_msg("%s sign: %s", iams_alg_name((iams_alg) a), err.detail);
        }

        assert_int_equal(strlen(token), len);
        assert_int_equal(parse(token, &jws), IAMS_OK);
        assert_int_equal(jws.alg, a);
        assert_string_equal(jws.kid, "k");
        typ = json_object_get(jws.header, "typ");
        assert_string_equal(json_string_value(typ), "JWT");
        assert_int_equal(jws.payload_len, strlen(CLAIMS));
        assert_memory_equal(jws.payload, CLAIMS, jws.payload_len);
        assert_int_equal(jws.payload[jws.payload_len], '\0');
        assert_ptr_equal(jws.signing_input, token);
        assert_int_equal(jws.signing_input_len,
                         (size_t) (strrchr(token, '.') - token));

        if (iams_jws_verify(&jws, set, IAMS_ALG_BIT(a), &used, &err)
            != IAMS_OK)
        {
            fail_msg("%s verify: %s", iams_alg_name((iams_alg) a),
                     err.detail);
        }

        assert_ptr_equal(used, iams_jwks_get(set, 0));
        iams_jws_clear(&jws);

        /* a changed payload character breaks the signature */
        dot = strchr(token, '.');
        dot[1] = dot[1] == 'e' ? 'f' : 'e';
        assert_int_equal(parse_verify(token, set, IAMS_ALG_SET_ALL, &used),
                         IAMS_ERR_BAD_SIGNATURE);
        assert_null(used);

        free(token);
        iams_jwks_free(set);
        iams_jwk_free(key);
    }
}


static void
test_parse_shape(void **state)
{
    char       *t;
    iams_jws    jws;
    size_t      i;
    static const char  *malformed[] = {
        "", ".", "..", "...", "abc", "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        "eyJhbGciOiJIUzI1NiJ9.e30.AAAA.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.e30.AAAA.AAAA.AAAA",   /* JWE shape */
        ".e30.AAAA",
    };

    (void) state;

    for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        assert_int_equal(parse(malformed[i], &jws), IAMS_ERR_MALFORMED);
    }

    /* header content */
    static const char  *headers[] = {
        "not json", "[\"alg\",\"HS256\"]", "\"HS256\"", "{}",
        "{\"alg\":256}", "{\"alg\":null}", "{\"alg\":[\"HS256\"]}",
        "{\"alg\":\"HS256\",\"kid\":1}", "{\"alg\":\"HS256\",\"kid\":null}",
        "{\"alg\":\"HS256\"} x", "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
        "{\"alg\":\"HS256\"",
    };

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        t = build_token(headers[i], CLAIMS, NULL, IAMS_ALG_UNKNOWN);
        assert_int_equal(parse(t, &jws), IAMS_ERR_MALFORMED);
        free(t);
    }

    /* an empty payload and an empty signature are well-formed */
    assert_int_equal(parse("eyJhbGciOiJIUzI1NiJ9..", &jws), IAMS_OK);
    assert_int_equal(jws.payload_len, 0);
    assert_int_equal(jws.sig_len, 0);
    assert_null(jws.kid);
    iams_jws_clear(&jws);
    iams_jws_clear(&jws);
}


/* Replaces part (0..2) of a valid token with text. */
static char *
with_part(const char *token, int part, const char *text)
{
    int          i;
    char        *out;
    size_t       n;
    const char  *start, *end;

    start = token;

    for (i = 0; i < part; i++) {
        start = strchr(start, '.') + 1;
    }

    end = strchr(start, '.');

    if (end == NULL) {
        end = start + strlen(start);
    }

    n = strlen(token) + strlen(text) + 1;
    out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int) (start - token), token, text, end);

    return out;
}


static void
test_bad_base64url_variants(void **state)
{
    int          part;
    char        *good, *bad, *variant;
    size_t       i, n;
    iams_jws     jws;
    iams_jwk    *key;
    const char  *start;

    (void) state;

    key = iams_test_key_for_alg(IAMS_ALG_HS256);
    good = build_token("{\"alg\":\"HS256\"}", "{\"a\":1}", key,
                       IAMS_ALG_HS256);
    assert_int_equal(parse(good, &jws), IAMS_OK);
    iams_jws_clear(&jws);

    for (part = 0; part < 3; part++) {
        start = good;

        for (i = 0; i < (size_t) part; i++) {
            start = strchr(start, '.') + 1;
        }

        n = strcspn(start, ".");

        for (i = 0; i < 7; i++) {
            variant = malloc(n + 8);
            assert_non_null(variant);
            memcpy(variant, start, n);
            variant[n] = '\0';

            switch (i) {
            case 0: strcat(variant, "=");  break;     /* padding */
            case 1: strcat(variant, "=="); break;
            case 2: variant[1] = '+';      break;     /* std alphabet */
            case 3: variant[1] = '/';      break;
            case 4: variant[1] = ' ';      break;     /* whitespace */
            case 5: strcat(variant, "A");  break;     /* length */
            default:
                /* a neighbour value of the last character differs only
                 * in the bits that must be zero */
                variant[n - 1] = (char) (variant[n - 1] + 1);
                break;
            }

            bad = with_part(good, part, variant);

            if (i == 5 && (n + 1) % 4 != 1) {
                /* one more character may still be valid base64url */
                free(bad);
                free(variant);
                continue;
            }

            if (i == 6 && n % 4 == 0) {
                free(bad);
                free(variant);
                continue;
            }

            assert_int_equal(parse(bad, &jws), IAMS_ERR_MALFORMED);
            free(bad);
            free(variant);
        }
    }

    free(good);
    iams_jwk_free(key);
}


static void
test_size_limits(void **state)
{
    char       *t, *big, *header;
    size_t      len, hlen;
    iams_jws    jws;
    iams_err    err;
    iams_jwk   *key;

    (void) state;

    key = iams_test_key_for_alg(IAMS_ALG_HS256);

    /* a token of exactly IAMS_JWS_MAX_TOKEN bytes parses; one more fails */
    big = malloc(IAMS_JWS_MAX_TOKEN + 2);
    assert_non_null(big);
    t = build_token("{\"alg\":\"HS256\"}", "", key, IAMS_ALG_HS256);
    hlen = (size_t) (strchr(t, '.') - t + 1);
    memcpy(big, t, hlen);
    memset(big + hlen, 'A', IAMS_JWS_MAX_TOKEN - hlen - 1);
    big[IAMS_JWS_MAX_TOKEN - 1] = '.';
    big[IAMS_JWS_MAX_TOKEN] = '\0';

    assert_int_equal(iams_jws_parse(big, IAMS_JWS_MAX_TOKEN, &jws, &err),
                     IAMS_OK);
    iams_jws_clear(&jws);

    memmove(big + hlen + 1, big + hlen, IAMS_JWS_MAX_TOKEN - hlen + 1);
    big[hlen] = 'A';
    assert_int_equal(iams_jws_parse(big, IAMS_JWS_MAX_TOKEN + 1, &jws, &err),
                     IAMS_ERR_TOO_LARGE);
    free(big);
    free(t);

    /* a decoded header of exactly IAMS_JWS_MAX_HEADER bytes, then one
     * more */
    header = malloc(IAMS_JWS_MAX_HEADER + 2);
    assert_non_null(header);

    for (len = IAMS_JWS_MAX_HEADER; len <= IAMS_JWS_MAX_HEADER + 1; len++) {
        strcpy(header, "{\"alg\":\"HS256\",\"x\":\"");
        hlen = strlen(header);
        memset(header + hlen, 'x', len - hlen - 2);
        strcpy(header + len - 2, "\"}");
        assert_int_equal(strlen(header), len);

        t = build_token(header, "{}", key, IAMS_ALG_HS256);
        assert_int_equal(parse(t, &jws),
                         len == IAMS_JWS_MAX_HEADER ? IAMS_OK
                                                    : IAMS_ERR_TOO_LARGE);
        iams_jws_clear(&jws);
        free(t);
    }

    free(header);
    iams_jwk_free(key);
}


static void
test_alg_none_never_accepted(void **state)
{
    char       *t;
    size_t      i;
    iams_jws    jws;
    iams_jwk   *key;
    iams_jwks  *set;
    static const char  *nones[] = {
        "{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
        "{\"alg\":\"nOnE\"}", "{\"typ\":\"JWT\",\"alg\":\"none\"}",
    };

    (void) state;

    key = iams_test_key_for_alg(IAMS_ALG_HS256);
    set = public_set_with_kid(key, NULL);

    for (i = 0; i < sizeof(nones) / sizeof(nones[0]); i++) {
        t = build_token(nones[i], CLAIMS, NULL, IAMS_ALG_UNKNOWN);
        assert_int_equal(parse(t, &jws), IAMS_ERR_ALG_NONE);
        assert_int_equal(parse_verify(t, set, 0xffffffffu, NULL),
                         IAMS_ERR_ALG_NONE);
        free(t);

        /* nor with a signature attached */
        t = build_token(nones[i], CLAIMS, key, IAMS_ALG_HS256);
        assert_int_equal(parse(t, &jws), IAMS_ERR_ALG_NONE);
        free(t);
    }

    /* RFC 7515 A.5, the unsecured JWS */
    assert_int_equal(parse("eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAi"
                           "OjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9p"
                           "c19yb290Ijp0cnVlfQ.", &jws), IAMS_ERR_ALG_NONE);

    iams_jwks_free(set);
    iams_jwk_free(key);
}


static void
test_unsupported_alg(void **state)
{
    char      *t;
    size_t     i;
    iams_jws   jws;
    static const char  *algs[] = {
        "HS1", "RS1", "ES256K", "Ed25519", "EdDSA ", "hs256", "A128KW",
        "RSA-OAEP", "dir", "",
    };
    char       header[64];

    (void) state;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        snprintf(header, sizeof(header), "{\"alg\":\"%s\"}", algs[i]);
        t = build_token(header, CLAIMS, NULL, IAMS_ALG_UNKNOWN);
        assert_int_equal(parse(t, &jws), IAMS_ERR_ALG_UNSUPPORTED);
        free(t);
    }
}


static void
test_crit_rejected(void **state)
{
    char       *t;
    size_t      i;
    iams_jws    jws;
    iams_jwk   *key;
    static const char  *headers[] = {
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
        "{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}",
        "{\"alg\":\"HS256\",\"crit\":[]}",
        "{\"alg\":\"HS256\",\"crit\":\"exp\"}",
        "{\"alg\":\"HS256\",\"crit\":null}",
        "{\"crit\":[\"kid\"],\"alg\":\"HS256\",\"kid\":\"a\"}",
    };

    (void) state;

    key = iams_test_key_for_alg(IAMS_ALG_HS256);

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        /* properly signed, still refused */
        t = build_token(headers[i], CLAIMS, key, IAMS_ALG_HS256);
        assert_int_equal(parse(t, &jws), IAMS_ERR_CRIT);
        free(t);
    }

    /* without crit, an unknown b64 member is just ignored */
    t = build_token("{\"alg\":\"HS256\",\"b64\":false}", CLAIMS, key,
                    IAMS_ALG_HS256);
    assert_int_equal(parse(t, &jws), IAMS_OK);
    iams_jws_clear(&jws);
    free(t);

    iams_jwk_free(key);
}


static void
test_embedded_keys_ignored(void **state)
{
    char        *t, *jwk_text, header[2048];
    size_t       i;
    json_t      *jwk;
    iams_jwk    *mine, *attacker;
    iams_jwks   *set;
    static const char  *fmt[] = {
        "{\"alg\":\"ES256\",\"jwk\":%s}",
        "{\"alg\":\"ES256\",\"jku\":\"https://127.0.0.1/k\",\"jwk\":%s}",
        "{\"alg\":\"ES256\",\"x5u\":\"https://127.0.0.1/c\",\"jwk\":%s}",
        "{\"alg\":\"ES256\",\"x5c\":[\"MIIB\"],\"jwk\":%s}",
    };

    (void) state;

    mine = iams_test_key_for_alg(IAMS_ALG_ES256);
    attacker = iams_test_generated_key("EC", "P-256");
    set = public_set_with_kid(mine, NULL);

    jwk = iams_test_public_jwk(attacker);
    jwk_text = json_dumps(jwk, JSON_COMPACT);
    json_decref(jwk);

    for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        snprintf(header, sizeof(header), fmt[i], jwk_text);

        /* signed by the key the header carries: not trusted */
        t = build_token(header, CLAIMS, attacker, IAMS_ALG_ES256);
        assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                         IAMS_ERR_BAD_SIGNATURE);
        free(t);

        /* the same header signed by the configured key verifies */
        t = build_token(header, CLAIMS, mine, IAMS_ALG_ES256);
        assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                         IAMS_OK);
        free(t);
    }

    free(jwk_text);
    iams_jwks_free(set);
    iams_jwk_free(attacker);
    iams_jwk_free(mine);
}


static void
test_kid_selection(void **state)
{
    char            *t;
    iams_jwk        *a, *b;
    iams_jwks       *set;
    const iams_jwk  *used;

    (void) state;

    a = iams_test_key_for_alg(IAMS_ALG_ES256);
    b = iams_test_generated_key("EC", "P-256");

    {
        json_t  *ja = iams_test_public_jwk(a), *jb = iams_test_public_jwk(b);

        json_object_set_new(ja, "kid", json_string("a"));
        json_object_set_new(jb, "kid", json_string("b"));
        set = iams_test_set(ja, jb, NULL);
    }

    /* the kid picks the key */
    t = build_token("{\"alg\":\"ES256\",\"kid\":\"b\"}", CLAIMS, b,
                    IAMS_ALG_ES256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, &used), IAMS_OK);
    assert_ptr_equal(used, iams_jwks_get(set, 1));
    free(t);

    /* signed by a but naming b: a is never tried */
    t = build_token("{\"alg\":\"ES256\",\"kid\":\"b\"}", CLAIMS, a,
                    IAMS_ALG_ES256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, &used),
                     IAMS_ERR_BAD_SIGNATURE);
    free(t);

    /* a kid no key has, including one differing only in case */
    t = build_token("{\"alg\":\"ES256\",\"kid\":\"c\"}", CLAIMS, a,
                    IAMS_ALG_ES256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_UNKNOWN_KID);
    free(t);

    t = build_token("{\"alg\":\"ES256\",\"kid\":\"A\"}", CLAIMS, a,
                    IAMS_ALG_ES256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_UNKNOWN_KID);
    free(t);

    t = build_token("{\"alg\":\"ES256\",\"kid\":\"\"}", CLAIMS, a,
                    IAMS_ALG_ES256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_UNKNOWN_KID);
    free(t);

    /* no kid: every key is tried */
    t = build_token("{\"alg\":\"ES256\"}", CLAIMS, b, IAMS_ALG_ES256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, &used), IAMS_OK);
    assert_ptr_equal(used, iams_jwks_get(set, 1));
    free(t);

    iams_jwks_free(set);

    /* keys without a kid are not candidates for a token that names one */
    set = public_set_with_kid(a, NULL);
    t = build_token("{\"alg\":\"ES256\",\"kid\":\"a\"}", CLAIMS, a,
                    IAMS_ALG_ES256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_UNKNOWN_KID);
    free(t);

    iams_jwks_free(set);
    iams_jwk_free(a);
    iams_jwk_free(b);
}


static void
test_allowed_set_and_no_keys(void **state)
{
    char       *t;
    iams_jws    jws;
    iams_err    err;
    iams_jwk   *key;
    iams_jwks  *set;

    (void) state;

    key = iams_test_key_for_alg(IAMS_ALG_RS256);
    set = public_set_with_kid(key, NULL);
    t = build_token("{\"alg\":\"RS256\"}", CLAIMS, key, IAMS_ALG_RS256);

    assert_int_equal(parse_verify(t, set, IAMS_ALG_BIT(IAMS_ALG_RS256),
                                  NULL), IAMS_OK);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_BIT(IAMS_ALG_PS256),
                                  NULL), IAMS_ERR_ALG_NOT_ALLOWED);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_HMAC, NULL),
                     IAMS_ERR_ALG_NOT_ALLOWED);
    assert_int_equal(parse_verify(t, set, 0, NULL),
                     IAMS_ERR_ALG_NOT_ALLOWED);

    assert_int_equal(parse(t, &jws), IAMS_OK);
    assert_int_equal(iams_jws_verify(&jws, NULL, IAMS_ALG_SET_ALL, NULL,
                                     &err), IAMS_ERR_NO_KEY);
    iams_jws_clear(&jws);

    free(t);
    iams_jwks_free(set);
    iams_jwk_free(key);
}


/* One RSA key with a metadata member; the token must fail with expect. */
static void
expect_filtered(const char *member, json_t *value, iams_status expect)
{
    char            *t;
    json_t          *bad, *good;
    iams_jwk        *key;
    iams_jwks       *set;
    const iams_jwk  *used;

    key = iams_test_key_for_alg(IAMS_ALG_RS256);
    t = build_token("{\"alg\":\"RS256\"}", CLAIMS, key, IAMS_ALG_RS256);

    bad = iams_test_public_jwk(key);
    json_object_set_new(bad, member, value);
    json_incref(bad);

    set = iams_test_set(bad, NULL);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL), expect);
    iams_jwks_free(set);

    /* next to a plain copy of the same key, that copy verifies */
    good = iams_test_public_jwk(key);
    set = iams_test_set(bad, good, NULL);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, &used), IAMS_OK);
    assert_ptr_equal(used, iams_jwks_get(set, 1));
    iams_jwks_free(set);

    free(t);
    iams_jwk_free(key);
}


static void
test_key_metadata_filters(void **state)
{
    (void) state;

    expect_filtered("use", json_string("enc"), IAMS_ERR_ALG_KEY_MISMATCH);
    expect_filtered("key_ops", json_pack("[s]", "sign"),
                    IAMS_ERR_ALG_KEY_MISMATCH);
    expect_filtered("key_ops", json_pack("[s,s]", "encrypt", "wrapKey"),
                    IAMS_ERR_ALG_KEY_MISMATCH);
    expect_filtered("alg", json_string("RS512"), IAMS_ERR_ALG_KEY_MISMATCH);
    expect_filtered("alg", json_string("PS256"), IAMS_ERR_ALG_KEY_MISMATCH);
    expect_filtered("alg", json_string("RSA-OAEP-256"),
                    IAMS_ERR_ALG_KEY_MISMATCH);
}


static void
test_alg_key_confusion(void **state)
{
    char        *t, *pub_text;
    json_t      *pub;
    iams_jwk    *rsa, *p256, *p521, *hmac_from_pub;
    iams_jwks   *set;
    char         oct[8192];
    char        *k;

    (void) state;

    rsa = iams_test_key_for_alg(IAMS_ALG_RS256);
    set = public_set_with_kid(rsa, NULL);

    /* HS256 keyed with the RSA public key's text: the classic confusion */
    pub = iams_test_public_jwk(rsa);
    pub_text = json_dumps(pub, JSON_COMPACT);
    k = iams_test_b64url((const unsigned char *) pub_text, strlen(pub_text));
    snprintf(oct, sizeof(oct), "{\"kty\":\"oct\",\"k\":\"%s\"}", k);
    hmac_from_pub = iams_test_private_key(oct);

    t = build_token("{\"alg\":\"HS256\"}", CLAIMS, hmac_from_pub,
                    IAMS_ALG_HS256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    free(t);
    iams_jwks_free(set);

    /* an ES256 token against a P-521 key: the curve must fit too */
    p256 = iams_test_key_for_alg(IAMS_ALG_ES256);
    p521 = iams_test_key_for_alg(IAMS_ALG_ES512);
    set = public_set_with_kid(p521, NULL);
    t = build_token("{\"alg\":\"ES256\"}", CLAIMS, p256, IAMS_ALG_ES256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    free(t);

    /* EdDSA with an EC key, RS256 with an EC key */
    t = build_token("{\"alg\":\"EdDSA\"}", CLAIMS,
                    NULL, IAMS_ALG_UNKNOWN);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    free(t);
    iams_jwks_free(set);

    free(k);
    free(pub_text);
    json_decref(pub);
    iams_jwk_free(hmac_from_pub);
    iams_jwk_free(p256);
    iams_jwk_free(p521);
    iams_jwk_free(rsa);
}


static void
test_weak_hmac_key_refused(void **state)
{
    char       *t;
    iams_jwk   *weak;
    iams_jwks  *set;

    (void) state;

    /* 16 octets: iams_sig_create signs anyway, verification refuses */
    weak = iams_test_private_key("{\"kty\":\"oct\",\"k\":"
                                 "\"AAECAwQFBgcICQoLDA0ODw\"}");
    set = public_set_with_kid(weak, NULL);
    t = build_token("{\"alg\":\"HS256\"}", CLAIMS, weak, IAMS_ALG_HS256);
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_KEY_WEAK);
    free(t);
    iams_jwks_free(set);
    iams_jwk_free(weak);
}


/* Re-signs token's signature part with the given bytes. */
static char *
with_sig(const char *token, const unsigned char *sig, size_t len)
{
    char  *s, *out;

    s = iams_test_b64url(sig, len);
    out = with_part(token, 2, s);
    free(s);

    return out;
}


static void
test_signature_encodings(void **state)
{
    int             der_len;
    char           *t, *bad;
    BIGNUM         *r, *s;
    iams_jws        jws;
    iams_jwk       *key;
    iams_jwks      *set;
    ECDSA_SIG      *es;
    unsigned char   buf[600], *der;
    size_t          i;
    static const iams_alg  algs[] = {
        IAMS_ALG_ES256, IAMS_ALG_RS256, IAMS_ALG_PS256, IAMS_ALG_EDDSA,
        IAMS_ALG_HS256,
    };

    (void) state;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        char  header[32];

        key = iams_test_key_for_alg(algs[i]);
        set = public_set_with_kid(key, NULL);
        snprintf(header, sizeof(header), "{\"alg\":\"%s\"}",
                 iams_alg_name(algs[i]));
        t = build_token(header, CLAIMS, key, algs[i]);

        assert_int_equal(parse(t, &jws), IAMS_OK);
        assert_true(jws.sig_len + 1 < sizeof(buf));

        /* one octet short (the last dropped) */
        bad = with_sig(t, jws.sig, jws.sig_len - 1);
        assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                         IAMS_ERR_BAD_SIGNATURE);
        free(bad);

        /* a leading zero octet added */
        buf[0] = 0;
        memcpy(buf + 1, jws.sig, jws.sig_len);
        bad = with_sig(t, buf, jws.sig_len + 1);
        assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                         IAMS_ERR_BAD_SIGNATURE);
        free(bad);

        /* empty */
        bad = with_part(t, 2, "");
        assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                         IAMS_ERR_BAD_SIGNATURE);
        free(bad);

        if (algs[i] == IAMS_ALG_ES256) {
            /* the same R and S in DER, as OpenSSL produces them */
            r = BN_bin2bn(jws.sig, 32, NULL);
            s = BN_bin2bn(jws.sig + 32, 32, NULL);
            es = ECDSA_SIG_new();
            assert_int_equal(ECDSA_SIG_set0(es, r, s), 1);
            der = NULL;
            der_len = i2d_ECDSA_SIG(es, &der);
            assert_true(der_len > 0);
            bad = with_sig(t, der, (size_t) der_len);
            assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                             IAMS_ERR_BAD_SIGNATURE);
            free(bad);
            OPENSSL_free(der);
            ECDSA_SIG_free(es);

            /* R and S swapped */
            memcpy(buf, jws.sig + 32, 32);
            memcpy(buf + 32, jws.sig, 32);
            bad = with_sig(t, buf, 64);
            assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                             IAMS_ERR_BAD_SIGNATURE);
            free(bad);

            /* all zero */
            memset(buf, 0, 64);
            bad = with_sig(t, buf, 64);
            assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                             IAMS_ERR_BAD_SIGNATURE);
            free(bad);
        }

        assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL),
                         IAMS_OK);

        iams_jws_clear(&jws);
        free(t);
        iams_jwks_free(set);
        iams_jwk_free(key);
    }
}


/* An RSA-PSS signature made by OpenSSL with the given salt length and MGF1
 * hash, over the token's signing input, replacing its signature. */
static char *
pss_token(EVP_PKEY *pkey, const char *token, int saltlen, const char *mgf1)
{
    char           *out;
    size_t          len;
    EVP_MD_CTX     *md;
    EVP_PKEY_CTX   *pctx;
    unsigned char   sig[512];

    md = EVP_MD_CTX_new();
    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL,
                                           pkey, NULL), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx,
                                                  RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, mgf1, NULL), 1);

    len = sizeof(sig);
    assert_int_equal(EVP_DigestSign(md, sig, &len,
                                    (const unsigned char *) token,
                                    (size_t) (strrchr(token, '.') - token)),
                     1);
    EVP_MD_CTX_free(md);

    out = with_sig(token, sig, len);

    return out;
}


static void
test_pss_parameters(void **state)
{
    BIO        *bio;
    char       *pem, *t, *bad;
    long        len;
    iams_err    err;
    EVP_PKEY   *pkey;
    iams_jwk   *key;
    iams_jwks  *set;

    (void) state;

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    assert_non_null(pkey);
    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
                                              NULL), 1);
    len = BIO_get_mem_data(bio, &pem);
    assert_int_equal(iams_jwk_parse_private(pem, (size_t) len, &key, &err),
                     IAMS_OK);
    BIO_free(bio);

    set = public_set_with_kid(key, NULL);
    t = build_token("{\"alg\":\"PS256\"}", CLAIMS, key, IAMS_ALG_PS256);

    /* salt as long as the hash, MGF1 with the same hash: what PS256 is */
    bad = pss_token(pkey, t, 32, "SHA256");
    assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL), IAMS_OK);
    free(bad);

    /* any other salt length or MGF1 hash is refused */
    bad = pss_token(pkey, t, 0, "SHA256");
    assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_BAD_SIGNATURE);
    free(bad);

    bad = pss_token(pkey, t, 20, "SHA256");
    assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_BAD_SIGNATURE);
    free(bad);

    bad = pss_token(pkey, t, RSA_PSS_SALTLEN_MAX, "SHA256");
    assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_BAD_SIGNATURE);
    free(bad);

    bad = pss_token(pkey, t, 32, "SHA1");
    assert_int_equal(parse_verify(bad, set, IAMS_ALG_SET_ALL, NULL),
                     IAMS_ERR_BAD_SIGNATURE);
    free(bad);

    /* our own PS256 signature has the same parameters */
    assert_int_equal(parse_verify(t, set, IAMS_ALG_SET_ALL, NULL), IAMS_OK);

    free(t);
    iams_jwks_free(set);
    iams_jwk_free(key);
    EVP_PKEY_free(pkey);
}


static int
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}


static void
test_sign_rules(void **state)
{
    char        *token;
    size_t       len;
    iams_jws     jws;
    iams_err     err;
    iams_jwk    *key;
    iams_jwks   *pub;
    static const unsigned char  payload[] = "{}";

    (void) state;

    key = iams_test_key_for_alg(IAMS_ALG_ES256);

    /* exact header: alg, then kid, then typ */
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_ES256, "k-1", "JWT", payload,
                                   2, &token, &len, &err), IAMS_OK);
    assert_true(starts_with(token, "eyJhbGciOiJFUzI1NiIsImtpZCI6ImstMSIsInR5"
                                   "cCI6IkpXVCJ9."));
    free(token);

    /* neither kid nor typ */
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_ES256, NULL, NULL, payload,
                                   2, &token, &len, &err), IAMS_OK);
    assert_true(starts_with(token, "eyJhbGciOiJFUzI1NiJ9.e30."));
    free(token);

    /* the wrong family or curve, or a public key */
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_ES384, NULL, NULL, payload,
                                   2, &token, &len, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    assert_null(token);
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_RS256, NULL, NULL, payload,
                                   2, &token, &len, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);

    pub = public_set_with_kid(key, "pub");
    assert_int_equal(iams_jws_sign(iams_jwks_get(pub, 0), IAMS_ALG_ES256,
                                   NULL, NULL, payload, 2, &token, &len,
                                   &err), IAMS_ERR_ALG_KEY_MISMATCH);
    iams_jwks_free(pub);
    iams_jwk_free(key);

    /* the key's kid goes into the header unless overridden */
    key = iams_test_private_key("{\"kty\":\"oct\",\"kid\":\"mine\",\"k\":"
                                "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
                                "Hh8\"}");
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_HS256, NULL, NULL, payload,
                                   2, &token, &len, &err), IAMS_OK);
    assert_int_equal(parse(token, &jws), IAMS_OK);
    assert_string_equal(jws.kid, "mine");
    assert_null(json_object_get(jws.header, "typ"));
    iams_jws_clear(&jws);
    free(token);

    assert_int_equal(iams_jws_sign(key, IAMS_ALG_HS256, "other", NULL,
                                   payload, 2, &token, &len, &err), IAMS_OK);
    assert_int_equal(parse(token, &jws), IAMS_OK);
    assert_string_equal(jws.kid, "other");
    iams_jws_clear(&jws);
    free(token);

    /* 32 octets: enough for HS256, too weak for HS384 and HS512 */
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_HS384, NULL, NULL, payload,
                                   2, &token, &len, &err), IAMS_ERR_KEY_WEAK);
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_HS512, NULL, NULL, payload,
                                   2, &token, &len, &err), IAMS_ERR_KEY_WEAK);

    /* kid must be UTF-8 */
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_HS256, "\xff", NULL,
                                   payload, 2, &token, &len, &err),
                     IAMS_ERR_INTERNAL);
    iams_jwk_free(key);

    /* key_ops without "sign" */
    key = iams_test_private_key("{\"kty\":\"oct\",\"key_ops\":[\"verify\"],"
                                "\"k\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"
                                "GxwdHh8\"}");
    assert_int_equal(iams_jws_sign(key, IAMS_ALG_HS256, NULL, NULL, payload,
                                   2, &token, &len, &err),
                     IAMS_ERR_ALG_KEY_MISMATCH);
    iams_jwk_free(key);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sign_verify_every_alg),
        cmocka_unit_test(test_parse_shape),
        cmocka_unit_test(test_bad_base64url_variants),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_alg_none_never_accepted),
        cmocka_unit_test(test_unsupported_alg),
        cmocka_unit_test(test_crit_rejected),
        cmocka_unit_test(test_embedded_keys_ignored),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_allowed_set_and_no_keys),
        cmocka_unit_test(test_key_metadata_filters),
        cmocka_unit_test(test_alg_key_confusion),
        cmocka_unit_test(test_weak_hmac_key_refused),
        cmocka_unit_test(test_signature_encodings),
        cmocka_unit_test(test_pss_parameters),
        cmocka_unit_test(test_sign_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
