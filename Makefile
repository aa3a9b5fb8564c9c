# posthorn: the developer's entry points. `make run` and `make test` are all a new
# user needs; each installs what is missing (scripts/bootstrap) and builds first.

BUILD_DIR   ?= build
BUILD_TYPE  ?= RelWithDebInfo
PYTHON      ?= /usr/bin/python3
CONFIG      ?= config/dev.toml
PYTEST_ARGS ?=

.PHONY: all bootstrap configure build run test unit integration bench clean distclean fuzz install \
	torture alice soak

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
	rm -rf $(BUILD_DIR) tests/integration/__pycache__ .pytest_cache

# Also removes ./var: the state and the Maildirs that `make run` wrote.
distclean: clean
	rm -rf var

# libFuzzer targets (tests/fuzz/), built with clang++-19 into build-fuzz/; FUZZ_SECONDS per
# target (default 20). Not part of `make test`.
fuzz:
	tests/fuzz/run

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
