# Entry points. Each target installs missing Debian packages, configures and
# builds into build/ (build-asan/ with SANITIZE=1), then runs.
#   make test              every test through ctest
#   make test SANITIZE=1   the same under AddressSanitizer + UBSan
#   make test TSAN=1       the tests of the writer, store, sessions and simulation under
#                          ThreadSanitizer in build-tsan/ (tools/tsan-test.sh)
#   make demo              a local federation (national + three counties) and one
#                          person's story through it, as operators see it
#   make demo-core         the node core alone: appends, checkpoints, verification
#   make bench             the benchmarks (not tests; prints figures)
#   make bench-compare     PostgreSQL 15 logical replication and Tongban's sync in the same
#                          run, interleaved, with ratios (issue #19): ROUNDS=3 EVENTS=1000000
#   make bench-hostile     what a hostile peer can make a national node hold (issue #14)
#   make bench-bundle      offline bundles: export and import of EVENTS (default 1,000,000)
#                          against the session path's catch-up (issue #18)
#   make bench-nation      a simulated nation against a national tongband (issue #21):
#                          N=500 RATE=5000 DURATION=10 OUTAGE=10 SUITE=intl
#   make deb               the Debian package, and its contents
#   make test-first-start  the README's first start on a clean Debian 12 (debootstrap root,
#                          chroot) with the .deb, ending in a node tongbanctl status reaches
#   make test-docker       deploy/Dockerfile and deploy/compose.yaml built and run
#   make fuzz              the libFuzzer targets (fuzz/) under ASan + UBSan in build-fuzz/,
#                          each run for FUZZ_SECONDS (default 60); crashes land in
#                          build-fuzz/fuzz-artifacts/
#   make fuzz-test         each fuzz target over its seed corpus, then FUZZ_TEST_SECONDS
#                          (default 5) of fuzzing; part of make test (FUZZ=0 skips it)
#   make simulate          the deterministic simulation of a federation (issue #17) over
#                          SEEDS seeds (default 10000) from FIRST_SEED (1), STEPS (250) each,
#                          on every core; a failing seed prints the line that replays it
#   make format            clang-format every C++ file (ctest's format check fails otherwise)
#   make thread-safety     clang's -Wthread-safety over every C++ file of the build
#                          (the lock annotations; GCC ignores them)
SHELL := /bin/bash
JOBS ?= 2
ifeq ($(SANITIZE),1)
BUILD_DIR ?= build-asan
CMAKE_FLAGS += -DTB_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
else ifeq ($(TSAN),1)
BUILD_DIR ?= build-tsan
CMAKE_FLAGS += -DTB_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
BUILD_DIR ?= build
CMAKE_FLAGS += -DCMAKE_BUILD_TYPE=Release
endif

# ccache keys on paths relative to the clone, so a fresh clone (CI) reuses
# what another clone of the same sources compiled.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR := 1

FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 5
FUZZ_CMAKE_FLAGS = -DCMAKE_CXX_COMPILER=clang++ -DTB_FUZZ=ON -DTB_SANITIZE=ON \
                   -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_FUZZ_TEST_SECONDS=$(FUZZ_TEST_SECONDS)

.PHONY: deps configure build test simulate fuzz fuzz-build fuzz-test test-first-start test-docker demo demo-core bench bench-sync bench-compare bench-hostile bench-nation bench-bundle deb format thread-safety clean
deps:
	@bash tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

ifeq ($(TSAN),1)
# ThreadSanitizer: only the tests tools/tsan-test.sh names, against an
# abseil built the same way (tools/tsan-abseil.sh, once per build folder).
TSAN_TESTS ?= storage_test sync_test simulation_test
test: configure
	@JOBS=$(JOBS) bash tools/tsan-abseil.sh $(BUILD_DIR)/absl
	@cmake --build $(BUILD_DIR) -j$(JOBS) --target $(TSAN_TESTS)
	@bash tools/tsan-test.sh $(BUILD_DIR) $(TSAN_TESTS)
else
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600
endif
ifneq ($(SANITIZE)$(TSAN),1)
ifneq ($(FUZZ),0)
	@$(MAKE) --no-print-directory fuzz-test
endif
endif

SEEDS ?= 10000
FIRST_SEED ?= 1
STEPS ?= 250
simulate: build
	@JOBS=$(JOBS) bash tools/simulate.sh $(BUILD_DIR) $(SEEDS) $(FIRST_SEED) $(STEPS)

# The fuzz build: clang, libFuzzer, ASan + UBSan, only the fuzz targets.
fuzz-build: deps
	@cmake -S . -B $(FUZZ_DIR) $(FUZZ_CMAKE_FLAGS) >/dev/null
	@cmake --build $(FUZZ_DIR) -j$(JOBS) --target tongban_fuzz_targets

fuzz-test: fuzz-build
	@cd $(FUZZ_DIR) && FUZZ_ARTIFACTS=$$PWD/fuzz-artifacts \
	  ctest -L fuzz --output-on-failure -j$(JOBS) --timeout 300

fuzz: fuzz-build
	@cd $(FUZZ_DIR) && for t in fuzz/fuzz_*; do \
	  n=$${t#fuzz/fuzz_}; \
	  FUZZ_ARTIFACTS=$$PWD/fuzz-artifacts ../fuzz/run.sh $$t ../fuzz/corpus/$$n $(FUZZ_SECONDS) || exit 1; \
	done

demo: build
	@bash tools/demo-federation.sh $(BUILD_DIR)

demo-core: build
	@bash tools/demo-core.sh $(BUILD_DIR)

bench: build
	@$(BUILD_DIR)/bench/tongban_bench

bench-sync: build
	@$(BUILD_DIR)/bench/tongban_sync_bench

bench-compare: build
	@bash bench/compare.sh $(BUILD_DIR)

bench-bundle: build
	@$(BUILD_DIR)/bench/tongban_bundle_bench --events=$(or $(EVENTS),1000000)

bench-hostile: build
	@$(BUILD_DIR)/bench/tongban_hostile_bench

N ?= 500
RATE ?= 5000
DURATION ?= 10
OUTAGE ?= 10
SUITE ?= intl
bench-nation: build
	@$(BUILD_DIR)/bench/tongban_nation_bench --counties=$(N) --rate=$(RATE) \
	  --duration=$(DURATION) --outage=$(OUTAGE) --suite=$(SUITE)

# The Debian package (tongban_VERSION-1_ARCH.deb in build/) and its debug
# symbols (tongban-dbgsym_*.ddeb); its contents are listed in the README.
deb: build
	@cd $(BUILD_DIR) && rm -f tongban_*.deb tongban-dbgsym_*.ddeb && cpack -G DEB >/dev/null
	@bash tools/make-dbgsym.sh $(BUILD_DIR)
	@dpkg-deb --contents $(BUILD_DIR)/tongban_*.deb

# The README's first start, word for word, on a clean Debian 12 made by
# debootstrap (kept in build/first-start/, so it is downloaded once), with
# the .deb; then lintian on the .deb (tests/deploy/first_start_test.sh).
test-first-start: deb
	@bash tests/deploy/first_start_test.sh $(BUILD_DIR)

# The image (deploy/Dockerfile, from the .deb) and the compose federation,
# built and run (tests/deploy/docker_test.sh; starts dockerd if none runs).
test-docker: deb
	@bash tests/deploy/docker_test.sh $(BUILD_DIR)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i --style=file

thread-safety: build
	@JOBS=$(JOBS) bash tools/thread-safety.sh $(BUILD_DIR)

clean:
	rm -rf build build-asan build-fuzz
