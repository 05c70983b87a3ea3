/*
 * The department adapter ABI, version 1.0.
 *
 * A department adapter is a shared object that the gateway loads with
 * dlopen(RTLD_NOW | RTLD_LOCAL).  It is a pure mapping between the gateway's
 * canonical JSON formats and one department's backend API: it turns a
 * canonical query into a description of a backend HTTP request, turns the
 * backend's reply into canonical data, turns canonical data into the payload
 * of one of the department's forms, and declares its metadata (services,
 * life themes, age groups, data sets, forms).  The gateway performs all I/O
 * through nginx; an adapter never opens a file or a socket, never sleeps,
 * never starts a thread, and keeps no global mutable state.  This is what
 * keeps nginx workers non-blocking and makes every adapter testable without
 * a network (docs/adapters.md is the tutorial; this header is the contract).
 *
 * This header uses standard C headers only.  It is everything an adapter
 * needs from the gateway; adapters never link against nginx or libiamsmart.
 * They may link jansson (-ljansson) to read and write JSON.
 *
 *
 * Loading and version checks
 * --------------------------
 *
 * The adapter exports exactly one symbol, IAMS_ADAPTER_ENTRY_SYMBOL
 * ("iams_adapter_entry"), a function that returns the address of a static
 * const iams_adapter_v1 table and does nothing else.  Before calling any
 * other adapter code the gateway checks, in this order:
 *
 *   1. magic == IAMS_ADAPTER_MAGIC (the object is an iAM Smart adapter);
 *   2. abi_major == the gateway's IAMS_ADAPTER_ABI_MAJOR;
 *   3. abi_minor <= the gateway's IAMS_ADAPTER_ABI_MINOR (an adapter built
 *      against a newer minor may use hooks this gateway does not know);
 *   4. struct_size >= the size of the table at the adapter's ABI minor.
 *
 * A failed check makes `nginx -t` fail with a message that names the file
 * and both versions ("built for ABI 2.1, gateway provides 1.0").  The first
 * four fields of the table keep this layout in every ABI version.
 *
 * Compatibility rules, for whoever changes this file:
 *  - a new minor version only appends members to iams_adapter_v1,
 *    iams_adapter_host, iams_adapter_call and iams_adapter_reply, and only
 *    appends values to iams_adapter_status; the gateway then accepts older
 *    minors and treats the members they lack as NULL / absent;
 *  - anything else (reordering, retyping, new required hook, a changed JSON
 *    format) is a new major version, and adapters must be rebuilt;
 *  - if you add a member, also update the minimum sizes in
 *    core/src/adapter_load.c and the reference in docs/adapters.md.
 *
 *
 * Memory: who owns what, for how long
 * -----------------------------------
 *
 *  - The table and the strings it points to (name, department, version) are
 *    static in the adapter and must stay valid while it is loaded.
 *  - Every input pointer (config, query, reply, form input, identity) is
 *    borrowed for the duration of the hook call only; inputs are not
 *    NUL-terminated, always use the length.
 *  - Every output (call->out, call->message) is written into memory obtained
 *    from host->alloc(call->host_ctx, n): the gateway owns it (in nginx, the
 *    request's pool) and frees it after the call has been handled; the
 *    adapter must not free it or keep a pointer to it after returning.
 *    iams_adapter_set_output() and iams_adapter_fail() do this for you.
 *  - The adapter's state (the pointer init returns through *state) is the
 *    adapter's own (malloc, jansson); it is passed back as call->state to
 *    every later hook, is read-only after init returns (hooks may run for
 *    many requests, and a host may call them from several threads), and is
 *    freed by fini.  fini runs once, after the last hook call.
 *  - The host table and the call structure belong to the gateway and are
 *    valid for the duration of the hook call only.
 *
 *
 * JSON formats (docs/adapters.md has examples of each)
 * ----------------------------------------------------
 *
 * Canonical names.  A canonical field is either an iAM Smart profile or e-ME
 * field name, with the platform's value shapes (idNo, enName, chName,
 * chNameVerified, birthDate, gender, prefix, maritalStatus, homeTelNumber,
 * officeTelNumber, mobileNumber, emailAddress, residentialAddress,
 * postalAddress, educationLevel, passportNumber, passportExpiry,
 * employmentStatus, propertyOwner, carOwner), or a department data set
 * field "<dataset>.<field>" where a data set is "<dept>.<name>" in lower
 * case ("td.driving_licence.licence_number").  Addresses follow the HK
 * Government common address schema (EngPremisesAddress, ChiPremisesAddress,
 * FreeFormatAddress or PostBoxAddress); dates are "YYYYMMDD" as in the
 * profile's birthDate; timestamps are RFC 3339 ("2025-03-01T02:00:00Z").
 *
 * describe output (the metadata; checked by the gateway at load time):
 *
 *   {"department": {"code": "TD", "name": {"en": "...", "zh-HK": "..."}},
 *    "services": [{"id": "td.idp", "name": {"en", "zh-HK"},
 *                  "themes": ["transport", "travel"],
 *                  "age_groups": ["adult", "elderly"],
 *                  "forms": ["td.idp_application"],            (optional)
 *                  "datasets": ["td.driving_licence"],         (optional)
 *                  "annex": 51}],                              (optional)
 *    "datasets": [{"id": "td.driving_licence", "name": {"en", "zh-HK"},
 *                  "fields": [{"name": "td.driving_licence.expiry_date",
 *                              "type": "date", "required": true}]}],
 *    "forms": [{"id": "td.idp_application", "name": {"en", "zh-HK"},
 *               "service": "td.idp",
 *               "fields": [{"name": "surname", "type": "string",
 *                           "from": ["enName"], "required": true}]}]}
 *
 *   Themes: business civic education employment environment family health
 *   housing immigration leisure public_safety social_welfare tax transport
 *   travel.  Age groups: child youth adult elderly.  Field types: string
 *   date datetime integer number boolean flag ("Y"/"N") hkid en_name
 *   zh_name phone address object array.
 *
 * map_request input, the canonical query:
 *
 *   {"dataset": "td.driving_licence",        (declared by describe)
 *    "subject": "<the department's pairwise subject for the citizen>",
 *    "idNo": {"Identification": "A123456", "CheckDigit": "3"},
 *                                            (only when consent releases it)
 *    "params": {...},                        (optional, data-set specific)
 *    "lang": "en" | "zh-HK"}                 (optional)
 *
 * map_request output, the backend request description:
 *
 *   {"method": "GET" | "POST",
 *    "path": "/v1/...",        (relative to the department's backend
 *                               location; may carry a query string)
 *    "headers": {"Accept": "application/json"},          (optional)
 *    "body": {...} | "text"}   (optional; an object or array is sent as
 *                               application/json)
 *
 * map_response input: the same query, plus the backend's reply
 * (iams_adapter_reply below).  Output, canonical data in which every field
 * carries its source department and the time the department last updated
 * it:
 *
 *   {"dataset": "td.driving_licence",
 *    "fields": {"td.driving_licence.expiry_date":
 *                   {"value": "20300131", "source": "TD",
 *                    "last_updated": "2025-03-01T02:00:00Z"},
 *               "enName": {"value": {"UnstructuredName": "CHAN, Tai Man"},
 *                          "source": "TD", "last_updated": "..."}}}
 *
 *   Only fields the data set declares may appear; "source" is the adapter's
 *   department code; fields the backend does not have are left out.
 *
 * map_form input: the form id and canonical data in the same field format
 * (the gateway merges e-ME data, with source "iAM Smart", and consented
 * exchange data):
 *
 *   {"form": "td.idp_application", "fields": {...}, "lang": "en"}
 *
 * map_form output, the payload in the department's own names and formats:
 *
 *   {"form": "td.idp_application",
 *    "payload": {...},
 *    "missing": ["surname"]}   (optional: required form fields the
 *                               canonical data could not fill)
 *
 * bridge (optional hook) input, for one-click login:
 *
 *   {"department": "TD", "subject": "<pairwise subject>",
 *    "claims": {...}}          (items a consent releases, may be empty)
 *
 * bridge output: headers the gateway adds to the proxied request, after it
 * has removed any client-supplied copy of them:
 *
 *   {"headers": {"X-TD-Account-Ref": "..."}}
 */

#ifndef IAMSMART_ADAPTER_H
#define IAMSMART_ADAPTER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif


#define IAMS_ADAPTER_MAGIC         0x69414d53u     /* "iAMS" */
#define IAMS_ADAPTER_ABI_MAJOR     1
#define IAMS_ADAPTER_ABI_MINOR     0

#define IAMS_ADAPTER_ENTRY_SYMBOL  "iams_adapter_entry"

#if defined(__GNUC__)
#define IAMS_ADAPTER_EXPORT        __attribute__((visibility("default")))
#else
#define IAMS_ADAPTER_EXPORT
#endif

/* Limits the gateway enforces; an adapter may rely on them. */
#define IAMS_ADAPTER_CONFIG_MAX    (1024 * 1024)   /* config JSON text */
#define IAMS_ADAPTER_QUERY_MAX     (64 * 1024)     /* query, form input */
#define IAMS_ADAPTER_REPLY_MAX     (1024 * 1024)   /* backend reply body */
#define IAMS_ADAPTER_OUTPUT_MAX    (1024 * 1024)   /* all allocations of
                                                      one hook call */
#define IAMS_ADAPTER_MESSAGE_MAX   512             /* error and log text */


/*
 * What a hook returns.  Anything but IAMS_ADAPTER_OK is a typed error; the
 * adapter may explain it in call->message (one line for operators: never a
 * citizen's personal data, never a secret).  The gateway turns a typed
 * error into an HTTP answer (not_found -> 404, denied -> 403, backend and
 * malformed_reply -> 502, ...) and never into a crash.  The comment gives
 * the stable token the gateway reports.
 */
typedef enum {
    IAMS_ADAPTER_OK = 0,
    IAMS_ADAPTER_ERR_INVALID_INPUT,  /* "invalid_input": the query or form
                                        input cannot be used */
    IAMS_ADAPTER_ERR_UNSUPPORTED,    /* "unsupported": unknown data set, form
                                        or operation */
    IAMS_ADAPTER_ERR_NOT_FOUND,      /* "not_found": the backend holds no
                                        record for this citizen */
    IAMS_ADAPTER_ERR_DENIED,         /* "denied": the backend refuses (not
                                        eligible, record withheld) */
    IAMS_ADAPTER_ERR_BACKEND,        /* "backend_error": the backend reports a
                                        failure of its own */
    IAMS_ADAPTER_ERR_BAD_REPLY,      /* "malformed_reply": the backend's reply
                                        is not what its API promises */
    IAMS_ADAPTER_ERR_CONFIG,         /* "invalid_config": init only */
    IAMS_ADAPTER_ERR_NOMEM,          /* "out_of_memory" */
    IAMS_ADAPTER_ERR_INTERNAL,       /* "internal": a bug in the adapter */
    IAMS_ADAPTER_ERR_OUTPUT,         /* "adapter_output": set by the gateway
                                        when an adapter's output breaks this
                                        contract; adapters never return it */
    IAMS_ADAPTER_STATUS_COUNT
} iams_adapter_status;

/* Log levels for host->log. */
#define IAMS_ADAPTER_LOG_ERROR     1
#define IAMS_ADAPTER_LOG_WARN      2
#define IAMS_ADAPTER_LOG_INFO      3
#define IAMS_ADAPTER_LOG_DEBUG     4


/*
 * Services the gateway offers to the adapter.  The first member is the size
 * of the structure as the gateway was compiled; the structure only grows at
 * the end, so an adapter that wants a member added in a later minor checks
 * offsetof(member) < size before using it.  Owned by the gateway; valid for
 * the duration of one hook call.
 */
typedef struct iams_adapter_host {
    size_t        size;
    uint32_t      abi_major;          /* the gateway's ABI version */
    uint32_t      abi_minor;

    /* Logs one line (msg need not be NUL-terminated; the gateway prefixes
     * the adapter's name and cuts it at IAMS_ADAPTER_MESSAGE_MAX). */
    void        (*log)(void *host_ctx, int level, const char *msg,
                       size_t len);

    /* Memory for outputs, aligned like malloc(), owned by the gateway (see
     * the overview).  NULL when out of memory or when the call has used up
     * IAMS_ADAPTER_OUTPUT_MAX. */
    void       *(*alloc)(void *host_ctx, size_t n);
} iams_adapter_host;


/*
 * One hook call.  The gateway fills size, host, host_ctx and state; the
 * adapter sets out/out_len on success and may set message/message_len on
 * failure, in both cases with memory from host->alloc.  Owned by the
 * gateway; valid for the duration of the call only.
 */
typedef struct iams_adapter_call {
    size_t                     size;
    const iams_adapter_host   *host;
    void                      *host_ctx;   /* pass to host->log, ->alloc */
    void                      *state;      /* from init; NULL during init */

    const char                *out;        /* the hook's JSON output */
    size_t                     out_len;
    const char                *message;    /* why a hook failed, or NULL */
    size_t                     message_len;
} iams_adapter_call;


/* One HTTP header: borrowed, not NUL-terminated; names in lower case. */
typedef struct {
    const char  *name;
    size_t       name_len;
    const char  *value;
    size_t       value_len;
} iams_adapter_header;


/*
 * The backend's answer to the request that map_request described, passed to
 * map_response for whatever HTTP status arrived (the gateway handles a
 * backend it could not reach itself).  Everything is borrowed for the call;
 * body_len <= IAMS_ADAPTER_REPLY_MAX.  headers holds at least Content-Type
 * when the backend sent one.
 */
typedef struct {
    size_t                      size;
    int                         status;     /* HTTP status, 100..599 */
    const iams_adapter_header  *headers;
    size_t                      nheaders;
    const char                 *body;
    size_t                      body_len;
} iams_adapter_reply;


/*
 * The table an adapter exports.  Hooks marked optional may be NULL; the
 * others are required.  A hook returns IAMS_ADAPTER_OK with its output in
 * call->out, or a typed error.
 */
typedef struct iams_adapter_v1 {
    /* ABI header: this layout never changes */
    uint32_t      magic;              /* IAMS_ADAPTER_MAGIC */
    uint32_t      abi_major;          /* IAMS_ADAPTER_ABI_MAJOR */
    uint32_t      abi_minor;          /* IAMS_ADAPTER_ABI_MINOR */
    uint32_t      struct_size;        /* sizeof(iams_adapter_v1) */

    /* Static strings.  name: [a-z0-9_-], 1..32 chars; department: the
     * department code ("TD", "ImmD"), or NULL for a generic adapter whose
     * configuration names the department (describe is then authoritative);
     * version: the adapter's own version, e.g. "1.2.0". */
    const char   *name;
    const char   *department;
    const char   *version;

    /* Optional.  Parses the configuration (a JSON text, "{}" when the
     * operator gave none) and creates the state, stored in *state.  Runs
     * once per load, at configuration time; a failure (usually
     * IAMS_ADAPTER_ERR_CONFIG, with a message) fails `nginx -t`. */
    iams_adapter_status (*init)(iams_adapter_call *call, const char *config,
                                size_t config_len, void **state);

    /* Optional.  Frees the state; runs once, after the last call. */
    void                (*fini)(void *state);

    /* Writes the metadata (format above).  Runs at load time; the output
     * is checked against the vocabulary and cached by the gateway. */
    iams_adapter_status (*describe)(iams_adapter_call *call);

    /* Canonical query -> backend request description.  Required when the
     * adapter declares data sets. */
    iams_adapter_status (*map_request)(iams_adapter_call *call,
                                       const char *query, size_t query_len);

    /* Backend reply -> canonical data, or a typed error (malformed JSON,
     * a 404, an error body...).  Required when the adapter declares data
     * sets. */
    iams_adapter_status (*map_response)(iams_adapter_call *call,
                                        const char *query, size_t query_len,
                                        const iams_adapter_reply *reply);

    /* Canonical data and a form id -> the form payload.  Required when the
     * adapter declares forms. */
    iams_adapter_status (*map_form)(iams_adapter_call *call,
                                    const char *input, size_t input_len);

    /* Optional.  Identity -> headers that present it to the backend the way
     * the department needs (one-click login). */
    iams_adapter_status (*bridge)(iams_adapter_call *call,
                                  const char *identity, size_t identity_len);
} iams_adapter_v1;


/* The entry point's type and declaration.  Define it as:
 *
 *     IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
 *     iams_adapter_entry(void)
 *     {
 *         return &my_table;
 *     }
 */
typedef const iams_adapter_v1 *(*iams_adapter_entry_pt)(void);

IAMS_ADAPTER_EXPORT const iams_adapter_v1 *iams_adapter_entry(void);

/* Designated initialisers for the ABI header of a table. */
#define IAMS_ADAPTER_V1_HEADER                                               \
    .magic = IAMS_ADAPTER_MAGIC,                                             \
    .abi_major = IAMS_ADAPTER_ABI_MAJOR,                                     \
    .abi_minor = IAMS_ADAPTER_ABI_MINOR,                                     \
    .struct_size = (uint32_t) sizeof(iams_adapter_v1)


/* ---- helpers: small, inline, standard C only ---- */

static inline void *
iams_adapter_alloc(iams_adapter_call *call, size_t n)
{
    return call->host->alloc(call->host_ctx, n);
}


static inline void
iams_adapter_log(iams_adapter_call *call, int level, const char *msg)
{
    call->host->log(call->host_ctx, level, msg, strlen(msg));
}


/* Copies data into gateway memory (NUL-terminated for convenience) and
 * makes it the call's output. */
static inline iams_adapter_status
iams_adapter_set_output(iams_adapter_call *call, const char *data,
    size_t len)
{
    char  *p;

    p = (char *) iams_adapter_alloc(call, len + 1);
    if (p == NULL) {
        return IAMS_ADAPTER_ERR_NOMEM;
    }

    memcpy(p, data, len);
    p[len] = '\0';

    call->out = p;
    call->out_len = len;

    return IAMS_ADAPTER_OK;
}


/* Records why the call failed (cut at IAMS_ADAPTER_MESSAGE_MAX) and
 * returns status, so that a hook can end with
 * "return iams_adapter_fail(call, IAMS_ADAPTER_ERR_BAD_REPLY, "...");". */
static inline iams_adapter_status
iams_adapter_fail(iams_adapter_call *call, iams_adapter_status status,
    const char *msg)
{
    char    *p;
    size_t   len;

    len = strlen(msg);
    if (len > IAMS_ADAPTER_MESSAGE_MAX) {
        len = IAMS_ADAPTER_MESSAGE_MAX;
    }

    p = (char *) iams_adapter_alloc(call, len + 1);

    if (p != NULL) {
        memcpy(p, msg, len);
        p[len] = '\0';
        call->message = p;
        call->message_len = len;
    }

    return status;
}

#ifdef __cplusplus
}
#endif

#endif /* IAMSMART_ADAPTER_H */
