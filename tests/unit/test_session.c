/*
 * Session ids, cookies, Redis keys, and the sealed session record.
 *
 * The Redis key and log hash known answers were computed with Python's
 * hmac and hashlib from the construction in session.h (master secret
 * bytes 0x01..0x20, session id 32 bytes of 0xab, prefix "iamsmart:").
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/sealed.h>
#include <iamsmart/session.h>

#include "support/fixtures.h"

#define MASTER_A    "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define MASTER_B    "yHk0m2rV8w3Q6T1eZp9J4sXbN7cL5aFgUoRiEdKtWlM="
#define COOKIE_AB   "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s"
#define REDIS_AB    "iamsmart:sess:v1:fd7bfebd62af88081ddf57634618bda159" \
                    "27e4832e07f2cdb0520900edd10dcb"
#define HASH_AB     "196a70b7ce82"

#define T0          1700000000        /* login time */
#define IDLE        1800
#define LIFETIME    (8 * 3600)


static void
redis_key(const iams_keyring *kr, iams_key_slot slot,
    const iams_session_id *id, char *out)
{
    size_t    n;
    iams_err  err;

    if (iams_session_redis_key(kr, slot, "iamsmart:", 9, id, out,
                               IAMS_SESSION_KEY_MAX + 1, &n, &err)
        != IAMS_OK)
    {
        fail_msg("redis key: %s", err.detail);
    }

    assert_int_equal(n, strlen(out));
}


static iams_session *
new_session(void)
{
    iams_err            err;
    iams_session       *s;
    iams_session_init   init;

    memset(&init, 0, sizeof(init));
    init.open_id = "oid-7f3a9c2e";
    init.open_id_len = strlen(init.open_id);
    init.scope = "eidapi_auth eidapi_profiles";
    init.scope_len = strlen(init.scope);
    init.acr = "iamsmart";
    init.acr_len = strlen(init.acr);
    init.access_token = "at-0123456789abcdef";
    init.access_token_len = strlen(init.access_token);
    init.token_expires_at = T0 + 7200;
    init.now = T0;
    init.idle_timeout = IDLE;
    init.max_lifetime = LIFETIME;

    if (iams_session_new(&init, &s, &err) != IAMS_OK) {
        fail_msg("new session: %s", err.detail);
    }

    return s;
}


/* ---- ids and cookies ---- */

static void
test_session_id_cookie(void **state)
{
    char             c1[IAMS_SESSION_COOKIE_LEN + 1];
    char             c2[IAMS_SESSION_COOKIE_LEN + 1];
    size_t           i;
    iams_err         err;
    iams_session_id  a, b, back;

    (void) state;

    assert_int_equal(iams_session_id_generate(&a, &err), IAMS_OK);
    assert_int_equal(iams_session_id_generate(&b, &err), IAMS_OK);
    assert_memory_not_equal(a.bytes, b.bytes, IAMS_SESSION_ID_LEN);

    iams_session_id_to_cookie(&a, c1);
    iams_session_id_to_cookie(&b, c2);
    assert_int_equal(strlen(c1), IAMS_SESSION_COOKIE_LEN);
    assert_string_not_equal(c1, c2);

    for (i = 0; i < IAMS_SESSION_COOKIE_LEN; i++) {
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                               "tuvwxyz0123456789-_", c1[i]));
    }

    assert_int_equal(iams_session_id_from_cookie(c1, strlen(c1), &back,
                                                 &err), IAMS_OK);
    assert_memory_equal(back.bytes, a.bytes, IAMS_SESSION_ID_LEN);

    memset(a.bytes, 0xab, sizeof(a.bytes));
    iams_session_id_to_cookie(&a, c1);
    assert_string_equal(c1, COOKIE_AB);

    iams_session_id_clear(&a);
    assert_int_equal(a.bytes[0], 0);
}


static void
test_session_cookie_strict(void **state)
{
    size_t           i;
    iams_err         err;
    iams_session_id  id;

    static const char *const  bad[] = {
        "",
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6",      /* 42 */
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6sA",    /* 44 */
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",    /* padded */
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6t",     /* low bits */
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq+s",     /* base64 + */
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq/s",     /* base64 / */
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq s",     /* space */
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq.s",
        "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq%s",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (iams_session_id_from_cookie(bad[i], strlen(bad[i]), &id, &err)
            != IAMS_ERR_MALFORMED)
        {
            fail_msg("cookie %zu accepted", i);
        }
    }

    /* a NUL inside is just another bad byte */
    assert_int_equal(iams_session_id_from_cookie(
                         "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq\0s", 43,
                         &id, &err), IAMS_ERR_MALFORMED);

    assert_int_equal(iams_session_id_from_cookie(COOKIE_AB, 43, &id, &err),
                     IAMS_OK);
    assert_int_equal(id.bytes[31], 0xab);
}


static void
test_session_redis_key(void **state)
{
    char             k1[IAMS_SESSION_KEY_MAX + 1];
    char             k2[IAMS_SESSION_KEY_MAX + 1];
    char             h[IAMS_SESSION_HASH_LEN + 1];
    char             small[40], longp[IAMS_REDIS_PREFIX_MAX + 2];
    size_t           n;
    iams_err         err;
    iams_keyring    *a, *rotated;
    iams_session_id  id;

    (void) state;

    a = iams_test_keyring("current " MASTER_A "\n");
    rotated = iams_test_keyring("current " MASTER_B "\n"
                                "previous " MASTER_A "\n");
    memset(id.bytes, 0xab, sizeof(id.bytes));

    redis_key(a, IAMS_KEY_CURRENT, &id, k1);
    assert_string_equal(k1, REDIS_AB);

    /* no trace of the cookie in the key */
    assert_null(strstr(k1, COOKIE_AB));
    assert_null(strstr(k1, "abababab"));

    iams_session_log_hash(k1, strlen(k1), h);
    assert_string_equal(h, HASH_AB);

    /* after rotation the old key is the "previous" one */
    redis_key(rotated, IAMS_KEY_PREVIOUS, &id, k2);
    assert_string_equal(k2, REDIS_AB);
    redis_key(rotated, IAMS_KEY_CURRENT, &id, k2);
    assert_string_not_equal(k2, REDIS_AB);

    assert_int_equal(iams_session_redis_key(a, IAMS_KEY_PREVIOUS,
                                            "iamsmart:", 9, &id, k1,
                                            sizeof(k1), &n, &err),
                     IAMS_ERR_NO_KEY);
    assert_int_equal(iams_session_redis_key(a, IAMS_KEY_CURRENT, "a b", 3,
                                            &id, k1, sizeof(k1), &n, &err),
                     IAMS_ERR_MALFORMED);
    memset(longp, 'p', sizeof(longp));
    assert_int_equal(iams_session_redis_key(a, IAMS_KEY_CURRENT, longp,
                                            sizeof(longp), &id, k1,
                                            sizeof(k1), &n, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_session_redis_key(a, IAMS_KEY_CURRENT, "x:", 2,
                                            &id, small, sizeof(small), &n,
                                            &err), IAMS_ERR_TOO_LARGE);

    /* an empty prefix is allowed */
    assert_int_equal(iams_session_redis_key(a, IAMS_KEY_CURRENT, "", 0, &id,
                                            k1, sizeof(k1), &n, &err),
                     IAMS_OK);
    assert_int_equal(n, 8 + 64);

    iams_keyring_free(a);
    iams_keyring_free(rotated);
}


/* ---- the record ---- */

static void
test_session_new_and_validation(void **state)
{
    iams_err            err;
    iams_session       *s;
    iams_session_init   init;

    (void) state;

    s = new_session();
    assert_string_equal(s->open_id, "oid-7f3a9c2e");
    assert_string_equal(s->user_type, "");
    assert_int_equal(s->created, T0);
    assert_int_equal(s->last_seen, T0);
    assert_int_equal(s->auth_time, T0);
    assert_int_equal(s->expires_at, T0 + LIFETIME);
    assert_int_equal(s->namr, 1);
    assert_string_equal(s->amr[0].method, "fido");
    assert_int_equal(iams_session_amr_time(s, "fido"), T0);
    iams_session_free(s);

    memset(&init, 0, sizeof(init));
    init.open_id = "oid";
    init.open_id_len = 3;
    init.access_token = "tok";
    init.access_token_len = 3;
    init.now = T0;
    init.idle_timeout = IDLE;
    init.max_lifetime = LIFETIME;
    assert_int_equal(iams_session_new(&init, &s, &err), IAMS_OK);
    iams_session_free(s);

    init.open_id_len = 0;
    assert_int_equal(iams_session_new(&init, &s, &err), IAMS_ERR_MALFORMED);
    assert_null(s);
    init.open_id = "oid\n1";
    init.open_id_len = 5;
    assert_int_equal(iams_session_new(&init, &s, &err), IAMS_ERR_MALFORMED);
    init.open_id = "oid";
    init.open_id_len = 3;
    init.access_token = "tok en";
    init.access_token_len = 6;
    assert_int_equal(iams_session_new(&init, &s, &err), IAMS_ERR_MALFORMED);
    init.access_token = "tok";
    init.access_token_len = 3;
    init.idle_timeout = 0;
    assert_int_equal(iams_session_new(&init, &s, &err), IAMS_ERR_MALFORMED);
    init.idle_timeout = IDLE;
    init.max_lifetime = IAMS_SESSION_TIMEOUT_MAX + 1;
    assert_int_equal(iams_session_new(&init, &s, &err), IAMS_ERR_MALFORMED);
}


static void
test_session_expiry_math(void **state)
{
    int64_t        ttl;
    iams_session  *s;

    (void) state;

    s = new_session();

    /* fresh: the idle window is the shorter one */
    assert_int_equal(iams_session_ttl(s, T0), IDLE);
    assert_int_equal(iams_session_touch(s, T0 + 100, &ttl),
                     IAMS_SESSION_LIVE);
    assert_int_equal(s->last_seen, T0 + 100);
    assert_int_equal(ttl, IDLE);

    /* the clock going back never moves last_seen back */
    assert_int_equal(iams_session_touch(s, T0 + 50, &ttl),
                     IAMS_SESSION_LIVE);
    assert_int_equal(s->last_seen, T0 + 100);
    assert_int_equal(ttl, IDLE + 50);

    /* one second before the idle limit is still live */
    assert_int_equal(iams_session_touch(s, T0 + 100 + IDLE - 1, &ttl),
                     IAMS_SESSION_LIVE);
    assert_int_equal(ttl, IDLE);

    /* stay active until near the absolute end: the TTL shrinks to it */
    for (int64_t t = T0 + 1000; t < T0 + LIFETIME - 600; t += 1000) {
        assert_int_equal(iams_session_touch(s, t, &ttl), IAMS_SESSION_LIVE);
    }

    assert_int_equal(iams_session_touch(s, T0 + LIFETIME - 600, &ttl),
                     IAMS_SESSION_LIVE);
    assert_int_equal(ttl, 600);
    assert_int_equal(iams_session_touch(s, T0 + LIFETIME - 1, &ttl),
                     IAMS_SESSION_LIVE);
    assert_int_equal(ttl, 1);

    /* absolute expiry wins, whatever the activity */
    assert_int_equal(iams_session_touch(s, T0 + LIFETIME, &ttl),
                     IAMS_SESSION_ABSOLUTE_EXPIRED);
    assert_int_equal(ttl, 0);
    assert_int_equal(s->last_seen, T0 + LIFETIME - 1);
    assert_string_equal(iams_session_state_str(IAMS_SESSION_ABSOLUTE_EXPIRED),
                        "absolute expiry");
    iams_session_free(s);

    /* idle expiry: exactly idle_timeout after the last request */
    s = new_session();
    assert_int_equal(iams_session_touch(s, T0 + 10, NULL), IAMS_SESSION_LIVE);
    assert_int_equal(iams_session_touch(s, T0 + 10 + IDLE, &ttl),
                     IAMS_SESSION_IDLE_EXPIRED);
    assert_int_equal(ttl, 0);
    assert_int_equal(s->last_seen, T0 + 10);
    assert_int_equal(iams_session_ttl(s, T0 + 10 + IDLE), 0);
    iams_session_free(s);
}


static void
test_session_amr(void **state)
{
    iams_err       err;
    iams_session  *s;

    (void) state;

    s = new_session();

    assert_int_equal(iams_session_amr_time(s, "fr"), 0);
    assert_false(iams_session_amr_fresh(s, "fr", 600, T0 + 10));

    assert_int_equal(iams_session_add_amr(s, "fr", T0 + 100, &err), IAMS_OK);
    assert_int_equal(s->namr, 2);
    assert_int_equal(iams_session_amr_time(s, "fr"), T0 + 100);
    assert_true(iams_session_amr_fresh(s, "fr", 600, T0 + 700));
    assert_false(iams_session_amr_fresh(s, "fr", 600, T0 + 701));
    assert_false(iams_session_amr_fresh(s, "fr", 600, T0 + 99));

    /* a second step-up refreshes the time, no duplicate entry */
    assert_int_equal(iams_session_add_amr(s, "fr", T0 + 900, &err), IAMS_OK);
    assert_int_equal(s->namr, 2);
    assert_true(iams_session_amr_fresh(s, "fr", 600, T0 + 1400));

    assert_int_equal(iams_session_add_amr(s, "FR", T0, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_session_add_amr(s, "", T0, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_session_add_amr(s, "a_very_long_method", T0, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_session_add_amr(s, "nfc", T0, &err), IAMS_OK);
    assert_int_equal(iams_session_add_amr(s, "pin", T0, &err), IAMS_OK);
    assert_int_equal(iams_session_add_amr(s, "otp", T0, &err),
                     IAMS_ERR_TOO_LARGE);

    iams_session_free(s);
}


static void
assert_same_session(const iams_session *a, const iams_session *b)
{
    size_t  i;

    assert_string_equal(a->open_id, b->open_id);
    assert_string_equal(a->scope, b->scope);
    assert_string_equal(a->acr, b->acr);
    assert_string_equal(a->user_type, b->user_type);
    assert_string_equal(a->access_token, b->access_token);
    assert_int_equal(a->token_expires_at, b->token_expires_at);
    assert_int_equal(a->auth_time, b->auth_time);
    assert_int_equal(a->created, b->created);
    assert_int_equal(a->last_seen, b->last_seen);
    assert_int_equal(a->idle_timeout, b->idle_timeout);
    assert_int_equal(a->expires_at, b->expires_at);
    assert_int_equal(a->namr, b->namr);

    for (i = 0; i < a->namr; i++) {
        assert_string_equal(a->amr[i].method, b->amr[i].method);
        assert_int_equal(a->amr[i].time, b->amr[i].time);
    }
}


static void
test_session_encode_decode(void **state)
{
    char             key[IAMS_SESSION_KEY_MAX + 1];
    char            *enc;
    size_t           n;
    iams_err         err;
    iams_keyring    *kr;
    iams_session    *s, *back;
    iams_session_id  id;

    (void) state;

    kr = iams_test_keyring("current " MASTER_A "\n");
    assert_int_equal(iams_session_id_generate(&id, &err), IAMS_OK);
    redis_key(kr, IAMS_KEY_CURRENT, &id, key);

    s = new_session();
    assert_int_equal(iams_session_add_amr(s, "fr", T0 + 60, &err), IAMS_OK);
    assert_int_equal(iams_session_touch(s, T0 + 120, NULL),
                     IAMS_SESSION_LIVE);

    assert_int_equal(iams_session_encode(s, kr, key, strlen(key), &enc, &n,
                                         &err), IAMS_OK);
    assert_int_equal(n, strlen(enc));
    assert_memory_equal(enc, "v1.", 3);

    /* nothing readable at rest */
    assert_null(strstr(enc, "at-0123456789abcdef"));
    assert_null(strstr(enc, "oid-7f3a9c2e"));

    assert_int_equal(iams_session_decode(kr, key, strlen(key), enc, n, &back,
                                         &err), IAMS_OK);
    assert_same_session(s, back);

    iams_session_free(back);
    iams_session_free(s);
    free(enc);
    iams_keyring_free(kr);
}


static void
test_session_clone(void **state)
{
    iams_err       err;
    iams_session  *s, *c;

    (void) state;

    s = new_session();
    assert_int_equal(iams_session_add_amr(s, "fr", T0 + 60, &err), IAMS_OK);

    assert_int_equal(iams_session_clone(s, &c, &err), IAMS_OK);
    assert_same_session(s, c);

    /* nothing shared: the copy lives on when the original goes */
    assert_ptr_not_equal(c->open_id, s->open_id);
    assert_ptr_not_equal(c->access_token, s->access_token);
    assert_int_equal(iams_session_touch(c, T0 + 300, NULL),
                     IAMS_SESSION_LIVE);
    assert_int_equal(s->last_seen, T0);
    iams_session_free(s);

    assert_string_equal(c->access_token, "at-0123456789abcdef");
    assert_int_equal(c->last_seen, T0 + 300);
    iams_session_free(c);
}


static void
test_session_rotation(void **state)
{
    char             key_old[IAMS_SESSION_KEY_MAX + 1];
    char             key_prev[IAMS_SESSION_KEY_MAX + 1];
    char            *enc;
    size_t           n;
    iams_err         err;
    iams_keyring    *old, *rotated, *dropped;
    iams_session    *s, *back;
    iams_session_id  id;

    (void) state;

    old = iams_test_keyring("current " MASTER_A "\n");
    rotated = iams_test_keyring("current " MASTER_B "\n"
                                "previous " MASTER_A "\n");
    dropped = iams_test_keyring("current " MASTER_B "\n");

    assert_int_equal(iams_session_id_generate(&id, &err), IAMS_OK);
    redis_key(old, IAMS_KEY_CURRENT, &id, key_old);

    s = new_session();
    assert_int_equal(iams_session_encode(s, old, key_old, strlen(key_old),
                                         &enc, &n, &err), IAMS_OK);

    /* after the rotation the session is found under the previous key ... */
    redis_key(rotated, IAMS_KEY_PREVIOUS, &id, key_prev);
    assert_string_equal(key_prev, key_old);

    /* ... and the record opens with the previous secret */
    assert_int_equal(iams_session_decode(rotated, key_prev, strlen(key_prev),
                                         enc, n, &back, &err), IAMS_OK);
    assert_same_session(s, back);
    iams_session_free(back);

    /* once the previous secret is dropped, it does not */
    assert_int_equal(iams_session_decode(dropped, key_prev, strlen(key_prev),
                                         enc, n, &back, &err),
                     IAMS_ERR_UNKNOWN_KID);
    assert_null(back);

    free(enc);
    iams_session_free(s);
    iams_keyring_free(old);
    iams_keyring_free(rotated);
    iams_keyring_free(dropped);
}


static void
test_session_tamper_and_move(void **state)
{
    char             key1[IAMS_SESSION_KEY_MAX + 1];
    char             key2[IAMS_SESSION_KEY_MAX + 1];
    char            *enc, *big;
    size_t           n, i;
    iams_err         err;
    iams_keyring    *kr;
    iams_session    *s, *back;
    iams_session_id  id1, id2;

    (void) state;

    kr = iams_test_keyring("current " MASTER_A "\n");
    assert_int_equal(iams_session_id_generate(&id1, &err), IAMS_OK);
    assert_int_equal(iams_session_id_generate(&id2, &err), IAMS_OK);
    redis_key(kr, IAMS_KEY_CURRENT, &id1, key1);
    redis_key(kr, IAMS_KEY_CURRENT, &id2, key2);

    s = new_session();
    assert_int_equal(iams_session_encode(s, kr, key1, strlen(key1), &enc, &n,
                                         &err), IAMS_OK);

    /* copied under another session's key: refused */
    assert_int_equal(iams_session_decode(kr, key2, strlen(key2), enc, n,
                                         &back, &err),
                     IAMS_ERR_BAD_SIGNATURE);
    assert_null(back);

    /* any flipped character in the ciphertext part */
    for (i = 12; i < n; i += 7) {
        char  c = enc[i];

        enc[i] = c == 'x' ? 'y' : 'x';
        assert_int_not_equal(iams_session_decode(kr, key1, strlen(key1), enc,
                                                 n, &back, &err), IAMS_OK);
        assert_null(back);
        enc[i] = c;
    }

    /* bounded before any work */
    big = malloc(IAMS_SESSION_SEALED_MAX + 1);
    memset(big, 'A', IAMS_SESSION_SEALED_MAX + 1);
    memcpy(big, enc, 12);
    assert_int_equal(iams_session_decode(kr, key1, strlen(key1), big,
                                         IAMS_SESSION_SEALED_MAX + 1, &back,
                                         &err), IAMS_ERR_TOO_LARGE);
    free(big);

    assert_int_equal(iams_session_decode(kr, key1, strlen(key1), "", 0,
                                         &back, &err), IAMS_ERR_MALFORMED);

    free(enc);
    iams_session_free(s);
    iams_keyring_free(kr);
}


/* Records sealed correctly but with bad contents must still be refused. */
static void
test_session_bad_contents(void **state)
{
    char           *enc;
    size_t          i, n;
    iams_err        err;
    iams_keyring   *kr;
    iams_session   *back;
    const char     *key = "iamsmart:sess:v1:test";

#define REC_TAIL "\"acr\":\"\",\"userType\":\"\",\"at\":\"t\",\"at_exp\":0," \
                 "\"auth_time\":1,\"amr\":[\"fido\"],\"amr_times\":"         \
                 "{\"fido\":1},\"idle_timeout\":60"

    static const char *const  bad[] = {
        "[]",
        "{\"v\":2,\"openID\":\"o\",\"scope\":\"\",\"created\":1,"
        "\"last_seen\":1,\"expires_at\":100," REC_TAIL "}",
        "{\"v\":1,\"scope\":\"\",\"created\":1,"
        "\"last_seen\":1,\"expires_at\":100," REC_TAIL "}",
        "{\"v\":1,\"openID\":\"o\",\"scope\":\"\",\"created\":5,"
        "\"last_seen\":4,\"expires_at\":100," REC_TAIL "}",
        "{\"v\":1,\"openID\":\"o\",\"scope\":\"\",\"created\":5,"
        "\"last_seen\":5,\"expires_at\":5," REC_TAIL "}",
        "{\"v\":1,\"openID\":\"o\",\"scope\":\"\",\"created\":1,"
        "\"last_seen\":1,\"expires_at\":\"100\"," REC_TAIL "}",
        "{\"v\":1,\"openID\":\"o\\u0007\",\"scope\":\"\",\"created\":1,"
        "\"last_seen\":1,\"expires_at\":100," REC_TAIL "}",
        "{\"v\":1,\"openID\":\"o\",\"openID\":\"p\",\"scope\":\"\","
        "\"created\":1,\"last_seen\":1,\"expires_at\":100," REC_TAIL "}",
        "{\"v\":1,\"openID\":\"o\",\"scope\":\"\",\"created\":1,"
        "\"last_seen\":1,\"expires_at\":100,\"acr\":\"\",\"userType\":\"\","
        "\"at\":\"t\",\"at_exp\":0,\"auth_time\":1,\"amr\":[\"fido\",\"fr\"],"
        "\"amr_times\":{\"fido\":1},\"idle_timeout\":60}",
        "{\"v\":1,\"openID\":\"o\",\"scope\":\"\",\"created\":1,"
        "\"last_seen\":1,\"expires_at\":100,\"acr\":\"\",\"userType\":\"\","
        "\"at\":\"t\",\"at_exp\":0,\"auth_time\":1,\"amr\":[\"fido\",\"fido\"],"
        "\"amr_times\":{\"fido\":1,\"fr\":2},\"idle_timeout\":60}",
    };

    static const char  good[] =
        "{\"v\":1,\"openID\":\"o\",\"scope\":\"\",\"created\":1,"
        "\"last_seen\":1,\"expires_at\":100,\"future\":true," REC_TAIL "}";

    (void) state;

    kr = iams_test_keyring("current " MASTER_A "\n");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(iams_seal(kr, IAMS_KEY_SESSION_RECORD, "v1",
                                   (const unsigned char *) key, strlen(key),
                                   (const unsigned char *) bad[i],
                                   strlen(bad[i]), &enc, &n, &err), IAMS_OK);

        if (iams_session_decode(kr, key, strlen(key), enc, n, &back, &err)
            == IAMS_OK)
        {
            fail_msg("bad record %zu accepted", i);
        }

        assert_null(back);
        free(enc);
    }

    /* an unknown member is ignored (rolling upgrades) */
    assert_int_equal(iams_seal(kr, IAMS_KEY_SESSION_RECORD, "v1",
                               (const unsigned char *) key, strlen(key),
                               (const unsigned char *) good, strlen(good),
                               &enc, &n, &err), IAMS_OK);
    assert_int_equal(iams_session_decode(kr, key, strlen(key), enc, n, &back,
                                         &err), IAMS_OK);
    assert_int_equal(back->expires_at, 100);
    iams_session_free(back);
    free(enc);

    iams_keyring_free(kr);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_session_id_cookie),
        cmocka_unit_test(test_session_cookie_strict),
        cmocka_unit_test(test_session_redis_key),
        cmocka_unit_test(test_session_new_and_validation),
        cmocka_unit_test(test_session_expiry_math),
        cmocka_unit_test(test_session_amr),
        cmocka_unit_test(test_session_encode_decode),
        cmocka_unit_test(test_session_clone),
        cmocka_unit_test(test_session_rotation),
        cmocka_unit_test(test_session_tamper_and_move),
        cmocka_unit_test(test_session_bad_contents),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
