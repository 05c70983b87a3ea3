/*
 * Status strings, strict base64/base64url and the bounded JSON parser.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <iamsmart/encoding.h>


static void
test_status_strings_exact(void **state)
{
    static const struct {
        iams_status  status;
        const char  *text;
    } expected[] = {
        { IAMS_ERR_MALFORMED, "malformed token" },
        { IAMS_ERR_TOO_LARGE, "token too large" },
        { IAMS_ERR_ALG_NONE, "alg none not accepted" },
        { IAMS_ERR_ALG_UNSUPPORTED, "unsupported alg" },
        { IAMS_ERR_ALG_NOT_ALLOWED, "alg not allowed" },
        { IAMS_ERR_ALG_KEY_MISMATCH, "alg not allowed for key" },
        { IAMS_ERR_CRIT, "unsupported crit header" },
        { IAMS_ERR_UNKNOWN_KID, "unknown kid" },
        { IAMS_ERR_NO_KEY, "no usable key" },
        { IAMS_ERR_BAD_SIGNATURE, "bad signature" },
        { IAMS_ERR_EXPIRED, "token expired" },
        { IAMS_ERR_NOT_YET_VALID, "token not yet valid" },
        { IAMS_ERR_IAT_FUTURE, "token issued in the future" },
        { IAMS_ERR_BAD_ISSUER, "wrong issuer" },
        { IAMS_ERR_BAD_AUDIENCE, "wrong audience" },
        { IAMS_ERR_BAD_CLAIM, "invalid claim" },
        { IAMS_ERR_KEY_INVALID, "invalid key" },
        { IAMS_ERR_KEY_WEAK, "key too weak" },
        { IAMS_ERR_KEY_DUPLICATE_KID, "duplicate kid" },
        { IAMS_ERR_JSON, "invalid JSON" },
        { IAMS_ERR_IO, "I/O error" },
        { IAMS_ERR_NOMEM, "out of memory" },
        { IAMS_ERR_INTERNAL, "internal error" },
    };
    size_t  i;

    (void) state;

    /* every code but IAMS_OK is listed once */
    assert_int_equal(sizeof(expected) / sizeof(expected[0]),
                     IAMS_STATUS_COUNT - 1);

    for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        assert_string_equal(iams_status_str(expected[i].status),
                            expected[i].text);
    }

    assert_non_null(iams_status_str(IAMS_OK));
    assert_non_null(iams_status_str(IAMS_STATUS_COUNT));
    assert_non_null(iams_status_str((iams_status) -1));
}


static void
test_err_set(void **state)
{
    iams_err  err;
    char      longer[400];

    (void) state;

    assert_int_equal(iams_err_set(&err, IAMS_ERR_IO, "x=%d", 42),
                     IAMS_ERR_IO);
    assert_int_equal(err.status, IAMS_ERR_IO);
    assert_string_equal(err.detail, "x=42");

    assert_int_equal(iams_err_set(NULL, IAMS_ERR_JSON, "ignored"),
                     IAMS_ERR_JSON);

    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    iams_err_set(&err, IAMS_ERR_INTERNAL, "%s", longer);
    assert_int_equal(strlen(err.detail), IAMS_ERR_DETAIL_MAX - 1);
}


/* RFC 4648 section 10, without padding. */
static void
test_b64url_rfc4648(void **state)
{
    static const char  *plain[] = {
        "", "f", "fo", "foo", "foob", "fooba", "foobar"
    };
    static const char  *url[] = {
        "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"
    };
    static const char  *std[] = {
        "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"
    };
    char            out[16];
    size_t          i, n, len;
    unsigned char   dec[16];

    (void) state;

    for (i = 0; i < 7; i++) {
        n = strlen(plain[i]);

        assert_int_equal(iams_b64url_encoded_len(n), strlen(url[i]));
        len = iams_b64url_encode((const unsigned char *) plain[i], n, out);
        assert_int_equal(len, strlen(url[i]));
        assert_memory_equal(out, url[i], len);

        assert_int_equal(iams_b64url_decode(url[i], strlen(url[i]), dec,
                                            sizeof(dec), &len), IAMS_OK);
        assert_int_equal(len, n);
        assert_memory_equal(dec, plain[i], n);
        assert_true(iams_b64url_decoded_max(strlen(url[i])) >= n);

        assert_int_equal(iams_b64_encoded_len(n), strlen(std[i]));
        len = iams_b64_encode((const unsigned char *) plain[i], n, out);
        assert_int_equal(len, strlen(std[i]));
        assert_memory_equal(out, std[i], len);

        assert_int_equal(iams_b64_decode(std[i], strlen(std[i]), dec,
                                         sizeof(dec), &len), IAMS_OK);
        assert_int_equal(len, n);
        assert_memory_equal(dec, plain[i], n);
    }
}


static void
test_b64url_alphabet_and_round_trip(void **state)
{
    char            enc[400];
    size_t          n, len, elen;
    unsigned char   in[256], out[256];

    (void) state;

    for (n = 0; n < 256; n++) {
        in[n] = (unsigned char) (255 - n);
    }

    for (n = 0; n <= 256; n++) {
        elen = iams_b64url_encode(in, n, enc);
        assert_int_equal(elen, iams_b64url_encoded_len(n));
        assert_null(memchr(enc, '=', elen));
        assert_null(memchr(enc, '+', elen));
        assert_null(memchr(enc, '/', elen));

        assert_int_equal(iams_b64url_decode(enc, elen, out, sizeof(out),
                                            &len), IAMS_OK);
        assert_int_equal(len, n);
        assert_memory_equal(in, out, n);

        elen = iams_b64_encode(in, n, enc);
        assert_int_equal(iams_b64_decode(enc, elen, out, sizeof(out), &len),
                         IAMS_OK);
        assert_int_equal(len, n);
        assert_memory_equal(in, out, n);
    }

    /* "-_" are 62 and 63 */
    assert_int_equal(iams_b64url_decode("-_-_", 4, out, sizeof(out), &len),
                     IAMS_OK);
    assert_int_equal(len, 3);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(out[2], 0xbf);
}


static void
test_b64url_rejects_non_canonical(void **state)
{
    static const char  *bad[] = {
        "Zg==",         /* padding */
        "Zg=",
        "Zm9v=",
        "Z",            /* length 1 mod 4 */
        "Zm9vY",
        "Zm+v",         /* standard alphabet */
        "Zm/v",
        "Zm9v ",        /* whitespace */
        " Zm9v",
        "Zm\n9v",
        "Zm9v\t",
        "Zh",           /* non-zero trailing bits (canonical is "Zg") */
        "Zm9",          /* canonical "Zm8" */
        "Zm9vYh",
        "Zm9vYmF",
        "Zm.v",
        "Zm9\x80",
    };
    size_t          i, len;
    unsigned char   out[16];

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        len = 99;
        assert_int_equal(iams_b64url_decode(bad[i], strlen(bad[i]), out,
                                            sizeof(out), &len),
                         IAMS_ERR_MALFORMED);
        assert_int_equal(len, 0);
    }

    /* an embedded NUL is not in the alphabet either */
    assert_int_equal(iams_b64url_decode("Zm\0v", 4, out, sizeof(out), &len),
                     IAMS_ERR_MALFORMED);
}


static void
test_b64url_capacity(void **state)
{
    size_t          len;
    unsigned char   out[3];

    (void) state;

    assert_int_equal(iams_b64url_decode("Zm9vYg", 6, out, 3, &len),
                     IAMS_ERR_TOO_LARGE);
    assert_int_equal(iams_b64url_decode("Zm9v", 4, out, 2, &len),
                     IAMS_ERR_TOO_LARGE);
    assert_int_equal(iams_b64url_decode("Zm9v", 4, out, 3, &len), IAMS_OK);
    assert_int_equal(len, 3);
    assert_int_equal(iams_b64url_decode("", 0, out, 0, &len), IAMS_OK);
    assert_int_equal(len, 0);
}


static void
test_b64_std_rejects_non_canonical(void **state)
{
    static const char  *bad[] = {
        "Zg",           /* padding missing */
        "Zm8",
        "Zg=",
        "Zg===",
        "====",
        "Z===",
        "Zm=v",         /* padding inside */
        "Zg==Zg==",
        "Zh==",         /* non-zero trailing bits */
        "Zm9=",
        "Zm-v",         /* url alphabet */
        "Zm_v",
        "Zm9v\n",
    };
    size_t          i, len;
    unsigned char   out[16];

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(iams_b64_decode(bad[i], strlen(bad[i]), out,
                                         sizeof(out), &len),
                         IAMS_ERR_MALFORMED);
    }

    assert_int_equal(iams_b64_decode("Zm9vYg==", 8, out, 3, &len),
                     IAMS_ERR_TOO_LARGE);
}


static char *
nested(size_t depth, char open, char close)
{
    char    *s;
    size_t   i;

    s = malloc(2 * depth + 1);
    assert_non_null(s);

    for (i = 0; i < depth; i++) {
        s[i] = open;
        s[2 * depth - 1 - i] = close;
    }

    s[2 * depth] = '\0';

    return s;
}


static void
test_json_depth_limit(void **state)
{
    char      *s, *obj;
    json_t    *v;
    iams_err   err;
    size_t     i, n;

    (void) state;

    s = nested(IAMS_JSON_MAX_DEPTH, '[', ']');
    v = iams_json_parse(s, strlen(s), 4096, &err);
    assert_non_null(v);
    json_decref(v);
    free(s);

    s = nested(IAMS_JSON_MAX_DEPTH + 1, '[', ']');
    assert_null(iams_json_parse(s, strlen(s), 4096, &err));
    assert_int_equal(err.status, IAMS_ERR_JSON);
    free(s);

    /* depth counts objects too: {"a":{"a":...}} */
    obj = malloc(8 * (IAMS_JSON_MAX_DEPTH + 2));
    assert_non_null(obj);

    for (n = IAMS_JSON_MAX_DEPTH; n <= IAMS_JSON_MAX_DEPTH + 1; n++) {
        obj[0] = '\0';

        for (i = 0; i < n; i++) {
            strcat(obj, i + 1 < n ? "{\"a\":" : "{}");
        }

        for (i = 1; i < n; i++) {
            strcat(obj, "}");
        }

        v = iams_json_parse(obj, strlen(obj), 4096, &err);

        if (n == IAMS_JSON_MAX_DEPTH) {
            assert_non_null(v);
            json_decref(v);

        } else {
            assert_null(v);
            assert_int_equal(err.status, IAMS_ERR_JSON);
        }
    }

    free(obj);

    /* brackets inside strings, escaped quotes included, do not count */
    s = malloc(64 + 2 * 40);
    assert_non_null(s);
    strcpy(s, "[\"\\\"");
    for (i = 0; i < 40; i++) {
        strcat(s, "[{");
    }
    strcat(s, "\"]");
    v = iams_json_parse(s, strlen(s), 4096, &err);
    assert_non_null(v);
    json_decref(v);
    free(s);
}


static void
test_json_rejections(void **state)
{
    static const char  *bad[] = {
        "{\"a\":1,\"a\":2}",        /* duplicate key */
        "{\"a\":1} x",              /* trailing data */
        "{\"a\":1}{}",
        "[1,]",
        "{\"a\":\"\\u0000\"}",      /* NUL in a string */
        "",
        "{'a':1}",
        "{\"a\":1",
    };
    size_t     i;
    json_t    *v;
    iams_err   err;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.status = IAMS_OK;
        assert_null(iams_json_parse(bad[i], strlen(bad[i]), 4096, &err));
        assert_int_equal(err.status, IAMS_ERR_JSON);
    }

    /* a raw NUL byte inside the length */
    assert_null(iams_json_parse("{\"a\":1}\0", 8, 4096, &err));
    assert_int_equal(err.status, IAMS_ERR_JSON);

    /* the detail gives the position, never the offending text */
    assert_null(iams_json_parse("{\"a\":secretvalue}", 17, 4096, &err));
    assert_null(strstr(err.detail, "secret"));

    /* trailing whitespace is fine; scalars decode (JSON_DECODE_ANY) */
    v = iams_json_parse("{\"a\":1}  \n", 10, 4096, &err);
    assert_non_null(v);
    json_decref(v);

    v = iams_json_parse("42", 2, 4096, &err);
    assert_non_null(v);
    assert_true(json_is_integer(v));
    json_decref(v);
}


static void
test_json_size_and_object(void **state)
{
    json_t    *v;
    iams_err   err;

    (void) state;

    assert_null(iams_json_parse("{\"a\":1}", 7, 6, &err));
    assert_int_equal(err.status, IAMS_ERR_TOO_LARGE);

    v = iams_json_parse("{\"a\":1}", 7, 7, &err);
    assert_non_null(v);
    json_decref(v);

    assert_null(iams_json_parse_object("[1]", 3, 100, &err));
    assert_int_equal(err.status, IAMS_ERR_JSON);

    assert_null(iams_json_parse_object("\"s\"", 3, 100, &err));
    assert_int_equal(err.status, IAMS_ERR_JSON);

    /* parses exactly len bytes: a longer buffer is not read past it */
    v = iams_json_parse_object("{\"a\":1}garbage", 7, 100, &err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);

    assert_null(iams_json_parse_object("{\"a\":1}garbage", 8, 100, NULL));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_status_strings_exact),
        cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_b64url_rfc4648),
        cmocka_unit_test(test_b64url_alphabet_and_round_trip),
        cmocka_unit_test(test_b64url_rejects_non_canonical),
        cmocka_unit_test(test_b64url_capacity),
        cmocka_unit_test(test_b64_std_rejects_non_canonical),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_json_rejections),
        cmocka_unit_test(test_json_size_and_object),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
