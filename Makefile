# imagestore — GNU make build.
#
# Every path is a variable, so both a plain `make install PREFIX=/usr` and
# LuaRocks (imagestore-scm-1.rockspec, build.type = "make") drive it.
#
#   make            library, Lua module, the imagestore command (build/bin/)
#                   and the C tests under build/
#   make cli        the imagestore command alone (cli/main.c, lua/imagestore/cli.lua)
#   make check      deps, then C tests + busted specs, then again under ASan/UBSan/LSan
#   make torture    deps, then spec/c/hostile_test.c under ASan/UBSan/LSan for
#                   TORTURE_SEEDS seeds (default 20000) from TORTURE_FIRST, and
#                   the crash tests' full enumeration (IMAGESTORE_CRASH_FULL=1)
#   make demo       deps, then examples/quickstart.lua against ./demo-store and
#                   the imagestore command on ./demo-store-cli
#   make install    DESTDIR, PREFIX, LIBDIR, INCLUDEDIR, PKGCONFIGDIR, BINDIR,
#                   MANDIR, BASHCOMPDIR, LUA_CMOD_DIR, LUA_LMOD_DIR
#   make deps       install missing Debian packages (scripts/ensure-deps)
#   make bench      deps, then the benchmark (bench/run; table + build/bench/results.json)
#   make bench-plot gnuplot-nox, then bench/scaling.svg from build/bench/results.json
#   make bench-naming  what naming policies and hooks cost (bench/naming.lua)
#   make bench-gc   what image garbage collection costs (bench/gc.lua)
#   make bench-cli  the command against Podman: `imagestore images` vs
#                   `podman images` on 1000 images, and its start-up (bench/cli.sh)
#   make fuzz       libFuzzer (clang) on every fuzz/fuzz_*.c for FUZZ_SECONDS each
#   make mutate     deps, then scripts/mutate: each mutation of spec/mutations.txt
#                   (a sync, a rollback step, an exclusive lock, the change-token
#                   bump) alone in a copy of the tree, against its class's suites;
#                   MUTATE='ID-or-class globs' selects. Long: not part of check
#   make interop    deps, then interop/run: imagestore's read-only reader
#                   (interop/reader.c) against the real containers/storage
#                   (Debian's Go package, interop/cswriter.go), live; TAP.
#                   `make check` runs it too (INTEROP= leaves it out)
#   make help       this list

VERSION       = 0.1.0
SOVERSION     = 0

# ---- install paths --------------------------------------------------------
PREFIX        = /usr/local
DESTDIR       =
LIBDIR        = $(PREFIX)/lib
INCLUDEDIR    = $(PREFIX)/include
BINDIR        = $(PREFIX)/bin
MANDIR        = $(PREFIX)/share/man
BASHCOMPDIR   = $(PREFIX)/share/bash-completion/completions
PKGCONFIGDIR  = $(LIBDIR)/pkgconfig
LUA_VERSION   = 5.4
LUA_CMOD_DIR  = $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_LMOD_DIR  = $(PREFIX)/share/lua/$(LUA_VERSION)

# ---- tools ----------------------------------------------------------------
LUA           = lua$(LUA_VERSION)
BUSTED       := $(shell command -v busted 2>/dev/null || echo busted)
PKG_CONFIG    = pkg-config
AR            = ar
OBJCOPY       = objcopy
INSTALL       = install

# ---- flags ----------------------------------------------------------------
# CFLAGS may be overridden (LuaRocks passes its own); the language level,
# feature macro and -fPIC that the code relies on are always added.
CFLAGS        = -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow \
                -Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings \
                -Wcast-qual -D_GNU_SOURCE -fPIC
CPPFLAGS      =
LDFLAGS       =
LIBFLAG       = -shared

PKGS          = yajl libcrypto
# The Lua module alone also reads tar archives (imagestore.tar, for imports).
MOD_PKGS      = libarchive
LUA_PC        = lua$(LUA_VERSION)
# Empty means: ask pkg-config ($(LUA_PC)). Only headers: never -llua.
LUA_INCDIR    =

PKG_CFLAGS   := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS     := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
MOD_PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(MOD_PKGS) 2>/dev/null)
MOD_PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(MOD_PKGS) 2>/dev/null)
ifeq ($(strip $(LUA_INCDIR)),)
LUA_CFLAGS   := $(shell $(PKG_CONFIG) --cflags $(LUA_PC) 2>/dev/null)
else
LUA_CFLAGS    = -I$(LUA_INCDIR)
endif

# SANITIZE=1 builds with ASan+UBSan (check does that in $(ASAN_BUILDDIR)).
SANITIZE      =
SAN_FLAGS     = -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=all
ifneq ($(SANITIZE),)
XFLAGS        = $(SAN_FLAGS)
# Keep the module mapped after lua_close() dlclose()s it, so LSan can still
# name our functions in leak reports (and spec/lsan.supp cannot hide them).
MOD_XLDFLAGS  = -Wl,-z,nodelete
endif

REQ_CFLAGS    = -std=c11 -D_GNU_SOURCE -fPIC
ALL_CFLAGS    = $(filter-out $(CFLAGS),$(REQ_CFLAGS)) $(CFLAGS) $(XFLAGS) \
                $(CPPFLAGS) -MMD -MP

# ---- layout ---------------------------------------------------------------
BUILDDIR      = build
ASAN_BUILDDIR = build/asan
OBJDIR        = $(BUILDDIR)/obj

CORE_SRCS    := $(sort $(wildcard core/*.c))
CORE_OBJS     = $(CORE_SRCS:%.c=$(OBJDIR)/%.o)
MOD_SRC       = lua/imagestore_core.c lua/imagestore_json.c lua/imagestore_tar.c \
                lua/imagestore_files.c \
                lua/imagestore_lua_hooks.c
MOD_OBJ       = $(MOD_SRC:%.c=$(OBJDIR)/%.o)
# A C program that embeds a store and a Lua state with hooks from a file.
HOOK_HOST     = $(BUILDDIR)/examples/hook_host
LUA_LIBS     := $(shell $(PKG_CONFIG) --libs $(LUA_PC) 2>/dev/null)
TEST_SRCS    := $(sort $(wildcard spec/c/*.c))
TEST_OBJS     = $(TEST_SRCS:%.c=$(OBJDIR)/%.o)
TEST_BINS     = $(TEST_SRCS:spec/c/%.c=$(BUILDDIR)/test/%)
# Fuzz targets (fuzz/fuzz_*.c), replayed over their corpus by check.
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_REPLAYS  = $(FUZZ_TARGETS:%=$(BUILDDIR)/test/fuzz-replay-%)
FUZZ_SECONDS ?= 60
# LD_PRELOAD shim that fails chosen filesystem calls (spec/c/fault_test.c).
FAULT_SHIM    = $(BUILDDIR)/test/fault_shim.so
LUA_MODS     := $(sort $(shell find lua/imagestore -name '*.lua' 2>/dev/null))

LIB_A         = $(BUILDDIR)/libimagestore.a
# The core's objects as they are, internal names global: for the C tests and
# fuzz targets that test the codec, fs and lock layers directly (not installed).
LIB_INTERNAL_A = $(BUILDDIR)/libimagestore-internal.a
# Lua functions as a store's hooks, for C programs with their own Lua state.
LIB_LUA_A     = $(BUILDDIR)/libimagestore-lua.a
LIB_SO        = $(BUILDDIR)/libimagestore.so.$(SOVERSION)
LIB_SO_LINK   = $(BUILDDIR)/libimagestore.so
MOD_SO        = $(BUILDDIR)/lua/imagestore/core.so
# The imagestore command, and the C file holding its built-in Lua files.
CLI_BIN       = $(BUILDDIR)/bin/imagestore
CLI_EMBED_C   = $(BUILDDIR)/cli/embedded_lua.c

# ---- test environment -----------------------------------------------------
# Specs and C tests get IMAGESTORE_ROOT (repo root) and IMAGESTORE_FIXTURES
# (absolute; the copies in spec/fixtures, see its README). Both may be given
# on the command line.
IMAGESTORE_ROOT     := $(CURDIR)
IMAGESTORE_FIXTURES ?= $(CURDIR)/spec/fixtures
export IMAGESTORE_ROOT IMAGESTORE_FIXTURES

LUA_ENV = env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u LUA_INIT -u LUA_INIT_5_4 \
          LUA_PATH='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/?.lua;./?.lua;;' \
          LUA_CPATH='$(CURDIR)/$(BUILDDIR)/lua/?.so;;'

# SANITIZE=1: sanitizer options for the tests. lua5.4 itself is not
# instrumented, so the ASan runtime is preloaded into it, followed by a shim
# that drops LD_PRELOAD from the environment again so that programs the specs
# start (sh, mktemp, ...) run without it (scripts/asan-noinherit.c).
# IMAGESTORE_LUA is the command a spec uses to start another interpreter that
# loads the module; under ASan it preloads the runtime again.
NOINHERIT_SO  = $(BUILDDIR)/tools/asan-noinherit.so
IMAGESTORE_LUA = $(LUA)
ifneq ($(SANITIZE),)
ASAN_RT      := $(shell $(CC) -print-file-name=libasan.so)
TEST_ENV      = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1 \
                LSAN_OPTIONS=suppressions=$(CURDIR)/spec/lsan.supp:print_suppressions=0 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                IMAGESTORE_SANITIZE=1
BUSTED_PRELOAD = LD_PRELOAD='$(ASAN_RT) $(CURDIR)/$(NOINHERIT_SO)'
IMAGESTORE_LUA = env LD_PRELOAD=$(ASAN_RT) $(LUA)
endif
export IMAGESTORE_LUA

DEMO_STORE    = $(CURDIR)/demo-store

# ---- build ----------------------------------------------------------------
.PHONY: all lib module tests deps check check-c check-lua demo torture help \
        install install-lib install-lua uninstall clean build-deps-ok

all: lib module cli tests

# The targets, from the comment at the top of this file.
help:
	@awk '/^#   make/ { on = 1 } on && !/^#/ { exit } on { sub(/^# /, ""); print }' \
	    $(firstword $(MAKEFILE_LIST))

cli: $(CLI_BIN)
lib: $(LIB_A) $(LIB_SO) $(LIB_SO_LINK) $(LIB_LUA_A)
module: $(MOD_SO)
tests: $(TEST_BINS) $(FAULT_SHIM) $(FUZZ_REPLAYS) $(HOOK_HOST)

# Fails early, with a hint, when a pkg-config dependency is missing.
build-deps-ok:
	@$(PKG_CONFIG) --exists $(PKGS) $(MOD_PKGS) $(if $(strip $(LUA_INCDIR)),,$(LUA_PC)) 2>/dev/null || { \
	  echo "error: pkg-config cannot find $(PKGS) $(MOD_PKGS) $(if $(strip $(LUA_INCDIR)),,$(LUA_PC));" \
	       "run 'make deps' (or scripts/ensure-deps)" >&2; exit 1; }

# Hidden by default: the library exports what image_store.h marks IMAGE_STORE_API.
$(OBJDIR)/core/%.o: core/%.c | build-deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden $(PKG_CFLAGS) -c -o $@ $<

$(OBJDIR)/lua/%.o: lua/%.c | build-deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -DIMAGESTORE_VERSION='"$(VERSION)"' -Icore \
	    $(LUA_CFLAGS) $(PKG_CFLAGS) $(MOD_PKG_CFLAGS) -c -o $@ $<

$(OBJDIR)/spec/c/%.o: spec/c/%.c | build-deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icore $(PKG_CFLAGS) -c -o $@ $<

# The installed archive is one relocatable object whose hidden (internal)
# symbols are made local: a program that links it statically sees only the
# documented API, as with the shared library (checked by scripts/check-exports).
$(LIB_A): $(CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@ $(OBJDIR)/imagestore-core.o
	$(LD) -r -o $(OBJDIR)/imagestore-core.o $^
	$(OBJCOPY) --localize-hidden $(OBJDIR)/imagestore-core.o
	$(AR) rcs $@ $(OBJDIR)/imagestore-core.o

$(LIB_INTERNAL_A): $(CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_LUA_A): $(OBJDIR)/lua/imagestore_lua_hooks.o
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libimagestore.so.$(SOVERSION) -o $@ $^ \
	    $(XFLAGS) $(LDFLAGS) $(PKG_LIBS)

$(LIB_SO_LINK): | $(LIB_SO)
	ln -sf libimagestore.so.$(SOVERSION) $@

# The core comes in statically from the archive; --exclude-libs hides its
# symbols, -fvisibility=hidden hides the binding's own, so only the
# luaopen_ function is exported. Lua's symbols come from the interpreter.
$(MOD_SO): $(MOD_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LIBFLAG) -o $@ $(MOD_OBJ) $(LIB_A) -Wl,--exclude-libs,ALL \
	    $(MOD_XLDFLAGS) $(XFLAGS) $(LDFLAGS) $(PKG_LIBS) $(MOD_PKG_LIBS)
	@exports=$$(nm -D --defined-only $@ | awk 'NF == 3 { print $$3 }' | sort -u | tr '\n' ' '); \
	if [ "$$exports" != "luaopen_imagestore_core " ]; then \
	  echo "error: $@ must export exactly luaopen_imagestore_core, exports: $$exports" >&2; \
	  echo "  (declare it __attribute__((visibility(\"default\"))): the binding is built with -fvisibility=hidden)" >&2; \
	  rm -f $@; exit 1; fi; \
	if readelf -d $@ | grep -q 'NEEDED.*liblua'; then \
	  echo "error: $@ links liblua; the module must take Lua from the interpreter" >&2; \
	  rm -f $@; exit 1; fi

# The imagestore command: cli/main.c embeds Lua, the binding's objects and
# every Lua file of the module (scripts/embed-lua.lua writes them into a C
# file), so it needs nothing installed beside it.
lua_module_name = $(if $(filter init,$(notdir $(basename $(1)))),imagestore,imagestore.$(notdir $(basename $(1))))

$(CLI_EMBED_C): $(LUA_MODS) scripts/embed-lua.lua
	@mkdir -p $(@D)
	$(LUA) scripts/embed-lua.lua $@ $(foreach f,$(LUA_MODS),$(call lua_module_name,$(f))=$(f))

$(CLI_BIN): cli/main.c $(CLI_EMBED_C) cli/embedded_lua.h $(MOD_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icli -Ilua $(LUA_CFLAGS) -o $@ cli/main.c $(CLI_EMBED_C) \
	    $(MOD_OBJ) $(LIB_A) $(XFLAGS) $(LDFLAGS) $(LUA_LIBS) $(PKG_LIBS) $(MOD_PKG_LIBS)

# The example host links Lua itself (it is a program, not a module).
$(HOOK_HOST): examples/hook_host.c $(LIB_LUA_A) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icore -Ilua $(LUA_CFLAGS) $(PKG_CFLAGS) -o $@ $< \
	    $(LIB_LUA_A) $(LIB_A) $(XFLAGS) $(LDFLAGS) $(LUA_LIBS) $(PKG_LIBS)

$(NOINHERIT_SO): scripts/asan-noinherit.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -o $@ $<

$(BUILDDIR)/test/fuzz-replay-%: fuzz/fuzz_%.c fuzz/replay.c $(LIB_INTERNAL_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icore $(PKG_CFLAGS) -DCORPUS_DIR='"fuzz/corpus/$*"' -o $@ \
	  fuzz/fuzz_$*.c fuzz/replay.c $(LIB_INTERNAL_A) $(XFLAGS) $(LDFLAGS) $(PKG_LIBS)

# make fuzz: libFuzzer (clang) on every target for FUZZ_SECONDS each; new
# inputs go to build/fuzz/<target>/, the repository's corpus is only read.
.PHONY: fuzz
fuzz:
	@command -v clang >/dev/null || { echo "make fuzz needs clang: apt-get install clang"; exit 1; }
	@mkdir -p build/fuzz
	@for t in $(FUZZ_TARGETS); do \
	  clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Icore \
	    $(PKG_CFLAGS) -o build/fuzz/$$t fuzz/fuzz_$$t.c $(CORE_SRCS) $(PKG_LIBS) || exit 1; \
	  mkdir -p build/fuzz/$$t-corpus; \
	  echo "# fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    build/fuzz/$$t-corpus fuzz/corpus/$$t 2>&1 | tail -n 20 || exit 1; \
	done

$(FAULT_SHIM): spec/faults/fault_shim.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

$(BUILDDIR)/test/%: $(OBJDIR)/spec/c/%.o $(LIB_INTERNAL_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(LIB_INTERNAL_A) $(XFLAGS) $(LDFLAGS) $(PKG_LIBS)

# Keep the test objects (make would delete them as intermediate files).
.SECONDARY: $(TEST_OBJS)

-include $(CORE_OBJS:.o=.d) $(MOD_OBJ:.o=.d) $(TEST_OBJS:.o=.d)

# ---- dependencies ---------------------------------------------------------
deps:
	@bash scripts/ensure-deps

# ---- tests ----------------------------------------------------------------
# Every suite runs even when an earlier one failed; the exit status says
# whether any failed. scripts/run-suite passes TAP through and adds a
# "not ok" line for a suite that crashed or exited non-zero without one.
check: deps
	@$(MAKE) --no-print-directory all || { echo "not ok - build failed"; exit 1; }
	@status=0; \
	$(MAKE) --no-print-directory check-c || status=1; \
	$(MAKE) --no-print-directory check-lua || status=1; \
	$(if $(INTEROP),$(MAKE) --no-print-directory interop-run || status=1;) \
	echo "# building with -fsanitize=address,undefined in $(ASAN_BUILDDIR)"; \
	if $(MAKE) --no-print-directory BUILDDIR=$(ASAN_BUILDDIR) SANITIZE=1 all; then \
	  $(MAKE) --no-print-directory BUILDDIR=$(ASAN_BUILDDIR) SANITIZE=1 check-c || status=1; \
	  $(MAKE) --no-print-directory BUILDDIR=$(ASAN_BUILDDIR) SANITIZE=1 check-lua || status=1; \
	  $(if $(INTEROP),$(MAKE) --no-print-directory BUILDDIR=$(ASAN_BUILDDIR) SANITIZE=1 interop-run || status=1;) \
	else \
	  echo "not ok - sanitizer build failed"; status=1; \
	fi; \
	exit $$status

check-c: $(TEST_BINS) $(FAULT_SHIM) $(FUZZ_REPLAYS) $(LIB_SO) $(LIB_A)
	@status=0; \
	bash scripts/run-suite "exports of $(LIB_SO)" \
	    bash scripts/check-exports $(LIB_SO) core/image_store.h || status=1; \
	bash scripts/run-suite "exports of $(LIB_A)" \
	    bash scripts/check-exports $(LIB_A) core/image_store.h || status=1; \
	for t in $(TEST_BINS) $(FUZZ_REPLAYS); do \
	  $(TEST_ENV) bash scripts/run-suite "$$t" "$$t" || status=1; \
	done; \
	exit $$status

check-lua: $(MOD_SO) $(HOOK_HOST) $(CLI_BIN) $(if $(SANITIZE),$(NOINHERIT_SO))
	@$(TEST_ENV) IMAGESTORE_HOOK_HOST='$(CURDIR)/$(HOOK_HOST)' IMAGESTORE_CLI='$(CURDIR)/$(CLI_BIN)' \
	    bash scripts/run-suite "busted spec/ ($(MOD_SO))" \
	    $(LUA_ENV) $(BUSTED_PRELOAD) $(LUA) $(BUSTED) -o TAP spec

demo: deps
	@$(MAKE) --no-print-directory all
	$(LUA_ENV) $(LUA) examples/quickstart.lua $(DEMO_STORE)
	@bash examples/cli-demo.sh $(CLI_BIN) $(DEMO_STORE)-cli $(IMAGESTORE_FIXTURES)

# make torture: the hostile-disk test (spec/c/hostile_test.c; check runs 500
# seeds of it) for TORTURE_SEEDS seeds, built and run as check's sanitizer
# pass builds and runs it (same BUILDDIR, TEST_ENV and scripts/run-suite);
# then spec/c/powerloss_test.c and killpoint_test.c with their full
# enumeration (every subset of the undoable directory changes; a kill at
# every call that changes the disk), about 100 s under ASan on 2 cores.
TORTURE_SEEDS ?= 20000
TORTURE_FIRST ?= 1
torture: deps
	@$(MAKE) --no-print-directory BUILDDIR=$(ASAN_BUILDDIR) SANITIZE=1 all || \
	  { echo "not ok - sanitizer build failed"; exit 1; }
	@IMAGESTORE_HOSTILE_SEEDS=$(TORTURE_SEEDS) IMAGESTORE_HOSTILE_FIRST=$(TORTURE_FIRST) \
	  $(MAKE) --no-print-directory BUILDDIR=$(ASAN_BUILDDIR) SANITIZE=1 \
	    TEST_BINS=$(ASAN_BUILDDIR)/test/hostile_test FUZZ_REPLAYS= check-c
	@IMAGESTORE_CRASH_FULL=1 $(MAKE) --no-print-directory BUILDDIR=$(ASAN_BUILDDIR) SANITIZE=1 \
	    TEST_BINS='$(ASAN_BUILDDIR)/test/powerloss_test $(ASAN_BUILDDIR)/test/killpoint_test' \
	    FUZZ_REPLAYS= check-c

# ---- interoperability with containers/storage ------------------------------
# make interop: interop/run (it installs the Go packages it needs and builds
# interop/cswriter.go into build/interop/) with the reader built here. check
# runs interop-run in both passes unless INTEROP is empty (the ASan pass with
# the reader built under ASan); INTEROP_SEED, INTEROP_LOCKSTEP, INTEROP_FREE:
# see interop/run.
INTEROP       = 1
INTEROP_READER = $(BUILDDIR)/interop/reader
.PHONY: interop interop-run interop-self-test

$(INTEROP_READER): interop/reader.c core/image_store.h $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icore $(PKG_CFLAGS) -o $@ $< $(LIB_A) $(XFLAGS) $(LDFLAGS) $(PKG_LIBS)

interop: deps
	@$(MAKE) --no-print-directory interop-run

interop-run: $(INTEROP_READER)
	@$(TEST_ENV) INTEROP_READER='$(CURDIR)/$(INTEROP_READER)' \
	    bash scripts/run-suite "interop ($(INTEROP_READER))" bash interop/run

# The harness's own test: a fake reader, right and then wrong in each way.
interop-self-test: deps
	@bash scripts/run-suite "interop self-test" bash interop/run --self-test

-include $(BUILDDIR)/interop/reader.d

# ---- mutation check (issue 15) ---------------------------------------------
# scripts/mutate -h lists its options (MUTATE_JOBS, MUTATE_SUITES, ...); the
# report goes to build/mutate/report.txt. set -f: MUTATE holds globs.
MUTATE ?=
.PHONY: mutate
mutate: deps
	@set -f; bash scripts/mutate $(MUTATE)

# ---- benchmark (bench/, issue #3) -----------------------------------------
#   make bench        deps, then bench/run: every phase for us (C and Lua) and
#                     for containers/storage; table on stdout, JSON in
#                     $(BENCH_OUT)/results.json, raw lines in $(BENCH_OUT)/raw.jsonl
#   make bench-plot   gnuplot-nox (installed if missing), then bench/scaling.svg
#                     from $(BENCH_OUT)/results.json (runs `make bench` first
#                     when there are no results)
# BENCH_SIZES, BENCH_DIR (the stores; must not be tmpfs) and the other
# BENCH_* knobs that bench/run lists may come from the environment.
BENCH_SIZES   ?= 100 1000 10000
BENCH_DIR     ?= $(CURDIR)/$(BUILDDIR)/bench-data
BENCH_OUT      = $(BUILDDIR)/bench
BENCH_BIN      = $(BENCH_OUT)/imagestore-bench
BENCH_FLOOR    = $(BENCH_OUT)/fsync-floor
BENCH_CLOCK    = $(BENCH_OUT)/lua/bench_clock.so
BENCH_SVG      = bench/scaling.svg
export BENCH_SIZES BENCH_DIR

.PHONY: bench bench-build bench-plot

bench-build: $(BENCH_BIN) $(BENCH_FLOOR) $(BENCH_CLOCK) $(BENCH_OUT)/change-check $(MOD_SO) $(CLI_BIN)

$(BENCH_OUT)/change-check: bench/change_check.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icore $(PKG_CFLAGS) -o $@ $< $(LIB_A) $(LDFLAGS) $(PKG_LIBS)

$(OBJDIR)/bench/bench.o: bench/bench.c core/image_store.h | build-deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icore $(PKG_CFLAGS) -c -o $@ $<

$(BENCH_BIN): $(OBJDIR)/bench/bench.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(LIB_A) $(LDFLAGS) $(PKG_LIBS)

$(BENCH_FLOOR): bench/fsync_floor.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS)

$(BENCH_CLOCK): bench/lua_clock.c | build-deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LUA_CFLAGS) $(LIBFLAG) -o $@ $< $(LDFLAGS)

bench: deps
	@$(MAKE) --no-print-directory SANITIZE= bench-build
	@$(LUA_ENV) LUA_CPATH='$(CURDIR)/$(BUILDDIR)/lua/?.so;$(CURDIR)/$(BENCH_OUT)/lua/?.so;;' \
	    BENCH_BIN='$(CURDIR)/$(BENCH_BIN)' BENCH_FLOOR='$(CURDIR)/$(BENCH_FLOOR)' \
	    BENCH_OUT='$(CURDIR)/$(BENCH_OUT)' BENCH_LUA='$(LUA)' \
	    IMAGESTORE_BIN='$(CURDIR)/$(CLI_BIN)' BENCH_CLI_N='$(BENCH_CLI_N)' \
	    bash bench/run
	@$(MAKE) --no-print-directory bench-naming

# make bench-naming: only what naming policies and hooks cost (bench/naming.lua)
BENCH_NAMING_N ?= 10000
.PHONY: bench-naming
bench-naming: $(BENCH_CLOCK) $(MOD_SO)
	@$(LUA_ENV) LUA_CPATH='$(CURDIR)/$(BUILDDIR)/lua/?.so;$(CURDIR)/$(BENCH_OUT)/lua/?.so;;' \
	    $(LUA) bench/naming.lua '$(BENCH_DIR)/naming' $(BENCH_NAMING_N)

# make bench-gc: only what image garbage collection costs (bench/gc.lua, issue
# 13: gc.plan over BENCH_GC_PLAN_N images, gc.apply of half of BENCH_GC_APPLY_OF);
# JSON lines on stdout. `make bench` runs it too, beside the peer's delete.
BENCH_GC_PLAN_N ?= 10000
BENCH_GC_APPLY_OF ?= 2000
.PHONY: bench-gc
bench-gc: $(BENCH_CLOCK) $(MOD_SO)
	@$(LUA_ENV) LUA_CPATH='$(CURDIR)/$(BUILDDIR)/lua/?.so;$(CURDIR)/$(BENCH_OUT)/lua/?.so;;' \
	    $(LUA) bench/gc.lua '$(BENCH_DIR)/gc' $(BENCH_GC_PLAN_N) $(BENCH_GC_APPLY_OF)

# make bench-cli: only the command against Podman (bench/cli.sh, issue 14):
# `imagestore images` and `images --json` against `podman images` and
# `--format json` on BENCH_CLI_N images (Debian's podman, installed if
# missing; BENCH_PODMAN=0 skips it), and the command's start-up; its rows of
# the table on stdout, raw lines in $(BENCH_OUT)/cli-raw.jsonl, results in
# $(BENCH_OUT)/cli-results.json. `make bench` runs it too (bench/run).
BENCH_CLI_N ?= 1000
.PHONY: bench-cli
bench-cli: deps
	@$(MAKE) --no-print-directory SANITIZE= $(CLI_BIN)
	@mkdir -p $(BENCH_OUT)
	@status=0; \
	BENCH_OUT='$(CURDIR)/$(BENCH_OUT)' IMAGESTORE_BIN='$(CURDIR)/$(CLI_BIN)' \
	    bash bench/cli.sh '$(BENCH_DIR)/cli' '$(BENCH_CLI_N)' > $(BENCH_OUT)/cli-raw.jsonl || status=$$?; \
	$(LUA) bench/report.lua $(BENCH_OUT)/cli-raw.jsonl $(BENCH_OUT)/cli-results.json --only=cli \
	    || status=1; \
	exit $$status

bench-plot:
	@bash scripts/ensure-deps gnuplot-nox
	@test -s $(BENCH_OUT)/results.json || $(MAKE) --no-print-directory bench
	@$(LUA) bench/plot.lua $(BENCH_OUT)/results.json $(BENCH_OUT) $(BENCH_SVG)

-include $(OBJDIR)/bench/bench.d

# ---- install --------------------------------------------------------------
install: install-lib install-lua install-cli

install-lib: lib
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libimagestore.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libimagestore.so
	$(INSTALL) -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 0644 $(LIB_LUA_A) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 0644 core/image_store.h lua/imagestore_lua_hooks.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@PKGS@|$(PKGS)|g' \
	    imagestore.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/imagestore.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/imagestore.pc

install-lua: module
	$(INSTALL) -d $(DESTDIR)$(LUA_CMOD_DIR)/imagestore
	$(INSTALL) -m 0755 $(MOD_SO) $(DESTDIR)$(LUA_CMOD_DIR)/imagestore/core.so
	for f in $(LUA_MODS); do \
	  $(INSTALL) -D -m 0644 "$$f" "$(DESTDIR)$(LUA_LMOD_DIR)/$${f#lua/}" || exit 1; \
	done

# The command, its man page and its bash completion.
install-cli: cli
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 0755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/imagestore
	$(INSTALL) -m 0644 cli/imagestore.1 $(DESTDIR)$(MANDIR)/man1/imagestore.1
	$(INSTALL) -m 0644 cli/imagestore.bash $(DESTDIR)$(BASHCOMPDIR)/imagestore

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/imagestore $(DESTDIR)$(MANDIR)/man1/imagestore.1 \
	      $(DESTDIR)$(BASHCOMPDIR)/imagestore
	rm -f $(DESTDIR)$(LIBDIR)/libimagestore.so.$(SOVERSION) \
	      $(DESTDIR)$(LIBDIR)/libimagestore.so \
	      $(DESTDIR)$(LIBDIR)/libimagestore.a \
	      $(DESTDIR)$(LIBDIR)/libimagestore-lua.a \
	      $(DESTDIR)$(INCLUDEDIR)/image_store.h \
	      $(DESTDIR)$(INCLUDEDIR)/imagestore_lua_hooks.h \
	      $(DESTDIR)$(PKGCONFIGDIR)/imagestore.pc \
	      $(DESTDIR)$(LUA_CMOD_DIR)/imagestore/core.so
	for f in $(LUA_MODS); do rm -f "$(DESTDIR)$(LUA_LMOD_DIR)/$${f#lua/}"; done
	-rmdir $(DESTDIR)$(LUA_CMOD_DIR)/imagestore 2>/dev/null
	-find $(DESTDIR)$(LUA_LMOD_DIR)/imagestore -depth -type d -empty -delete 2>/dev/null

clean:
	rm -rf $(BUILDDIR) $(DEMO_STORE) $(DEMO_STORE)-cli $(DEMO_STORE)-cli-podman
