/*
 * Consent artefacts: a citizen's standing authorisation for one requesting
 * service to receive named data items from named source departments, for
 * one stated purpose, within a time window and a number of uses.  The
 * model, its JSON record, its state machine, the live-consent check the
 * exchange endpoint applies, the use-counting contract with Redis, and
 * the signed form a department keeps as proof.  docs/consent.md explains
 * the same model for citizens' advocates, departments and operators.
 *
 *
 * The record (JSON, version 1)
 * ----------------------------
 *
 *   {"v": 1,
 *    "id": "<22 base64url characters: 16 random bytes>",
 *    "citizen": "<the gateway's opaque reference to the citizen>",
 *    "requester": {"department": "TD", "service": "td.idp",
 *                  "subject": "<TD's pairwise subject for the citizen>"},
 *    "sources": [{"department": "ImmD",
 *                 "subject": "<ImmD's pairwise subject for the citizen>",
 *                 "items": ["immd.birth_record", "birthDate"]}],
 *    "purpose": {"code": "idp-application",
 *                "text": {"en": "...", "zh-HK": "..."}},
 *    "created": s, "not_before": s, "expires": s,
 *    "max_uses": n,                           (0: no limit on the total)
 *    "frequency": {"max": n, "period": s},    (optional: no more than max
 *                                              uses in any one period)
 *    "data_life": s,
 *    "status": "ACTIVE" | "PAUSED" | "REVOKED" | "EXPIRED",
 *    "status_changed": s,
 *    "use_count": n, "last_used": s}          (last_used 0: never used)
 *
 * All times are epoch seconds.  Parsing is strict: every member above is
 * required except "frequency", no other member is accepted (a member a
 * reader does not understand could be a restriction it would then fail to
 * apply, so a change of meaning or a new member needs "v": 2), and every
 * value is checked against the rules and bounds below.  Serialization is
 * compact with sorted keys, so one record has one text.
 *
 * Identifiers.  The department codes are 2 to 8 ASCII letters ("TD",
 * "ImmD"), compared without regard to case; the service is a
 * "<dept>.<name>" id of the requesting department (as adapters declare
 * them).  An item is either an iAM Smart profile or e-ME field name
 * ("birthDate", "residentialAddress") or a data set "<dept>.<dataset>"
 * of the source department it is listed under ("immd.birth_record" only
 * under ImmD).  An item appears once in a consent, so it names its source
 * unambiguously (iams_consent_item_source).  At most
 * IAMS_CONSENT_SOURCES_MAX sources and IAMS_CONSENT_ITEMS_MAX items in
 * all, each source with at least one item.
 *
 * Citizen and subjects.  "citizen" is a reference the gateway computes
 * (a keyed hash of the platform openID, e.g. iams_pairwise_subject with a
 * namespace of its own), never the openID; it lets the gateway list a
 * citizen's consents and check that a citizen acts on their own.  The
 * "subject" of the requester and of each source is that department's
 * pairwise subject for the citizen (pairwise.h), computed while the
 * citizen is logged in and granting: the exchange runs server to server,
 * without the citizen's session, and these are the identifiers the
 * gateway passes to each department.  A record therefore links one
 * citizen's pseudonyms across departments: store it sealed or keep Redis
 * as private as the secret file.  References and subjects are 1 to
 * IAMS_CONSENT_REF_MAX characters of [A-Za-z0-9._~:-].
 *
 * Purpose.  code: 1 to 64 characters of [A-Za-z0-9._-]; the texts shown
 * on the consent page: 1 to IAMS_CONSENT_PURPOSE_TEXT_MAX bytes of UTF-8
 * each, without control characters and without Unicode bidirectional
 * overrides or isolates (which could make the page show a purpose other
 * than the one stored).
 *
 * Times.  created <= not_before <= created + IAMS_CONSENT_START_MAX;
 * not_before < expires <= created + IAMS_CONSENT_LIFETIME_MAX;
 * status_changed >= created; last_used is 0 or >= created; none above
 * IAMS_CONSENT_TIME_MAX.  The consent can be used while
 * not_before <= now < expires.
 *
 * Uses.  max_uses in 0 .. IAMS_CONSENT_USES_MAX (0: no limit);
 * use_count <= max_uses when there is a limit.  frequency.max in
 * 1 .. IAMS_CONSENT_USES_MAX, frequency.period in IAMS_CONSENT_PERIOD_MIN
 * .. IAMS_CONSENT_PERIOD_MAX seconds; periods are counted from not_before
 * (the k-th is [not_before + k * period, not_before + (k + 1) * period)),
 * which needs no time zone.  data_life: 0 .. IAMS_CONSENT_DATA_LIFE_MAX
 * seconds the requester may keep what it receives (0: use and discard).
 *
 *
 * States
 * ------
 *
 *   ACTIVE  --pause-->   PAUSED     (only before expires)
 *   PAUSED  --resume-->  ACTIVE     (only before expires)
 *   ACTIVE, PAUSED  --revoke-->  REVOKED   (at any time; final)
 *   ACTIVE, PAUSED  --expire-->  EXPIRED   (only from expires on; final)
 *
 * A consent whose expiry has passed is treated as expired by the check
 * and by iams_consent_effective_status even while the stored status still
 * says ACTIVE or PAUSED; expiry handling later makes it EXPIRED.  Illegal
 * transitions change nothing and return a reason (iams_consent_tx).
 *
 *
 * Redis (key names are the module's choice; these are suggestions)
 * ----------------------------------------------------------------
 *
 *   iamsmart:consent:v1:{<id>}          the record (durable, no TTL)
 *   iamsmart:consent:v1:{<id>}:uses     total uses, integer (durable)
 *   iamsmart:consent:v1:{<id>}:last     time of the last use (durable)
 *   iamsmart:consent:v1:{<id>}:w:<k>    uses in period k (TTL: the rest
 *                                       of the period)
 *   iamsmart:consents:v1:<citizen>      set of the citizen's consent ids
 *
 * The braces keep one consent's keys in one Redis Cluster slot, so the
 * use script below may touch them together.  Grants must be durable once
 * acknowledged: appendonly yes and appendfsync always (docs/consent.md).
 *
 * Counting uses.  The counters, not the record, are authoritative for
 * use_count and last_used: an exchange never rewrites the record (a
 * rewrite could undo a concurrent revocation).  After reading the record
 * the module overlays them with iams_consent_set_usage.  A use is counted
 * atomically before any source is called:
 *
 *   EVAL IAMS_CONSENT_USE_SCRIPT 3 <uses key> <period key> <last key>
 *        <max_uses> <frequency.max or 0> <period TTL> <now>
 *
 * The script increments the counters (and sets the last use) only when
 * both limits allow it and returns {uses, period uses} as they are, or
 * would have been, after this use; iams_consent_use_verdict turns that
 * reply into the decision.  A plain "INCR <uses key>" (no frequency
 * limit) with iams_consent_use_verdict(c, reply, 0, ...) is equally safe,
 * but a denied attempt then still raises the counter.  Either way, however
 * many exchanges race on one consent, at most max_uses of them are
 * allowed.  A use is counted even if a source later fails.
 *
 * Status changes (pause, resume, revoke, expire) are read-modify-write of
 * the record; make the write conditional on the value read (e.g. a script
 * that SETs only if GET still returns the old text, else re-read and
 * retry), so that a pause can never overwrite a revocation.  An exchange
 * that reads the record after the revocation's write has been
 * acknowledged is denied; an exchange that read it before may complete.
 *
 *
 * Signed artefact
 * ---------------
 *
 * iams_consent_sign produces a compact JWS (typ "consent+jwt") whose
 * payload is a JWT claims set a department can verify with the gateway's
 * published keys:
 *
 *   {"iss": "<gateway issuer>", "sub": <requester subject>,
 *    "aud": <requester department>, "jti": <id>, "iat": created,
 *    "nbf": not_before, "exp": expires,
 *    "consent": {"v": 1, "requester": {"department", "service"},
 *                "sources": [{"department", "items"}], "purpose",
 *                "max_uses", "frequency" (if any), "data_life"}}
 *
 * It proves what the citizen granted and when; it carries neither the
 * citizen reference nor the sources' subjects (a requester must not learn
 * other departments' pseudonyms), nor the status: whether the consent is
 * still live is the gateway's answer at exchange time, not the token's.
 *
 *
 * Memory
 * ------
 *
 * An iams_consent is a flat struct without pointers: strings are
 * NUL-terminated arrays inside it, so a copy is a memcpy and freeing is
 * free().  iams_consent_parse and iams_consent_create return a malloc()ed
 * record owned by the caller (iams_consent_free).  Treat its members as
 * read-only; change it only through the functions below, which keep it
 * valid.  Input (pointer, length) pairs are borrowed for the call.  Text
 * outputs (char **out) are malloc()ed, NUL-terminated, owned by the
 * caller (free()); json_t * results are new references (json_decref).
 */

#ifndef IAMSMART_CONSENT_H
#define IAMSMART_CONSENT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include <iamsmart/jose.h>
#include <iamsmart/platform.h>
#include <iamsmart/status.h>

#define IAMS_CONSENT_VERSION           1
#define IAMS_CONSENT_ID_BYTES          16
#define IAMS_CONSENT_ID_LEN            22     /* base64url of 16 bytes */
#define IAMS_CONSENT_REF_MAX           128    /* citizen, subjects */
#define IAMS_CONSENT_DEPT_MIN          2
#define IAMS_CONSENT_DEPT_MAX          8
#define IAMS_CONSENT_SERVICE_MAX       64
#define IAMS_CONSENT_ITEM_MAX          64
#define IAMS_CONSENT_SOURCES_MAX       16
#define IAMS_CONSENT_ITEMS_MAX         32
#define IAMS_CONSENT_PURPOSE_CODE_MAX  64
#define IAMS_CONSENT_PURPOSE_TEXT_MAX  1024   /* bytes of UTF-8, per text */
#define IAMS_CONSENT_JSON_MAX          (32 * 1024)
#define IAMS_CONSENT_START_MAX         (366 * 86400)
#define IAMS_CONSENT_LIFETIME_MAX      (5 * 366 * 86400)
#define IAMS_CONSENT_DATA_LIFE_MAX     (10 * 366 * 86400)
#define IAMS_CONSENT_USES_MAX          1000000
#define IAMS_CONSENT_PERIOD_MIN        60
#define IAMS_CONSENT_PERIOD_MAX        (366 * 86400)
#define IAMS_CONSENT_TIME_MAX          ((int64_t) 1 << 40)
#define IAMS_CONSENT_JWT_TYP           "consent+jwt"
#define IAMS_CONSENT_REASON_MAX        96     /* verdict text, with NUL */


typedef enum {
    IAMS_CONSENT_STATUS_ACTIVE = 0,
    IAMS_CONSENT_STATUS_PAUSED,
    IAMS_CONSENT_STATUS_REVOKED,
    IAMS_CONSENT_STATUS_EXPIRED
} iams_consent_status;

typedef struct {
    char  department[IAMS_CONSENT_DEPT_MAX + 1];
    char  subject[IAMS_CONSENT_REF_MAX + 1];
} iams_consent_party;

typedef struct {
    char      name[IAMS_CONSENT_ITEM_MAX + 1];
    unsigned  source;                /* index into sources[] */
} iams_consent_item;

typedef struct {
    char                 id[IAMS_CONSENT_ID_LEN + 1];
    char                 citizen[IAMS_CONSENT_REF_MAX + 1];

    iams_consent_party   requester;
    char                 service[IAMS_CONSENT_SERVICE_MAX + 1];

    iams_consent_party   sources[IAMS_CONSENT_SOURCES_MAX];
    size_t               nsources;
    iams_consent_item    items[IAMS_CONSENT_ITEMS_MAX];  /* in source order */
    size_t               nitems;

    char                 purpose_code[IAMS_CONSENT_PURPOSE_CODE_MAX + 1];
    char                 purpose_en[IAMS_CONSENT_PURPOSE_TEXT_MAX + 1];
    char                 purpose_zh[IAMS_CONSENT_PURPOSE_TEXT_MAX + 1];

    int64_t              created;
    int64_t              not_before;
    int64_t              expires;
    int64_t              max_uses;       /* 0: no limit */
    int64_t              freq_max;       /* 0: no frequency limit */
    int64_t              freq_period;    /* seconds; 0 without a limit */
    int64_t              data_life;      /* seconds */

    iams_consent_status  status;
    int64_t              status_changed;
    int64_t              use_count;
    int64_t              last_used;      /* 0: never */
} iams_consent;


/* ---- names and identifiers ---- */

/* "ACTIVE", "PAUSED", "REVOKED", "EXPIRED" (static); "UNKNOWN" otherwise. */
const char *iams_consent_status_name(iams_consent_status st);

/* Whether id[0..len) is a canonical consent id (22 base64url characters
 * encoding 16 bytes).  Check a path parameter with it before any lookup. */
int iams_consent_id_ok(const char *id, size_t len);

/* Whether s[0..len) has the shape of an item: a profile or e-ME field name
 * or a "<dept>.<dataset>" id. */
int iams_consent_item_ok(const char *s, size_t len);

/* The index in c->sources of the department that provides item, or -1
 * when the consent does not name it. */
int iams_consent_item_source(const iams_consent *c, const char *item,
    size_t len);

/* Whether ref[0..len) is the consent's citizen; the contents are compared
 * in constant time (the length is not secret). */
int iams_consent_citizen_is(const iams_consent *c, const char *ref,
    size_t len);


/* ---- creation, JSON ---- */

/*
 * A new ACTIVE consent from the terms the citizen approved, a JSON object
 * with exactly the members "requester", "sources", "purpose", "expires",
 * "max_uses", "data_life" and optionally "not_before" and "frequency", in
 * the record's shapes (above).  The id is random; created and
 * status_changed are now; not_before is max(not_before, now), now when
 * absent; use_count and last_used are 0.  citizen: the gateway's
 * reference.  IAMS_ERR_MALFORMED with a detail naming the member for any
 * rule broken; IAMS_ERR_INTERNAL if the random generator fails.
 */
iams_status iams_consent_create(const json_t *terms, const char *citizen,
    size_t citizen_len, int64_t now, iams_consent **out, iams_err *err);

/*
 * Parses a stored record: at most IAMS_CONSENT_JSON_MAX bytes
 * (IAMS_ERR_TOO_LARGE), one JSON object (IAMS_ERR_JSON), "v" 1 and every
 * rule above (IAMS_ERR_MALFORMED, the detail names the member, e.g.
 * "consent: sources[1].items[0]: a data set of another department").
 */
iams_status iams_consent_parse(const char *buf, size_t len,
    iams_consent **out, iams_err *err);

/* Checks every rule on a record held in memory (e.g. one a caller filled
 * or changed); iams_consent_parse and _create call it. */
iams_status iams_consent_validate(const iams_consent *c, iams_err *err);

/* The record as JSON (for storage and for the citizen's list and view);
 * NULL on allocation failure. */
json_t *iams_consent_to_json(const iams_consent *c);

/* The record's text: compact, keys sorted. */
iams_status iams_consent_serialize(const iams_consent *c, char **out,
    size_t *out_len, iams_err *err);

void iams_consent_free(iams_consent *c);


/* ---- states ---- */

typedef enum {
    IAMS_CONSENT_TX_OK = 0,
    IAMS_CONSENT_TX_REVOKED,      /* "consent revoked": final */
    IAMS_CONSENT_TX_EXPIRED,      /* "consent expired": final, or past
                                     its expiry */
    IAMS_CONSENT_TX_NOT_ACTIVE,   /* "consent not active" (pause) */
    IAMS_CONSENT_TX_NOT_PAUSED,   /* "consent not paused" (resume) */
    IAMS_CONSENT_TX_NOT_DUE       /* "consent not yet due to expire" */
} iams_consent_tx;

/* Static, stable text for a 409 body. */
const char *iams_consent_tx_str(iams_consent_tx tx);

/* The transitions above; on success status_changed becomes now (never
 * moving backwards). */
iams_consent_tx iams_consent_pause(iams_consent *c, int64_t now);
iams_consent_tx iams_consent_resume(iams_consent *c, int64_t now);
iams_consent_tx iams_consent_revoke(iams_consent *c, int64_t now);
iams_consent_tx iams_consent_expire(iams_consent *c, int64_t now);

/* The status to show at now: EXPIRED for an ACTIVE or PAUSED consent
 * whose expiry has passed, else the stored status. */
iams_consent_status iams_consent_effective_status(const iams_consent *c,
    int64_t now);


/* ---- the live-consent check ---- */

typedef enum {
    IAMS_CONSENT_LIVE = 0,           /* "consent live" */
    IAMS_CONSENT_NONE,               /* "no consent" */
    IAMS_CONSENT_WRONG_REQUESTER,    /* "wrong requester" */
    IAMS_CONSENT_WRONG_SUBJECT,      /* "wrong subject" */
    IAMS_CONSENT_REVOKED,            /* "consent revoked" */
    IAMS_CONSENT_EXPIRED,            /* "consent expired" */
    IAMS_CONSENT_PAUSED,             /* "consent paused" */
    IAMS_CONSENT_NOT_YET_VALID,      /* "consent not yet valid" */
    IAMS_CONSENT_WRONG_PURPOSE,      /* "wrong purpose" */
    IAMS_CONSENT_NO_ITEMS,           /* "no items requested" */
    IAMS_CONSENT_ITEM_NOT_COVERED,   /* "item not covered: <item>" */
    IAMS_CONSENT_USE_LIMIT,          /* "use limit reached" */
    IAMS_CONSENT_FREQUENCY_LIMIT,    /* "frequency limit reached" */
    IAMS_CONSENT_REASON_COUNT
} iams_consent_reason;

/* Static, stable text without the item ("item not covered"). */
const char *iams_consent_reason_str(iams_consent_reason reason);

/* What a requester asks for; all borrowed for the call. */
typedef struct {
    iams_span         department;     /* the authenticated requester */
    iams_span         service;
    iams_span         subject;        /* data NULL: not checked; else the
                                         requester's pairwise subject for
                                         the citizen it means */
    iams_span         purpose;        /* purpose code */
    const iams_span  *items;
    size_t            nitems;
} iams_consent_query;

typedef struct {
    iams_consent_reason  reason;
    size_t               item;       /* ITEM_NOT_COVERED: index in the
                                        query's items */
    char                 text[IAMS_CONSENT_REASON_MAX];
                                     /* the 403 reason, NUL-terminated:
                                        the reason string, and for an
                                        uncovered item ": <item>", or
                                        ": (invalid item name)" when the
                                        item does not have an item's
                                        shape (iams_consent_item_ok) and
                                        so is never echoed */
} iams_consent_verdict;

/*
 * Whether c (NULL: no consent found) releases every item of q at now, to
 * q's requester, for q's purpose.  In order, so that a requester learns
 * nothing about a consent that is not its own: requester (department and
 * service), subject, status and time (revoked; expired by status or at
 * now >= expires; paused; now < not_before), purpose (exact), items
 * (each one by exact name: a consent for A never releases B; a subset of
 * the consented items may be asked for), and uses left by c->use_count
 * (the atomic count follows, iams_consent_use_verdict).  Returns the
 * reason, IAMS_CONSENT_LIVE when every check passed; fills *v (if not
 * NULL) likewise.
 */
iams_consent_reason iams_consent_check(const iams_consent *c,
    const iams_consent_query *q, int64_t now, iams_consent_verdict *v);


/* ---- use counting (see the overview) ---- */

/*
 * The period of the frequency limit that now falls in: *index (k above)
 * for the key name and *ttl, the seconds left in it (at least 1), for the
 * script's TTL argument.  Both 0 when the consent has no frequency limit
 * or now < not_before.
 */
void iams_consent_period(const iams_consent *c, int64_t now,
    int64_t *index, int64_t *ttl);

/*
 * KEYS[1] uses counter, KEYS[2] period counter, KEYS[3] last use;
 * ARGV[1] max_uses (0: none), ARGV[2] frequency max (0: none),
 * ARGV[3] period TTL in seconds, ARGV[4] now.  Returns {uses, period uses}
 * including this attempt; changes nothing when a limit would be exceeded.
 */
#define IAMS_CONSENT_USE_SCRIPT                                              \
    "local max = tonumber(ARGV[1])\n"                                        \
    "local fmax = tonumber(ARGV[2])\n"                                       \
    "local n = tonumber(redis.call('GET', KEYS[1]) or '0') + 1\n"            \
    "local w = 0\n"                                                          \
    "if fmax > 0 then\n"                                                     \
    "  w = tonumber(redis.call('GET', KEYS[2]) or '0') + 1\n"                \
    "end\n"                                                                  \
    "if (max == 0 or n <= max) and (fmax == 0 or w <= fmax) then\n"          \
    "  redis.call('INCR', KEYS[1])\n"                                        \
    "  if fmax > 0 then\n"                                                   \
    "    redis.call('INCR', KEYS[2])\n"                                      \
    "    redis.call('EXPIRE', KEYS[2], ARGV[3])\n"                           \
    "  end\n"                                                                \
    "  redis.call('SET', KEYS[3], ARGV[4])\n"                                \
    "end\n"                                                                  \
    "return {n, w}\n"

/*
 * The decision for a counted use: uses and period_uses are the counts
 * including this attempt, as the script (or INCR) returned them
 * (period_uses is ignored without a frequency limit).  IAMS_CONSENT_LIVE,
 * IAMS_CONSENT_USE_LIMIT or IAMS_CONSENT_FREQUENCY_LIMIT; a count below 1
 * (a broken reply) is IAMS_CONSENT_USE_LIMIT: fail closed.  Fills *v (if
 * not NULL).
 */
iams_consent_reason iams_consent_use_verdict(const iams_consent *c,
    int64_t uses, int64_t period_uses, iams_consent_verdict *v);

/* Overlays the authoritative counters read from Redis (uses clamped to
 * 0 .. max_uses; last_used 0 when never used, else clamped to at least
 * created). */
void iams_consent_set_usage(iams_consent *c, int64_t uses,
    int64_t last_used);


/* ---- signed artefact ---- */

/*
 * The compact JWS described above, under key and alg (the key must allow
 * signing with alg; kid as for iams_jws_sign).  issuer: the gateway's
 * issuer identifier, NUL-terminated, or NULL to omit "iss".  *out is
 * malloc()ed, NUL-terminated, owned by the caller (free()).
 */
iams_status iams_consent_sign(const iams_consent *c, const iams_jwk *key,
    iams_alg alg, const char *kid, const char *issuer, char **out,
    size_t *out_len, iams_err *err);

/* The claims set that iams_consent_sign signs (new reference); NULL on
 * allocation failure. */
json_t *iams_consent_claims(const iams_consent *c, const char *issuer);

#endif /* IAMSMART_CONSENT_H */
