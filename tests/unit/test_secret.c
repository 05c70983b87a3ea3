/*
 * The secret file, HKDF sub-keys, sealed values and pairwise subjects.
 *
 * Known answers were computed independently with python3-cryptography's
 * HKDF and Python's hmac module from the construction documented in
 * secret.h and pairwise.h:
 *   master = bytes 0x01..0x20
 *   kid    = b64url(HKDF(master, "iamsmart-gateway/v1", "iamsmart key-id", 6))
 *   sub    = b64url(HMAC(HKDF(.., "iamsmart pairwise-subject", 32),
 *                        "td" 0x00 "oid-1"))
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <iamsmart/pairwise.h>
#include <iamsmart/sealed.h>
#include <iamsmart/secret.h>

#include "support/fixtures.h"
#include "support/vectors.h"

/* bytes 0x01..0x20 */
#define MASTER_A  "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define KID_A     "3eQHlbru"
#define SIDKEY_A  "aca8a0ec53b9c1d1c9de9b1892feacc158c715a010dfc418a85353bd" \
                  "076187a1"
#define SUB_A_TD  "k2tEIxuobFu7DZdZb9RliZj5iK4wY0yeGLC0NAwDKZ8"

/* openssl rand -base64 32 / 48 */
#define MASTER_B  "yHk0m2rV8w3Q6T1eZp9J4sXbN7cL5aFgUoRiEdKtWlM="
#define MASTER_C  "Vb3k9QmZ1xR7tYw2pLs8dNf4hJc6gKa0" \
                  "eUoIiTzXyBvCnM5rE2qW8sD1fG3hJ4kL"


static iams_status
ring_status(const char *text, iams_err *err)
{
    iams_status    rc;
    iams_keyring  *kr;

    rc = iams_keyring_parse(text, strlen(text), &kr, err);
    assert_true(rc == IAMS_OK ? kr != NULL : kr == NULL);
    iams_keyring_free(kr);

    return rc;
}


static void
test_keyring_known_answer(void **state)
{
    size_t              n;
    iams_keyring       *kr;
    unsigned char      *want;
    const iams_subkey  *sk;

    (void) state;

    kr = iams_test_keyring("# gateway secrets\n\ncurrent " MASTER_A "\n");

    sk = iams_keyring_key(kr, IAMS_KEY_SESSION_ID_HASH, IAMS_KEY_CURRENT);
    assert_non_null(sk);
    assert_string_equal(sk->kid, KID_A);

    want = iams_test_hex(SIDKEY_A, &n);
    assert_int_equal(n, IAMS_SUBKEY_LEN);
    assert_memory_equal(sk->key, want, n);
    free(want);

    /* purposes never share a key */
    assert_memory_not_equal(
        iams_keyring_key(kr, IAMS_KEY_SESSION_RECORD, IAMS_KEY_CURRENT)->key,
        sk->key, IAMS_SUBKEY_LEN);

    assert_false(iams_keyring_has_previous(kr));
    assert_false(iams_keyring_has_pairwise(kr));
    assert_null(iams_keyring_key(kr, IAMS_KEY_SESSION_RECORD,
                                 IAMS_KEY_PREVIOUS));
    assert_null(iams_keyring_key(kr, IAMS_KEY_PURPOSE_COUNT,
                                 IAMS_KEY_CURRENT));

    iams_keyring_free(kr);
}


static void
test_keyring_previous_and_find(void **state)
{
    iams_keyring       *kr;
    const iams_subkey  *cur, *prev;

    (void) state;

    /* no trailing newline on the last line is allowed */
    kr = iams_test_keyring("current " MASTER_B "\nprevious " MASTER_A);

    assert_true(iams_keyring_has_previous(kr));
    cur = iams_keyring_key(kr, IAMS_KEY_SESSION_RECORD, IAMS_KEY_CURRENT);
    prev = iams_keyring_key(kr, IAMS_KEY_SESSION_RECORD, IAMS_KEY_PREVIOUS);
    assert_non_null(prev);
    assert_string_equal(prev->kid, KID_A);
    assert_string_not_equal(cur->kid, prev->kid);

    assert_ptr_equal(iams_keyring_find(kr, IAMS_KEY_SESSION_RECORD, KID_A, 8),
                     prev);
    assert_ptr_equal(iams_keyring_find(kr, IAMS_KEY_SESSION_RECORD,
                                       cur->kid, 8), cur);
    assert_null(iams_keyring_find(kr, IAMS_KEY_SESSION_RECORD, "AAAAAAAA",
                                  8));
    assert_null(iams_keyring_find(kr, IAMS_KEY_SESSION_RECORD, KID_A, 7));

    /* pairwise keys never rotate */
    assert_null(iams_keyring_key(kr, IAMS_KEY_PAIRWISE_SUBJECT,
                                 IAMS_KEY_PREVIOUS));

    iams_keyring_free(kr);
}


static void
test_keyring_rejects(void **state)
{
    size_t     i;
    iams_err   err;
    char       big[IAMS_SECRET_FILE_MAX + 64];

    static const char *const  bad[] = {
        "",                                             /* no current */
        "# only a comment\n",
        "previous " MASTER_A "\n",
        "current " MASTER_A "\ncurrent " MASTER_B "\n", /* twice */
        "current  " MASTER_A "\n",                      /* two spaces */
        "current\t" MASTER_A "\n",                      /* tab */
        "current " MASTER_A "\r\n",                     /* CRLF */
        "current " MASTER_A " \n",                      /* trailing space */
        " current " MASTER_A "\n",                      /* leading space */
        "Current " MASTER_A "\n",                       /* case */
        "next " MASTER_A "\n",                          /* unknown */
        "current\n",
        "current " "AAECAwQFBgcICQoLDA0ODw==" "\n",     /* 16 bytes */
        "current " "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA" "\n",
        "current " "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB=" "\n",
        "current " MASTER_A "\nprevious " MASTER_A "\n", /* same */
        "current " MASTER_C "AAAAAAAAAAAAAAAAAAAAAAAA\n", /* 66 bytes */
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));

        if (ring_status(bad[i], &err) != IAMS_ERR_KEY_INVALID) {
            fail_msg("secret file %zu accepted", i);
        }

        assert_int_equal(err.status, IAMS_ERR_KEY_INVALID);
        assert_true(err.detail[0] != '\0');
        /* the detail never repeats a secret */
        assert_null(strstr(err.detail, "AQIDBAUG"));
    }

    /* 48-byte and 64-byte secrets are fine, as is a pairwise line */
    assert_int_equal(ring_status("current " MASTER_C "\npairwise " MASTER_B
                                 "\n", &err), IAMS_OK);

    memset(big, '#', sizeof(big));
    memcpy(big, "current " MASTER_A "\n", sizeof("current " MASTER_A "\n") - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ring_status(big, &err), IAMS_ERR_KEY_INVALID);
}


static void
test_keyring_file(void **state)
{
    char          *path;
    iams_err       err;
    iams_keyring  *kr;
    const char     text[] = "current " MASTER_A "\n";

    (void) state;

    path = iams_test_temp_file(text, sizeof(text) - 1);

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(iams_keyring_load_file(path, &kr, &err), IAMS_OK);
    assert_string_equal(iams_keyring_key(kr, IAMS_KEY_STATE_COOKIE,
                                         IAMS_KEY_CURRENT)->kid, KID_A);
    iams_keyring_free(kr);

    /* readable by "other": refused, whatever the contents */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(iams_keyring_load_file(path, &kr, &err),
                     IAMS_ERR_KEY_INVALID);
    assert_null(kr);
    assert_non_null(strstr(err.detail, "chmod"));

    unlink(path);
    assert_int_equal(iams_keyring_load_file(path, &kr, &err), IAMS_ERR_IO);
    assert_int_equal(iams_keyring_load_file("/tmp", &kr, &err), IAMS_ERR_IO);
    free(path);
}


/* ---- sealed values ---- */

static void
test_seal_round_trip_and_binding(void **state)
{
    char           *s, *t;
    size_t          n, ptn;
    iams_err        err;
    iams_keyring   *kr;
    unsigned char  *pt;
    const char      msg[] = "{\"hello\":\"world\"}";
    const char      ctx[] = "iamsmart:sess:v1:abc";

    (void) state;

    kr = iams_test_keyring("current " MASTER_A "\n");

    assert_int_equal(iams_seal(kr, IAMS_KEY_LOGIN_STATE, "v1",
                               (const unsigned char *) ctx, strlen(ctx),
                               (const unsigned char *) msg, strlen(msg),
                               &s, &n, &err), IAMS_OK);
    assert_int_equal(n, strlen(s));
    assert_int_equal(n, iams_sealed_len(2, strlen(msg)));
    assert_memory_equal(s, "v1." KID_A ".", 12);
    assert_null(strchr(s, '='));

    assert_int_equal(iams_unseal(kr, IAMS_KEY_LOGIN_STATE, "v1",
                                 (const unsigned char *) ctx, strlen(ctx),
                                 s, n, 1024, &pt, &ptn, &err), IAMS_OK);
    assert_int_equal(ptn, strlen(msg));
    assert_memory_equal(pt, msg, ptn);
    assert_int_equal(pt[ptn], '\0');
    free(pt);

    /* another context, purpose, version or size bound */
    assert_int_equal(iams_unseal(kr, IAMS_KEY_LOGIN_STATE, "v1",
                                 (const unsigned char *) ctx,
                                 strlen(ctx) - 1, s, n, 1024, &pt, &ptn,
                                 &err), IAMS_ERR_BAD_SIGNATURE);
    assert_null(pt);
    assert_int_equal(iams_unseal(kr, IAMS_KEY_SESSION_RECORD, "v1",
                                 (const unsigned char *) ctx, strlen(ctx),
                                 s, n, 1024, &pt, &ptn, &err),
                     IAMS_ERR_BAD_SIGNATURE);
    assert_int_equal(iams_unseal(kr, IAMS_KEY_LOGIN_STATE, "v2",
                                 (const unsigned char *) ctx, strlen(ctx),
                                 s, n, 1024, &pt, &ptn, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_unseal(kr, IAMS_KEY_LOGIN_STATE, "v1",
                                 (const unsigned char *) ctx, strlen(ctx),
                                 s, n, 4, &pt, &ptn, &err),
                     IAMS_ERR_TOO_LARGE);

    /* every single-character change is caught */
    t = strdup(s);

    for (size_t i = 0; i < n; i++) {
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(iams_unseal(kr, IAMS_KEY_LOGIN_STATE, "v1",
                                         (const unsigned char *) ctx,
                                         strlen(ctx), t, n, 1024, &pt,
                                         &ptn, &err), IAMS_OK);
        assert_null(pt);
        t[i] = s[i];
    }

    /* truncated */
    assert_int_not_equal(iams_unseal(kr, IAMS_KEY_LOGIN_STATE, "v1",
                                     (const unsigned char *) ctx,
                                     strlen(ctx), s, n - 1, 1024, &pt, &ptn,
                                     &err), IAMS_OK);
    assert_int_equal(iams_unseal(kr, IAMS_KEY_LOGIN_STATE, "v1",
                                 (const unsigned char *) ctx, strlen(ctx),
                                 s, 12, 1024, &pt, &ptn, &err),
                     IAMS_ERR_MALFORMED);

    free(t);
    free(s);
    iams_keyring_free(kr);
}


static void
test_seal_rotation(void **state)
{
    char           *s;
    size_t          n, ptn;
    iams_err        err;
    iams_keyring   *old, *rotated, *dropped;
    unsigned char  *pt;

    (void) state;

    old = iams_test_keyring("current " MASTER_A "\n");
    rotated = iams_test_keyring("current " MASTER_B "\n"
                                "previous " MASTER_A "\n");
    dropped = iams_test_keyring("current " MASTER_B "\n");

    assert_int_equal(iams_seal(old, IAMS_KEY_CEK_CACHE, "c1", NULL, 0,
                               (const unsigned char *) "x", 1, &s, &n, &err),
                     IAMS_OK);

    assert_int_equal(iams_unseal(rotated, IAMS_KEY_CEK_CACHE, "c1", NULL, 0,
                                 s, n, 16, &pt, &ptn, &err), IAMS_OK);
    assert_int_equal(ptn, 1);
    assert_int_equal(pt[0], 'x');
    free(pt);

    assert_int_equal(iams_unseal(dropped, IAMS_KEY_CEK_CACHE, "c1", NULL, 0,
                                 s, n, 16, &pt, &ptn, &err),
                     IAMS_ERR_UNKNOWN_KID);
    free(s);

    /* new values use the new current key */
    assert_int_equal(iams_seal(rotated, IAMS_KEY_CEK_CACHE, "c1", NULL, 0,
                               (const unsigned char *) "y", 1, &s, &n, &err),
                     IAMS_OK);
    assert_int_equal(iams_unseal(dropped, IAMS_KEY_CEK_CACHE, "c1", NULL, 0,
                                 s, n, 16, &pt, &ptn, &err), IAMS_OK);
    free(pt);
    assert_int_equal(iams_unseal(old, IAMS_KEY_CEK_CACHE, "c1", NULL, 0,
                                 s, n, 16, &pt, &ptn, &err),
                     IAMS_ERR_UNKNOWN_KID);
    free(s);

    iams_keyring_free(old);
    iams_keyring_free(rotated);
    iams_keyring_free(dropped);
}


/* ---- pairwise subjects ---- */

static void
test_pairwise(void **state)
{
    char           a[IAMS_PAIRWISE_SUB_LEN + 1], b[IAMS_PAIRWISE_SUB_LEN + 1];
    iams_err       err;
    iams_keyring  *kr, *rotated, *pw1, *pw2;

    (void) state;

    kr = iams_test_keyring("current " MASTER_A "\n");

    assert_int_equal(iams_pairwise_subject(kr, "td", 2, "oid-1", 5, a, &err),
                     IAMS_OK);
    assert_string_equal(a, SUB_A_TD);

    /* stable */
    assert_int_equal(iams_pairwise_subject(kr, "td", 2, "oid-1", 5, b, &err),
                     IAMS_OK);
    assert_string_equal(a, b);

    /* different per department and per citizen */
    assert_int_equal(iams_pairwise_subject(kr, "immd", 4, "oid-1", 5, b,
                                           &err), IAMS_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(iams_pairwise_subject(kr, "td", 2, "oid-2", 5, b, &err),
                     IAMS_OK);
    assert_string_not_equal(a, b);

    /* the separator keeps namespace and openID apart */
    assert_int_equal(iams_pairwise_subject(kr, "t", 1, "doid-1", 6, b, &err),
                     IAMS_OK);
    assert_string_not_equal(a, b);

    assert_int_equal(iams_pairwise_subject(kr, "t\0d", 3, "oid-1", 5, b,
                                           &err), IAMS_ERR_MALFORMED);
    assert_int_equal(iams_pairwise_subject(kr, "", 0, "oid-1", 5, b, &err),
                     IAMS_ERR_MALFORMED);
    assert_int_equal(iams_pairwise_subject(kr, "td", 2, "", 0, b, &err),
                     IAMS_ERR_MALFORMED);

    /* with a "pairwise" line, rotating "current" keeps the subjects */
    pw1 = iams_test_keyring("current " MASTER_A "\npairwise " MASTER_C "\n");
    pw2 = iams_test_keyring("current " MASTER_B "\nprevious " MASTER_A "\n"
                            "pairwise " MASTER_C "\n");
    assert_true(iams_keyring_has_pairwise(pw1));
    assert_int_equal(iams_pairwise_subject(pw1, "td", 2, "oid-1", 5, a,
                                           &err), IAMS_OK);
    assert_int_equal(iams_pairwise_subject(pw2, "td", 2, "oid-1", 5, b,
                                           &err), IAMS_OK);
    assert_string_equal(a, b);
    assert_string_not_equal(a, SUB_A_TD);

    /* without one, rotation changes them: why has_pairwise exists */
    rotated = iams_test_keyring("current " MASTER_B "\n"
                                "previous " MASTER_A "\n");
    assert_int_equal(iams_pairwise_subject(rotated, "td", 2, "oid-1", 5, b,
                                           &err), IAMS_OK);
    assert_string_not_equal(b, SUB_A_TD);

    iams_keyring_free(kr);
    iams_keyring_free(rotated);
    iams_keyring_free(pw1);
    iams_keyring_free(pw2);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_keyring_known_answer),
        cmocka_unit_test(test_keyring_previous_and_find),
        cmocka_unit_test(test_keyring_rejects),
        cmocka_unit_test(test_keyring_file),
        cmocka_unit_test(test_seal_round_trip_and_binding),
        cmocka_unit_test(test_seal_rotation),
        cmocka_unit_test(test_pairwise),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
