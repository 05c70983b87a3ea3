/*
 * The operator's master secrets and the sub-keys derived from them.
 *
 * One file (directive iamsmart_secret_file) holds the gateway's master
 * secrets.  Its format is deliberately small and strict:
 *
 *     # comment lines and empty lines are ignored
 *     current  <base64>
 *     previous <base64>      (optional: the secret before the last rotation)
 *     pairwise <base64>      (optional: never rotated, see below)
 *
 * Each secret line is a keyword, exactly one space, and standard padded
 * base64 of 32 to 64 random bytes (e.g. `openssl rand -base64 32`), ended by
 * "\n" (the last line may omit it).  No line, comments included, may exceed
 * 128 bytes.  Anything else is an error: unknown
 * keywords, repeated keywords, extra spaces, tabs, "\r", a missing
 * "current", "previous" equal to "current", a file over
 * IAMS_SECRET_FILE_MAX bytes.  The file must not be readable or writable by
 * "other" (chmod 600 or 640); it is read once, at configuration time.
 *
 * Rotation: move the "current" line to "previous", write a new "current"
 * and reload.  Values sealed under the previous secret (session records,
 * cached CEKs, state cookies) stay readable; new ones use the current one.
 * Session Redis keys are HMACs under a derived key, so after a rotation a
 * session is found under its previous-key Redis key (see session.h).
 *
 * Pairwise subjects (pairwise.h) must never change, so they come from the
 * "pairwise" secret when the file has one.  Without it they are derived from
 * "current", and rotating "current" changes every department's subject for
 * every citizen: iams_keyring_has_pairwise() lets the module warn.
 *
 * Nothing keeps a master secret after loading: each one is expanded with
 * HKDF-SHA256 (RFC 5869) into one 256-bit sub-key per purpose, and the
 * master bytes are cleansed.  Each master secret also yields a key id (kid):
 * 8 base64url characters that name it in sealed values so the right key is
 * chosen without trial decryption.  Sub-keys are cleansed when the ring is
 * freed.
 *
 * Ownership: the ring is created by iams_keyring_parse/_load_file, owned by
 * the caller (in the module: the configuration's lifetime), freed with
 * iams_keyring_free, and is read-only after creation, so it may be shared
 * by every request of a worker.  Sub-key pointers borrow from the ring.
 */

#ifndef IAMSMART_SECRET_H
#define IAMSMART_SECRET_H

#include <stddef.h>

#include <iamsmart/status.h>

#define IAMS_SECRET_MIN       32     /* bytes of a master secret */
#define IAMS_SECRET_MAX       64
#define IAMS_SECRET_FILE_MAX  4096
#define IAMS_SUBKEY_LEN       32
#define IAMS_KID_LEN          8

/*
 * What a sub-key is for.  Each purpose has its own HKDF label (in
 * secret.c); a key is never used for two purposes.  To add one, append it
 * here and add its label to the table in secret.c.
 */
typedef enum {
    IAMS_KEY_SESSION_RECORD = 0,   /* "session-record": sealed records */
    IAMS_KEY_SESSION_ID_HASH,      /* "session-id-hash": Redis key HMAC */
    IAMS_KEY_STATE_COOKIE,         /* "state-cookie": login browser binding */
    IAMS_KEY_LOGIN_STATE,          /* "login-state": login records in Redis */
    IAMS_KEY_CEK_CACHE,            /* "cek-cache": the CEK cached in Redis */
    IAMS_KEY_PAIRWISE_SUBJECT,     /* "pairwise-subject": pairwise.h */
    IAMS_KEY_PURPOSE_COUNT
} iams_key_purpose;

typedef enum {
    IAMS_KEY_CURRENT = 0,
    IAMS_KEY_PREVIOUS = 1
} iams_key_slot;

typedef struct {
    char           kid[IAMS_KID_LEN + 1];   /* NUL-terminated */
    unsigned char  key[IAMS_SUBKEY_LEN];
} iams_subkey;

typedef struct iams_keyring  iams_keyring;

/* Parses the file format above from buf[0..len).  err->detail names the
 * line and the reason, never a secret. */
iams_status iams_keyring_parse(const char *buf, size_t len,
    iams_keyring **out, iams_err *err);

/* Opens, checks the permissions of, reads and parses path.
 * IAMS_ERR_IO when it cannot be read, IAMS_ERR_KEY_INVALID when "other" has
 * access or the contents are wrong. */
iams_status iams_keyring_load_file(const char *path, iams_keyring **out,
    iams_err *err);

/* Cleanses and frees; NULL is allowed. */
void iams_keyring_free(iams_keyring *kr);

/*
 * The sub-key for purpose from the current or previous secret; NULL when
 * there is no previous secret, and always NULL for IAMS_KEY_PREVIOUS of
 * IAMS_KEY_PAIRWISE_SUBJECT (pairwise keys do not rotate).
 */
const iams_subkey *iams_keyring_key(const iams_keyring *kr,
    iams_key_purpose purpose, iams_key_slot slot);

/* The sub-key for purpose whose kid is kid[0..kid_len), or NULL. */
const iams_subkey *iams_keyring_find(const iams_keyring *kr,
    iams_key_purpose purpose, const char *kid, size_t kid_len);

int iams_keyring_has_previous(const iams_keyring *kr);
int iams_keyring_has_pairwise(const iams_keyring *kr);

#endif /* IAMSMART_SECRET_H */
