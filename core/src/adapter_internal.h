/*
 * Private to the adapter host (adapter_*.c): the layout of a loaded adapter,
 * the vocabulary of describe and canonical data, and the checks shared by
 * loading and calling.
 *
 * An iams_adapter is immutable once iams_adapter_load returns it.  If you
 * add a member, also free it in iams_adapter_unload (adapter_load.c).
 */

#ifndef IAMSMART_ADAPTER_INTERNAL_H
#define IAMSMART_ADAPTER_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <jansson.h>

#include <iamsmart/adapter_host.h>


/* A member of the adapter's table exists at its ABI minor. */
#define IAMS_ADAPTER_TABLE_HAS(t, member)                                    \
    (offsetof(iams_adapter_v1, member)                                       \
     + sizeof(((const iams_adapter_v1 *) 0)->member) <= (t)->struct_size)

#define IAMS_ADAPTER_HOOK(t, member)                                         \
    (IAMS_ADAPTER_TABLE_HAS(t, member) ? (t)->member : NULL)


struct iams_adapter {
    char                   *name;          /* the operator's, malloc()ed */
    char                   *path;
    void                   *handle;        /* dlopen(); NULL for a table */
    const iams_adapter_v1  *table;
    void                   *state;         /* from init */
    uint64_t                slow_usec;

    char                   *version;       /* copy of table->version */
    char                   *department;    /* describe's department code */
    char                   *describe_text; /* checked, compact */
    size_t                  describe_len;
    json_t                 *describe;      /* the same, parsed */

    /* indexes built by the describe check, all owned:
     *   datasets: id -> {"fields": {name -> field}, "required": [names]}
     *   forms:    id -> {"fields": {name -> field}, "inputs": "<json>"} */
    json_t                 *datasets;
    json_t                 *forms;
};


/* ---- vocabulary (adapter_vocab.c) ---- */

typedef enum {
    IAMS_ATYPE_STRING = 0,
    IAMS_ATYPE_DATE,
    IAMS_ATYPE_DATETIME,
    IAMS_ATYPE_INTEGER,
    IAMS_ATYPE_NUMBER,
    IAMS_ATYPE_BOOLEAN,
    IAMS_ATYPE_FLAG,
    IAMS_ATYPE_HKID,
    IAMS_ATYPE_EN_NAME,
    IAMS_ATYPE_ZH_NAME,
    IAMS_ATYPE_PHONE,
    IAMS_ATYPE_ADDRESS,
    IAMS_ATYPE_OBJECT,
    IAMS_ATYPE_ARRAY,
    IAMS_ATYPE_COUNT
} iams_adapter_type;

typedef struct {
    const char  *id;
    const char  *en;
    const char  *zh;
} iams_adapter_term;

typedef struct {
    const char         *name;
    iams_adapter_type   type;
    int                 profile;       /* 1: profileFields, 0: eMEFields */
} iams_adapter_platform_field;

#define IAMS_ADAPTER_NTHEME      15
#define IAMS_ADAPTER_NAGE_GROUP  4

extern const iams_adapter_term  iams_adapter_themes[IAMS_ADAPTER_NTHEME];
extern const iams_adapter_term
    iams_adapter_age_groups[IAMS_ADAPTER_NAGE_GROUP];

/* Index in the table, or -1. */
int iams_adapter_term_find(const iams_adapter_term *terms, size_t n,
    const char *id);

/* The type named s, or -1. */
int iams_adapter_type_find(const char *s);
const char *iams_adapter_type_name(iams_adapter_type type);

/* The iAM Smart profile or e-ME field of that name, or NULL. */
const iams_adapter_platform_field *iams_adapter_platform_field_find(
    const char *name);

/* 1 when value has the shape of type; else 0 with the reason in why. */
int iams_adapter_value_ok(iams_adapter_type type, const json_t *value,
    char *why, size_t why_len);

/* Syntax checks, NUL-terminated input; 1 when well formed. */
int iams_adapter_id_ok(const char *s, const char *prefix);
int iams_adapter_dataset_field_ok(const char *s);
int iams_adapter_canonical_name_ok(const char *s);
int iams_adapter_rfc3339_ok(const char *s);
int iams_adapter_date_ok(const char *s);

/* A name of both languages: {"en": "...", "zh-HK": "..."}, non-empty. */
int iams_adapter_bilingual_ok(const json_t *name, char *why,
    size_t why_len);


/* ---- describe (adapter_describe.c) ---- */

/* Checks describe output and builds the indexes of a; on failure why says
 * where and what. */
int iams_adapter_describe_check(iams_adapter *a, const char *text,
    size_t len, char *why, size_t why_len);


/* ---- calls (adapter_call.c) ---- */

/* Runs hook-calling code with the host table and timing: see
 * adapter_call.c.  Used by the loader for init and describe. */
typedef struct iams_adapter_frame  iams_adapter_frame;

struct iams_adapter_frame {
    const iams_adapter       *adapter;
    const iams_adapter_env   *env;
    size_t                    used;        /* bytes allocated so far */
    const char               *hook;
    uint64_t                  start_ns;
    int                       needs_output;  /* all hooks but init */
    iams_adapter_call         call;        /* call.host_ctx is the frame */
};

void iams_adapter_frame_begin(iams_adapter_frame *f,
    const iams_adapter *a, const iams_adapter_env *env, const char *hook);

/* Stops the clock, logs a slow call, stores the duration in diag (added to
 * what it holds) and copies the adapter's message, if any, for a failed
 * status.  Returns status, or IAMS_ADAPTER_ERR_INTERNAL for a value outside
 * the enum. */
iams_adapter_status iams_adapter_frame_end(iams_adapter_frame *f,
    iams_adapter_status status, iams_adapter_diag *diag);

/* Logs through env with the adapter's prefix. */
void iams_adapter_env_log(const iams_adapter_env *env, const char *name,
    int level, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Formats diag->message (if diag is not NULL). */
void iams_adapter_diag_set(iams_adapter_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* IAMSMART_ADAPTER_INTERNAL_H */
