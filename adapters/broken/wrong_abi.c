/*
 * Fixture: a table built for a future ABI 2.1.  Refused with
 * IAMS_ADAPTER_LOAD_ABI: "built for ABI 2.1, gateway provides 1.0".  The
 * hooks are never called; describe would crash if it were.
 */

#include <stdlib.h>

#include <iamsmart/adapter.h>


static iams_adapter_status
broken_describe(iams_adapter_call *call)
{
    (void) call;
    abort();
}


static const iams_adapter_v1  broken_table = {
    .magic = IAMS_ADAPTER_MAGIC,
    .abi_major = 2,
    .abi_minor = 1,
    .struct_size = sizeof(iams_adapter_v1),
    .name = "wrong_abi",
    .department = "BRK",
    .version = "2.1.0",
    .describe = broken_describe,
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &broken_table;
}
