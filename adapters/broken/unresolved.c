/*
 * Fixture: an adapter that needs a symbol no library provides.  dlopen
 * with RTLD_NOW refuses it at load time (IAMS_ADAPTER_LOAD_OPEN, "undefined
 * symbol"), instead of a worker crashing on the first call.
 */

#include <iamsmart/adapter.h>

extern int iams_fixture_missing_symbol(void);


static iams_adapter_status
broken_describe(iams_adapter_call *call)
{
    return iams_fixture_missing_symbol() ? IAMS_ADAPTER_OK
           : iams_adapter_fail(call, IAMS_ADAPTER_ERR_INTERNAL, "never");
}


static const iams_adapter_v1  broken_table = {
    IAMS_ADAPTER_V1_HEADER,
    .name = "unresolved",
    .department = "BRK",
    .version = "1.0.0",
    .describe = broken_describe,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &broken_table;
}
