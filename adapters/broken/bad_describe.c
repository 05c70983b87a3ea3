/*
 * Fixture: describe writes text that is not JSON (cut off half-way).
 * Refused with IAMS_ADAPTER_LOAD_DESCRIBE ("invalid describe output:
 * invalid JSON"); fini runs, since init succeeded.
 */

#include <stdlib.h>

#include <iamsmart/adapter.h>


static const int  broken_state;


static iams_adapter_status
broken_init(iams_adapter_call *call, const char *config, size_t config_len,
    void **state)
{
    (void) call;
    (void) config;
    (void) config_len;

    *state = (void *) &broken_state;

    return IAMS_ADAPTER_OK;
}


static void
broken_fini(void *state)
{
    if (state != &broken_state) {
        abort();
    }
}


static iams_adapter_status
broken_describe(iams_adapter_call *call)
{
    static const char  text[] =
        "{\"department\": {\"code\": \"BRK\", \"name\": {\"en\": \"Broken";

    return iams_adapter_set_output(call, text, sizeof(text) - 1);
}


static const iams_adapter_v1  broken_table = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "bad_describe",
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
