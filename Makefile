# Thin wrapper over meson: the two commands of the README, plus bench, asan and fuzz.
BUILD ?= build
LISTEN ?= 127.0.0.1:8080
DATA ?= ./data

.PHONY: all build run test bench asan fuzz clean

all: build

build:
	@scripts/deps.sh build
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) --buildtype=debugoptimized >/dev/null
	@ninja -C $(BUILD)

run: build
	@mkdir -p $(DATA)
	exec $(BUILD)/kho server --listen $(LISTEN) --data $(DATA)

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	@tests/run.sh $(BUILD)

bench:
	@scripts/deps.sh bench
	@bash bench/run.sh

# The unit and end-to-end suites under AddressSanitizer and UBSan.
asan:
	@scripts/deps.sh test
	@test -f build-asan/build.ninja || meson setup build-asan -Db_sanitize=address,undefined \
		-Db_lundef=false --buildtype=debug >/dev/null
	@ninja -C build-asan
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp tests/run.sh build-asan

# libFuzzer harnesses (clang), each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh test
	@test -f build-fuzz/build.ninja || CC=clang meson setup build-fuzz -Dfuzz=true >/dev/null
	@ninja -C build-fuzz
	@for h in build-fuzz/tests/fuzz/fuzz_*; do \
		name=$$(basename $$h); mkdir -p tests/fuzz/out/$$name; \
		$$h -max_total_time=$(FUZZ_SECONDS) tests/fuzz/out/$$name tests/fuzz/corpus/$$name || exit 1; \
	done

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-bench
