# posthorn: the developer's entry points. `make run` and `make test` are all a new
# user needs; each installs what is missing (scripts/bootstrap) and builds first.

BUILD_DIR   ?= build
BUILD_TYPE  ?= RelWithDebInfo
PYTHON      ?= /usr/bin/python3
CONFIG      ?= config/dev.toml
PYTEST_ARGS ?=

.PHONY: all bootstrap configure build run test unit integration bench clean distclean fuzz

all: build

bootstrap:
	@scripts/bootstrap

# Configure once; afterwards ninja re-runs CMake by itself when CMakeLists.txt changes.
$(BUILD_DIR)/build.ninja:
	cmake -G Ninja -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR)

run: bootstrap build
	./$(BUILD_DIR)/posthorn serve -c $(CONFIG)

# Unit tests first, then the integration tests against the real binary. Both always run;
# the target fails when either fails. ctest fails when it finds no test, and so does
# pytest (exit status 5).
test: bootstrap build
	@status=0; \
	echo "== unit tests (ctest)"; \
	(cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -j2) || status=1; \
	echo "== integration tests (pytest)"; \
	POSTHORN_BIN=$(CURDIR)/$(BUILD_DIR)/posthorn $(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS) || status=1; \
	exit $$status

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -j2

integration: build
	POSTHORN_BIN=$(CURDIR)/$(BUILD_DIR)/posthorn $(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS)

bench: bootstrap build
	bench/run

clean:
	rm -rf $(BUILD_DIR) tests/integration/__pycache__ .pytest_cache

# Also removes ./var: the state and the Maildirs that `make run` wrote.
distclean: clean
	rm -rf var

# libFuzzer targets (tests/fuzz/), built with clang++-19 into build-fuzz/; FUZZ_SECONDS per
# target (default 20). Not part of `make test`.
fuzz:
	tests/fuzz/run
