/*
 * Audit records of data exchanges: one record per decision of the
 * exchange endpoint, a release or a denial, written to a Redis stream and
 * to a JSON-lines file with the same content.
 *
 * Format (version 1), members in this order; a JSON null where a value
 * does not apply:
 *
 *   {"v": 1,
 *    "time": "2025-03-01T02:00:00.123Z",     (RFC 3339, UTC, milliseconds)
 *    "request_id": "<the gateway's request id>",
 *    "requester": "TD",                      (department code)
 *    "service": "td.idp" | null,
 *    "source": "ImmD" | null,                (the department that provided
 *                                             the data; null for a denial
 *                                             decided before any source)
 *    "citizen": "<requester's pairwise subject>" | null,
 *    "consent": "<consent id>" | null,
 *    "items": ["immd.birth_record", ...],    (as requested of this source)
 *    "outcome": "released" | "denied",
 *    "reason": "consent revoked" | null,     (denials only: the reason
 *                                             given in the 403 body)
 *    "sha256": "<64 lower-case hex>" | null} (releases only: of the exact
 *                                             bytes released)
 *
 * The citizen appears only as the requester's pairwise subject, never as
 * an openID or the gateway's citizen reference, so that the record shows
 * what the requester saw and no more.  A release records the hash of the
 * data, never the data: the requester can prove what it received by
 * hashing its copy, and the log holds no personal data beyond the
 * subject.
 *
 * Redis stream.  XADD <key> * followed by the record's fields as
 * name/value pairs, in the order above (IAMS_AUDIT_F_* names): strings as
 * they are, "v" as "1", "items" as its compact JSON array text; a null
 * field is left out.  JSON-lines file: the record's line followed by "\n".
 * Both carry the same data, so either can be rebuilt from the other.
 *
 * Bounds: every string is checked before the record is built (shapes and
 * limits in the field comments of iams_audit_event), so a record is at
 * most a few KiB and never carries a control character or a line break.
 *
 * Memory: iams_audit_build fills a caller-provided iams_audit_record whose
 * json, line and items_text are owned by it and freed by
 * iams_audit_record_clear; the fields point into them and live as long.
 * The event's spans are borrowed for the call.
 */

#ifndef IAMSMART_AUDIT_H
#define IAMSMART_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include <iamsmart/platform.h>
#include <iamsmart/status.h>

#define IAMS_AUDIT_VERSION         1
#define IAMS_AUDIT_SHA256_HEX_LEN  64
#define IAMS_AUDIT_REASON_MAX      160
#define IAMS_AUDIT_TOKEN_MAX       64      /* service, request id */
#define IAMS_AUDIT_TIME_MS_MAX     INT64_C(253402300799999)  /* 9999 */
#define IAMS_AUDIT_NFIELDS         12

/* field names of the stream entry and members of the JSON line */
#define IAMS_AUDIT_F_VERSION     "v"
#define IAMS_AUDIT_F_TIME        "time"
#define IAMS_AUDIT_F_REQUEST_ID  "request_id"
#define IAMS_AUDIT_F_REQUESTER   "requester"
#define IAMS_AUDIT_F_SERVICE     "service"
#define IAMS_AUDIT_F_SOURCE      "source"
#define IAMS_AUDIT_F_CITIZEN     "citizen"
#define IAMS_AUDIT_F_CONSENT     "consent"
#define IAMS_AUDIT_F_ITEMS       "items"
#define IAMS_AUDIT_F_OUTCOME     "outcome"
#define IAMS_AUDIT_F_REASON      "reason"
#define IAMS_AUDIT_F_SHA256      "sha256"

typedef enum {
    IAMS_AUDIT_RELEASED = 0,     /* "released" */
    IAMS_AUDIT_DENIED            /* "denied" */
} iams_audit_outcome;

/* What happened; every span is borrowed for the call, data NULL = null. */
typedef struct {
    int64_t             time_ms;     /* epoch ms, 0 .. TIME_MS_MAX */
    iams_span           request_id;  /* required: 1 .. TOKEN_MAX of
                                        [A-Za-z0-9._~:-] */
    iams_span           requester;   /* required: department code, 2 to 8
                                        letters */
    iams_span           service;     /* same shape as request_id */
    iams_span           source;      /* department code; required for a
                                        release */
    iams_span           citizen;     /* 1 .. IAMS_CONSENT_REF_MAX of
                                        [A-Za-z0-9._~:-] */
    iams_span           consent_id;  /* a consent id (iams_consent_id_ok);
                                        required for a release */
    const iams_span    *items;       /* 0 .. IAMS_CONSENT_ITEMS_MAX
                                        (at least 1 for a release), each
                                        iams_consent_item_ok */
    size_t              nitems;
    iams_audit_outcome  outcome;
    iams_span           reason;      /* denials: required, 1 ..
                                        REASON_MAX printable ASCII;
                                        releases: must be null */
    iams_span           sha256;      /* releases: required, 64 lower-case
                                        hex; denials: must be null */
} iams_audit_event;

typedef struct {
    const char  *name;               /* an IAMS_AUDIT_F_* constant */
    const char  *value;              /* NUL-terminated, in the record */
    size_t       len;
} iams_audit_field;

typedef struct {
    json_t            *json;         /* the record object */
    char              *line;         /* compact JSON, no newline */
    size_t             line_len;
    char              *items_text;   /* the items array as JSON text */
    iams_audit_field   fields[IAMS_AUDIT_NFIELDS];
    size_t             nfields;      /* non-null fields, in order */
} iams_audit_record;

/* "released", "denied" (static); "unknown" otherwise. */
const char *iams_audit_outcome_name(iams_audit_outcome outcome);

/*
 * Builds the record of ev into *rec (cleared first).  IAMS_ERR_MALFORMED,
 * with the field named in the detail, when a value breaks its bound or the
 * outcome's rules; IAMS_ERR_NOMEM.  On failure *rec is left cleared.
 */
iams_status iams_audit_build(const iams_audit_event *ev,
    iams_audit_record *rec, iams_err *err);

/* Frees what the record owns and zeroes it; a cleared record may be
 * cleared again. */
void iams_audit_record_clear(iams_audit_record *rec);

/* Writes the 64 lower-case hex digits of SHA-256(data[0..len)) and a NUL. */
void iams_audit_sha256_hex(const void *data, size_t len,
    char out[IAMS_AUDIT_SHA256_HEX_LEN + 1]);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" and a NUL (25 bytes); IAMS_ERR_MALFORMED
 * outside 0 .. IAMS_AUDIT_TIME_MS_MAX. */
iams_status iams_audit_time(int64_t time_ms, char out[25], iams_err *err);

#endif /* IAMSMART_AUDIT_H */
