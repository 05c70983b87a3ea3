/*
 * The gateway side of the adapter ABI (iamsmart/adapter.h): loading,
 * checking, describing and calling department adapters.  nginx-independent;
 * the module calls it at configuration time (`iamsmart_adapter NAME PATH
 * [config=FILE]`) and for each data exchange, form filling and bridged
 * request, and the CLI (build/bin/iamsmart-adapter) and the tests call it
 * the same way.
 *
 * Loading (iams_adapter_load) opens the shared object with
 * dlopen(RTLD_NOW | RTLD_LOCAL), finds the entry symbol, checks magic, ABI
 * version and table size before any other adapter code runs, calls init
 * with the configuration file's JSON, calls describe and checks its output
 * against the vocabulary (docs/adapters.md).  Every failure returns a
 * reason and a message that names the adapter, its file and the cause, in
 * words an operator can act on; `nginx -t` prints it as it is:
 *
 *   adapter "td" (/etc/nginx/adapters/td.so): built for ABI 2.1, gateway
 *   provides 1.0
 *
 * A file replaced on disk (a new inode, as `mv` or `install` make) is loaded
 * afresh even while the old version is still mapped, so that a reload swaps
 * adapters: the new configuration gets the new code, and workers of the old
 * configuration finish their requests with the old one until the old
 * configuration is unloaded.  A file rewritten in place (same inode) is not
 * supported: running processes would see the bytes change under them.
 *
 * Calls (iams_adapter_map_request, _map_response, _map_form, _bridge) check
 * the input, run the hook, time it (CLOCK_MONOTONIC; a call slower than the
 * adapter's threshold is logged as a warning), and check the output against
 * the contract: an adapter that breaks it gets IAMS_ADAPTER_ERR_OUTPUT, never
 * a crash of the caller.  Outputs are written into memory from env->alloc
 * (in nginx: the request pool), so the caller owns them and nothing needs to
 * be freed one by one.
 *
 * Ownership: an iams_adapter is owned by whoever loaded it and freed by
 * iams_adapter_unload (in nginx: a cleanup of the configuration pool).  It is
 * immutable after loading, so one adapter may serve any number of requests,
 * also concurrently.  Strings returned by the accessors live as long as the
 * adapter.  Input (pointer, length) pairs are borrowed for the call.
 */

#ifndef IAMSMART_ADAPTER_HOST_H
#define IAMSMART_ADAPTER_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <iamsmart/adapter.h>

#define IAMS_ADAPTER_DESCRIBE_MAX       (256 * 1024)
#define IAMS_ADAPTER_NAME_MAX           32
#define IAMS_ADAPTER_DIAG_MAX           1024
#define IAMS_ADAPTER_SLOW_USEC_DEFAULT  5000     /* 5 ms */
#define IAMS_ADAPTER_BRIDGE_HEADERS_MAX 16
#define IAMS_ADAPTER_HEADER_VALUE_MAX   4096


typedef struct iams_adapter  iams_adapter;


/*
 * Where a call puts its output and its log lines.  alloc must return memory
 * aligned like malloc() that stays valid as long as the caller needs the
 * output (NULL means out of memory); log may be NULL (silent).  level is one
 * of IAMS_ADAPTER_LOG_*; msg is not NUL-terminated and is already prefixed
 * with `adapter "NAME": `.  At load time only log is used.
 */
typedef struct {
    void   *(*alloc)(void *alloc_ctx, size_t n);
    void     *alloc_ctx;
    void    (*log)(void *log_ctx, int level, const char *msg, size_t len);
    void     *log_ctx;
} iams_adapter_env;


/* What a load or a call reports besides its result: how long the adapter
 * code ran, and on failure the reason (NUL-terminated, for operators). */
typedef struct {
    uint64_t  usec;
    char      message[IAMS_ADAPTER_DIAG_MAX];
} iams_adapter_diag;


typedef enum {
    IAMS_ADAPTER_LOAD_OK = 0,
    IAMS_ADAPTER_LOAD_USAGE,       /* bad name or missing path in the spec */
    IAMS_ADAPTER_LOAD_OPEN,        /* file missing, unreadable, not a
                                      loadable object, unresolved symbol */
    IAMS_ADAPTER_LOAD_NO_ENTRY,    /* no iams_adapter_entry symbol */
    IAMS_ADAPTER_LOAD_BAD_TABLE,   /* no table, bad magic, bad name,
                                      missing required hook */
    IAMS_ADAPTER_LOAD_ABI,         /* ABI major differs or minor is newer */
    IAMS_ADAPTER_LOAD_SIZE,        /* table smaller than its ABI requires */
    IAMS_ADAPTER_LOAD_CONFIG,      /* config file unreadable or not JSON */
    IAMS_ADAPTER_LOAD_INIT,        /* init failed */
    IAMS_ADAPTER_LOAD_DESCRIBE,    /* describe failed or broke the format */
    IAMS_ADAPTER_LOAD_NOMEM
} iams_adapter_load_status;


/* What to load.  Strings are NUL-terminated and copied. */
typedef struct {
    const char  *name;          /* operator's name: [a-z0-9_-]{1,32} */
    const char  *path;          /* the shared object */
    const char  *config_path;   /* JSON file passed to init, or NULL */
    const char  *config;        /* or the JSON text itself (no file); */
    size_t       config_len;    /* neither: "{}" */
    uint64_t     slow_usec;     /* 0: IAMS_ADAPTER_SLOW_USEC_DEFAULT */
} iams_adapter_spec;


/*
 * Loads, checks and initialises spec->path; *out is set on success only.
 * diag->message says why it failed (see the overview) and diag->usec how
 * long init and describe took.
 */
iams_adapter_load_status iams_adapter_load(const iams_adapter_spec *spec,
    const iams_adapter_env *env, iams_adapter **out, iams_adapter_diag *diag);

/*
 * The same checks and initialisation for a table that is already in memory
 * (an adapter linked into the program, or a test); spec->path is only a
 * label for messages.
 */
iams_adapter_load_status iams_adapter_load_table(const iams_adapter_v1 *table,
    const iams_adapter_spec *spec, const iams_adapter_env *env,
    iams_adapter **out, iams_adapter_diag *diag);

/* Calls fini, closes the shared object and frees everything; NULL is a
 * no-op.  No call may be running on the adapter or start afterwards. */
void iams_adapter_unload(iams_adapter *adapter);

/* Stable tokens: "ok", "cannot open", "no entry symbol", "bad table",
 * "ABI mismatch", "table too small", "bad config", "init failed",
 * "invalid describe", "out of memory", "usage". */
const char *iams_adapter_load_status_str(iams_adapter_load_status status);


/* ---- what a loaded adapter is ---- */

const char *iams_adapter_name(const iams_adapter *adapter);      /* spec */
const char *iams_adapter_path(const iams_adapter *adapter);
const char *iams_adapter_department(const iams_adapter *adapter); /* code */
const char *iams_adapter_version(const iams_adapter *adapter);
int iams_adapter_has_bridge(const iams_adapter *adapter);

/* The checked describe output, compact JSON, NUL-terminated. */
const char *iams_adapter_describe_json(const iams_adapter *adapter,
    size_t *len);

/* 1 when the adapter provides that data set or fills that form. */
int iams_adapter_has_dataset(const iams_adapter *adapter, const char *id,
    size_t len);
int iams_adapter_has_form(const iams_adapter *adapter, const char *id,
    size_t len);

/*
 * What the gateway must gather before it calls map_form for a form: the
 * canonical names its fields come from, split the way iAM Smart asks for
 * them, and the data sets (of any department) they need:
 *
 *   {"profileFields": ["enName", "birthDate"],
 *    "eMEFields": ["residentialAddress"],
 *    "datasets": ["td.driving_licence"]}
 *
 * NULL when the adapter has no such form.  Compact JSON owned by the
 * adapter.
 */
const char *iams_adapter_form_inputs(const iams_adapter *adapter,
    const char *form, size_t form_len, size_t *len);


/* ---- calls ---- */

/* A backend request description, parsed; strings are NUL-terminated and
 * live in env->alloc memory, header names as the adapter wrote them. */
typedef struct {
    const char           *method;      /* "GET" or "POST" */
    size_t                method_len;
    const char           *path;        /* starts with "/", may have "?..." */
    size_t                path_len;
    iams_adapter_header  *headers;
    size_t                nheaders;
    const char           *body;        /* "" when none */
    size_t                body_len;
    const char           *json;        /* the whole description, as the */
    size_t                json_len;    /* adapter wrote it */
} iams_adapter_backend_request;

/*
 * Canonical query -> backend request description (formats in adapter.h).
 * A query for a data set the adapter does not declare gets
 * IAMS_ADAPTER_ERR_UNSUPPORTED without calling the adapter; a query that is
 * not a valid canonical query gets IAMS_ADAPTER_ERR_INVALID_INPUT.
 */
iams_adapter_status iams_adapter_map_request(const iams_adapter *adapter,
    const iams_adapter_env *env, const char *query, size_t query_len,
    iams_adapter_backend_request *out, iams_adapter_diag *diag);

/*
 * Backend reply -> canonical data, written to *out / *out_len (compact
 * JSON, NUL-terminated, env->alloc memory).  Checked on the way out: the
 * data set matches the query, every field is declared by it, has a value
 * of the declared type, the adapter's department as its source and an
 * RFC 3339 last_updated; required fields are present.  A body larger than
 * IAMS_ADAPTER_REPLY_MAX gets IAMS_ADAPTER_ERR_BAD_REPLY without calling
 * the adapter.
 */
iams_adapter_status iams_adapter_map_response(const iams_adapter *adapter,
    const iams_adapter_env *env, const char *query, size_t query_len,
    const iams_adapter_reply *reply, const char **out, size_t *out_len,
    iams_adapter_diag *diag);

/* Form input -> {"form", "payload", "missing"?} (formats in adapter.h). */
iams_adapter_status iams_adapter_map_form(const iams_adapter *adapter,
    const iams_adapter_env *env, const char *input, size_t input_len,
    const char **out, size_t *out_len, iams_adapter_diag *diag);

/*
 * Identity -> headers for the backend (at most
 * IAMS_ADAPTER_BRIDGE_HEADERS_MAX, names are HTTP tokens, values without
 * control characters).  IAMS_ADAPTER_ERR_UNSUPPORTED when the adapter has
 * no bridge hook.
 */
iams_adapter_status iams_adapter_bridge(const iams_adapter *adapter,
    const iams_adapter_env *env, const char *identity, size_t identity_len,
    iams_adapter_header **headers, size_t *nheaders,
    iams_adapter_diag *diag);

/* Stable token of a call status ("not_found", see adapter.h), and the HTTP
 * status a gateway answers with: 400 invalid_input, 404 unsupported and
 * not_found, 403 denied, 502 backend_error, malformed_reply and
 * adapter_output, 500 otherwise. */
const char *iams_adapter_status_str(iams_adapter_status status);
int iams_adapter_status_http(iams_adapter_status status);


/* ---- the service catalogue ---- */

/*
 * The services of the adapters in list, grouped by life theme and age
 * group, for portals and apps:
 *
 *   {"departments": [{"code", "name": {"en", "zh-HK"}, "adapter"}],
 *    "services": [{"id", "department", "name", "themes", "age_groups",
 *                  "forms", "datasets", "annex"?}],
 *    "themes": [{"id", "name", "services": ["td.idp", ...]}],
 *    "age_groups": [{"id", "name", "services": [...]}]}
 *
 * theme and age_group (NUL-terminated, may be NULL) keep only the services
 * in that theme and age group; an unknown one is
 * IAMS_ADAPTER_ERR_INVALID_INPUT.  Themes and age groups come in vocabulary
 * order, with their English and Chinese names; those without services are
 * left out.  *out is malloc()ed and NUL-terminated; the caller frees it.
 */
iams_adapter_status iams_adapter_catalogue(iams_adapter *const *list,
    size_t n, const char *theme, const char *age_group, char **out,
    size_t *out_len, iams_adapter_diag *diag);


/* ---- memory for callers without a pool (CLI, tests, fuzzing) ---- */

typedef struct iams_adapter_arena  iams_adapter_arena;

/* An arena of malloc()ed blocks, freed together; limit caps its total size
 * (0: no cap).  NULL when out of memory. */
iams_adapter_arena *iams_adapter_arena_create(size_t limit);

/* Fits iams_adapter_env.alloc with alloc_ctx = the arena. */
void *iams_adapter_arena_alloc(void *arena, size_t n);

void iams_adapter_arena_destroy(iams_adapter_arena *arena);

#endif /* IAMSMART_ADAPTER_HOST_H */
