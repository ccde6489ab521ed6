# Makefile: builds libholdfast.so (engine), holdfast (server), and runs every
# test.  `make run` and `make test` install missing Debian packages first.
#   make            build/libholdfast.so build/holdfast
#   make test       deps, build, static checks, unit (+ASan/UBSan), fuzz (replay +
#                   <= 270 s in all), integration against the ASan/UBSan server
#   make run        deps, build, serve corefile-examples/demo.Corefile on 127.0.0.1:1053
#   make fuzz       libFuzzer for FUZZ_SECONDS (default 600) per harness; findings
#                   -> tests/fuzz/regressions/ (docs/fuzzing.md); make afl: AFL++ builds
#   make static     cppcheck + clang-tidy on plugin/ and shim/ (tests/static/)
#   make bench      issue 8 table: holdfast beside echo, nsd, knot, gdnsd, unbound,
#                   bind9 at 1k/10k/100k services (BENCH_SIZES, BENCH_RUNS, ...)
#   make bench-api  API load / reconnect spread / snapshot figures (issue 4;
#                   BENCH_API_DURATION=600 s of steady state; not in `make test`)
CC      ?= gcc
CLANG   ?= clang
VERSION := 0.1.0
PY      := /usr/bin/python3
B       := build
WARN    := -Wall -Wextra -Werror
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g $(WARN) -Iplugin/include -Iplugin/src \
	-DHF_VERSION=\"$(VERSION)\"
CFLAGS  ?= -O2
LIB_CFLAGS := $(BASE_CFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -DHF_BUILDING_LIBRARY
LIB_LIBS := -lyaml -lcurl -lurcu-qsbr -lpthread
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRC  := $(wildcard plugin/src/*.c)
LIB_OBJ  := $(patsubst plugin/src/%.c,$(B)/obj/%.o,$(LIB_SRC))
SHIM_SRC := $(filter-out shim/holdfast_ctl.c,$(wildcard shim/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/unit/%,$(UNIT_SRC))
ASAN_LIB_OBJ := $(patsubst plugin/src/%.c,$(B)/asan/obj/%.o,$(LIB_SRC))
ASAN_UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/asan/unit/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 600
# make test fuzzes each harness FUZZ_CI_BUDGET / (number of harnesses)
# seconds, at most 30 (issue 9: at most 5 minutes of fuzzing in CI)
FUZZ_CI_BUDGET ?= 270
FUZZ_TEST_SECONDS ?= $(shell s=$$(( $(FUZZ_CI_BUDGET) / $(words $(FUZZ_NAMES) x) )); [ $$s -gt 30 ] && s=30; echo $$s)

.SECONDARY:
.PHONY: fakeapi-test all deps test unit unit-asan fuzz-replay fuzz-smoke fuzz fuzz-seeds afl asan-server integration-asan static static-deep integration run bench bench-api clean check-exports

all: $(B)/libholdfast.so $(B)/holdfast $(B)/holdfast-ctl $(B)/ldns-check

deps:
	@scripts/deps.sh

$(B)/obj/%.o: plugin/src/%.c $(wildcard plugin/src/*.h) plugin/include/holdfast.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(B)/libholdfast.so: $(LIB_OBJ) plugin/libholdfast.map
	$(CC) -shared -o $@ $(LIB_OBJ) -Wl,--version-script=plugin/libholdfast.map \
		-Wl,-soname,libholdfast.so -Wl,-z,defs $(LIB_LIBS)

$(B)/libholdfast.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $(LIB_OBJ)

$(B)/holdfast: $(SHIM_SRC) $(wildcard shim/*.h) plugin/include/holdfast.h $(B)/libholdfast.so
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Ishim -o $@ $(SHIM_SRC) -L$(B) -lholdfast \
		-Wl,-rpath,'$$ORIGIN' -lpthread -lmicrohttpd -Wl,--no-as-needed -ljemalloc

# the break-glass client: standalone, no engine
$(B)/holdfast-ctl: shim/holdfast_ctl.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<

$(B)/ldns-check: tests/tools/ldns_check.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lldns

# unit tests link the static library so hfi_ internals are reachable;
# UNIT_EXTRA_<test> adds link flags to one test (normal build only)
UNIT_EXTRA_test_arena := -Wl,--no-as-needed -ljemalloc
UNIT_EXTRA_test_answer_noalloc := -Wl,--no-as-needed -ljemalloc
UNIT_EXTRA_test_memory_sizing := -Wl,--no-as-needed -ljemalloc
$(B)/unit/%: tests/unit/%.c $(B)/libholdfast.a $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(B)/libholdfast.a -lcmocka -lldns $(LIB_LIBS) \
		$(UNIT_EXTRA_$*)

$(B)/asan/obj/%.o: plugin/src/%.c $(wildcard plugin/src/*.h) plugin/include/holdfast.h
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 $(SAN) -fPIC -DHF_BUILDING_LIBRARY -DHF_PLAIN_MALLOC -c $< -o $@

$(B)/asan/libholdfast.a: $(ASAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $(ASAN_LIB_OBJ)

$(B)/asan/unit/%: tests/unit/%.c $(B)/asan/libholdfast.a $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $< $(B)/asan/libholdfast.a -lcmocka -lldns $(LIB_LIBS)

# ASan+UBSan server (make test runs the integration suite against it):
# build/asan/{holdfast,libholdfast.so,holdfast-ctl,ldns-check}; plain malloc
# (HF_PLAIN_MALLOC: ASan cannot see inside jemalloc arenas), no jemalloc
$(B)/asan/libholdfast.so: $(ASAN_LIB_OBJ) plugin/libholdfast.map
	$(CC) $(SAN) -shared -o $@ $(ASAN_LIB_OBJ) -Wl,--version-script=plugin/libholdfast.map \
		-Wl,-soname,libholdfast.so $(LIB_LIBS)

$(B)/asan/holdfast: $(SHIM_SRC) $(wildcard shim/*.h) plugin/include/holdfast.h $(B)/asan/libholdfast.so
	$(CC) $(BASE_CFLAGS) -O1 $(SAN) -Ishim -o $@ $(SHIM_SRC) -L$(B)/asan -lholdfast \
		-Wl,-rpath,'$$ORIGIN' -lpthread -lmicrohttpd

# (gcc -O1 cannot see the strlen() guard before an snprintf: warning only)
$(B)/asan/holdfast-ctl: shim/holdfast_ctl.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 $(SAN) -Wno-error=format-truncation -o $@ $<

$(B)/asan/ldns-check: $(B)/ldns-check
	@mkdir -p $(@D)
	cp $< $@

asan-server: $(B)/asan/holdfast $(B)/asan/holdfast-ctl $(B)/asan/ldns-check

# fuzz harnesses: gcc replay build (tests/fuzz/main.c feeds each corpus file)
$(B)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/main.c $(B)/asan/libholdfast.a $(wildcard tests/fuzz/*.h)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -O1 $(SAN) -o $@ $< tests/fuzz/main.c $(B)/asan/libholdfast.a $(LIB_LIBS)

# the seed generator of fuzz_snapshot (real snapshots the engine writes)
$(B)/fuzz-tools/gen_snapshot_seeds: tests/fuzz/gen_snapshot_seeds.c $(B)/libholdfast.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(B)/libholdfast.a $(LIB_LIBS)

fuzz-seeds: $(B)/fuzz-tools/gen_snapshot_seeds
	mkdir -p tests/fuzz/fuzz_snapshot.in
	$(B)/fuzz-tools/gen_snapshot_seeds tests/fuzz/fuzz_snapshot.in

# libFuzzer build with clang: the engine once with fuzzer-no-link, each harness linked to it
FUZZ_BASE := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Iplugin/include -Iplugin/src \
	-DHF_VERSION=\"$(VERSION)\" -DHF_BUILDING_LIBRARY -DHF_PLAIN_MALLOC
FUZZ_OBJ := $(patsubst plugin/src/%.c,$(B)/libfuzzer/obj/%.o,$(LIB_SRC))
$(B)/libfuzzer/obj/%.o: plugin/src/%.c $(wildcard plugin/src/*.h) plugin/include/holdfast.h
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_BASE) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(B)/libfuzzer/%: tests/fuzz/%.c $(FUZZ_OBJ) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(LIB_LIBS)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; timeout 120 $$t; done

unit-asan: $(ASAN_UNIT_BIN)
	@set -e; for t in $(ASAN_UNIT_BIN); do echo "== $$t (asan+ubsan)"; timeout 300 $$t; done

# replays each harness's seeds and its tests/fuzz/regressions/HARNESS/ files
fuzz-replay: $(patsubst %,$(B)/fuzz-replay/%,$(FUZZ_NAMES))
	@set -e; for f in $(FUZZ_NAMES); do echo "== replay $$f"; \
		reg=; [ -d tests/fuzz/regressions/$$f ] && reg=tests/fuzz/regressions/$$f; \
		timeout 120 $(B)/fuzz-replay/$$f tests/fuzz/$$f.in $$reg; done

# tests/fuzz/run.sh: seeds + dictionary; findings are copied to
# tests/fuzz/regressions/HARNESS/ and fail the target (after every harness ran)
fuzz-smoke: $(patsubst %,$(B)/libfuzzer/%,$(FUZZ_NAMES))
	@fail=0; for f in $(FUZZ_NAMES); do echo "== libFuzzer $$f for $(FUZZ_TEST_SECONDS)s"; \
		rm -rf $(B)/corpus/$$f; tests/fuzz/run.sh $(B) $$f $(FUZZ_TEST_SECONDS) || fail=1; done; \
		exit $$fail

fuzz: $(patsubst %,$(B)/libfuzzer/%,$(FUZZ_NAMES))
	@fail=0; for f in $(FUZZ_NAMES); do echo "== libFuzzer $$f for $(FUZZ_SECONDS)s"; \
		tests/fuzz/run.sh $(B) $$f $(FUZZ_SECONDS) || fail=1; done; exit $$fail

# AFL++ (Debian afl++): each harness with afl-clang-fast and AFL++'s libFuzzer
# driver (libAFLDriver.a); a campaign (docs/fuzzing.md):
#   mkdir -p build/afl-out; AFL_SKIP_CPUFREQ=1 afl-fuzz -i tests/fuzz/HARNESS.in \
#     -o build/afl-out/HARNESS -x tests/fuzz/HARNESS.dict -- build/afl/HARNESS
AFL_CC ?= afl-clang-fast
AFL_DRIVER ?= $(firstword $(wildcard /usr/lib/afl/libAFLDriver.a /usr/lib/x86_64-linux-gnu/afl/libAFLDriver.a /usr/local/lib/afl/libAFLDriver.a))
AFL_OBJ := $(patsubst plugin/src/%.c,$(B)/afl/obj/%.o,$(LIB_SRC))
$(B)/afl/obj/%.o: plugin/src/%.c $(wildcard plugin/src/*.h) plugin/include/holdfast.h
	@mkdir -p $(@D)
	AFL_QUIET=1 $(AFL_CC) $(FUZZ_BASE) -c $< -o $@

$(B)/afl/%: tests/fuzz/%.c $(AFL_OBJ) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(@D)
	AFL_QUIET=1 $(AFL_CC) $(FUZZ_BASE) -o $@ $< $(AFL_OBJ) $(AFL_DRIVER) $(LIB_LIBS) -lstdc++

afl: $(patsubst %,$(B)/afl/%,$(FUZZ_NAMES))

# static checks (issue 9): cppcheck + clang-tidy's fast checks (.clang-tidy),
# suppressions with reasons in tests/static/; static-deep: the clang analyzer
static:
	@tests/static/run.sh

static-deep:
	@tests/static/run.sh deep

check-exports: $(B)/libholdfast.so
	@tests/check_exports.sh $(B)/libholdfast.so

integration: all
	timeout 600 $(PY) tests/integration/run_all.py --build $(B)

# the suite against the ASan+UBSan server (what make test runs; 357 s here
# with a fuzz campaign on the other core): a sanitizer report or a leak at exit (the server
# exits through main on SIGTERM, so LeakSanitizer runs) fails the test
# (harness.py); test_ctypes loads libholdfast.so into Python, which cannot
# take an ASan library, so it runs against the plain build
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
integration-asan: all asan-server
	$(ASAN_ENV) timeout 1500 $(PY) tests/integration/run_all.py --build $(B)/asan -x test_ctypes
	timeout 300 $(PY) tests/integration/run_all.py --build $(B) -k test_ctypes

# the fake Kubernetes API server: its own checks, and kubectl against it
fakeapi-test:
	timeout 120 $(PY) tests/fakeapi/test_fakeapi.py
	timeout 120 $(PY) tests/fakeapi/test_kubectl.py

test: SHELL := /bin/bash
fuzz-smoke: SHELL := /bin/bash
fuzz: SHELL := /bin/bash
test: deps
	$(MAKE) -j2 all $(B)/libholdfast.a
	$(MAKE) check-exports
	$(MAKE) static
	$(MAKE) -j2 $(UNIT_BIN) $(ASAN_UNIT_BIN) asan-server
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) -j2 $(patsubst %,$(B)/fuzz-replay/%,$(FUZZ_NAMES)) $(patsubst %,$(B)/libfuzzer/%,$(FUZZ_NAMES))
	$(MAKE) fuzz-replay
	$(MAKE) fuzz-smoke
	$(MAKE) fakeapi-test
	$(MAKE) integration-asan
	@echo "make test: all passed"

run: deps all
	@scripts/run-demo.sh $(B)

bench: deps all
	scripts/bench.sh $(B)

# benchmarks of issue 4 (they print figures; none of them is pass/fail):
# reconnect spread of 100 simulated replicas (the real api_backoff.c on a
# fake clock), snapshot write/load + relist + index build at 100k services,
# and holdfast against the fake API for BENCH_API_DURATION s + a 60 s outage
BENCH_API_DURATION ?= 600
$(B)/bench/reconnect_spread: tests/bench/reconnect_spread.c plugin/src/api_backoff.c $(wildcard plugin/src/*.h)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -DHF_BUILDING_LIBRARY -o $@ tests/bench/reconnect_spread.c plugin/src/api_backoff.c

$(B)/bench/snapshot_bench: tests/bench/snapshot_bench.c $(B)/libholdfast.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(B)/libholdfast.a $(LIB_LIBS) -Wl,--no-as-needed -ljemalloc

# the answer path alone (ns per answer, and a digest of every answer)
$(B)/bench/answer_bench: tests/bench/answer_bench.c $(B)/libholdfast.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(B)/libholdfast.a $(LIB_LIBS) -Wl,--no-as-needed -ljemalloc

bench-api: SHELL := /bin/bash
bench-api: all $(B)/bench/reconnect_spread $(B)/bench/snapshot_bench
	@set -eo pipefail; \
	timeout 120 $(B)/bench/reconnect_spread | tee $(B)/bench/reconnect_spread.txt; echo; \
	timeout 300 $(B)/bench/snapshot_bench | tee $(B)/bench/snapshot_bench.txt; \
	timeout $$(( $(BENCH_API_DURATION) + 600 )) $(PY) tests/bench/api_load.py \
		--duration $(BENCH_API_DURATION) --holdfast $(B)/holdfast | tee $(B)/bench/api_load.txt; \
	echo; echo "=== make bench-api: summary ==="; \
	grep -h '^summary:' $(B)/bench/reconnect_spread.txt $(B)/bench/snapshot_bench.txt $(B)/bench/api_load.txt

clean:
	rm -rf $(B)
