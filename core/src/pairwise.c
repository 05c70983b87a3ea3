/*
 * Pairwise subjects (see pairwise.h for the construction).
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <iamsmart/encoding.h>
#include <iamsmart/pairwise.h>


iams_status
iams_pairwise_subject(const iams_keyring *kr, const char *ns, size_t ns_len,
    const char *open_id, size_t open_id_len,
    char out[IAMS_PAIRWISE_SUB_LEN + 1], iams_err *err)
{
    size_t              n;
    unsigned int        mac_len;
    unsigned char       mac[EVP_MAX_MD_SIZE];
    unsigned char       msg[IAMS_PAIRWISE_NS_MAX + 1 + IAMS_PAIRWISE_ID_MAX];
    const iams_subkey  *sk;

    out[0] = '\0';

    if (ns_len == 0 || ns_len > IAMS_PAIRWISE_NS_MAX
        || memchr(ns, '\0', ns_len) != NULL)
    {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "pairwise namespace empty, too long or "
                            "holding NUL");
    }

    if (open_id_len == 0 || open_id_len > IAMS_PAIRWISE_ID_MAX) {
        return iams_err_set(err, IAMS_ERR_MALFORMED,
                            "openID empty or too long");
    }

    sk = iams_keyring_key(kr, IAMS_KEY_PAIRWISE_SUBJECT, IAMS_KEY_CURRENT);

    memcpy(msg, ns, ns_len);
    msg[ns_len] = 0x00;
    memcpy(msg + ns_len + 1, open_id, open_id_len);

    if (HMAC(EVP_sha256(), sk->key, sizeof(sk->key), msg,
             ns_len + 1 + open_id_len, mac, &mac_len)
        == NULL)
    {
        ERR_clear_error();
        return iams_err_set(err, IAMS_ERR_INTERNAL, "HMAC failed");
    }

    n = iams_b64url_encode(mac, mac_len, out);
    out[n] = '\0';

    OPENSSL_cleanse(msg, sizeof(msg));

    return IAMS_OK;
}
