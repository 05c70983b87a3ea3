/*
 * iamsmart-jose: verifies, inspects and produces JOSE objects with the same
 * core code the gateway runs, so that an operator can see why a token is
 * rejected and produce keys and tokens for tests and demos.
 *
 *   verify   compact JWS on stdin -> payload bytes on stdout
 *   jwt      as verify, plus claim checks -> claims JSON on stdout
 *   sign     payload on stdin -> compact JWS on stdout
 *   keygen   a new private JWK on stdout
 *   pubkey   a private key file -> its public JWKS on stdout
 *
 * Exit status: 0 success; 1 the operation failed, with one line on stderr
 * made of the iams_status_str() reason, optionally followed by ": " and a
 * detail; 2 usage error, with the usage on stderr.  docs/cli.md is the
 * operator's reference and must change with this file.
 *
 * Private key members only ever live in buffers that are cleansed before
 * they are freed: jansson is given allocators that clear every block, and
 * stdin buffers are cleared as well (a bearer token is a credential too).
 */

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <iamsmart/status.h>
#include <iamsmart/encoding.h>
#include <iamsmart/jose.h>


#define CLI_NAME            "iamsmart-jose"

#define CLI_EXIT_OK         0
#define CLI_EXIT_FAIL       1
#define CLI_EXIT_USAGE      2

/* A pasted token may carry whitespace around it; beyond this much input
 * nothing is read or parsed. */
#define CLI_TOKEN_INPUT_MAX (IAMS_JWS_MAX_TOKEN + 4096)
#define CLI_PAYLOAD_MAX     (1024 * 1024)
#define CLI_AUD_MAX         16
#define CLI_LEEWAY_MAX      (10L * 365 * 24 * 3600)


enum {
    CLI_OPT_JWKS = 1,
    CLI_OPT_JWK,
    CLI_OPT_ALG,
    CLI_OPT_KID,
    CLI_OPT_ISS,
    CLI_OPT_AUD,
    CLI_OPT_LEEWAY,
    CLI_OPT_KTY
};

#define CLI_ALLOW(opt)  (1u << (opt))

typedef struct {
    const char    *jwks;
    const char    *jwk;
    const char    *kid;
    const char    *iss;
    const char    *aud[CLI_AUD_MAX];
    size_t         naud;
    long           leeway;
    int            leeway_set;
    iams_alg_set   algs;
    iams_alg       alg;        /* the last --alg given */
    unsigned       nalg;
    const char    *kty;
} cli_opts;

typedef struct {
    const char    *name;
    unsigned       allowed;
    int          (*run)(const cli_opts *opts);
} cli_command;


static void cli_usage(FILE *f);
static void cli_put_line_safe(FILE *f, const char *s, size_t max);
static int cli_fail(iams_status status, const char *subject,
    const iams_err *err);
static int cli_usage_error(const char *fmt, const char *arg);
static int cli_set_once(const char **slot, const char *value,
    const char *name);
static int cli_parse_leeway(const char *s, long *out);
static int cli_parse_options(int argc, char **argv, unsigned allowed,
    cli_opts *opts);
static int cli_read_stdin(size_t max, unsigned char **buf, size_t *len,
    int *too_large);
static int cli_is_space(unsigned char c);
static void cli_free_secret(unsigned char *buf, size_t len);
static int cli_write(const void *buf, size_t len);
static int cli_print_json(json_t *value);
static void *cli_json_malloc(size_t size);
static void cli_json_free(void *p);
static int cli_verify_token(const cli_opts *opts, iams_jws *jws,
    unsigned char **input, size_t *input_len);
static int cli_cmd_verify(const cli_opts *opts);
static int cli_cmd_jwt(const cli_opts *opts);
static int cli_cmd_sign(const cli_opts *opts);
static int cli_cmd_keygen(const cli_opts *opts);
static int cli_cmd_pubkey(const cli_opts *opts);


static const struct option  cli_long_options[] = {
    { "jwks",   required_argument, NULL, CLI_OPT_JWKS },
    { "jwk",    required_argument, NULL, CLI_OPT_JWK },
    { "alg",    required_argument, NULL, CLI_OPT_ALG },
    { "kid",    required_argument, NULL, CLI_OPT_KID },
    { "iss",    required_argument, NULL, CLI_OPT_ISS },
    { "aud",    required_argument, NULL, CLI_OPT_AUD },
    { "leeway", required_argument, NULL, CLI_OPT_LEEWAY },
    { "kty",    required_argument, NULL, CLI_OPT_KTY },
    { NULL, 0, NULL, 0 }
};

static const cli_command  cli_commands[] = {
    { "verify",
      CLI_ALLOW(CLI_OPT_JWKS) | CLI_ALLOW(CLI_OPT_ALG),
      cli_cmd_verify },

    { "jwt",
      CLI_ALLOW(CLI_OPT_JWKS) | CLI_ALLOW(CLI_OPT_ALG)
      | CLI_ALLOW(CLI_OPT_ISS) | CLI_ALLOW(CLI_OPT_AUD)
      | CLI_ALLOW(CLI_OPT_LEEWAY),
      cli_cmd_jwt },

    { "sign",
      CLI_ALLOW(CLI_OPT_JWK) | CLI_ALLOW(CLI_OPT_ALG)
      | CLI_ALLOW(CLI_OPT_KID),
      cli_cmd_sign },

    { "keygen",
      CLI_ALLOW(CLI_OPT_KTY) | CLI_ALLOW(CLI_OPT_KID),
      cli_cmd_keygen },

    { "pubkey",
      CLI_ALLOW(CLI_OPT_JWK),
      cli_cmd_pubkey },

    { NULL, 0, NULL }
};


int
main(int argc, char **argv)
{
    cli_opts            opts;
    const cli_command  *cmd;

    json_set_alloc_funcs(cli_json_malloc, cli_json_free);

    if (argc < 2) {
        return cli_usage_error("missing command", NULL);
    }

    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "-h") == 0)
    {
        cli_usage(stdout);
        return CLI_EXIT_OK;
    }

    for (cmd = cli_commands; cmd->name != NULL; cmd++) {
        if (strcmp(argv[1], cmd->name) == 0) {
            break;
        }
    }

    if (cmd->name == NULL) {
        return cli_usage_error("unknown command '%s'", argv[1]);
    }

    memset(&opts, 0, sizeof(opts));

    if (cli_parse_options(argc - 1, argv + 1, cmd->allowed, &opts) != 0) {
        return CLI_EXIT_USAGE;
    }

    return cmd->run(&opts);
}


static void
cli_usage(FILE *f)
{
    fputs(
"usage: " CLI_NAME " verify --jwks FILE [--alg ALG]...          < token\n"
"       " CLI_NAME " jwt --jwks FILE [--iss ISS] [--aud AUD]...\n"
"                     [--leeway SECONDS] [--alg ALG]...    < token\n"
"       " CLI_NAME " sign --jwk FILE --alg ALG [--kid KID]       < payload\n"
"       " CLI_NAME " keygen --kty EC|RSA|OKP|oct [--kid KID]\n"
"       " CLI_NAME " pubkey --jwk FILE\n"
"       " CLI_NAME " help\n"
"\n"
"verify  checks the signature of the compact JWS on stdin against the keys\n"
"        in FILE (JWKS, one JWK, or PEM public keys) and writes the payload.\n"
"jwt     verify, then checks exp/nbf/iat (and iss/aud when given) and\n"
"        writes the claims as indented JSON.\n"
"sign    signs stdin with the private key in FILE (JWK or PEM) and writes\n"
"        the compact JWS and a newline.\n"
"keygen  writes a new private JWK (EC P-256, RSA 3072, OKP Ed25519, or\n"
"        oct: 64 random octets for HS256/384/512).\n"
"pubkey  writes the public JWKS of the private key in FILE.\n"
"\n"
"ALG: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA\n"
"     HS256 HS384 HS512; repeat --alg to allow several.  Without --alg,\n"
"     verify and jwt allow all of them (never \"none\").\n"
"exit: 0 ok, 1 failed (reason on stderr), 2 usage error.\n",
        f);
}


/* One line, whatever the bytes: details and paths are not ours. */
static void
cli_put_line_safe(FILE *f, const char *s, size_t max)
{
    size_t  i;

    for (i = 0; i < max && s[i] != '\0'; i++) {
        fputc((unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i], f);
    }
}


static int
cli_fail(iams_status status, const char *subject, const iams_err *err)
{
    int  has_detail;

    has_detail = (err != NULL && err->status == status
                  && err->detail[0] != '\0');

    fputs(iams_status_str(status), stderr);

    /* core names the file in some details already */
    if (subject != NULL
        && !(has_detail && strstr(err->detail, subject) != NULL))
    {
        fputs(": ", stderr);
        cli_put_line_safe(stderr, subject, 4096);
    }

    if (has_detail) {
        fputs(": ", stderr);
        cli_put_line_safe(stderr, err->detail, sizeof(err->detail));
    }

    fputc('\n', stderr);

    return CLI_EXIT_FAIL;
}


static int
cli_usage_error(const char *fmt, const char *arg)
{
    fputs(CLI_NAME ": ", stderr);

    /* fmt is always one of our literals with at most one %s */
    fprintf(stderr, fmt, arg != NULL ? arg : "");
    fputs("\n\n", stderr);
    cli_usage(stderr);

    return CLI_EXIT_USAGE;
}


static int
cli_set_once(const char **slot, const char *value, const char *name)
{
    if (*slot != NULL) {
        cli_usage_error("%s given more than once", name);
        return -1;
    }

    if (value[0] == '\0') {
        cli_usage_error("%s must not be empty", name);
        return -1;
    }

    *slot = value;

    return 0;
}


static int
cli_parse_leeway(const char *s, long *out)
{
    char  *end;
    long   v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }

    errno = 0;
    v = strtol(s, &end, 10);

    if (errno != 0 || *end != '\0' || v < 0 || v > CLI_LEEWAY_MAX) {
        return -1;
    }

    *out = v;

    return 0;
}


static int
cli_parse_options(int argc, char **argv, unsigned allowed, cli_opts *opts)
{
    int        c, idx;
    iams_alg   alg;

    opterr = 0;
    optind = 1;

    /* "+": stop at the first operand, which is then reported below */
    while ((c = getopt_long(argc, argv, "+:", cli_long_options, &idx)) != -1)
    {
        if (c == ':') {
            cli_usage_error("option '%s' needs a value", argv[optind - 1]);
            return -1;
        }

        if (c == '?') {
            cli_usage_error("unknown option '%s'", argv[optind - 1]);
            return -1;
        }

        if (!(allowed & CLI_ALLOW(c))) {
            cli_usage_error("option '%s' does not apply to this command",
                            argv[optind - 1]);
            return -1;
        }

        switch (c) {

        case CLI_OPT_JWKS:
            if (cli_set_once(&opts->jwks, optarg, "--jwks") != 0) {
                return -1;
            }
            break;

        case CLI_OPT_JWK:
            if (cli_set_once(&opts->jwk, optarg, "--jwk") != 0) {
                return -1;
            }
            break;

        case CLI_OPT_KID:
            if (cli_set_once(&opts->kid, optarg, "--kid") != 0) {
                return -1;
            }
            break;

        case CLI_OPT_ISS:
            if (cli_set_once(&opts->iss, optarg, "--iss") != 0) {
                return -1;
            }
            break;

        case CLI_OPT_KTY:
            if (cli_set_once(&opts->kty, optarg, "--kty") != 0) {
                return -1;
            }
            break;

        case CLI_OPT_AUD:
            if (opts->naud == CLI_AUD_MAX) {
                cli_usage_error("too many --aud", NULL);
                return -1;
            }
            opts->aud[opts->naud++] = optarg;
            break;

        case CLI_OPT_LEEWAY:
            if (opts->leeway_set) {
                cli_usage_error("--leeway given more than once", NULL);
                return -1;
            }
            if (cli_parse_leeway(optarg, &opts->leeway) != 0) {
                cli_usage_error("--leeway wants whole seconds, 0 to "
                                "315360000, not '%s'", optarg);
                return -1;
            }
            opts->leeway_set = 1;
            break;

        case CLI_OPT_ALG:
            alg = iams_alg_from_name(optarg, strlen(optarg));
            if (alg == IAMS_ALG_UNKNOWN) {
                cli_usage_error("unknown or unsupported alg '%s'", optarg);
                return -1;
            }
            opts->algs |= IAMS_ALG_BIT(alg);
            opts->alg = alg;
            opts->nalg++;
            break;

        default:
            cli_usage_error("unexpected option", NULL);
            return -1;
        }
    }

    if (optind < argc) {
        cli_usage_error("unexpected argument '%s'", argv[optind]);
        return -1;
    }

    return 0;
}


/*
 * Reads all of stdin into a buffer allocated once (so that no stale copy of
 * the data is left behind by a realloc).  Returns 0, or -1 with errno; sets
 * *too_large when there is more than max bytes.
 */
static int
cli_read_stdin(size_t max, unsigned char **buf, size_t *len, int *too_large)
{
    size_t          n, got;
    unsigned char  *p;

    *too_large = 0;

    p = malloc(max + 1);
    if (p == NULL) {
        return -1;
    }

    n = 0;

    while (n <= max) {
        got = fread(p + n, 1, max + 1 - n, stdin);
        n += got;

        if (got == 0) {
            if (ferror(stdin)) {
                cli_free_secret(p, n);
                errno = EIO;
                return -1;
            }
            break;
        }
    }

    if (n > max) {
        *too_large = 1;
    }

    p[n > max ? max : n] = '\0';
    *buf = p;
    *len = n > max ? max : n;

    return 0;
}


static int
cli_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


static void
cli_free_secret(unsigned char *buf, size_t len)
{
    if (buf != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
}


static int
cli_write(const void *buf, size_t len)
{
    if ((len > 0 && fwrite(buf, 1, len, stdout) != len)
        || fflush(stdout) != 0)
    {
        fprintf(stderr, "%s: writing stdout: %s\n",
                iams_status_str(IAMS_ERR_IO), strerror(errno));
        return CLI_EXIT_FAIL;
    }

    return CLI_EXIT_OK;
}


/* Indented JSON and a newline; the text is cleansed, it may hold a key. */
static int
cli_print_json(json_t *value)
{
    int    rc;
    char  *text;

    text = json_dumps(value, JSON_INDENT(2));
    if (text == NULL) {
        return cli_fail(IAMS_ERR_NOMEM, "formatting JSON", NULL);
    }

    rc = cli_write(text, strlen(text));
    if (rc == CLI_EXIT_OK) {
        rc = cli_write("\n", 1);
    }

    cli_json_free(text);

    return rc;
}


/*
 * jansson frees the strings that held "d", "p", "k" and so on without
 * clearing them, so every block it frees is cleansed first.  The blocks are
 * plain malloc() blocks (their size comes from malloc_usable_size()), since
 * core frees the text of json_dumps() with free(), as jansson documents.
 */

static void *
cli_json_malloc(size_t size)
{
    return malloc(size);
}


static void
cli_json_free(void *p)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, malloc_usable_size(p));
        free(p);
    }
}


/*
 * The part verify and jwt share: keys, token from stdin, parse, signature.
 * On success *jws is filled and *input holds the token it borrows from;
 * on failure the reason is printed and both are released.
 */
static int
cli_verify_token(const cli_opts *opts, iams_jws *jws, unsigned char **input,
    size_t *input_len)
{
    int            too_large;
    size_t         len, start;
    iams_err       err;
    iams_jwks     *keys;
    iams_status    rc;
    iams_alg_set   allowed;

    memset(&err, 0, sizeof(err));
    memset(jws, 0, sizeof(*jws));
    *input = NULL;

    if (opts->jwks == NULL) {
        return cli_usage_error("--jwks FILE is required", NULL);
    }

    rc = iams_jwks_load_file(opts->jwks, &keys, &err);
    if (rc != IAMS_OK) {
        return cli_fail(rc, opts->jwks, &err);
    }

    if (cli_read_stdin(CLI_TOKEN_INPUT_MAX, input, &len, &too_large) != 0) {
        iams_jwks_free(keys);
        fprintf(stderr, "%s: reading stdin: %s\n",
                iams_status_str(IAMS_ERR_IO), strerror(errno));
        return CLI_EXIT_FAIL;
    }

    *input_len = len;

    if (too_large) {
        iams_jwks_free(keys);
        cli_free_secret(*input, len);
        *input = NULL;
        fprintf(stderr, "%s: more than %d bytes on stdin\n",
                iams_status_str(IAMS_ERR_TOO_LARGE), CLI_TOKEN_INPUT_MAX);
        return CLI_EXIT_FAIL;
    }

    /* tolerate whitespace around a pasted token */
    start = 0;
    while (start < len && cli_is_space((*input)[start])) {
        start++;
    }

    while (len > start && cli_is_space((*input)[len - 1])) {
        len--;
    }

    rc = iams_jws_parse((const char *) *input + start, len - start, jws,
                        &err);

    if (rc == IAMS_OK) {
        allowed = opts->nalg ? opts->algs : IAMS_ALG_SET_ALL;
        rc = iams_jws_verify(jws, keys, allowed, NULL, &err);
    }

    iams_jwks_free(keys);

    if (rc != IAMS_OK) {
        iams_jws_clear(jws);
        cli_free_secret(*input, *input_len);
        *input = NULL;
        return cli_fail(rc, NULL, &err);
    }

    return CLI_EXIT_OK;
}


static int
cli_cmd_verify(const cli_opts *opts)
{
    int             rc;
    size_t          input_len;
    iams_jws        jws;
    unsigned char  *input;

    rc = cli_verify_token(opts, &jws, &input, &input_len);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }

    rc = cli_write(jws.payload, jws.payload_len);

    iams_jws_clear(&jws);
    cli_free_secret(input, input_len);

    return rc;
}


static int
cli_cmd_jwt(const cli_opts *opts)
{
    int               rc;
    size_t            input_len;
    json_t           *claims;
    iams_err          err;
    iams_jws          jws;
    iams_status       st;
    unsigned char    *input;
    iams_jwt_policy   policy;

    rc = cli_verify_token(opts, &jws, &input, &input_len);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }

    memset(&err, 0, sizeof(err));
    claims = NULL;

    st = iams_jwt_claims(&jws, &claims, &err);

    if (st == IAMS_OK) {
        memset(&policy, 0, sizeof(policy));
        policy.issuer = opts->iss;
        policy.audiences = opts->aud;
        policy.naudiences = opts->naud;
        policy.leeway = opts->leeway;

        st = iams_jwt_check(claims, &policy, time(NULL), &err);
    }

    if (st == IAMS_OK) {
        rc = cli_print_json(claims);

    } else {
        rc = cli_fail(st, NULL, &err);
    }

    json_decref(claims);
    iams_jws_clear(&jws);
    cli_free_secret(input, input_len);

    return rc;
}


static int
cli_cmd_sign(const cli_opts *opts)
{
    int             rc, too_large;
    char           *token;
    size_t          len, token_len;
    iams_err        err;
    iams_jwk       *key;
    iams_status     st;
    unsigned char  *payload;

    if (opts->jwk == NULL) {
        return cli_usage_error("--jwk FILE is required", NULL);
    }

    if (opts->nalg != 1) {
        return cli_usage_error("exactly one --alg ALG is required", NULL);
    }

    memset(&err, 0, sizeof(err));

    st = iams_jwk_load_private_file(opts->jwk, &key, &err);
    if (st != IAMS_OK) {
        return cli_fail(st, opts->jwk, &err);
    }

    if (cli_read_stdin(CLI_PAYLOAD_MAX, &payload, &len, &too_large) != 0) {
        iams_jwk_free(key);
        fprintf(stderr, "%s: reading stdin: %s\n",
                iams_status_str(IAMS_ERR_IO), strerror(errno));
        return CLI_EXIT_FAIL;
    }

    if (too_large) {
        iams_jwk_free(key);
        cli_free_secret(payload, len);
        fprintf(stderr, "%s: payload over %d bytes\n",
                iams_status_str(IAMS_ERR_TOO_LARGE), CLI_PAYLOAD_MAX);
        return CLI_EXIT_FAIL;
    }

    token = NULL;
    st = iams_jws_sign(key, opts->alg, opts->kid, NULL, payload, len,
                       &token, &token_len, &err);

    iams_jwk_free(key);
    cli_free_secret(payload, len);

    if (st != IAMS_OK) {
        return cli_fail(st, NULL, &err);
    }

    rc = cli_write(token, token_len);
    if (rc == CLI_EXIT_OK) {
        rc = cli_write("\n", 1);
    }

    cli_free_secret((unsigned char *) token, token_len);

    return rc;
}


static int
cli_cmd_keygen(const cli_opts *opts)
{
    int          rc;
    json_t      *jwk;
    iams_kty     kty;
    iams_err     err;
    iams_jwk    *key;
    iams_status  st;

    if (opts->kty == NULL) {
        return cli_usage_error("--kty EC|RSA|OKP|oct is required", NULL);
    }

    if (strcmp(opts->kty, "EC") == 0) {
        kty = IAMS_KTY_EC;

    } else if (strcmp(opts->kty, "RSA") == 0) {
        kty = IAMS_KTY_RSA;

    } else if (strcmp(opts->kty, "OKP") == 0) {
        kty = IAMS_KTY_OKP;

    } else if (strcmp(opts->kty, "oct") == 0) {
        kty = IAMS_KTY_OCT;

    } else {
        return cli_usage_error("--kty must be EC, RSA, OKP or oct, not '%s'",
                               opts->kty);
    }

    memset(&err, 0, sizeof(err));

    st = iams_jwk_generate(kty, opts->kid, &key, &err);
    if (st != IAMS_OK) {
        return cli_fail(st, NULL, &err);
    }

    jwk = iams_jwk_to_json(key, 1);
    iams_jwk_free(key);

    if (jwk == NULL) {
        return cli_fail(IAMS_ERR_NOMEM, "formatting the key", NULL);
    }

    rc = cli_print_json(jwk);
    json_decref(jwk);

    return rc;
}


static int
cli_cmd_pubkey(const cli_opts *opts)
{
    int          rc;
    json_t      *set, *jwk;
    iams_err     err;
    iams_jwk    *key;
    iams_status  st;

    if (opts->jwk == NULL) {
        return cli_usage_error("--jwk FILE is required", NULL);
    }

    memset(&err, 0, sizeof(err));

    st = iams_jwk_load_private_file(opts->jwk, &key, &err);
    if (st != IAMS_OK) {
        return cli_fail(st, opts->jwk, &err);
    }

    if (iams_jwk_kty(key) == IAMS_KTY_OCT) {
        iams_jwk_free(key);
        return cli_fail(IAMS_ERR_KEY_INVALID, opts->jwk,
                        &(iams_err) { IAMS_ERR_KEY_INVALID,
                                      "an oct key has no public part" });
    }

    jwk = iams_jwk_to_json(key, 0);
    iams_jwk_free(key);

    /* "o" takes over jwk, also when packing fails (jansson >= 2.11) */
    set = json_pack("{s:[o]}", "keys", jwk);
    if (set == NULL) {
        return cli_fail(IAMS_ERR_NOMEM, "formatting the key", NULL);
    }

    rc = cli_print_json(set);
    json_decref(set);

    return rc;
}
