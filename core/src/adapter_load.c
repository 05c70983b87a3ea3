/*
 * The adapter loader: opens a shared object, checks its table before any
 * other adapter code runs, initialises it, and checks what it declares.
 *
 * Order of the checks, each with its own reason and message (adapter.h has
 * the rules; the unit tests pin the messages):
 *
 *   open the file           IAMS_ADAPTER_LOAD_OPEN      (errno, dlerror)
 *   find the entry symbol   IAMS_ADAPTER_LOAD_NO_ENTRY
 *   entry() -> table, magic IAMS_ADAPTER_LOAD_BAD_TABLE
 *   ABI major and minor     IAMS_ADAPTER_LOAD_ABI       (names both versions)
 *   struct_size             IAMS_ADAPTER_LOAD_SIZE      (names both versions)
 *   name, version, hooks    IAMS_ADAPTER_LOAD_BAD_TABLE
 *   the config file         IAMS_ADAPTER_LOAD_CONFIG
 *   init                    IAMS_ADAPTER_LOAD_INIT
 *   describe, its output    IAMS_ADAPTER_LOAD_DESCRIBE
 *
 * Reloads.  glibc's dlopen() returns an object that is already loaded when
 * the name matches, without looking at the file again; since nginx parses a
 * new configuration while the old one (and its adapters) is still loaded,
 * dlopen(path) would hand a reload the old code of a replaced file.  So the
 * loader opens the file itself and dlopens "/proc/self/fd/N": a file that is
 * already loaded (same device and inode) is found again by glibc, and a new
 * file gets a name no loaded object has.  A descriptor number that an
 * earlier object still answers to is skipped by duplicating the descriptor
 * to a higher number; the identity of a loaded object is read from
 * /proc/self/maps (the mapping that holds its dynamic section).  Without
 * /proc the loader falls back to dlopen(path), and a replaced adapter needs
 * a restart.  If you change how objects are opened, keep test_adapter_load's
 * swap test passing.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <iamsmart/encoding.h>

#include "adapter_internal.h"


#define IAMS_ADAPTER_FD_TRIES  64

/* The size of the table at each minor of the current major: a table
 * built for minor m has at least iams_adapter_table_sizes[m] bytes.  Append
 * when a minor adds members. */
static const size_t  iams_adapter_table_sizes[IAMS_ADAPTER_ABI_MINOR + 1] = {
    sizeof(iams_adapter_v1),                               /* 1.0 */
};

static const char *const  iams_adapter_load_strings[] = {
    [IAMS_ADAPTER_LOAD_OK]         = "ok",
    [IAMS_ADAPTER_LOAD_USAGE]      = "usage",
    [IAMS_ADAPTER_LOAD_OPEN]       = "cannot open",
    [IAMS_ADAPTER_LOAD_NO_ENTRY]   = "no entry symbol",
    [IAMS_ADAPTER_LOAD_BAD_TABLE]  = "bad table",
    [IAMS_ADAPTER_LOAD_ABI]        = "ABI mismatch",
    [IAMS_ADAPTER_LOAD_SIZE]       = "table too small",
    [IAMS_ADAPTER_LOAD_CONFIG]     = "bad config",
    [IAMS_ADAPTER_LOAD_INIT]       = "init failed",
    [IAMS_ADAPTER_LOAD_DESCRIBE]   = "invalid describe",
    [IAMS_ADAPTER_LOAD_NOMEM]      = "out of memory",
};


const char *
iams_adapter_load_status_str(iams_adapter_load_status status)
{
    if ((unsigned) status
        >= sizeof(iams_adapter_load_strings) / sizeof(char *))
    {
        return "unknown";
    }

    return iams_adapter_load_strings[status];
}


/* Writes `adapter "NAME" (PATH): ...` into diag and returns status. */
static iams_adapter_load_status iams_adapter_refuse(iams_adapter_diag *diag,
    const iams_adapter_spec *spec, iams_adapter_load_status status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));


static iams_adapter_load_status
iams_adapter_refuse(iams_adapter_diag *diag, const iams_adapter_spec *spec,
    iams_adapter_load_status status, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    if (diag == NULL) {
        return status;
    }

    n = snprintf(diag->message, sizeof(diag->message), "adapter \"%s\" (%s): ",
                 spec->name ? spec->name : "?",
                 spec->path ? spec->path : "?");

    if (n < 0 || (size_t) n >= sizeof(diag->message)) {
        return status;
    }

    va_start(ap, fmt);
    (void) vsnprintf(diag->message + n, sizeof(diag->message) - n, fmt, ap);
    va_end(ap);

    return status;
}


static int
iams_adapter_name_ok(const char *s, size_t max)
{
    size_t  i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i == max
            || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
                 || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }

    return i > 0;
}


/* ---- opening the shared object ---- */

/* The device and inode of the file a loaded object was mapped from. */
static int
iams_adapter_object_file(void *handle, dev_t *dev, ino_t *ino)
{
    int                found;
    char               line[512];
    FILE              *f;
    uintptr_t          addr, lo, hi;
    unsigned           major, minor;
    unsigned long      inode;
    struct link_map   *lm;

    if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL
        || lm->l_ld == NULL)
    {
        return 0;
    }

    addr = (uintptr_t) lm->l_ld;

    f = fopen("/proc/self/maps", "re");
    if (f == NULL) {
        return 0;
    }

    found = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %*s %x:%x %lu",
                   &lo, &hi, &major, &minor, &inode) == 5
            && addr >= lo && addr < hi)
        {
            *dev = makedev(major, minor);
            *ino = (ino_t) inode;
            found = 1;
            break;
        }
    }

    fclose(f);

    return found;
}


/* dlerror() names the object by the name it was opened under; the
 * operator knows it by its path, which the message already carries. */
static const char *
iams_adapter_dlerror(const char *name)
{
    size_t       n;
    const char  *e;

    e = dlerror();
    if (e == NULL) {
        return "unknown dlopen error";
    }

    n = strlen(name);

    if (strncmp(e, name, n) == 0 && e[n] == ':' && e[n + 1] == ' ') {
        return e + n + 2;
    }

    return e;
}


static void *
iams_adapter_dlopen(const char *path, char *why, size_t why_len)
{
    int           fd, nfd, tries, same;
    void         *h;
    char          name[64];
    dev_t         dev;
    ino_t         ino;
    struct stat   st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(why, why_len, "cannot open: %s", strerror(errno));
        return NULL;
    }

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(why, why_len, "cannot open: not a regular file");
        return NULL;
    }

    if (access("/proc/self/fd", F_OK) != 0) {
        close(fd);

        (void) dlerror();
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

        if (h == NULL) {
            snprintf(why, why_len, "cannot load: %s",
                     iams_adapter_dlerror(path));
        }

        return h;
    }

    for (tries = 0; /* void */; tries++) {
        snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);

        h = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
        if (h == NULL) {
            break;
        }

        same = iams_adapter_object_file(h, &dev, &ino)
               && dev == st.st_dev && ino == st.st_ino;

        dlclose(h);

        if (same) {
            break;
        }

        /* an object of another file still answers to this name */

        nfd = tries < IAMS_ADAPTER_FD_TRIES
              ? fcntl(fd, F_DUPFD_CLOEXEC, fd + 1) : -1;

        close(fd);

        if (nfd == -1) {
            snprintf(why, why_len, "cannot load: no free name to load it "
                     "under");
            return NULL;
        }

        fd = nfd;
    }

    (void) dlerror();
    h = dlopen(name, RTLD_NOW | RTLD_LOCAL);

    if (h == NULL) {
        snprintf(why, why_len, "cannot load: %s", iams_adapter_dlerror(name));
    }

    close(fd);

    return h;
}


/* ---- the table ---- */

static iams_adapter_load_status
iams_adapter_table_check(const iams_adapter_v1 *t, char *why, size_t len)
{
    size_t       i, min;
    const char  *s;

    if (t == NULL) {
        snprintf(why, len, "%s() returned no table",
                 IAMS_ADAPTER_ENTRY_SYMBOL);
        return IAMS_ADAPTER_LOAD_BAD_TABLE;
    }

    if (t->magic != IAMS_ADAPTER_MAGIC) {
        snprintf(why, len, "bad magic 0x%08x (expected 0x%08x): not an "
                 "iAM Smart adapter table", (unsigned) t->magic,
                 IAMS_ADAPTER_MAGIC);
        return IAMS_ADAPTER_LOAD_BAD_TABLE;
    }

    if (t->abi_major != IAMS_ADAPTER_ABI_MAJOR
        || t->abi_minor > IAMS_ADAPTER_ABI_MINOR)
    {
        snprintf(why, len, "built for ABI %u.%u, gateway provides %d.%d",
                 (unsigned) t->abi_major, (unsigned) t->abi_minor,
                 IAMS_ADAPTER_ABI_MAJOR, IAMS_ADAPTER_ABI_MINOR);
        return IAMS_ADAPTER_LOAD_ABI;
    }

    min = iams_adapter_table_sizes[t->abi_minor];

    if (t->struct_size < min) {
        snprintf(why, len, "table of %u bytes is smaller than the %zu bytes "
                 "of ABI %u.%u (built for ABI %u.%u, gateway provides %d.%d)",
                 (unsigned) t->struct_size, min, (unsigned) t->abi_major,
                 (unsigned) t->abi_minor, (unsigned) t->abi_major,
                 (unsigned) t->abi_minor, IAMS_ADAPTER_ABI_MAJOR,
                 IAMS_ADAPTER_ABI_MINOR);
        return IAMS_ADAPTER_LOAD_SIZE;
    }

    if (t->name == NULL || !iams_adapter_name_ok(t->name, 32)) {
        snprintf(why, len, "table name must be 1 to 32 of a-z, 0-9, _ "
                 "and -");
        return IAMS_ADAPTER_LOAD_BAD_TABLE;
    }

    s = t->version;

    for (i = 0; s != NULL && s[i] != '\0' && i <= 32; i++) {
        if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f) {
            break;
        }
    }

    if (s == NULL || i == 0 || i > 32 || s[i] != '\0') {
        snprintf(why, len, "table version must be 1 to 32 printable "
                 "characters");
        return IAMS_ADAPTER_LOAD_BAD_TABLE;
    }

    s = t->department;

    for (i = 0; s != NULL && s[i] != '\0' && i <= 8; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) {
            break;
        }
    }

    if (s != NULL && (i < 2 || i > 8 || s[i] != '\0')) {
        snprintf(why, len, "table department must be 2 to 8 letters, or "
                 "NULL for a generic adapter");
        return IAMS_ADAPTER_LOAD_BAD_TABLE;
    }

    if (t->describe == NULL) {
        snprintf(why, len, "table has no describe hook");
        return IAMS_ADAPTER_LOAD_BAD_TABLE;
    }

    return IAMS_ADAPTER_LOAD_OK;
}


/* ---- configuration ---- */

/* Reads and checks the configuration; *text is malloc()ed. */
static iams_adapter_load_status
iams_adapter_config(const iams_adapter_spec *spec, char **text, size_t *len,
    char *why, size_t why_len)
{
    int           fd;
    char         *buf;
    size_t        n, got;
    ssize_t       r;
    json_t       *cfg;
    iams_err      err;
    struct stat   st;
    const char   *src;

    if (spec->config_path != NULL) {
        fd = open(spec->config_path, O_RDONLY | O_CLOEXEC);

        if (fd == -1 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            snprintf(why, why_len, "config file \"%s\": cannot open: %s",
                     spec->config_path,
                     fd == -1 ? strerror(errno) : "not a regular file");
            if (fd != -1) {
                close(fd);
            }
            return IAMS_ADAPTER_LOAD_CONFIG;
        }

        if (st.st_size > IAMS_ADAPTER_CONFIG_MAX) {
            close(fd);
            snprintf(why, why_len, "config file \"%s\": larger than %d bytes",
                     spec->config_path, IAMS_ADAPTER_CONFIG_MAX);
            return IAMS_ADAPTER_LOAD_CONFIG;
        }

        n = (size_t) st.st_size;
        buf = malloc(n + 1);

        if (buf == NULL) {
            close(fd);
            snprintf(why, why_len, "out of memory");
            return IAMS_ADAPTER_LOAD_NOMEM;
        }

        for (got = 0; got < n; got += (size_t) r) {
            r = read(fd, buf + got, n - got);

            if (r <= 0) {
                if (r == -1 && errno == EINTR) {
                    r = 0;
                    continue;
                }

                close(fd);
                free(buf);
                snprintf(why, why_len, "config file \"%s\": cannot read: %s",
                         spec->config_path,
                         r == 0 ? "file shrank" : strerror(errno));
                return IAMS_ADAPTER_LOAD_CONFIG;
            }
        }

        close(fd);
        src = spec->config_path;

    } else {
        src = spec->config != NULL ? "config" : NULL;
        n = spec->config != NULL ? spec->config_len : 2;
        buf = malloc(n + 1);

        if (buf == NULL) {
            snprintf(why, why_len, "out of memory");
            return IAMS_ADAPTER_LOAD_NOMEM;
        }

        memcpy(buf, spec->config != NULL ? spec->config : "{}", n);
    }

    buf[n] = '\0';

    cfg = iams_json_parse_object(buf, n, IAMS_ADAPTER_CONFIG_MAX, &err);

    if (cfg == NULL) {
        free(buf);
        snprintf(why, why_len, "config%s%s%s: %s", src ? " file \"" : "",
                 src ? src : "", src ? "\"" : "", err.detail);
        return IAMS_ADAPTER_LOAD_CONFIG;
    }

    json_decref(cfg);

    *text = buf;
    *len = n;

    return IAMS_ADAPTER_LOAD_OK;
}


/* ---- loading ---- */

/* The message of a failed hook without its "hook: " prefix. */
static const char *
iams_adapter_hook_reason(const iams_adapter_diag *d, const char *hook)
{
    size_t  n;

    n = strlen(hook);

    if (strncmp(d->message, hook, n) == 0 && d->message[n] == ':') {
        return d->message + n + 2;
    }

    return d->message;
}


static iams_adapter_load_status
iams_adapter_start(const iams_adapter_v1 *table, void *handle,
    const iams_adapter_spec *spec, const iams_adapter_env *env,
    iams_adapter **out, iams_adapter_diag *diag)
{
    char                      why[IAMS_ADAPTER_DIAG_MAX];
    char                     *config;
    size_t                    config_len;
    iams_adapter             *a;
    iams_adapter_env          load_env;
    iams_adapter_diag         d;
    iams_adapter_frame        f;
    iams_adapter_arena       *arena;
    iams_adapter_status       rc;
    iams_adapter_load_status  st;

    memset(&d, 0, sizeof(d));

    st = iams_adapter_table_check(table, why, sizeof(why));
    if (st != IAMS_ADAPTER_LOAD_OK) {
        return iams_adapter_refuse(diag, spec, st, "%s", why);
    }

    st = iams_adapter_config(spec, &config, &config_len, why, sizeof(why));
    if (st != IAMS_ADAPTER_LOAD_OK) {
        return iams_adapter_refuse(diag, spec, st, "%s", why);
    }

    a = calloc(1, sizeof(iams_adapter));
    arena = iams_adapter_arena_create(0);

    if (a == NULL || arena == NULL
        || (a->name = strdup(spec->name)) == NULL
        || (a->path = strdup(spec->path)) == NULL
        || (a->version = strdup(table->version)) == NULL)
    {
        st = iams_adapter_refuse(diag, spec, IAMS_ADAPTER_LOAD_NOMEM,
                                 "out of memory");
        goto failed;
    }

    a->table = table;
    a->slow_usec = spec->slow_usec ? spec->slow_usec
                                   : IAMS_ADAPTER_SLOW_USEC_DEFAULT;

    /* init and describe write into an arena of our own, freed below */
    load_env.alloc = iams_adapter_arena_alloc;
    load_env.alloc_ctx = arena;
    load_env.log = env ? env->log : NULL;
    load_env.log_ctx = env ? env->log_ctx : NULL;

    if (IAMS_ADAPTER_HOOK(table, init) != NULL) {
        iams_adapter_frame_begin(&f, a, &load_env, "init");
        f.needs_output = 0;
        rc = table->init(&f.call, config, config_len, &a->state);
        rc = iams_adapter_frame_end(&f, rc, &d);

        if (rc != IAMS_ADAPTER_OK) {
            st = iams_adapter_refuse(diag, spec, IAMS_ADAPTER_LOAD_INIT,
                                     "init failed: %s",
                                     iams_adapter_hook_reason(&d, "init"));

            /* a failed init owns nothing the gateway could free */
            a->state = NULL;
            a->table = NULL;
            goto failed;
        }
    }

    iams_adapter_frame_begin(&f, a, &load_env, "describe");
    rc = table->describe(&f.call);
    rc = iams_adapter_frame_end(&f, rc, &d);

    if (rc != IAMS_ADAPTER_OK) {
        st = iams_adapter_refuse(diag, spec, IAMS_ADAPTER_LOAD_DESCRIBE,
                                 "describe failed: %s",
                                 iams_adapter_hook_reason(&d, "describe"));
        goto failed;
    }

    if (!iams_adapter_describe_check(a, f.call.out, f.call.out_len, why,
                                     sizeof(why)))
    {
        st = iams_adapter_refuse(diag, spec, IAMS_ADAPTER_LOAD_DESCRIBE,
                                 "invalid describe output: %s", why);
        goto failed;
    }

    free(config);
    iams_adapter_arena_destroy(arena);

    a->handle = handle;

    if (diag != NULL) {
        diag->usec = d.usec;
        diag->message[0] = '\0';
    }

    *out = a;

    return IAMS_ADAPTER_LOAD_OK;

failed:

    if (diag != NULL) {
        diag->usec = d.usec;
    }

    free(config);
    iams_adapter_arena_destroy(arena);

    /* the caller closes the handle */
    iams_adapter_unload(a);

    return st;
}


static int
iams_adapter_spec_ok(const iams_adapter_spec *spec, iams_adapter_diag *diag)
{
    if (spec->name == NULL
        || !iams_adapter_name_ok(spec->name, IAMS_ADAPTER_NAME_MAX)
        || spec->path == NULL || spec->path[0] == '\0'
        || (spec->config_path != NULL && spec->config != NULL))
    {
        iams_adapter_refuse(diag, spec, IAMS_ADAPTER_LOAD_USAGE,
                            "the name must be 1 to %d of a-z, 0-9, _ and -, "
                            "the path non-empty, and at most one of config "
                            "file and config text", IAMS_ADAPTER_NAME_MAX);
        return 0;
    }

    return 1;
}


iams_adapter_load_status
iams_adapter_load_table(const iams_adapter_v1 *table,
    const iams_adapter_spec *spec, const iams_adapter_env *env,
    iams_adapter **out, iams_adapter_diag *diag)
{
    *out = NULL;

    if (diag != NULL) {
        diag->usec = 0;
        diag->message[0] = '\0';
    }

    if (!iams_adapter_spec_ok(spec, diag)) {
        return IAMS_ADAPTER_LOAD_USAGE;
    }

    return iams_adapter_start(table, NULL, spec, env, out, diag);
}


iams_adapter_load_status
iams_adapter_load(const iams_adapter_spec *spec, const iams_adapter_env *env,
    iams_adapter **out, iams_adapter_diag *diag)
{
    char                      why[IAMS_ADAPTER_DIAG_MAX];
    void                     *handle;
    iams_adapter_entry_pt     entry;
    iams_adapter_load_status  st;

    *out = NULL;

    if (diag != NULL) {
        diag->usec = 0;
        diag->message[0] = '\0';
    }

    if (!iams_adapter_spec_ok(spec, diag)) {
        return IAMS_ADAPTER_LOAD_USAGE;
    }

    handle = iams_adapter_dlopen(spec->path, why, sizeof(why));
    if (handle == NULL) {
        return iams_adapter_refuse(diag, spec, IAMS_ADAPTER_LOAD_OPEN, "%s",
                                   why);
    }

    /* POSIX: a data pointer converted to a function pointer */
    *(void **) &entry = dlsym(handle, IAMS_ADAPTER_ENTRY_SYMBOL);

    if (entry == NULL) {
        dlclose(handle);
        return iams_adapter_refuse(diag, spec, IAMS_ADAPTER_LOAD_NO_ENTRY,
                                   "no entry symbol \"%s\" (not an adapter, "
                                   "or built without IAMS_ADAPTER_EXPORT)",
                                   IAMS_ADAPTER_ENTRY_SYMBOL);
    }

    st = iams_adapter_start(entry(), handle, spec, env, out, diag);

    if (st != IAMS_ADAPTER_LOAD_OK) {
        dlclose(handle);
    }

    return st;
}


void
iams_adapter_unload(iams_adapter *a)
{
    if (a == NULL) {
        return;
    }

    if (a->table != NULL && IAMS_ADAPTER_HOOK(a->table, fini) != NULL) {
        a->table->fini(a->state);
    }

    if (a->handle != NULL) {
        dlclose(a->handle);
    }

    json_decref(a->describe);
    json_decref(a->datasets);
    json_decref(a->forms);
    free(a->describe_text);
    free(a->department);
    free(a->version);
    free(a->path);
    free(a->name);
    free(a);
}


/* ---- accessors ---- */

const char *
iams_adapter_name(const iams_adapter *a)
{
    return a->name;
}


const char *
iams_adapter_path(const iams_adapter *a)
{
    return a->path;
}


const char *
iams_adapter_department(const iams_adapter *a)
{
    return a->department;
}


const char *
iams_adapter_version(const iams_adapter *a)
{
    return a->version;
}


int
iams_adapter_has_bridge(const iams_adapter *a)
{
    return IAMS_ADAPTER_HOOK(a->table, bridge) != NULL;
}


const char *
iams_adapter_describe_json(const iams_adapter *a, size_t *len)
{
    if (len != NULL) {
        *len = a->describe_len;
    }

    return a->describe_text;
}


int
iams_adapter_has_dataset(const iams_adapter *a, const char *id, size_t len)
{
    return json_object_getn(a->datasets, id, len) != NULL;
}


int
iams_adapter_has_form(const iams_adapter *a, const char *id, size_t len)
{
    return json_object_getn(a->forms, id, len) != NULL;
}


const char *
iams_adapter_form_inputs(const iams_adapter *a, const char *form,
    size_t form_len, size_t *len)
{
    json_t  *v;

    v = json_object_get(json_object_getn(a->forms, form, form_len),
                        "inputs");

    if (v == NULL) {
        return NULL;
    }

    if (len != NULL) {
        *len = json_string_length(v);
    }

    return json_string_value(v);
}
