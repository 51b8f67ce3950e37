# tracksd — see README.md. `make run` and `make test` are the two commands that matter.

CARGO ?= cargo
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# The binary `make install` installs: `make build`'s (glibc, built for this machine: the
# fastest here, and it needs no portability), or e.g. BIN=$(STATIC_BIN) or $(CROSS_BIN).
BIN := $(TARGET_DIR)/release/tracksd
NATIVE_BIN := $(TARGET_DIR)/release/tracksd
MAN := $(TARGET_DIR)/tracksd.1
BINDIR = $(PREFIX)/bin
UNITDIR = $(PREFIX)/lib/systemd/system
MANDIR = $(PREFIX)/share/man/man1
DOCDIR = $(PREFIX)/share/doc/tracksd
CONFDIR = $(SYSCONFDIR)/tracksd
# Highest accepted `systemd-analyze security` exposure of tracksd.service, times ten.
SECURITY_THRESHOLD ?= 15
# Static builds (musl libc linked in, no INTERP, no NEEDED): they start on any Linux
# of their architecture, whatever its glibc. rust-lld (shipped with rustup's toolchain)
# links both, so no cross C toolchain is needed.
STATIC_TARGET := x86_64-unknown-linux-musl
CROSS_TARGET := aarch64-unknown-linux-musl
STATIC_BIN := $(TARGET_DIR)/$(STATIC_TARGET)/release/tracksd
CROSS_BIN := $(TARGET_DIR)/$(CROSS_TARGET)/release/tracksd
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DIST_DIR := $(TARGET_DIR)/dist
DEB_AMD64 := $(DIST_DIR)/tracksd_$(VERSION)_amd64.deb
DEB_ARM64 := $(DIST_DIR)/tracksd_$(VERSION)_arm64.deb
DEB_MAN := $(TARGET_DIR)/deb/tracksd.1

.PHONY: all build run test lint unit readme-curl security install-test install uninstall static cross dist bench clean \
	browser-deps browser-test api-fuzz client-check systemd-check deb deb-amd64 deb-test

all: build

## build: optimised release binary (target/release/tracksd)
build:
	$(CARGO) build --release --locked

## run: build and serve the embedded development config (127.0.0.1:8000, state in ./var)
run: build
	$(BIN) serve

## test: format, lints, unit + black-box tests, the docs' curl examples, the systemd
## unit's sandbox score, `make install` into a scratch DESTDIR, the amd64 Debian package,
## /docs in a real browser, schemathesis and a generated client against a started server
test: lint unit readme-curl security install-test deb-test browser-test api-fuzz client-check

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit:
	$(CARGO) test --locked

## browser-deps: the npm packages (pinned in tests/browser/package-lock.json) that drive
## Debian's chromium; without npm it prints a skip notice (fails under CI=true)
browser-deps:
	@if command -v npm >/dev/null 2>&1; then \
	    cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	elif [ "$$CI" = true ]; then echo "browser-deps: npm is missing" >&2; exit 1; \
	else echo "browser-deps: skipped, npm is missing"; fi

## browser-test: /docs in headless Chromium with its assets unreachable, then served from
## the LAN ("Try it out" login, then /users/me); and /ui/ used as a person would (log in,
## search, page, add/edit/delete, backup, restore into a fresh instance, log out; no other
## origin, HttpOnly cookie, CSP, markup shown as text); screenshots in target/browser/
browser-test: browser-deps
	$(CARGO) test --locked --test browser -- --ignored --test-threads 1

## api-fuzz: schemathesis (tests/schemathesis.toml) against a started server, logged out and in
api-fuzz:
	$(CARGO) test --locked --test schemathesis -- --ignored --test-threads 1

## client-check: openapi-generator's Python client from /openapi.json, compared with the
## original FastAPI document's and used against a started server
client-check:
	$(CARGO) test --locked --test client -- --ignored

## readme-curl: run every curl example of README.md and docs/*.md against a started server
readme-curl: build
	bash tests/readme_curl.sh $(BIN) README.md docs/*.md

## bench: throughput, latency and footprint vs a bare tiny_http server (not part of test);
## BENCH_SECS=1 BENCH_RUNS=1 make bench for a quick check (see bench/run.sh)
bench:
	@CARGO="$(CARGO)" bash bench/run.sh

## security: systemd-analyze security (exposure of tracksd.service <= 1.5) and verify of the units
security:
	@bash tests/security.sh $(SECURITY_THRESHOLD) $(NATIVE_BIN)

## systemd-check: boot this machine's systemd as PID 1 in private namespaces, `make install`
## into its throwaway overlays and check the units live (notify, watchdog, stop, socket
## activation, credential, thread limit), then the amd64 .deb (install, upgrade, purge);
## root only, not part of test, one run at a time; logs in target/livesystemd
## (see tests/livesystemd/README.md)
systemd-check: build deb-amd64
	@bash tests/livesystemd/run.sh

## install-test: make install + uninstall into a scratch DESTDIR, checking the layout
install-test: build
	@bash tests/install.sh

# install and the man page use the binaries as built (building them if missing),
# so that `sudo make install` after `make build` needs no cargo.
$(NATIVE_BIN):
	$(CARGO) build --release --locked

$(MAN): $(NATIVE_BIN) config/help2man.sh
	sh config/help2man.sh $(NATIVE_BIN) >$@.tmp && mv $@.tmp $@

## install: binary, systemd units, man page, README and docs/ under $(DESTDIR)$(PREFIX) (default
## /usr/local), and $(SYSCONFDIR)/tracksd/tracksd.toml.example (+ tracksd.toml if absent)
install: $(BIN) $(MAN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/tracksd
	for unit in tracksd.service tracksd.socket; do \
	    sed -e 's|/usr/bin/tracksd|$(BINDIR)/tracksd|g' -e 's|/usr/share/doc/tracksd|$(DOCDIR)|g' \
	        -e 's|/etc/tracksd/|$(CONFDIR)/|g' config/$$unit >$(DESTDIR)$(UNITDIR)/$$unit.tmp && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit.tmp && \
	    mv $(DESTDIR)$(UNITDIR)/$$unit.tmp $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	install -m 0644 $(MAN) $(DESTDIR)$(MANDIR)/tracksd.1
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -d $(DESTDIR)$(DOCDIR)/docs
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	install -m 0644 config/tracksd.example.toml $(DESTDIR)$(CONFDIR)/tracksd.toml.example
	@if [ -e $(DESTDIR)$(CONFDIR)/tracksd.toml ]; then \
	    echo "kept the existing $(DESTDIR)$(CONFDIR)/tracksd.toml"; \
	else \
	    install -m 0644 config/tracksd.example.toml $(DESTDIR)$(CONFDIR)/tracksd.toml; \
	fi
	@[ -n "$(DESTDIR)" ] || echo "next: tracksd user add NAME --config $(CONFDIR)/tracksd.toml, then systemctl daemon-reload && systemctl enable --now tracksd.socket tracksd"

## uninstall: remove what install put there; a changed tracksd.toml and /var/lib/tracksd stay
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tracksd $(DESTDIR)$(UNITDIR)/tracksd.service $(DESTDIR)$(UNITDIR)/tracksd.socket
	rm -f $(DESTDIR)$(MANDIR)/tracksd.1 $(DESTDIR)$(DOCDIR)/README.md
	cd docs && for f in *.md; do rm -f $(DESTDIR)$(DOCDIR)/docs/$$f; done
	rmdir $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@if cmp -s config/tracksd.example.toml $(DESTDIR)$(CONFDIR)/tracksd.toml; then \
	    rm -f $(DESTDIR)$(CONFDIR)/tracksd.toml; \
	elif [ -e $(DESTDIR)$(CONFDIR)/tracksd.toml ]; then \
	    echo "kept $(DESTDIR)$(CONFDIR)/tracksd.toml (changed); the state in /var/lib/tracksd is never removed"; \
	fi
	rm -f $(DESTDIR)$(CONFDIR)/tracksd.toml.example
	rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true

# static-build TARGET: adds the Rust standard library for TARGET if missing, builds
# with rust-lld, then checks the ELF (no INTERP, no NEEDED) and smoke-tests it
# (natively, or under qemu-aarch64), see tests/cross_smoke.sh.
define static-build
	@command -v rustup >/dev/null 2>&1 || { echo "make: rustup not found; it installs the Rust standard library for $(1)" >&2; exit 1; }
	@rustup target list --installed | grep -qx '$(1)' || rustup target add $(1) || \
	    { echo "make: 'rustup target add $(1)' failed: the Rust standard library for $(1) comes from static.rust-lang.org" >&2; exit 1; }
	CARGO_TARGET_$(shell echo $(1) | tr a-z- A-Z_)_LINKER=rust-lld $(CARGO) build --release --locked --target $(1)
	@bash tests/cross_smoke.sh $(TARGET_DIR)/$(1)/release/tracksd
endef

## static: static x86_64 binary ($(STATIC_BIN)), checked by readelf and smoke-tested
static:
	$(call static-build,$(STATIC_TARGET))

## cross: static aarch64 binary for any 64-bit Raspberry Pi OS ($(CROSS_BIN)), checked by
## readelf and smoke-tested under qemu-aarch64 (Debian: apt-get install qemu-user)
cross:
	$(call static-build,$(CROSS_TARGET))

## dist: one tarball per static build in $(DIST_DIR): the `make install` tree under
## /usr/local (binary, units, man page, README, tracksd.toml.example), INSTALL, SHA256SUMS
dist: static cross
	rm -rf $(DIST_DIR) && mkdir -p $(DIST_DIR)
	sh config/help2man.sh $(STATIC_BIN) >$(DIST_DIR)/tracksd.1
	@set -e; for pair in x86_64:$(STATIC_BIN) aarch64:$(CROSS_BIN); do \
	    arch=$${pair%%:*}; bin=$${pair#*:}; name=tracksd-$(VERSION)-$$arch-linux; \
	    stage=$(DIST_DIR)/$$name; \
	    $(MAKE) --no-print-directory install DESTDIR=$$stage PREFIX=/usr/local SYSCONFDIR=/etc \
	        BIN=$$bin NATIVE_BIN=$(STATIC_BIN) MAN=$(DIST_DIR)/tracksd.1 >/dev/null; \
	    rm -f $$stage/etc/tracksd/tracksd.toml; \
	    sed -e "s/@NAME@/$$name/g" -e "s/@ARCH@/$$arch/g" config/INSTALL.in >$$stage/INSTALL; \
	    (cd $$stage && find usr etc INSTALL -type f | LC_ALL=C sort | xargs sha256sum >SHA256SUMS); \
	    tar -C $(DIST_DIR) --owner=0 --group=0 --numeric-owner --sort=name \
	        --mtime="@$$(git log -1 --format=%ct 2>/dev/null || echo 0)" -czf $(DIST_DIR)/$$name.tar.gz $$name; \
	    rm -rf $$stage; \
	    echo "dist: $(DIST_DIR)/$$name.tar.gz ($$(stat -c %s $(DIST_DIR)/$$name.tar.gz) bytes)"; \
	done
	rm -f $(DIST_DIR)/tracksd.1
	cd $(DIST_DIR) && sha256sum *.tar.gz >SHA256SUMS && cat SHA256SUMS
	@bash tests/dist.sh $(DIST_DIR)

# deb-build BIN DEB-ARCH RUST-TARGET: one package into $(DIST_DIR), see config/deb/build.sh
# (the man page comes from the x86_64 build, which runs here).
define deb-build
	@mkdir -p $(dir $(DEB_MAN))
	sh config/help2man.sh $(STATIC_BIN) >$(DEB_MAN).tmp && mv $(DEB_MAN).tmp $(DEB_MAN)
	bash config/deb/build.sh $(1) $(2) $(3) $(DEB_MAN) $(DIST_DIR)
endef

## deb: Debian packages of the static builds, $(DEB_AMD64) and
## $(DEB_ARM64) (dpkg-deb only; layout, maintainer scripts and
## lintian overrides in config/deb/), each checked by tests/deb.sh (lintian included)
deb: static cross
	$(call deb-build,$(STATIC_BIN),amd64,$(STATIC_TARGET))
	$(call deb-build,$(CROSS_BIN),arm64,$(CROSS_TARGET))
	@bash tests/deb.sh $(DEB_AMD64) $(DEB_ARM64)

deb-amd64: static
	$(call deb-build,$(STATIC_BIN),amd64,$(STATIC_TARGET))

## deb-test: the amd64 package's files, conffiles, control fields, packaged config and
## lintian (tests/deb.sh); no root needed; without dpkg-deb it prints a skip notice
## (fails under CI=true)
deb-test:
	@if command -v dpkg-deb >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory deb-amd64 && bash tests/deb.sh $(DEB_AMD64); \
	elif [ "$$CI" = true ]; then echo "deb-test: dpkg-deb is missing" >&2; exit 1; \
	else echo "deb-test: skipped, dpkg-deb is missing (Debian: apt-get install dpkg)"; fi

clean:
	$(CARGO) clean

## fuzz: run each cargo-fuzz target in fuzz/ for FUZZ_SECS seconds (default 600), one
## process on one core; needs a nightly toolchain and `cargo install cargo-fuzz`.
## Not part of test. Corpus in fuzz/corpus, crashes in fuzz/artifacts (fuzz/RESULTS.md).
FUZZ_SECS ?= 600
FUZZ_CARGO ?= cargo +nightly
FUZZ_TARGETS := cookie_verify form_parse query_parse track_json
.PHONY: fuzz
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t for $(FUZZ_SECS) s"; \
		mkdir -p fuzz/corpus/$$t && \
		$(FUZZ_CARGO) fuzz run $$t fuzz/corpus/$$t fuzz/seeds/$$t -- \
			-max_total_time=$(FUZZ_SECS) -print_final_stats=1 || exit 1; \
	done
