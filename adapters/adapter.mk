# Rules shared by the adapter Makefiles.  A folder's Makefile sets NAME and
# SRCS and includes this file; the top-level Makefile runs it as
#
#     make -C adapters/NAME BUILD=<abs>/build/adapters
#
# and gets $(BUILD)/NAME.so.  A folder that builds several objects sets
# TARGETS and its own rules instead of NAME and SRCS.
#
# Adapters see only the public ABI header and the SDK; every symbol but the
# entry point is hidden, unresolved symbols fail the link, and the result
# replaces the old file by rename (a new inode), which is what lets a
# reload load it afresh.

ROOT      := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BUILD     ?= $(ROOT)/build/adapters
SDK       := $(ROOT)/adapters/sdk
CFLAGS    := -std=c11 -Wall -Wextra -Werror -O2 -g -fPIC -shared \
             -fvisibility=hidden -I$(ROOT)/core/include
LDFLAGS   := -Wl,-z,defs
LDLIBS    := -ljansson
HEADERS   := $(ROOT)/core/include/iamsmart/adapter.h $(SDK)/iams_sdk.h

TARGETS   ?= $(BUILD)/$(NAME).so

all: $(TARGETS)

ifdef NAME
$(BUILD)/$(NAME).so: $(SRCS) $(HEADERS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(SRCS) $(LDFLAGS) $(LDLIBS) -o $@.tmp
	mv -f $@.tmp $@
endif

.PHONY: all
