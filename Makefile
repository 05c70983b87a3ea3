# iAM Smart single-portal gateway: build, test and demo entry points.
#
#   make          core library, CLI and the nginx dynamic module, under build/
#   make deps     installs the Debian packages everything needs (idempotent)
#   make test     deps + build + every test suite
#   make demo     deps + build + the demo stack on 127.0.0.1:8080
#   make fuzz     libFuzzer binaries (clang) under build/fuzz/

SHELL        := /bin/bash
BUILD        := build
PYTHON       := /usr/bin/python3
NGX_SRC      ?= /usr/share/nginx/src

CC           ?= gcc
WARN         := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CSTD         := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE
CFLAGS_CORE  := $(CSTD) $(WARN) -O2 -g -fPIC -fstack-protector-strong \
                -D_FORTIFY_SOURCE=2 -Icore/include
LIBS_CORE    := -ljansson -lcrypto
SAN_FLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
CFLAGS_SAN   := $(CSTD) $(WARN) -O1 -g -fPIC -Icore/include $(SAN_FLAGS)

DEB_PACKAGES := nginx nginx-dev libhiredis-dev libjansson-dev libssl-dev \
                libcmocka-dev libfuzzer-14-dev clang libclang-rt-14-dev \
                libpcre2-dev zlib1g-dev pkg-config redis-server curl wrk \
                python3-pytest python3-cryptography python3-redis \
                chromium chromium-driver

CORE_SRC     := $(wildcard core/src/*.c)
CORE_HDR     := $(wildcard core/include/iamsmart/*.h core/src/*.h)
CORE_OBJ     := $(CORE_SRC:core/src/%.c=$(BUILD)/core/%.o)
CORE_OBJ_SAN := $(CORE_SRC:core/src/%.c=$(BUILD)/asan/core/%.o)
LIB          := $(BUILD)/libiamsmart.a
LIB_SAN      := $(BUILD)/asan/libiamsmart.a

TOOLS_SRC    := $(wildcard core/tools/*.c)
TOOLS        := $(TOOLS_SRC:core/tools/%.c=$(BUILD)/bin/%)

UNIT_SRC     := $(wildcard tests/unit/test_*.c)
UNIT_SUPPORT := $(wildcard tests/unit/support/*.c)
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_BIN_SAN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/asan/tests/%)

FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

MODULE       := $(BUILD)/ngx_http_iamsmart_module.so
MODULE_DIR   := ngx_iamsmart_module
MODULE_SRC   := $(wildcard $(MODULE_DIR)/*.c $(MODULE_DIR)/*.h) $(MODULE_DIR)/config
NGX_BUILD    := $(abspath $(BUILD)/nginx)

ADAPTER_DIRS := $(patsubst %/Makefile,%,$(wildcard adapters/*/Makefile))

export IAMSMART_ROOT := $(abspath .)

# the public test vectors live beside the checkout (../shared), or in the
# workplace's shared folder when the checkout is elsewhere
VECTORS      := $(firstword $(wildcard $(abspath ../shared/vectors) \
                                       /work/shared/vectors))

all:

FORCE:

.PHONY: FORCE all deps test demo fuzz clean unit unit-asan fuzz-replay \
        integration sandbox-test adapters

all: $(LIB) $(TOOLS) $(MODULE) adapters

# ---- Debian packages ----

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all Debian packages present"; fi

# ---- core library and tools ----

$(BUILD)/core/%.o: core/src/%.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_CORE) -c $< -o $@

$(LIB): $(CORE_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: core/tools/%.c $(LIB) $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_CORE) $< $(LIB) $(LIBS_CORE) -o $@

# ---- nginx module ----

# configure again only when the module's list of files changes
$(NGX_BUILD)/sources.list: FORCE
	@mkdir -p $(@D)
	@ls $(MODULE_DIR)/*.c $(MODULE_DIR)/*.h > $@.new; \
	    cmp -s $@.new $@ && rm $@.new || mv $@.new $@

# flock: two builds sharing build/ must not run configure's probes at once
$(NGX_BUILD)/Makefile: $(MODULE_DIR)/config $(NGX_BUILD)/sources.list
	@mkdir -p $(NGX_BUILD)
	flock $(NGX_BUILD)/.lock bash -c 'cd $(NGX_SRC) && . ./conf_flags \
	    && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-compat --add-dynamic-module=$(abspath $(MODULE_DIR)) \
	    --builddir=$(NGX_BUILD) \
	    --with-cc-opt="-O2 -g -fPIC -fstack-protector-strong -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -I$(abspath core/include)" \
	    > $(NGX_BUILD)/configure.log 2>&1' \
	    || { tail -20 $(NGX_BUILD)/configure.log; rm -f $@; exit 1; }
	@grep -q VARIADIC_MACROS $(NGX_BUILD)/ngx_auto_config.h \
	    || { echo "nginx configure probes failed, see $(NGX_BUILD)/autoconf.err"; \
	         rm -f $@; exit 1; }

$(MODULE): $(MODULE_SRC) $(LIB) $(NGX_BUILD)/Makefile
	flock $(NGX_BUILD)/.lock bash -c 'rm -f $(NGX_BUILD)/ngx_http_iamsmart_module.so \
	    && $(MAKE) -s -f $(NGX_BUILD)/Makefile -C $(NGX_SRC) modules'
	@# a new inode: a running nginx keeps its mapping of the old file
	cp $(NGX_BUILD)/ngx_http_iamsmart_module.so $@.tmp && mv -f $@.tmp $@

# ---- adapters (each folder with a Makefile builds into build/adapters/) ----

adapters: $(LIB)
	@for d in $(ADAPTER_DIRS); do \
	    $(MAKE) -s -C $$d BUILD=$(abspath $(BUILD))/adapters || exit 1; \
	done

# ---- unit tests (cmocka), plain and under ASan/UBSan ----

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_SUPPORT) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_CORE) -Itests/unit $< $(UNIT_SUPPORT) $(LIB) \
	    $(LIBS_CORE) -lcmocka -o $@

$(BUILD)/asan/core/%.o: core/src/%.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SAN) -c $< -o $@

$(LIB_SAN): $(CORE_OBJ_SAN)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/asan/tests/%: tests/unit/%.c $(UNIT_SUPPORT) $(LIB_SAN)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SAN) -Itests/unit $< $(UNIT_SUPPORT) $(LIB_SAN) \
	    $(LIBS_CORE) -lcmocka -o $@

unit: $(UNIT_BIN)
	@for t in $^; do echo "== $$t"; \
	    IAMSMART_VECTORS=$(VECTORS) $$t || exit 1; done

unit-asan: $(UNIT_BIN_SAN)
	@for t in $^; do echo "== $$t (asan+ubsan)"; \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    IAMSMART_VECTORS=$(VECTORS) $$t || exit 1; done

# ---- fuzz targets: replayed over their seed corpora in make test ----

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(LIB_SAN)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_SAN) $< tests/fuzz/replay_main.c $(LIB_SAN) \
	    $(LIBS_CORE) -o $@

fuzz-replay: $(FUZZ_REPLAY)
	@for t in $^; do n=$$(basename $$t); echo "== $$n corpus replay"; \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    $$t tests/fuzz/corpus/$$n || exit 1; done

$(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(@D)
	clang-14 $(CSTD) -g -O1 -Icore/include -fsanitize=fuzzer,address,undefined \
	    $< $(CORE_SRC) $(LIBS_CORE) -o $@

fuzz: $(FUZZ_BIN)

# ---- integration tests: real nginx, real Redis, the sandbox ----

integration: all
	$(PYTHON) -m pytest -q tests/integration

sandbox-test:
	@if [ -d tests/sandbox/tests ]; then \
	    $(PYTHON) -m pytest -q tests/sandbox/tests; fi

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) fuzz-replay
	$(MAKE) sandbox-test
	$(MAKE) integration

demo: deps
	$(MAKE) all
	scripts/demo.sh

clean:
	rm -rf $(BUILD)

# ---- adapters in the test suites ----
# The loader's unit tests dlopen build/adapters/*.so (the broken fixtures
# among them), and the department sandbox tests drive the built adapters
# through build/bin/iamsmart-adapter against tests/sandbox/departments.

unit unit-asan: | adapters

# the adapter tests and the adapter fuzz target compile adapter sources in
ADAPTER_SRC  := $(wildcard adapters/*/*.c adapters/*/*.h)
$(filter $(BUILD)/tests/test_adapter_% $(BUILD)/asan/tests/test_adapter_% \
         %/fuzz_adapter_response,$(UNIT_BIN) $(UNIT_BIN_SAN) \
         $(FUZZ_REPLAY) $(FUZZ_BIN)): $(ADAPTER_SRC) \
                                      tests/unit/test_adapter_env.h

sandbox-test: adapter-sandbox-test

.PHONY: adapter-sandbox-test
adapter-sandbox-test: adapters $(TOOLS)
	$(PYTHON) -m pytest -q tests/sandbox/departments/tests
