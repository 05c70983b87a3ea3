/*
 * Fixture: a table that claims ABI 1.0 but is smaller than ABI 1.0's
 * table, as an adapter compiled against a mangled header would be.
 * Refused with IAMS_ADAPTER_LOAD_SIZE before any member past the header is
 * read.
 */

#include <iamsmart/adapter.h>


static const iams_adapter_v1  broken_table = {
    .magic = IAMS_ADAPTER_MAGIC,
    .abi_major = IAMS_ADAPTER_ABI_MAJOR,
    .abi_minor = IAMS_ADAPTER_ABI_MINOR,
    .struct_size = 40,
    .name = "small_table",
    .version = "1.0.0",
};


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return &broken_table;
}
