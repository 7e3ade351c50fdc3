# Entry points. `make demo` and `make test` work on a fresh Debian 12 machine
# as root: they install what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
SHELL      := /bin/bash

DEB_PACKAGES = cmake make g++ clang clang-format llvm pkg-config python3 \
  libelf-dev libbpf-dev zlib1g-dev libfmt-dev nlohmann-json3-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev libcli11-dev libxxhash-dev

.PHONY: all deps build asan fuzz test unit-test asan-test fuzz-test format-check conformance demo bench clean format

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCRIB_SANITIZE=ON $(CMAKE_FLAGS)

asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCRIB_FUZZ=ON -DCRIB_TESTS=OFF -DCRIB_BENCH=OFF $(CMAKE_FLAGS)

fuzz: $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

unit-test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan-test: asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# Each fuzz target runs briefly on its seed corpus; `make fuzz-test FUZZ_SECONDS=600` for longer.
FUZZ_SECONDS ?= 30
# A crash fails the target; its input is kept in $(FUZZ_BUILD)/artifacts.
fuzz-test: fuzz
	@set -eo pipefail; mkdir -p $(FUZZ_BUILD)/artifacts; \
	for t in $(FUZZ_BUILD)/bin/fuzz_*; do \
	  [ -x "$$t" ] || continue; name=$$(basename $$t); \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	  seeds=fuzz/seeds/$$name; [ -d $$seeds ] || seeds=; \
	  echo "== $$name ($(FUZZ_SECONDS)s)"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/ \
	    $(FUZZ_BUILD)/corpus/$$name $$seeds > $(FUZZ_BUILD)/$$name.log 2>&1 \
	    || { grep -A40 -E 'ERROR|DEADLY|out-of-memory' $(FUZZ_BUILD)/$$name.log | head -80; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' $(FUZZ_BUILD)/$$name.log; \
	done

conformance: build
	$(BUILD)/bin/crib-conformance ../shared/conformance

test: deps
	$(MAKE) format-check
	$(MAKE) unit-test
	$(MAKE) asan-test
	$(MAKE) fuzz-test

demo: deps build
	@./examples/demo.sh $(BUILD)

bench: deps build
	@./bench/run.sh $(BUILD)

# C++ follows .clang-format; BPF C under bpf/, tests/bpf/ and bench/bpf/
# keeps the kernel's style.
FORMATTED = $$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c' | grep -v -e '^bpf/' -e '^tests/bpf/' -e '^bench/bpf/')

format:
	clang-format -i $(FORMATTED)

format-check:
	clang-format --dry-run --Werror $(FORMATTED)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
