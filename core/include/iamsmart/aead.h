/*
 * AES-256-GCM with a 96-bit IV and a 128-bit tag: the one authenticated
 * cipher of core.  The iAM Smart payload envelope, sealed session records
 * and the cached CEK all go through these two functions, so the test
 * vectors that exercise them cover every use.
 *
 * The caller chooses the IV.  Every caller in core draws a fresh random IV
 * per message (iams_random_bytes); with random 96-bit IVs one key may seal
 * about 2^32 messages before the collision risk matters, far more than a
 * CEK or a session key sees between rotations.
 */

#ifndef IAMSMART_AEAD_H
#define IAMSMART_AEAD_H

#include <stddef.h>

#include <iamsmart/status.h>

#define IAMS_AES256_KEY_LEN  32
#define IAMS_GCM_IV_LEN      12
#define IAMS_GCM_TAG_LEN     16

/* Largest plaintext or AAD accepted (the EVP interface counts in int). */
#define IAMS_AEAD_MAX        (64 * 1024 * 1024)

/*
 * Encrypts pt[0..pt_len) into ct (pt_len bytes, may equal pt) and writes
 * the tag.  aad may be NULL when aad_len is 0, pt likewise.  No allocation;
 * the caller owns every buffer.
 */
iams_status iams_aes256gcm_seal(const unsigned char key[IAMS_AES256_KEY_LEN],
    const unsigned char iv[IAMS_GCM_IV_LEN],
    const unsigned char *aad, size_t aad_len,
    const unsigned char *pt, size_t pt_len,
    unsigned char *ct, unsigned char tag[IAMS_GCM_TAG_LEN], iams_err *err);

/*
 * Checks the tag and decrypts ct into pt (ct_len bytes, may equal ct).
 * IAMS_ERR_BAD_SIGNATURE when the tag does not verify; pt is then zeroed so
 * that no unauthenticated plaintext is ever visible to the caller.
 */
iams_status iams_aes256gcm_open(const unsigned char key[IAMS_AES256_KEY_LEN],
    const unsigned char iv[IAMS_GCM_IV_LEN],
    const unsigned char *aad, size_t aad_len,
    const unsigned char *ct, size_t ct_len,
    const unsigned char tag[IAMS_GCM_TAG_LEN], unsigned char *pt,
    iams_err *err);

#endif /* IAMSMART_AEAD_H */
