/*
 * Pairwise subjects: the identifier a department sees instead of the
 * platform openID.
 *
 *     sub = base64url(HMAC-SHA256(key = pairwise sub-key,
 *                                 msg = namespace || 0x00 || openID))
 *
 * The namespace names the department (e.g. "td" or a URI); the 0x00
 * separator, which a namespace may not contain, keeps ("ab", "c...") and
 * ("a", "bc...") apart.  The subject is stable for one citizen and one
 * department, differs between departments, and reveals nothing about the
 * openID without the key.  The key comes from the secret file's "pairwise"
 * line (or "current" without one, see secret.h).
 */

#ifndef IAMSMART_PAIRWISE_H
#define IAMSMART_PAIRWISE_H

#include <stddef.h>

#include <iamsmart/secret.h>
#include <iamsmart/status.h>

#define IAMS_PAIRWISE_SUB_LEN   43     /* base64url of 32 bytes */
#define IAMS_PAIRWISE_NS_MAX    256
#define IAMS_PAIRWISE_ID_MAX    256

/*
 * Writes the subject and a NUL to out (IAMS_PAIRWISE_SUB_LEN + 1 bytes,
 * caller's storage).  IAMS_ERR_MALFORMED for an empty or oversized
 * namespace or openID, or a namespace holding a 0x00 byte.
 */
iams_status iams_pairwise_subject(const iams_keyring *kr,
    const char *ns, size_t ns_len, const char *open_id, size_t open_id_len,
    char out[IAMS_PAIRWISE_SUB_LEN + 1], iams_err *err);

#endif /* IAMSMART_PAIRWISE_H */
