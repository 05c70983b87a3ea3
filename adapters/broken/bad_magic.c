/*
 * Fixture: the entry symbol exists but returns something that is not an
 * adapter table.  Refused with IAMS_ADAPTER_LOAD_BAD_TABLE ("bad magic").
 */

#include <iamsmart/adapter.h>

static const uint32_t  broken_not_a_table[8] = { 0x7f454c46u };


IAMS_ADAPTER_EXPORT const iams_adapter_v1 *
iams_adapter_entry(void)
{
    return (const iams_adapter_v1 *) (const void *) broken_not_a_table;
}
