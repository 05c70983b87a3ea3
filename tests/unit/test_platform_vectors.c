/*
 * Wycheproof vectors through the primitives the iAM Smart protocol uses:
 *   - AES-GCM (groups with a 256-bit key, 96-bit IV and 128-bit tag, the
 *     only shape the envelope and sealed values use) through
 *     iams_aes256gcm_seal/_open;
 *   - RSAES-PKCS1-v1_5 decryption (2048-bit) through iams_kek_decrypt, the
 *     CEK unwrap primitive.  OpenSSL 3.0 has no implicit rejection and
 *     iams_kek_decrypt turns it off where it exists, so every invalid
 *     ciphertext must fail, in PKCS#1 mode and in AUTO mode (which also
 *     tries OAEP).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <iamsmart/aead.h>
#include <iamsmart/platform.h>

#include "support/vectors.h"


static unsigned char *
hex_member(const json_t *obj, const char *name, size_t *len)
{
    const char  *s;

    s = json_string_value(json_object_get(obj, name));
    assert_non_null(s);

    return iams_test_hex(s, len);
}


static void
test_wycheproof_aes_gcm(void **state)
{
    int             valid;
    size_t          gi, ti, klen, ivlen, aadlen, msglen, ctlen, taglen;
    size_t          run, nvalid, ninvalid;
    json_t         *doc, *group, *test;
    iams_err        err;
    iams_status     rc;
    unsigned char  *key, *iv, *aad, *msg, *ct, *tag, *out, outtag[16];

    (void) state;

    doc = iams_test_load_vector_json("wycheproof/aes_gcm_test.json");
    run = nvalid = ninvalid = 0;

    json_array_foreach(json_object_get(doc, "testGroups"), gi, group) {
        if (json_integer_value(json_object_get(group, "keySize")) != 256
            || json_integer_value(json_object_get(group, "ivSize")) != 96
            || json_integer_value(json_object_get(group, "tagSize")) != 128)
        {
            continue;
        }

        json_array_foreach(json_object_get(group, "tests"), ti, test) {
            key = hex_member(test, "key", &klen);
            iv = hex_member(test, "iv", &ivlen);
            aad = hex_member(test, "aad", &aadlen);
            msg = hex_member(test, "msg", &msglen);
            ct = hex_member(test, "ct", &ctlen);
            tag = hex_member(test, "tag", &taglen);
            valid = strcmp(json_string_value(json_object_get(test, "result")),
                           "valid") == 0;

            assert_int_equal(klen, 32);
            assert_int_equal(ivlen, 12);
            assert_int_equal(taglen, 16);

            out = malloc(ctlen + 1);
            assert_non_null(out);

            rc = iams_aes256gcm_open(key, iv, aad, aadlen, ct, ctlen, tag,
                                     out, &err);

            if (valid) {
                if (rc != IAMS_OK) {
                    fail_msg("tcId %lld: valid vector rejected",
                             (long long) json_integer_value(
                                 json_object_get(test, "tcId")));
                }

                assert_int_equal(ctlen, msglen);
                assert_memory_equal(out, msg, msglen);

                /* and sealing gives the same ciphertext and tag */
                assert_int_equal(iams_aes256gcm_seal(key, iv, aad, aadlen,
                                                     msg, msglen, out,
                                                     outtag, &err),
                                 IAMS_OK);
                assert_memory_equal(out, ct, ctlen);
                assert_memory_equal(outtag, tag, 16);
                nvalid++;

            } else {
                if (rc != IAMS_ERR_BAD_SIGNATURE) {
                    fail_msg("tcId %lld: invalid vector accepted",
                             (long long) json_integer_value(
                                 json_object_get(test, "tcId")));
                }

                ninvalid++;
            }

            run++;
            free(key);
            free(iv);
            free(aad);
            free(msg);
            free(ct);
            free(tag);
            free(out);
        }
    }

    json_decref(doc);

    print_message("AES-256-GCM: %zu vectors (%zu valid, %zu invalid)\n",
                  run, nvalid, ninvalid);
    assert_true(nvalid >= 30);
    assert_true(ninvalid >= 20);
}


static void
test_wycheproof_rsa_pkcs1(void **state)
{
    size_t          gi, ti, dlen, ctlen, msglen, outlen, run, ninvalid;
    json_t         *doc, *group, *test;
    iams_err        err;
    iams_kek       *kek;
    iams_status     rc_pkcs1, rc_auto;
    unsigned char  *der, *ct, *msg, out[512];
    const char     *result;

    (void) state;

    doc = iams_test_load_vector_json("wycheproof/rsa_pkcs1_2048_test.json");
    run = ninvalid = 0;

    json_array_foreach(json_object_get(doc, "testGroups"), gi, group) {
        der = hex_member(group, "privateKeyPkcs8", &dlen);

        if (iams_kek_parse((const char *) der, dlen, &kek, &err) != IAMS_OK) {
            fail_msg("group %zu key: %s", gi, err.detail);
        }

        free(der);

        json_array_foreach(json_object_get(group, "tests"), ti, test) {
            ct = hex_member(test, "ct", &ctlen);
            msg = hex_member(test, "msg", &msglen);
            result = json_string_value(json_object_get(test, "result"));

            rc_pkcs1 = iams_kek_decrypt(kek, IAMS_KEK_PAD_PKCS1, ct, ctlen,
                                        out, sizeof(out), &outlen, &err);

            if (strcmp(result, "valid") == 0) {
                assert_int_equal(rc_pkcs1, IAMS_OK);
                assert_int_equal(outlen, msglen);
                assert_memory_equal(out, msg, msglen);

                rc_auto = iams_kek_decrypt(kek, IAMS_KEK_PAD_AUTO, ct, ctlen,
                                           out, sizeof(out), &outlen, &err);
                assert_int_equal(rc_auto, IAMS_OK);
                assert_memory_equal(out, msg, msglen);

                /* a plaintext longer than the caller's room is a failure */
                if (msglen > 0) {
                    assert_int_equal(iams_kek_decrypt(kek, IAMS_KEK_PAD_PKCS1,
                                                      ct, ctlen, out,
                                                      msglen - 1, &outlen,
                                                      &err),
                                     IAMS_ERR_KEY_INVALID);
                }

            } else {
                if (rc_pkcs1 != IAMS_ERR_KEY_INVALID) {
                    fail_msg("tcId %lld: invalid ciphertext accepted",
                             (long long) json_integer_value(
                                 json_object_get(test, "tcId")));
                }

                /* one failure, one message: no padding oracle in detail */
                assert_string_equal(err.detail, "key unwrap failed");
                assert_int_equal(outlen, 0);

                rc_auto = iams_kek_decrypt(kek, IAMS_KEK_PAD_AUTO, ct, ctlen,
                                           out, sizeof(out), &outlen, &err);
                assert_int_equal(rc_auto, IAMS_ERR_KEY_INVALID);
                assert_string_equal(err.detail, "key unwrap failed");
                ninvalid++;
            }

            run++;
            free(ct);
            free(msg);
        }

        iams_kek_free(kek);
    }

    json_decref(doc);

    print_message("RSAES-PKCS1-v1_5: %zu vectors (%zu invalid)\n", run,
                  ninvalid);
    assert_true(run >= 60);
    assert_true(ninvalid >= 20);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_wycheproof_aes_gcm),
        cmocka_unit_test(test_wycheproof_rsa_pkcs1),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
