/*
 * iamsmart-adapter: loads a department adapter with the gateway's own
 * loader and runs its hooks from a shell, so that a department can check,
 * try and test its adapter without nginx (docs/adapters.md):
 *
 *   check      load, check, print the describe output
 *   inputs     what the gateway gathers for a form
 *   request    canonical query on stdin -> backend request description
 *   response   backend body on stdin (with --query, --status) -> canonical
 *   fetch      canonical query on stdin -> request, sent to --backend (a
 *              plain-HTTP sandbox on this machine), reply -> canonical data
 *   form       form input on stdin -> form payload
 *   bridge     identity on stdin -> headers
 *   catalogue  the service catalogue of several adapters
 *
 * Exit status: 0 success; 1 the adapter refused or failed, with one line on
 * stderr: the loader's message, or the status token and the reason; 2 usage
 * error.  Adapter log lines go to stderr.  fetch speaks HTTP/1.1 with
 * "Connection: close" and is meant for the sandbox only: the gateway itself
 * never does I/O this way.
 */

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include <iamsmart/adapter_host.h>


#define CLI_NAME          "iamsmart-adapter"
#define CLI_EXIT_OK       0
#define CLI_EXIT_FAIL     1
#define CLI_EXIT_USAGE    2

#define CLI_INPUT_MAX     (IAMS_ADAPTER_REPLY_MAX + 1)
#define CLI_HEAD_MAX      (64 * 1024)
#define CLI_HEADERS_MAX   64
#define CLI_ADAPTERS_MAX  64
#define CLI_TIMEOUT_SEC   10


typedef struct {
    const char  *config;
    const char  *name;
    const char  *query;
    const char  *backend;
    const char  *form;
    const char  *content_type;
    const char  *theme;
    const char  *age_group;
    int          status;
    long         slow_ms;
} cli_opts;


static const char  cli_usage[] =
    "usage: " CLI_NAME " COMMAND ADAPTER.so [options]\n"
    "  check     ADAPTER [--config FILE]\n"
    "  inputs    ADAPTER [--config FILE] --form ID\n"
    "  request   ADAPTER [--config FILE]                < query.json\n"
    "  response  ADAPTER [--config FILE] --query FILE --status N\n"
    "            [--content-type TYPE]                  < body\n"
    "  fetch     ADAPTER [--config FILE] --backend http://127.0.0.1:PORT/PREFIX"
    "\n"
    "                                                   < query.json\n"
    "  form      ADAPTER [--config FILE]                < form-input.json\n"
    "  bridge    ADAPTER [--config FILE]                < identity.json\n"
    "  catalogue [--theme T] [--age-group A] ADAPTER[=CONFIG]...\n"
    "options: --name NAME (default: the file's base name), --slow-ms N\n";


static int
cli_usage_error(const char *why)
{
    fprintf(stderr, "%s: %s\n%s", CLI_NAME, why, cli_usage);
    return CLI_EXIT_USAGE;
}


static void
cli_log(void *ctx, int level, const char *msg, size_t len)
{
    static const char *const  levels[] = {
        "", "error", "warn", "info", "debug"
    };

    (void) ctx;

    fprintf(stderr, "%s: %.*s\n",
            level >= 1 && level <= 4 ? levels[level] : "log", (int) len, msg);
}


/* Reads all of f into a malloc()ed, NUL-terminated buffer. */
static char *
cli_read(FILE *f, size_t *len)
{
    char    *buf;
    size_t   n, cap;

    cap = 4096;
    n = 0;
    buf = malloc(cap);

    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n - 1, f);

        if (ferror(f) || n > CLI_INPUT_MAX) {
            free(buf);
            return NULL;
        }

        if (feof(f)) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }

        if (n + 1 == cap) {
            char  *p = realloc(buf, cap * 2);

            if (p == NULL) {
                free(buf);
                return NULL;
            }

            buf = p;
            cap *= 2;
        }
    }

    return NULL;
}


static char *
cli_read_file(const char *path, size_t *len)
{
    FILE  *f;
    char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", CLI_NAME, path, strerror(errno));
        return NULL;
    }

    buf = cli_read(f, len);
    fclose(f);

    if (buf == NULL) {
        fprintf(stderr, "%s: %s: unreadable or too large\n", CLI_NAME, path);
    }

    return buf;
}


/* Prints JSON text pretty, or as it is when it does not parse. */
static void
cli_print_json(const char *text, size_t len)
{
    char    *pretty;
    json_t  *v;

    v = json_loadb(text, len, 0, NULL);
    pretty = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

    if (pretty != NULL) {
        printf("%s\n", pretty);

    } else {
        printf("%.*s\n", (int) len, text);
    }

    free(pretty);
    json_decref(v);
}


static int
cli_fail(iams_adapter_status rc, const iams_adapter_diag *diag)
{
    fprintf(stderr, "%s: %s\n", iams_adapter_status_str(rc), diag->message);
    return CLI_EXIT_FAIL;
}


static iams_adapter *
cli_load(const char *path, const char *config, const cli_opts *o,
    const iams_adapter_env *env)
{
    char                      name[IAMS_ADAPTER_NAME_MAX + 1];
    size_t                    i, n;
    const char               *base;
    iams_adapter             *a;
    iams_adapter_spec         spec;
    iams_adapter_diag         diag;

    base = strrchr(path, '/');
    base = base ? base + 1 : path;

    /* the file's base name, up to its first dot, in the name alphabet */
    for (n = 0; base[n] != '\0' && base[n] != '.' && n < sizeof(name) - 1;
         n++)
    {
        name[n] = base[n];
    }
    name[n] = '\0';

    for (i = 0; i < n; i++) {
        if (name[i] >= 'A' && name[i] <= 'Z') {
            name[i] = (char) (name[i] + 32);
        }
    }

    memset(&spec, 0, sizeof(spec));
    spec.name = o->name ? o->name : name;
    spec.path = path;
    spec.config_path = config;
    spec.slow_usec = (uint64_t) o->slow_ms * 1000;

    if (iams_adapter_load(&spec, env, &a, &diag) != IAMS_ADAPTER_LOAD_OK) {
        fprintf(stderr, "%s\n", diag.message);
        return NULL;
    }

    return a;
}


/* ---- plain HTTP to the sandbox ---- */

typedef struct {
    int                   status;
    iams_adapter_header   headers[CLI_HEADERS_MAX];
    size_t                nheaders;
    const char           *body;
    size_t                body_len;
    char                 *buf;                 /* owns everything above */
} cli_reply;


static int
cli_connect(const char *host, const char *port)
{
    int               fd, rc;
    struct addrinfo   hints, *res, *ai;
    struct timeval    tv;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", CLI_NAME, host, gai_strerror(rc));
        return -1;
    }

    fd = -1;

    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd == -1) {
            continue;
        }

        tv.tv_sec = CLI_TIMEOUT_SEC;
        tv.tv_usec = 0;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }

        close(fd);
        fd = -1;
    }

    freeaddrinfo(res);

    if (fd == -1) {
        fprintf(stderr, "%s: cannot connect to %s:%s: %s\n", CLI_NAME, host,
                port, strerror(errno));
    }

    return fd;
}


static int
cli_send_all(int fd, const char *p, size_t n)
{
    ssize_t  w;

    while (n > 0) {
        w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0) {
            if (w == -1 && errno == EINTR) {
                continue;
            }
            return -1;
        }

        p += w;
        n -= (size_t) w;
    }

    return 0;
}


/* Splits the raw reply into status, headers (names lower-cased) and body. */
static int
cli_parse_reply(cli_reply *r, size_t len)
{
    char    *p, *end, *line, *colon, *eol;
    size_t   i;

    end = strstr(r->buf, "\r\n\r\n");

    if (end == NULL || strncmp(r->buf, "HTTP/1.", 7) != 0
        || sscanf(r->buf + 8, " %3d", &r->status) != 1)
    {
        return -1;
    }

    r->body = end + 4;
    r->body_len = len - (size_t) (r->body - r->buf);

    line = strstr(r->buf, "\r\n") + 2;
    *end = '\0';

    for (p = line; p < end && r->nheaders < CLI_HEADERS_MAX; p = eol + 2) {
        eol = strstr(p, "\r\n");
        if (eol == NULL) {
            eol = end;
        }
        *eol = '\0';

        colon = strchr(p, ':');
        if (colon == NULL) {
            return -1;
        }

        for (i = 0; p + i < colon; i++) {
            p[i] = (char) (p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        }

        *colon++ = '\0';
        while (*colon == ' ' || *colon == '\t') {
            colon++;
        }

        if (strcmp(p, "transfer-encoding") == 0) {
            fprintf(stderr, "%s: chunked replies are not supported\n",
                    CLI_NAME);
            return -1;
        }

        if (strcmp(p, "content-length") == 0
            && (size_t) atol(colon) < r->body_len)
        {
            r->body_len = (size_t) atol(colon);
        }

        r->headers[r->nheaders].name = p;
        r->headers[r->nheaders].name_len = strlen(p);
        r->headers[r->nheaders].value = colon;
        r->headers[r->nheaders].value_len = strlen(colon);
        r->nheaders++;

        if (eol == end) {
            break;
        }
    }

    return 0;
}


static int
cli_http(const char *backend, const iams_adapter_backend_request *req,
    cli_reply *r)
{
    int          fd;
    char         host[256], port[16], head[8192];
    size_t       i, n, len, cap;
    ssize_t      got;
    const char  *hp, *prefix, *colon;

    memset(r, 0, sizeof(*r));

    if (strncmp(backend, "http://", 7) != 0) {
        fprintf(stderr, "%s: --backend must be an http:// URL\n", CLI_NAME);
        return -1;
    }

    hp = backend + 7;
    prefix = strchr(hp, '/');
    if (prefix == NULL) {
        prefix = hp + strlen(hp);
    }

    colon = memchr(hp, ':', (size_t) (prefix - hp));
    n = (size_t) ((colon ? colon : prefix) - hp);

    if (n == 0 || n >= sizeof(host)
        || (colon && (size_t) (prefix - colon - 1) >= sizeof(port)))
    {
        fprintf(stderr, "%s: bad --backend URL\n", CLI_NAME);
        return -1;
    }

    memcpy(host, hp, n);
    host[n] = '\0';
    snprintf(port, sizeof(port), "%.*s",
             colon ? (int) (prefix - colon - 1) : 2, colon ? colon + 1 : "80");

    /* the prefix without its trailing slash, then the adapter's path */
    len = strlen(prefix);
    if (len > 0 && prefix[len - 1] == '/') {
        len--;
    }

    n = (size_t) snprintf(head, sizeof(head),
                          "%s %.*s%s HTTP/1.1\r\nHost: %s:%s\r\n"
                          "Connection: close\r\nContent-Length: %zu\r\n",
                          req->method, (int) len, prefix, req->path, host,
                          port, req->body_len);

    for (i = 0; i < req->nheaders && n < sizeof(head); i++) {
        n += (size_t) snprintf(head + n, sizeof(head) - n, "%s: %s\r\n",
                               req->headers[i].name, req->headers[i].value);
    }

    if (n + 3 > sizeof(head)) {
        fprintf(stderr, "%s: request head too large\n", CLI_NAME);
        return -1;
    }

    memcpy(head + n, "\r\n", 3);
    n += 2;

    fd = cli_connect(host, port);
    if (fd == -1) {
        return -1;
    }

    if (cli_send_all(fd, head, n) != 0
        || cli_send_all(fd, req->body, req->body_len) != 0)
    {
        fprintf(stderr, "%s: send: %s\n", CLI_NAME, strerror(errno));
        close(fd);
        return -1;
    }

    cap = CLI_HEAD_MAX + IAMS_ADAPTER_REPLY_MAX + 2;
    r->buf = malloc(cap);
    len = 0;

    while (r->buf != NULL && len < cap - 1) {
        got = recv(fd, r->buf + len, cap - 1 - len, 0);

        if (got == 0) {
            break;
        }

        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "%s: recv: %s\n", CLI_NAME, strerror(errno));
            close(fd);
            return -1;
        }

        len += (size_t) got;
    }

    close(fd);

    if (r->buf == NULL) {
        return -1;
    }

    r->buf[len] = '\0';

    if (cli_parse_reply(r, len) != 0) {
        fprintf(stderr, "%s: not an HTTP reply (%zu bytes)\n", CLI_NAME,
                len);
        return -1;
    }

    return 0;
}


/* ---- commands ---- */

static int
cli_print_request(const iams_adapter_backend_request *req)
{
    size_t   i;
    json_t  *out, *h;
    char    *text;

    h = json_object();
    for (i = 0; i < req->nheaders; i++) {
        json_object_set_new(h, req->headers[i].name,
                            json_string(req->headers[i].value));
    }

    out = json_pack("{s:s, s:s, s:o, s:s%}", "method", req->method, "path",
                    req->path, "headers", h, "body", req->body,
                    req->body_len);
    text = out ? json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
               : NULL;

    if (text == NULL) {
        json_decref(out);
        fprintf(stderr, "%s: out of memory\n", CLI_NAME);
        return CLI_EXIT_FAIL;
    }

    printf("%s\n", text);
    free(text);
    json_decref(out);

    return CLI_EXIT_OK;
}


static int
cli_run(const char *cmd, iams_adapter *a, const cli_opts *o,
    const iams_adapter_env *env)
{
    int                            rc;
    char                          *in, *query;
    size_t                         in_len, query_len, n, i, len;
    const char                    *out;
    cli_reply                      reply;
    iams_adapter_diag              diag;
    iams_adapter_reply             r;
    iams_adapter_header           *h, ct;
    iams_adapter_status            st;
    iams_adapter_backend_request   req;

    if (strcmp(cmd, "check") == 0) {
        out = iams_adapter_describe_json(a, &len);
        cli_print_json(out, len);
        return CLI_EXIT_OK;
    }

    if (strcmp(cmd, "inputs") == 0) {
        if (o->form == NULL) {
            return cli_usage_error("inputs needs --form ID");
        }

        out = iams_adapter_form_inputs(a, o->form, strlen(o->form), &len);
        if (out == NULL) {
            fprintf(stderr, "unsupported: adapter \"%s\" fills no form "
                    "\"%s\"\n", iams_adapter_name(a), o->form);
            return CLI_EXIT_FAIL;
        }

        cli_print_json(out, len);
        return CLI_EXIT_OK;
    }

    in = NULL;
    query = NULL;

    if (strcmp(cmd, "response") == 0) {
        if (o->query == NULL || o->status == 0) {
            return cli_usage_error("response needs --query FILE and "
                                   "--status N");
        }

        query = cli_read_file(o->query, &query_len);
        if (query == NULL) {
            return CLI_EXIT_FAIL;
        }
    }

    in = cli_read(stdin, &in_len);
    if (in == NULL) {
        free(query);
        fprintf(stderr, "%s: stdin unreadable or too large\n", CLI_NAME);
        return CLI_EXIT_FAIL;
    }

    rc = CLI_EXIT_OK;

    if (strcmp(cmd, "request") == 0 || strcmp(cmd, "fetch") == 0) {
        if (strcmp(cmd, "fetch") == 0 && o->backend == NULL) {
            free(in);
            return cli_usage_error("fetch needs --backend URL");
        }

        st = iams_adapter_map_request(a, env, in, in_len, &req, &diag);

        if (st != IAMS_ADAPTER_OK) {
            rc = cli_fail(st, &diag);

        } else if (strcmp(cmd, "request") == 0) {
            rc = cli_print_request(&req);

        } else if (cli_http(o->backend, &req, &reply) != 0) {
            free(reply.buf);
            rc = CLI_EXIT_FAIL;

        } else {
            memset(&r, 0, sizeof(r));
            r.size = sizeof(r);
            r.status = reply.status;
            r.headers = reply.headers;
            r.nheaders = reply.nheaders;
            r.body = reply.body;
            r.body_len = reply.body_len;

            st = iams_adapter_map_response(a, env, in, in_len, &r, &out,
                                           &len, &diag);
            free(reply.buf);

            rc = st == IAMS_ADAPTER_OK ? (cli_print_json(out, len), 0)
                                       : cli_fail(st, &diag);
        }

    } else if (strcmp(cmd, "response") == 0) {
        memset(&r, 0, sizeof(r));
        r.size = sizeof(r);
        r.status = o->status;
        r.body = in;
        r.body_len = in_len;

        ct.name = "content-type";
        ct.name_len = 12;
        ct.value = o->content_type ? o->content_type : "application/json";
        ct.value_len = strlen(ct.value);
        r.headers = &ct;
        r.nheaders = 1;

        st = iams_adapter_map_response(a, env, query, query_len, &r, &out,
                                       &len, &diag);
        rc = st == IAMS_ADAPTER_OK ? (cli_print_json(out, len), 0)
                                   : cli_fail(st, &diag);

    } else if (strcmp(cmd, "form") == 0) {
        st = iams_adapter_map_form(a, env, in, in_len, &out, &len, &diag);
        rc = st == IAMS_ADAPTER_OK ? (cli_print_json(out, len), 0)
                                   : cli_fail(st, &diag);

    } else if (strcmp(cmd, "bridge") == 0) {
        st = iams_adapter_bridge(a, env, in, in_len, &h, &n, &diag);

        if (st != IAMS_ADAPTER_OK) {
            rc = cli_fail(st, &diag);

        } else {
            for (i = 0; i < n; i++) {
                printf("%s: %s\n", h[i].name, h[i].value);
            }
        }

    } else {
        rc = cli_usage_error("unknown command");
    }

    free(in);
    free(query);

    return rc;
}


static int
cli_catalogue(int argc, char **argv, const cli_opts *o,
    const iams_adapter_env *env)
{
    int                   i, n, rc;
    char                 *text, *eq;
    size_t                len;
    iams_adapter         *list[CLI_ADAPTERS_MAX];
    iams_adapter_diag     diag;
    iams_adapter_status   st;

    n = 0;
    rc = CLI_EXIT_OK;

    for (i = 0; i < argc && n < CLI_ADAPTERS_MAX; i++) {
        eq = strchr(argv[i], '=');
        if (eq != NULL) {
            *eq++ = '\0';
        }

        list[n] = cli_load(argv[i], eq, o, env);
        if (list[n] == NULL) {
            rc = CLI_EXIT_FAIL;
            break;
        }

        n++;
    }

    if (rc == CLI_EXIT_OK) {
        st = iams_adapter_catalogue(list, (size_t) n, o->theme, o->age_group,
                                    &text, &len, &diag);
        if (st != IAMS_ADAPTER_OK) {
            rc = cli_fail(st, &diag);

        } else {
            cli_print_json(text, len);
            free(text);
        }
    }

    for (i = 0; i < n; i++) {
        iams_adapter_unload(list[i]);
    }

    return rc;
}


int
main(int argc, char **argv)
{
    int                  c, rc;
    char                *end;
    const char          *cmd;
    cli_opts             o;
    iams_adapter        *a;
    iams_adapter_env     env;
    iams_adapter_arena  *arena;

    static const struct option  longopts[] = {
        { "config",       required_argument, NULL, 'c' },
        { "name",         required_argument, NULL, 'n' },
        { "query",        required_argument, NULL, 'q' },
        { "status",       required_argument, NULL, 's' },
        { "content-type", required_argument, NULL, 't' },
        { "backend",      required_argument, NULL, 'b' },
        { "form",         required_argument, NULL, 'f' },
        { "theme",        required_argument, NULL, 'T' },
        { "age-group",    required_argument, NULL, 'A' },
        { "slow-ms",      required_argument, NULL, 'S' },
        { "help",         no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(&o, 0, sizeof(o));

    if (argc < 2) {
        return cli_usage_error("no command");
    }

    cmd = argv[1];

    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(cli_usage, stdout);
        return CLI_EXIT_OK;
    }

    optind = 2;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o.config = optarg; break;
        case 'n': o.name = optarg; break;
        case 'q': o.query = optarg; break;
        case 'b': o.backend = optarg; break;
        case 'f': o.form = optarg; break;
        case 't': o.content_type = optarg; break;
        case 'T': o.theme = optarg; break;
        case 'A': o.age_group = optarg; break;

        case 's':
            o.status = (int) strtol(optarg, &end, 10);
            if (*end != '\0' || o.status < 100 || o.status > 599) {
                return cli_usage_error("--status must be 100 to 599");
            }
            break;

        case 'S':
            o.slow_ms = strtol(optarg, &end, 10);
            if (*end != '\0' || o.slow_ms < 1 || o.slow_ms > 60000) {
                return cli_usage_error("--slow-ms must be 1 to 60000");
            }
            break;

        case 'h':
            fputs(cli_usage, stdout);
            return CLI_EXIT_OK;

        default:
            return cli_usage_error("bad option");
        }
    }

    arena = iams_adapter_arena_create(0);
    if (arena == NULL) {
        fprintf(stderr, "%s: out of memory\n", CLI_NAME);
        return CLI_EXIT_FAIL;
    }

    env.alloc = iams_adapter_arena_alloc;
    env.alloc_ctx = arena;
    env.log = cli_log;
    env.log_ctx = NULL;

    if (strcmp(cmd, "catalogue") == 0) {
        rc = optind < argc
             ? cli_catalogue(argc - optind, argv + optind, &o, &env)
             : cli_usage_error("catalogue needs adapters");
        iams_adapter_arena_destroy(arena);
        return rc;
    }

    if (optind != argc - 1) {
        iams_adapter_arena_destroy(arena);
        return cli_usage_error("one adapter expected");
    }

    a = cli_load(argv[optind], o.config, &o, &env);

    rc = a != NULL ? cli_run(cmd, a, &o, &env) : CLI_EXIT_FAIL;

    iams_adapter_unload(a);
    iams_adapter_arena_destroy(arena);

    return rc;
}
