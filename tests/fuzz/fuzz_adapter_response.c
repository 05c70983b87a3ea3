/*
 * libFuzzer target: arbitrary backend replies through every department
 * adapter's response mapping, the way the gateway runs it
 * (iams_adapter_map_response, which checks the adapter's output).
 *
 * The adapters are compiled into the target, so that the sanitizers and
 * libFuzzer's coverage see their code: ImmD, TD, REO, the tutorial's FEHD,
 * and jsonmap with RVD's mapping (adapters/rvd/rvd.json, found from
 * $IAMSMART_ROOT or the current directory).
 *
 * Input: byte 0 picks the adapter and query, byte 1 the HTTP status, byte 2
 * the Content-Type; the rest is the body.  The property: an adapter answers
 * any reply with canonical data or a typed error about the reply; it never
 * produces output that breaks the contract (IAMS_ADAPTER_ERR_OUTPUT), never
 * reports a bug of its own (IAMS_ADAPTER_ERR_INTERNAL) and never blames the
 * gateway's well-formed query (IAMS_ADAPTER_ERR_INVALID_INPUT).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iamsmart/adapter_host.h>

#include "../../adapters/sdk/iams_sdk.c"

#define iams_adapter_entry  fuzz_td_entry
#include "../../adapters/td/td.c"
#undef iams_adapter_entry

#define iams_adapter_entry  fuzz_immd_entry
#include "../../adapters/immd/immd.c"
#undef iams_adapter_entry

#define iams_adapter_entry  fuzz_reo_entry
#include "../../adapters/reo/reo.c"
#undef iams_adapter_entry

#define iams_adapter_entry  fuzz_fehd_entry
#include "../../adapters/tutorial/fehd.c"
#undef iams_adapter_entry

#define iams_adapter_entry  fuzz_jsonmap_entry
#include "../../adapters/jsonmap/jsonmap.c"
#undef iams_adapter_entry


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define FUZZ_IDNO  "\"idNo\": {\"Identification\": \"A123456\", " \
                   "\"CheckDigit\": \"3\"}"

enum { FUZZ_TD, FUZZ_IMMD, FUZZ_REO, FUZZ_FEHD, FUZZ_RVD, FUZZ_NADAPTERS };

static const struct {
    int          adapter;
    const char  *query;
} fuzz_queries[] = {
    { FUZZ_TD,   "{\"dataset\": \"td.driving_licence\", \"subject\": \"s\", "
                 FUZZ_IDNO "}" },
    { FUZZ_TD,   "{\"dataset\": \"td.driving_licence\", \"subject\": "
                 "\"sub-1\"}" },
    { FUZZ_IMMD, "{\"dataset\": \"immd.travel_records\", \"subject\": \"s\", "
                 FUZZ_IDNO ", \"params\": {\"from\": \"20240101\"}}" },
    { FUZZ_REO,  "{\"dataset\": \"reo.voter_particulars\", \"subject\": "
                 "\"s\", " FUZZ_IDNO "}" },
    { FUZZ_REO,  "{\"dataset\": \"reo.voter_particulars\", \"subject\": "
                 "\"sub-1\"}" },
    { FUZZ_FEHD, "{\"dataset\": \"fehd.food_licence\", \"subject\": \"s\", "
                 FUZZ_IDNO "}" },
    { FUZZ_FEHD, "{\"dataset\": \"fehd.food_licence\", \"subject\": \"s\", "
                 "\"params\": {\"licence_number\": \"7-000888\"}}" },
    { FUZZ_RVD,  "{\"dataset\": \"rvd.rates_account\", \"subject\": \"s\", "
                 FUZZ_IDNO "}" },
};

static const int  fuzz_statuses[] = {
    200, 201, 204, 299, 301, 400, 403, 404, 409, 410, 500, 502, 503, 100
};

static const char *const  fuzz_types[] = {
    "application/json", "application/json; charset=utf-8", "text/html",
    "application/problem+json", NULL
};

static iams_adapter  *fuzz_adapters[FUZZ_NADAPTERS];


static char *
fuzz_read_mapping(size_t *len)
{
    char         path[4096];
    FILE        *f;
    char        *buf;
    const char  *root;

    root = getenv("IAMSMART_ROOT");
    snprintf(path, sizeof(path), "%s/adapters/rvd/rvd.json",
             root ? root : ".");

    f = fopen(path, "rb");
    buf = malloc(IAMS_ADAPTER_CONFIG_MAX);

    if (f == NULL || buf == NULL) {
        fprintf(stderr, "fuzz_adapter_response: cannot read %s\n", path);
        abort();
    }

    *len = fread(buf, 1, IAMS_ADAPTER_CONFIG_MAX, f);
    fclose(f);

    return buf;
}


static iams_adapter *
fuzz_load(const iams_adapter_v1 *table, const char *name, const char *config,
    size_t config_len)
{
    iams_adapter       *a;
    iams_adapter_spec   spec;
    iams_adapter_diag   diag;

    memset(&spec, 0, sizeof(spec));
    spec.name = name;
    spec.path = "(linked)";
    spec.config = config;
    spec.config_len = config_len;
    spec.slow_usec = 60 * 1000 * 1000;

    if (iams_adapter_load_table(table, &spec, NULL, &a, &diag)
        != IAMS_ADAPTER_LOAD_OK)
    {
        fprintf(stderr, "fuzz_adapter_response: %s\n", diag.message);
        abort();
    }

    return a;
}


static void
fuzz_init(void)
{
    char    *map;
    size_t   len;

    if (fuzz_adapters[0] != NULL) {
        return;
    }

    map = fuzz_read_mapping(&len);

    fuzz_adapters[FUZZ_TD] = fuzz_load(fuzz_td_entry(), "td", NULL, 0);
    fuzz_adapters[FUZZ_IMMD] = fuzz_load(fuzz_immd_entry(), "immd", NULL, 0);
    fuzz_adapters[FUZZ_REO] = fuzz_load(fuzz_reo_entry(), "reo", NULL, 0);
    fuzz_adapters[FUZZ_FEHD] = fuzz_load(fuzz_fehd_entry(), "fehd", NULL, 0);
    fuzz_adapters[FUZZ_RVD] = fuzz_load(fuzz_jsonmap_entry(), "rvd", map,
                                        len);
    free(map);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                i, out_len;
    const char           *out, *query;
    iams_adapter_env      env;
    iams_adapter_diag     diag;
    iams_adapter_arena   *arena;
    iams_adapter_reply    r;
    iams_adapter_header   ct;
    iams_adapter_status   rc;

    fuzz_init();

    if (size < 3) {
        return 0;
    }

    i = data[0] % (sizeof(fuzz_queries) / sizeof(fuzz_queries[0]));
    query = fuzz_queries[i].query;

    memset(&r, 0, sizeof(r));
    r.size = sizeof(r);
    r.status = fuzz_statuses[data[1] % (sizeof(fuzz_statuses)
                                        / sizeof(fuzz_statuses[0]))];
    r.body = (const char *) data + 3;
    r.body_len = size - 3;

    ct.name = "content-type";
    ct.name_len = 12;
    ct.value = fuzz_types[data[2] % (sizeof(fuzz_types)
                                     / sizeof(fuzz_types[0]))];

    if (ct.value != NULL) {
        ct.value_len = strlen(ct.value);
        r.headers = &ct;
        r.nheaders = 1;
    }

    arena = iams_adapter_arena_create(0);
    if (arena == NULL) {
        return 0;
    }

    memset(&env, 0, sizeof(env));
    env.alloc = iams_adapter_arena_alloc;
    env.alloc_ctx = arena;

    rc = iams_adapter_map_response(fuzz_adapters[fuzz_queries[i].adapter],
                                   &env, query, strlen(query), &r, &out,
                                   &out_len, &diag);

    if (rc == IAMS_ADAPTER_ERR_OUTPUT || rc == IAMS_ADAPTER_ERR_INTERNAL
        || rc == IAMS_ADAPTER_ERR_INVALID_INPUT
        || (rc == IAMS_ADAPTER_OK && (out == NULL || out_len == 0)))
    {
        fprintf(stderr, "adapter %s broke the contract: %s: %s\n",
                iams_adapter_name(fuzz_adapters[fuzz_queries[i].adapter]),
                iams_adapter_status_str(rc), diag.message);
        abort();
    }

    iams_adapter_arena_destroy(arena);

    return 0;
}
