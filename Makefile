# posthorn: the developer's entry points. `make run` and `make test` are all a new
# user needs; each installs what is missing (scripts/bootstrap) and builds first.

BUILD_DIR   ?= build
BUILD_TYPE  ?= RelWithDebInfo
PYTHON      ?= /usr/bin/python3
CONFIG      ?= config/dev.toml
PYTEST_ARGS ?=

.PHONY: all bootstrap configure build run test unit integration bench clean distclean fuzz install \
	torture alice soak test-asan test-tsan ci

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

# Reliability (docs/reliability.md). `make test` runs the short versions of the first two.
# torture: posthorn killed TORTURE_KILLS times under load; nothing acknowledged may be lost.
# alice: power-cut states of one message's life (strace), with every reordering.
# soak: SOAK_MINUTES of mixed load, RSS, fds and queue sampled every 10 s.
TORTURE_KILLS ?= 500
SOAK_MINUTES  ?= 30

torture: build
	$(PYTHON) tests/torture/torture.py --bin $(BUILD_DIR)/posthorn --kills $(TORTURE_KILLS)

alice: build
	$(PYTHON) tests/alice/alice.py --bin $(BUILD_DIR)/posthorn --full

soak: build
	$(PYTHON) bench/soak/soak.py --bin $(BUILD_DIR)/posthorn --minutes $(SOAK_MINUTES) --svg soak.svg

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) build-fuzz tests/integration/__pycache__ .pytest_cache

# Also removes ./var: the state and the Maildirs that `make run` wrote.
distclean: clean
	rm -rf var

# libFuzzer targets (tests/fuzz/targets), built with clang++-19 into build-fuzz/;
# FUZZ_SECONDS per target (default 20). Fails on a crash, a leak, a timeout or a broken
# invariant. Not part of `make test`; `make ci` runs it.
fuzz: bootstrap
	tests/fuzz/run

# Sanitizer builds (docs/development.md "Sanitizers"), each in its own folder with -O1 and
# line tables only (a fresh machine builds them without ccache: CI time matters).
# ASan + UBSan: every unit test, then the integration tests against the sanitized binary
# (in parallel with pytest-xdist, ASAN_PYTEST_ARGS); the tests fail on any sanitizer
# report in the server's log (conftest.py). TSan: the unit tests of the threaded parts
# (the scheduler with its admin, drain and reload tests; the committer and the spool).
ASAN_DIR          ?= build-asan
TSAN_DIR          ?= build-tsan
SAN_CXXFLAGS      ?= -O1 -g1 -fno-omit-frame-pointer
ASAN_SANITIZE     := -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_SANITIZE     := -fsanitize=thread
ASAN_PYTEST_ARGS  ?= -n 2
TSAN_UNITS        ?= unit_scheduler unit_queue
# abort_on_error: a report kills the process at once (a server then shows as died).
export ASAN_OPTIONS  ?= detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS  ?= halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp

$(ASAN_DIR)/build.ninja:
	cmake -G Ninja -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Sanitize \
	  -DCMAKE_CXX_FLAGS_SANITIZE="$(SAN_CXXFLAGS)" -DCMAKE_CXX_FLAGS="$(ASAN_SANITIZE)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$(ASAN_SANITIZE)"

$(TSAN_DIR)/build.ninja:
	cmake -G Ninja -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=Sanitize \
	  -DCMAKE_CXX_FLAGS_SANITIZE="$(SAN_CXXFLAGS)" -DCMAKE_CXX_FLAGS="$(TSAN_SANITIZE)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$(TSAN_SANITIZE)"

test-asan: bootstrap $(ASAN_DIR)/build.ninja
	ninja -C $(ASAN_DIR)
	@status=0; \
	echo "== unit tests under ASan + UBSan (ctest)"; \
	(cd $(ASAN_DIR) && ctest --output-on-failure --no-tests=error -j2) || status=1; \
	echo "== integration tests against the ASan + UBSan binary (pytest $(ASAN_PYTEST_ARGS))"; \
	POSTHORN_BIN=$(CURDIR)/$(ASAN_DIR)/posthorn POSTHORN_SANITIZED=1 \
	  $(PYTHON) -m pytest -q tests/integration $(ASAN_PYTEST_ARGS) $(PYTEST_ARGS) || status=1; \
	exit $$status

# setarch -R: TSan's shadow memory wants the address layout without ASLR on kernels with
# many mmap random bits ("unexpected memory mapping").
test-tsan: bootstrap $(TSAN_DIR)/build.ninja
	ninja -C $(TSAN_DIR) $(TSAN_UNITS)
	@status=0; \
	for t in $(TSAN_UNITS); do \
	  echo "== $$t under TSan"; \
	  setarch "$$(uname -m)" -R $(TSAN_DIR)/$$t --gtest_brief=1 || status=1; \
	done; \
	exit $$status

# What CI runs (.ci/run, in a fresh root): make test, then the fuzz budget, the TSan and
# the ASan runs; every step runs, each is timed, and the target fails when any failed.
ci:
	scripts/ci

# Installs the binary as $(PREFIX)/sbin/posthorn, /usr/sbin/sendmail and /usr/bin/mailq as
# links to it (relative, so they also resolve inside DESTDIR), and the systemd unit when
# config/posthorn.service exists. An existing sendmail or mailq that is not ours (another
# MTA's) is left alone unless FORCE=1. INSTALL_BIN names a binary already built (no build).
PREFIX      ?= /usr/local
DESTDIR     ?=
INSTALL_BIN ?=
FORCE       ?=
UNIT_DIR    ?= /lib/systemd/system

install: $(if $(INSTALL_BIN),,build)
	@set -e; \
	bin="$(if $(INSTALL_BIN),$(INSTALL_BIN),$(BUILD_DIR)/posthorn)"; \
	target="$(DESTDIR)$(PREFIX)/sbin/posthorn"; \
	install -D -m 0755 "$$bin" "$$target"; \
	echo "installed $$target"; \
	for link in /usr/sbin/sendmail /usr/bin/mailq; do \
	  dest="$(DESTDIR)$$link"; \
	  if [ -e "$$dest" ] || [ -L "$$dest" ]; then \
	    if [ "$$(readlink -f "$$dest")" != "$$(readlink -f "$$target")" ] && [ -z "$(FORCE)" ]; then \
	      echo "$$dest exists and is not posthorn (another MTA?): left alone; FORCE=1 replaces it" >&2; \
	      continue; \
	    fi; \
	  fi; \
	  mkdir -p "$$(dirname "$$dest")"; \
	  ln -sfr "$$target" "$$dest"; \
	  echo "linked $$dest -> $$(readlink "$$dest")"; \
	done; \
	if [ -f config/posthorn.service ]; then \
	  install -D -m 0644 config/posthorn.service "$(DESTDIR)$(UNIT_DIR)/posthorn.service"; \
	  echo "installed $(DESTDIR)$(UNIT_DIR)/posthorn.service"; \
	fi
