/*
 * The browser side of login: User-Agent -> getQR source, the getQR URL,
 * the callback query, and return-URL validation (open redirects).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <iamsmart/platform.h>

#include "support/fixtures.h"

/* ---- User-Agent -> source ---- */

static void
test_source_from_user_agent(void **state)
{
    size_t  i;

    static const struct {
        const char   *ua;
        iams_source   src;
    } cases[] = {
        { "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
          IAMS_SOURCE_PC_BROWSER },
        { "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1."
          "15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
          IAMS_SOURCE_PC_BROWSER },
        { "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
          "Firefox/120.0", IAMS_SOURCE_PC_BROWSER },
        { "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/"
          "605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/"
          "604.1", IAMS_SOURCE_IOS_SAFARI },
        { "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/"
          "605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.109 Mobile/15E148 "
          "Safari/604.1", IAMS_SOURCE_IOS_CHROME },
        { "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/"
          "605.1.15 (KHTML, like Gecko) FxiOS/119.0 Mobile/15E148 Safari/"
          "605.1.15", IAMS_SOURCE_IOS_FIREFOX },
        { "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/"
          "605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/119.2151.65 "
          "Mobile/15E148 Safari/605.1.15", IAMS_SOURCE_IOS_EDGE },
        { "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
          IAMS_SOURCE_IOS_SAFARI },
        { "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/"
          "605.1.15 (KHTML, like Gecko) Mobile/15E148 iAMSmart/2.5.0",
          IAMS_SOURCE_IOS_IMS_INAPP },
        { "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like "
          "Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
          IAMS_SOURCE_ANDROID_CHROME },
        { "Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 "
          "Firefox/120.0", IAMS_SOURCE_ANDROID_FIREFOX },
        { "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like "
          "Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 EdgA/119.0.2151.78",
          IAMS_SOURCE_ANDROID_EDGE },
        { "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/"
          "537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 "
          "Mobile Safari/537.36", IAMS_SOURCE_ANDROID_SAMSUNG },
        { "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00) AppleWebKit/"
          "537.36 (KHTML, like Gecko) Version/4.0 Chrome/99.0.4844.88 "
          "HuaweiBrowser/14.0.5.302 Mobile Safari/537.36",
          IAMS_SOURCE_ANDROID_HUAWEI },
        { "Mozilla/5.0 (Linux; U; Android 13; zh-cn; 2211133C Build/TKQ1) "
          "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0 "
          "Mobile Safari/537.36 XiaoMi/MiuiBrowser/17.5.80428",
          IAMS_SOURCE_ANDROID_XIAOMI },
        { "Mozilla/5.0 (Linux; Android 13; Pixel 7; wv) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Version/4.0 Chrome/119.0 Mobile Safari/537.36 "
          "iAMSmart/2.5.0", IAMS_SOURCE_ANDROID_IMS_INAPP },
        { "MOZILLA/5.0 (LINUX; ANDROID 10) CHROME/119",
          IAMS_SOURCE_ANDROID_CHROME },
        { "curl/8.4.0", IAMS_SOURCE_PC_BROWSER },
        { "", IAMS_SOURCE_PC_BROWSER },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        iams_source  got = iams_source_from_user_agent(cases[i].ua,
                                                       strlen(cases[i].ua));

        if (got != cases[i].src) {
            fail_msg("UA %zu: got %s, want %s", i, iams_source_name(got),
                     iams_source_name(cases[i].src));
        }
    }

    assert_int_equal(iams_source_from_user_agent(NULL, 0),
                     IAMS_SOURCE_PC_BROWSER);

    /* the in-app marker beyond the examined prefix does not count */
    {
        char  *ua = malloc(IAMS_USER_AGENT_MAX + 64);

        memset(ua, 'x', IAMS_USER_AGENT_MAX + 64);
        memcpy(ua, "Mozilla/5.0 (Linux; Android 10)", 31);
        memcpy(ua + IAMS_USER_AGENT_MAX + 10, "iAMSmart", 8);
        assert_int_equal(iams_source_from_user_agent(ua,
                                                     IAMS_USER_AGENT_MAX + 64),
                         IAMS_SOURCE_ANDROID_CHROME);
        free(ua);
    }
}


static void
test_source_names_and_broker_page(void **state)
{
    int  i;

    (void) state;

    for (i = 0; i < IAMS_SOURCE_COUNT; i++) {
        const char  *name = iams_source_name((iams_source) i);

        assert_int_equal(iams_source_from_name(name, strlen(name)), i);
    }

    assert_string_equal(iams_source_name(IAMS_SOURCE_ANDROID_IMS_INAPP),
                        "Android_IMS_InAppBrowser");
    assert_string_equal(iams_source_name(IAMS_SOURCE_IOS_SAFARI),
                        "iOS_Safari");
    assert_string_equal(iams_source_name(IAMS_SOURCE_COUNT), "PC_Browser");
    assert_int_equal(iams_source_from_name(LIT("pc_browser")),
                     IAMS_SOURCE_COUNT);
    assert_int_equal(iams_source_from_name(LIT("PC_Browser ")),
                     IAMS_SOURCE_COUNT);

    assert_false(iams_source_broker_page(IAMS_SOURCE_PC_BROWSER));
    assert_true(iams_source_broker_page(IAMS_SOURCE_ANDROID_CHROME));
    assert_true(iams_source_broker_page(IAMS_SOURCE_ANDROID_XIAOMI));
    assert_true(iams_source_broker_page(IAMS_SOURCE_IOS_SAFARI));
    assert_true(iams_source_broker_page(IAMS_SOURCE_IOS_EDGE));
    assert_false(iams_source_broker_page(IAMS_SOURCE_ANDROID_IMS_INAPP));
    assert_false(iams_source_broker_page(IAMS_SOURCE_IOS_IMS_INAPP));
    assert_false(iams_source_broker_page(IAMS_SOURCE_APP_LINK));
}


/* ---- getQR ---- */

static iams_getqr_params
qr_params(void)
{
    iams_getqr_params  p;

    memset(&p, 0, sizeof(p));
    p.base_url = iams_test_span("https://sandbox.example:8443/");
    p.client_id = iams_test_span("client-1");
    p.redirect_uri = iams_test_span("https://gw.example/iamsmart/callback?a=1");
    p.scope = iams_test_span("eidapi_auth eidapi_profiles");
    p.lang = iams_test_span("zh-HK");
    p.state = iams_test_span("abcDEF_123-x");
    p.source = IAMS_SOURCE_ANDROID_CHROME;
    p.broker_page = 1;

    return p;
}


static void
test_getqr_url(void **state)
{
    char               *url, st1[IAMS_STATE_LEN + 1], st2[IAMS_STATE_LEN + 1];
    size_t              n, i;
    iams_err            err;
    iams_getqr_params   p;

    (void) state;

    p = qr_params();
    assert_int_equal(iams_getqr_url(&p, &url, &n, &err), IAMS_OK);
    assert_string_equal(url,
        "https://sandbox.example:8443/api/v1/auth/getQR"
        "?clientID=client-1&responseType=code&source=Android_Chrome"
        "&redirectURI=https%3A%2F%2Fgw.example%2Fiamsmart%2Fcallback%3Fa%3D1"
        "&scope=eidapi_auth%20eidapi_profiles&lang=zh-HK"
        "&state=abcDEF_123-x&brokerPage=true");
    assert_int_equal(n, strlen(url));
    free(url);

    p.lang = iams_test_span("");
    p.broker_page = 0;
    p.source = IAMS_SOURCE_PC_BROWSER;
    p.ticket_id = iams_test_span("T-1/2");
    p.base_url = iams_test_span("http://127.0.0.1:9000/prefix");
    assert_int_equal(iams_getqr_url(&p, &url, &n, &err), IAMS_OK);
    assert_string_equal(url,
        "http://127.0.0.1:9000/prefix/api/v1/auth/getQR"
        "?clientID=client-1&responseType=code&source=PC_Browser"
        "&redirectURI=https%3A%2F%2Fgw.example%2Fiamsmart%2Fcallback%3Fa%3D1"
        "&scope=eidapi_auth%20eidapi_profiles"
        "&state=abcDEF_123-x&brokerPage=false&ticketID=T-1%2F2");
    free(url);

    /* refusals */
    static const struct {
        const char  *field;
        const char  *value;
    } bad[] = {
        { "state", "" },
        { "state", "has.dot" },
        { "state", "0123456789012345678901234567890123456" },
        { "state", "a&b=c" },
        { "scope", "" },
        { "scope", "eidapi_auth  eidapi_profiles" },
        { "scope", " eidapi_auth" },
        { "scope", "eidapi_auth " },
        { "scope", "eidapi_auth&x=1" },
        { "lang", "fr-FR" },
        { "base", "ftp://sandbox.example" },
        { "base", "https://sandbox.example/?x=1" },
        { "base", "https://sandbox.example/#x" },
        { "base", "https://sand box.example" },
        { "redirect", "/relative" },
        { "redirect", "https://gw.example/cb#frag" },
        { "redirect", "https://gw.example/c\nb" },
        { "client", "" },
        { "client", "a b" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = qr_params();

        if (strcmp(bad[i].field, "state") == 0) {
            p.state = iams_test_span(bad[i].value);

        } else if (strcmp(bad[i].field, "scope") == 0) {
            p.scope = iams_test_span(bad[i].value);

        } else if (strcmp(bad[i].field, "lang") == 0) {
            p.lang = iams_test_span(bad[i].value);

        } else if (strcmp(bad[i].field, "base") == 0) {
            p.base_url = iams_test_span(bad[i].value);

        } else if (strcmp(bad[i].field, "redirect") == 0) {
            p.redirect_uri = iams_test_span(bad[i].value);

        } else {
            p.client_id = iams_test_span(bad[i].value);
        }

        if (iams_getqr_url(&p, &url, &n, &err) != IAMS_ERR_MALFORMED) {
            fail_msg("getQR %s \"%s\" accepted", bad[i].field, bad[i].value);
        }

        assert_null(url);
    }

    p = qr_params();
    p.source = IAMS_SOURCE_COUNT;
    assert_int_equal(iams_getqr_url(&p, &url, &n, &err), IAMS_ERR_MALFORMED);

    assert_int_equal(iams_state_generate(st1, &err), IAMS_OK);
    assert_int_equal(iams_state_generate(st2, &err), IAMS_OK);
    assert_int_equal(strlen(st1), IAMS_STATE_LEN);
    assert_true(iams_state_valid(st1, strlen(st1)));
    assert_string_not_equal(st1, st2);
    assert_false(iams_state_valid("", 0));
    assert_false(iams_state_valid("a b", 3));
}


/* ---- the callback query ---- */

static iams_status
callback(const char *q, iams_login_callback *cb)
{
    iams_err  err;

    return iams_login_callback_parse(q, strlen(q), cb, &err);
}


static void
test_login_callback(void **state)
{
    char                 big[5000], code[600], q[700];
    size_t               i;
    iams_login_callback  cb;

    (void) state;

    assert_int_equal(callback("code=abc.DEF_123&state=st_1", &cb), IAMS_OK);
    assert_false(cb.is_error);
    assert_string_equal(cb.code, "abc.DEF_123");
    assert_int_equal(cb.code_len, 11);
    assert_string_equal(cb.state, "st_1");
    assert_int_equal(cb.state_len, 4);

    /* percent-decoding, order, unknown names */
    assert_int_equal(callback("lang=en-US&state=st%5F1&foo&code=a%2Bb%2F%3d"
                              "&x=%zz", &cb), IAMS_OK);
    assert_string_equal(cb.code, "a+b/=");
    assert_string_equal(cb.state, "st_1");

    assert_int_equal(callback("error_code=D40000&state=st_1", &cb), IAMS_OK);
    assert_true(cb.is_error);
    assert_string_equal(cb.error_code, "D40000");
    assert_int_equal(cb.error_pcode, IAMS_PCODE_USER_CANCELLED);
    assert_string_equal(cb.code, "");

    assert_int_equal(callback("error_code=D40003", &cb), IAMS_OK);
    assert_true(cb.is_error);
    assert_int_equal(cb.error_pcode, IAMS_PCODE_AUTH_TIMEOUT);
    assert_string_equal(cb.state, "");

    memset(code, 'c', 512);
    code[512] = '\0';
    snprintf(q, sizeof(q), "code=%s&state=s", code);
    assert_int_equal(callback(q, &cb), IAMS_OK);
    assert_int_equal(cb.code_len, 512);

    static const char *const  bad[] = {
        "",
        "state=s",
        "code=x",
        "code=x&state=a&code=y",
        "code=x&state=a&state=a",
        "code=x&error_code=D40000&state=s",
        "code=x&state=bad.state",
        "code=x&state=",
        "code=&state=s",
        "code=x%2&state=s",
        "code=x%&state=s",
        "code=x+y&state=s",
        "code=x%20y&state=s",
        "code=%00&state=s",
        "code=x%0a&state=s",
        "code=%C3%A9&state=s",
        "code=x&state=s%26t",
        "error_code=X40000&state=s",
        "error_code=D4000&state=s",
        "error_code=D400000",
        "error_code=&state=s",
        "code=<script>&state=s",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (callback(bad[i], &cb) == IAMS_OK) {
            fail_msg("callback \"%s\" accepted", bad[i]);
        }

        assert_string_equal(cb.code, "");
        assert_string_equal(cb.state, "");
    }

    code[513] = '\0';
    code[512] = 'c';
    snprintf(q, sizeof(q), "code=%s&state=s", code);
    assert_int_equal(callback(q, &cb), IAMS_ERR_MALFORMED);

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "code=x&state=s&", 15);
    assert_int_equal(callback(big, &cb), IAMS_ERR_TOO_LARGE);

    q[0] = '\0';

    for (i = 0; i < 33; i++) {
        strcat(q, "a=1&");
    }

    strcat(q, "code=x&state=s");
    assert_int_equal(callback(q, &cb), IAMS_ERR_MALFORMED);
}


/* ---- return URL ---- */

static void
test_return_url(void **state)
{
    size_t    i;
    char      longp[IAMS_RETURN_URL_MAX + 2];
    iams_err  err;

    static const char *const  good[] = {
        "/",
        "/a",
        "/services/td/licence?id=42&x=y#top",
        "/path//double/slash",
        "/@evil.example",
        "/.well-known/x",
        "/a/../b",
        "/%2F%2Fevil.example",      /* stays an encoded path on this site */
        "/%5Cevil.example",
        "/%09/evil.example",
        "/javascript:alert(1)",     /* a path segment, not a scheme */
    };

    static const char *const  bad[] = {
        "",
        "a",
        "evil.example",
        "//evil.example",
        "//evil.example/path",
        "///evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "\\\\evil.example",
        "/a\\b",
        "https://evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "data:text/html,x",
        "/\t/evil.example",
        "\t//evil.example",
        "/\r\n//evil.example",
        "/ evil",
        " /a",
        "/a\x7f",
        "/\xc3\xa9",
    };

    (void) state;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (iams_return_url_check(good[i], strlen(good[i]), &err) != IAMS_OK) {
            fail_msg("return URL \"%s\" refused: %s", good[i], err.detail);
        }
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (iams_return_url_check(bad[i], strlen(bad[i]), &err)
            != IAMS_ERR_MALFORMED)
        {
            fail_msg("return URL %zu accepted", i);
        }
    }

    /* a NUL is a control character too, wherever it sits */
    assert_int_equal(iams_return_url_check("/a\0//evil", 9, &err),
                     IAMS_ERR_MALFORMED);

    longp[0] = '/';
    memset(longp + 1, 'a', sizeof(longp) - 1);
    assert_int_equal(iams_return_url_check(longp, IAMS_RETURN_URL_MAX, &err),
                     IAMS_OK);
    assert_int_equal(iams_return_url_check(longp, IAMS_RETURN_URL_MAX + 1,
                                           &err), IAMS_ERR_MALFORMED);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_source_from_user_agent),
        cmocka_unit_test(test_source_names_and_broker_page),
        cmocka_unit_test(test_getqr_url),
        cmocka_unit_test(test_login_callback),
        cmocka_unit_test(test_return_url),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
