/*
 * Gateway sessions: the cookie value, where the record lives in Redis, and
 * the record itself.
 *
 * Session id.  256 random bits.  The cookie carries them as 43 base64url
 * characters and nothing else; a cookie value of any other length or
 * alphabet, or a non-canonical encoding, is rejected before any lookup.
 *
 * Redis key.  "<prefix>sess:v1:" followed by the 64 hex digits of
 * HMAC-SHA256(session-id-hash sub-key, id).  A Redis dump therefore yields
 * no usable cookie.  After a secret rotation, existing sessions sit under
 * the key computed with IAMS_KEY_PREVIOUS: look up the current key, on a
 * miss the previous one, decode the record with the key it was found under,
 * and (optionally) write it back under the current key.
 *
 * Log hash.  $iamsmart_session_hash: the first 12 hex digits of SHA-256 of
 * the Redis key, enough to correlate log lines, useless to an attacker.
 *
 * Record.  The state of one login, as JSON (version 1):
 *
 *   {"v":1, "openID":..., "scope":..., "acr":..., "userType":...,
 *    "auth_time":s, "amr":["fido","fr"], "amr_times":{"fido":s,"fr":s},
 *    "created":s, "last_seen":s, "idle_timeout":s, "expires_at":s,
 *    "at":<platform access token>, "at_exp":s}
 *
 * All times are epoch seconds.  The session ends at the first of
 * expires_at (absolute, fixed at login) and last_seen + idle_timeout
 * (sliding).  The whole JSON is sealed (sealed.h, version "v1", purpose
 * IAMS_KEY_SESSION_RECORD) with the Redis key as context, so the platform
 * access token is encrypted at rest and a record copied to another
 * session's key does not open.
 *
 * Ownership: an iams_session is created by iams_session_new or
 * iams_session_decode, owned by the caller, and freed (access token
 * cleansed) by iams_session_free.  Its strings are NUL-terminated and live
 * as long as the record.  A record is not thread-safe; nginx workers are
 * single-threaded and each request decodes its own copy.
 */

#ifndef IAMSMART_SESSION_H
#define IAMSMART_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <iamsmart/secret.h>
#include <iamsmart/status.h>


/* ---- session id, cookie value, Redis key ---- */

#define IAMS_SESSION_ID_LEN      32
#define IAMS_SESSION_COOKIE_LEN  43
#define IAMS_REDIS_PREFIX_MAX    64
#define IAMS_SESSION_KEY_MAX     (IAMS_REDIS_PREFIX_MAX + 8 + 64)
#define IAMS_SESSION_HASH_LEN    12

typedef struct {
    unsigned char  bytes[IAMS_SESSION_ID_LEN];
} iams_session_id;

iams_status iams_session_id_generate(iams_session_id *id, iams_err *err);

/* Writes the 43-character cookie value and a NUL. */
void iams_session_id_to_cookie(const iams_session_id *id,
    char out[IAMS_SESSION_COOKIE_LEN + 1]);

/* Strict: exactly 43 canonical base64url characters.  IAMS_ERR_MALFORMED
 * otherwise (the caller treats it as "no session"). */
iams_status iams_session_id_from_cookie(const char *value, size_t len,
    iams_session_id *id, iams_err *err);

/* Cleanses an id held on the stack. */
void iams_session_id_clear(iams_session_id *id);

/*
 * Writes the Redis key for id and a NUL into out (cap bytes, at least
 * IAMS_SESSION_KEY_MAX + 1); *out_len excludes the NUL.  prefix: at most
 * IAMS_REDIS_PREFIX_MAX printable ASCII characters without spaces (e.g.
 * "iamsmart:").  IAMS_ERR_NO_KEY for IAMS_KEY_PREVIOUS without a previous
 * secret.
 */
iams_status iams_session_redis_key(const iams_keyring *kr,
    iams_key_slot slot, const char *prefix, size_t prefix_len,
    const iams_session_id *id, char *out, size_t cap, size_t *out_len,
    iams_err *err);

/* Writes IAMS_SESSION_HASH_LEN hex digits and a NUL. */
void iams_session_log_hash(const char *redis_key, size_t len,
    char out[IAMS_SESSION_HASH_LEN + 1]);


/* ---- the record ---- */

#define IAMS_SESSION_RECORD_VERSION  1
#define IAMS_SESSION_JSON_MAX        (12 * 1024)
#define IAMS_SESSION_SEALED_MAX      (16 * 1024)
#define IAMS_SESSION_OPENID_MAX      256
#define IAMS_SESSION_SCOPE_MAX       1024
#define IAMS_SESSION_ACR_MAX         64
#define IAMS_SESSION_USER_TYPE_MAX   64
#define IAMS_SESSION_TOKEN_MAX       4096
#define IAMS_SESSION_TIMEOUT_MAX     (366 * 24 * 3600)  /* one year */
#define IAMS_AMR_MAX                 4
#define IAMS_AMR_NAME_MAX            15

typedef struct {
    char     method[IAMS_AMR_NAME_MAX + 1];   /* "fido", "fr", ... */
    int64_t  time;                            /* last success, epoch s */
} iams_amr;

typedef struct {
    char      *open_id;
    char      *scope;          /* space-separated, as granted */
    char      *acr;            /* may be "" */
    char      *user_type;      /* may be "" */
    char      *access_token;   /* platform bearer token; cleansed on free */
    int64_t    token_expires_at;

    int64_t    auth_time;
    iams_amr   amr[IAMS_AMR_MAX];
    size_t     namr;

    int64_t    created;
    int64_t    last_seen;
    int64_t    idle_timeout;   /* seconds */
    int64_t    expires_at;     /* absolute end */
} iams_session;

/* What a login produced; every string is borrowed for the call only. */
typedef struct {
    const char  *open_id;
    size_t       open_id_len;
    const char  *scope;
    size_t       scope_len;
    const char  *acr;            /* NULL: "" */
    size_t       acr_len;
    const char  *user_type;      /* NULL: "" */
    size_t       user_type_len;
    const char  *access_token;
    size_t       access_token_len;
    int64_t      token_expires_at;   /* epoch s */

    int64_t      now;
    int64_t      idle_timeout;       /* seconds, 1 .. TIMEOUT_MAX */
    int64_t      max_lifetime;       /* seconds, 1 .. TIMEOUT_MAX */
} iams_session_init;

/*
 * A fresh record: created = last_seen = auth_time = now, amr = ["fido"]
 * (iAM Smart always checks FIDO) at now, expires_at = now + max_lifetime.
 * IAMS_ERR_MALFORMED when a field is empty (open_id, access_token),
 * too long or holds characters outside printable ASCII.
 */
iams_status iams_session_new(const iams_session_init *init,
    iams_session **out, iams_err *err);

void iams_session_free(iams_session *s);

/* A deep copy of s, owned by the caller (iams_session_free); IAMS_ERR_NOMEM
 * is the only failure. */
iams_status iams_session_clone(const iams_session *s, iams_session **out,
    iams_err *err);

typedef enum {
    IAMS_SESSION_LIVE = 0,
    IAMS_SESSION_IDLE_EXPIRED,
    IAMS_SESSION_ABSOLUTE_EXPIRED
} iams_session_state;

/*
 * Whether the session is still live at now; when it is, moves last_seen to
 * now (never backwards) and sets *ttl (if not NULL) to the Redis TTL to
 * set: min(idle remaining, absolute remaining), at least 1 second.  An
 * expired record is left unchanged and *ttl is 0.  The caller writes the
 * record back (and the TTL) to make the new last_seen durable.
 */
iams_session_state iams_session_touch(iams_session *s, int64_t now,
    int64_t *ttl);

/* The TTL as iams_session_touch computes it, without touching; 0 when the
 * session is expired at now. */
int64_t iams_session_ttl(const iams_session *s, int64_t now);

/* Static name for logs: "live", "idle timeout", "absolute expiry". */
const char *iams_session_state_str(iams_session_state st);

/* Records a successful authentication with method (1..IAMS_AMR_NAME_MAX
 * characters of [a-z0-9_]) at now, e.g. "fr" after a step-up.
 * IAMS_ERR_TOO_LARGE when IAMS_AMR_MAX methods are already present. */
iams_status iams_session_add_amr(iams_session *s, const char *method,
    int64_t now, iams_err *err);

/* When method last succeeded, or 0 when it never did. */
int64_t iams_session_amr_time(const iams_session *s, const char *method);

/* Whether method succeeded within the last max_age seconds. */
int iams_session_amr_fresh(const iams_session *s, const char *method,
    int64_t max_age, int64_t now);

/*
 * Seals the record for storage under redis_key.  *out is malloc()ed,
 * NUL-terminated, owned by the caller (free()).
 */
iams_status iams_session_encode(const iams_session *s,
    const iams_keyring *kr, const char *redis_key, size_t key_len,
    char **out, size_t *out_len, iams_err *err);

/*
 * Opens and validates a record read from redis_key.  Fails with
 * IAMS_ERR_TOO_LARGE above IAMS_SESSION_SEALED_MAX, IAMS_ERR_UNKNOWN_KID
 * when sealed under a secret no longer in the ring, IAMS_ERR_BAD_SIGNATURE
 * when altered or moved from another key, IAMS_ERR_MALFORMED/_JSON when the
 * content is not a valid version 1 record.  Expiry is not checked here:
 * call iams_session_touch.
 */
iams_status iams_session_decode(const iams_keyring *kr,
    const char *redis_key, size_t key_len, const char *in, size_t in_len,
    iams_session **out, iams_err *err);

#endif /* IAMSMART_SESSION_H */
