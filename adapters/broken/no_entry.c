/*
 * Fixture: a shared object without the entry symbol (as if built from an
 * older SDK that named it differently).  The loader refuses it with
 * IAMS_ADAPTER_LOAD_NO_ENTRY.
 */

#include <iamsmart/adapter.h>

IAMS_ADAPTER_EXPORT int iams_adapter_entry_v0(void);


int
iams_adapter_entry_v0(void)
{
    return 0;
}
