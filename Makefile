# Entry points. Each target installs missing Debian packages, configures and
# builds into build/ (build-asan/ with SANITIZE=1), then runs.
#   make test              every test through ctest
#   make test SANITIZE=1   the same under AddressSanitizer + UBSan
#   make demo              a local federation (national + three counties) and one
#                          person's story through it, as operators see it
#   make demo-core         the node core alone: appends, checkpoints, verification
#   make bench             the benchmarks (not tests; prints figures)
#   make deb               the Debian package, and its contents
#   make format            clang-format every C++ file (ctest's format check fails otherwise)
#   make thread-safety     clang's -Wthread-safety over every C++ file of the build
#                          (the lock annotations; GCC ignores them)
SHELL := /bin/bash
JOBS ?= 2
ifeq ($(SANITIZE),1)
BUILD_DIR ?= build-asan
CMAKE_FLAGS += -DTB_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
BUILD_DIR ?= build
CMAKE_FLAGS += -DCMAKE_BUILD_TYPE=Release
endif

.PHONY: deps configure build test demo demo-core bench bench-sync deb format thread-safety clean
deps:
	@bash tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

demo: build
	@bash tools/demo-federation.sh $(BUILD_DIR)

demo-core: build
	@bash tools/demo-core.sh $(BUILD_DIR)

bench: build
	@$(BUILD_DIR)/bench/tongban_bench

bench-sync: build
	@$(BUILD_DIR)/bench/tongban_sync_bench

# The Debian package (tongban_VERSION_ARCH.deb in build/); its contents are
# listed in the README.
deb: build
	@cd $(BUILD_DIR) && cpack -G DEB >/dev/null && dpkg-deb --contents tongban_*.deb

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i --style=file

thread-safety: build
	@JOBS=$(JOBS) bash tools/thread-safety.sh $(BUILD_DIR)

clean:
	rm -rf build build-asan
