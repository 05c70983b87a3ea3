/*
 * Sealed values: small secrets the gateway parks in Redis or in a cookie
 * (session records, the cached CEK, login state), encrypted and
 * authenticated with AES-256-GCM under a key ring sub-key.
 *
 * Format (ASCII, safe in Redis, cookies and headers):
 *
 *     <version> "." <kid> "." base64url(IV[12] || ciphertext || tag[16])
 *
 * The version is a short tag chosen by the caller ("v1" for session
 * records, "c1" for the CEK), so one purpose's format can evolve without
 * ambiguity.  The AAD is the text "<version>.<kid>." followed by a 0x00 byte
 * and the caller's context, typically the Redis key the value is stored
 * under: a value copied to another key, or relabelled with another version
 * or kid, does not open.  Opening picks the sub-key by kid among the
 * current and previous secrets, so values sealed before a rotation still
 * open afterwards.
 */

#ifndef IAMSMART_SEALED_H
#define IAMSMART_SEALED_H

#include <stddef.h>

#include <iamsmart/secret.h>
#include <iamsmart/status.h>

#define IAMS_SEALED_VERSION_MAX  8
#define IAMS_SEALED_MAX          (64 * 1024)   /* whole sealed string */

/* Sealed length of a plaintext of pt_len bytes under version ver_len. */
size_t iams_sealed_len(size_t ver_len, size_t pt_len);

/*
 * Seals pt under the current sub-key for purpose.  version: 1 to
 * IAMS_SEALED_VERSION_MAX characters of [a-z0-9].  *out is malloc()ed,
 * NUL-terminated, owned by the caller (free()); *out_len excludes the NUL.
 */
iams_status iams_seal(const iams_keyring *kr, iams_key_purpose purpose,
    const char *version, const unsigned char *ctx, size_t ctx_len,
    const unsigned char *pt, size_t pt_len, char **out, size_t *out_len,
    iams_err *err);

/*
 * Opens in[0..in_len) sealed by iams_seal with the same purpose, version
 * and context.  Fails with IAMS_ERR_TOO_LARGE above IAMS_SEALED_MAX or when
 * the plaintext would exceed max_pt, IAMS_ERR_MALFORMED for a bad shape or
 * another version, IAMS_ERR_UNKNOWN_KID when no current or previous key
 * has the kid, IAMS_ERR_BAD_SIGNATURE when authentication fails.
 * *pt is malloc()ed with one extra NUL byte (so JSON can be parsed in
 * place), owned by the caller, who should OPENSSL_cleanse it before free().
 */
iams_status iams_unseal(const iams_keyring *kr, iams_key_purpose purpose,
    const char *version, const unsigned char *ctx, size_t ctx_len,
    const char *in, size_t in_len, size_t max_pt, unsigned char **pt,
    size_t *pt_len, iams_err *err);

#endif /* IAMSMART_SEALED_H */
