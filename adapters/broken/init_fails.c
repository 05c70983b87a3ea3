/*
 * Fixture: init refuses every configuration.  Refused with
 * IAMS_ADAPTER_LOAD_INIT and the adapter's own message; fini must not run
 * for a state init never made.
 */

#include <stdlib.h>

#include <iamsmart/adapter.h>


static iams_adapter_status
broken_init(iams_adapter_call *call, const char *config, size_t config_len,
    void **state)
{
    (void) config;
    (void) config_len;
    (void) state;

    return iams_adapter_fail(call, IAMS_ADAPTER_ERR_CONFIG,
                             "\"backend_key\" is missing");
}


static void
broken_fini(void *state)
{
    (void) state;
    abort();
}


static iams_adapter_status
broken_describe(iams_adapter_call *call)
{
    (void) call;
    abort();
}


static const iams_adapter_v1  broken_table = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "init_fails",
    .department = "BRK",
    .version = "1.0.0",
    .init = broken_init,
    .fini = broken_fini,
    .describe = broken_describe,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &broken_table;
}
