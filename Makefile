# keycrm-sync - WooCommerce <-> KeyCRM stock sync as small CGI/FastCGI programs.
#
#   make            build cgi-bin/*.cgi
#   make check      install what the tests need, run every test (the integration
#                   tests on SQLite and again on MariaDB; also under
#                   ASan+UBSan, and a FastCGI worker under valgrind)
#   make demo       build, start nginx + simulated KeyCRM and WooCommerce,
#                   walk a webhook end to end, keep running until Ctrl-C
#   make demo-cluster  the same on two nginx servers sharing one MariaDB
#   make deps       install the Debian packages the build and tests need
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS (default 120) each
#   make stress     the crash, fault, concurrency and convergence tests, much longer
#   make bench      speed and memory, printed (results in docs/BENCHMARKS.md)
#   make docs       rewrite the key tables of README.md, the man page and the
#                   example configuration from lib/config_keys.c (make check-docs checks)
#   make install    install into FHS places (PREFIX=/usr/local, DESTDIR= for staging);
#                   make uninstall removes it again (never the configuration or state)

CC       ?= cc
CFLAGS   ?= -O2 -g
PYTHON   ?= /usr/bin/python3
BUILD    ?= build
BINDIR   ?= cgi-bin
PKGS      = libcurl jansson sqlite3 libcrypto libmariadb

WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wvla \
            -Wno-format-truncation
KC_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) -Ilib \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
KC_LIBS   = -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lfcgi -lunistring -lm -pthread

LIB_SRC   = $(wildcard lib/*.c)
LIB_OBJ   = $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
LIB_A     = $(BUILD)/libkeycrm-sync.a
PROGRAMS  = webhook sync settings
BINS      = $(PROGRAMS:%=$(BINDIR)/%.cgi)
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined

# Installation (make install / uninstall). Programs go where Debian keeps a package's
# internal executables; the configuration and the state are outside PREFIX (FHS).
PREFIX   ?= /usr/local
DESTDIR  ?=
PKGLIBDIR = $(PREFIX)/lib/keycrm-sync
SBINDIR   = $(PREFIX)/sbin
MAN8DIR   = $(PREFIX)/share/man/man8
UNITDIR   = $(PREFIX)/lib/systemd/system
CONFDIR   = /etc/keycrm-sync
STATEDIR  = /var/lib/keycrm-sync
LOGROTATEDIR = /etc/logrotate.d
WWW_USER ?= www-data
INSTALL  ?= install
# Installed if built (settings.cgi may not be).
INSTALL_PROGRAMS = webhook sync settings
UNITS     = keycrm-sync@.socket keycrm-sync@.service

.PHONY: all clean check check-unit check-integration check-integration-mysql check-asan \
        check-valgrind demo demo-cluster deps unit
.SUFFIXES:

all: $(BINS)

$(BUILD)/lib/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(KC_CFLAGS) $(CFLAGS) -c -o $@ $<

# The settings page's stylesheet and script, embedded with their CSP hashes
# (tools/embed.c).
EMBED_TOOL = $(BUILD)/embed
EMBED_OBJ  = $(BUILD)/gen/page_css.o $(BUILD)/gen/page_js.o

$(EMBED_TOOL): tools/embed.c
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(KC_CFLAGS) $(CFLAGS) -o $@ $< $(KC_LIBS)

$(BUILD)/gen/page_css.c: lib/page.css $(EMBED_TOOL)
	@mkdir -p $(dir $@)
	@echo "  GEN $@"
	@$(EMBED_TOOL) kc_page_css <lib/page.css >$@.tmp && mv -f $@.tmp $@

$(BUILD)/gen/page_js.c: lib/page.js $(EMBED_TOOL)
	@mkdir -p $(dir $@)
	@echo "  GEN $@"
	@$(EMBED_TOOL) kc_page_js <lib/page.js >$@.tmp && mv -f $@.tmp $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	@$(CC) $(KC_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ) $(EMBED_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BINDIR)/%.cgi: cgi-bin/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(KC_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_A) $(KC_LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(KC_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_A) $(KC_LIBS) -lcmocka

unit: $(UNIT_BINS)

# The key tables of README.md, docs/keycrm-sync.8 and contrib/keycrm-sync.conf.example
# come from the one table in lib/config_keys.c (tools/config-keys.c prints it, tools/docs.py
# puts it between the "BEGIN keys" and "END keys" lines).
DOCS_TOOL = $(BUILD)/config-keys

$(DOCS_TOOL): tools/config-keys.c $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(KC_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_A) $(KC_LIBS)

.PHONY: docs check-docs
# Prepares each of the store's statements on MariaDB (tests/integration/test_db.py).
$(BUILD)/mysql-statements: tools/mysql-statements.c $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  LD $@"
	@$(CC) $(KC_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_A) $(KC_LIBS)

docs: $(DOCS_TOOL)
	@$(PYTHON) tools/docs.py --tool $(DOCS_TOOL)

check-docs: $(DOCS_TOOL)
	@$(PYTHON) tools/docs.py --tool $(DOCS_TOOL) --check

# Installs the Debian packages the build, the tests and the demo need.
deps:
	@sh tests/install-deps.sh

check: deps
	$(MAKE) all unit
	$(MAKE) check-unit
	$(MAKE) check-docs
	$(MAKE) check-po
	$(MAKE) check-integration
	$(MAKE) check-integration-mysql
	$(MAKE) check-asan
	$(MAKE) check-valgrind
	$(MAKE) check-fuzz
	@echo "make check: all test suites passed"

check-unit: unit
	@$(PYTHON) tests/run_unit.py $(UNIT_BINS)

check-integration: all
	@KC_BINDIR=$(BINDIR) $(PYTHON) tests/run.py

# The tests of the programs again with the state in MariaDB (a private server
# the tests start and stop, tests/harness/mariadb.py), see tests/run.py.
check-integration-mysql: all
	@KC_STORE=mysql KC_BINDIR=$(BINDIR) $(PYTHON) tests/run.py

check-asan:
	$(MAKE) BUILD=$(BUILD)/asan BINDIR=$(BUILD)/asan/cgi-bin \
	    CFLAGS="$(ASAN_FLAGS)" all unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(PYTHON) tests/run_unit.py $(UNIT_BINS:$(BUILD)/%=$(BUILD)/asan/%)
	@# The simulation's seeds are logic, run in full by check-integration; here a few
	@# walk its code paths under the sanitizers.
	@KC_BINDIR=$(BUILD)/asan/cgi-bin KC_SANITIZED=1 KC_SIM_SEEDS=$${KC_SIM_SEEDS:-1-3} \
	    $(PYTHON) tests/run.py

check-valgrind: all
	@KC_BINDIR=$(BINDIR) $(PYTHON) tests/valgrind_fastcgi.py

demo: deps all
	$(PYTHON) tests/demo.py --bindir $(BINDIR)

demo-cluster: deps all
	$(PYTHON) tests/demo_cluster.py --bindir $(BINDIR)

clean:
	rm -rf $(BUILD) $(BINS)

.PHONY: install uninstall check-install

# The units name the programs by their installed path (/usr/lib/keycrm-sync in contrib/,
# as in the example server configs); a different PREFIX is written into the copies.
# As root the state directory is created for the web server's user; without root the
# command to run is printed instead. An existing state directory is left as it is.
install: all
	$(INSTALL) -d -m 0755 $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(MAN8DIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LOGROTATEDIR)
	@[ -d $(DESTDIR)$(CONFDIR) ] || $(INSTALL) -d -m 0755 $(DESTDIR)$(CONFDIR)
	@for p in $(INSTALL_PROGRAMS); do \
	    if [ -f $(BINDIR)/$$p.cgi ]; then \
	        echo "  INSTALL $(DESTDIR)$(PKGLIBDIR)/$$p.cgi"; \
	        $(INSTALL) -m 0755 $(BINDIR)/$$p.cgi $(DESTDIR)$(PKGLIBDIR)/$$p.cgi || exit 1; \
	    else \
	        echo "  (not built, not installed: $(BINDIR)/$$p.cgi)"; \
	    fi; \
	done
	$(INSTALL) -m 0755 contrib/keycrm-sync-setup $(DESTDIR)$(SBINDIR)/keycrm-sync-setup
	sed 's|:-/usr/lib/keycrm-sync}|:-$(PKGLIBDIR)}|' contrib/keycrm-sync-workers \
	    >$(DESTDIR)$(SBINDIR)/keycrm-sync-workers.tmp
	chmod 0755 $(DESTDIR)$(SBINDIR)/keycrm-sync-workers.tmp
	mv -f $(DESTDIR)$(SBINDIR)/keycrm-sync-workers.tmp $(DESTDIR)$(SBINDIR)/keycrm-sync-workers
	$(INSTALL) -m 0644 contrib/logrotate $(DESTDIR)$(LOGROTATEDIR)/keycrm-sync
	$(INSTALL) -m 0644 docs/keycrm-sync.8 $(DESTDIR)$(MAN8DIR)/keycrm-sync.8
	$(INSTALL) -m 0644 contrib/keycrm-sync.conf.example \
	    $(DESTDIR)$(CONFDIR)/keycrm-sync.conf.example
	@for u in $(UNITS); do \
	    sed 's|/usr/lib/keycrm-sync/|$(PKGLIBDIR)/|g' contrib/systemd/$$u \
	        >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	    echo "  INSTALL $(DESTDIR)$(UNITDIR)/$$u"; \
	done
	@if [ -d $(DESTDIR)$(STATEDIR) ]; then \
	    echo "  (kept as it is: $(DESTDIR)$(STATEDIR))"; \
	    if [ -n "$$(find $(DESTDIR)$(STATEDIR) ! -user $(WWW_USER) -print -quit 2>/dev/null)" ]; then \
	        echo "  WARNING: $(DESTDIR)$(STATEDIR) (or a file in it) does not belong to $(WWW_USER):"; \
	        echo "        the web server cannot write its state there. As root run:"; \
	        echo "        chown -R $(WWW_USER):$(WWW_USER) $(DESTDIR)$(STATEDIR)"; \
	    fi; \
	elif [ "$$(id -u)" = 0 ]; then \
	    $(INSTALL) -d -m 0750 -o $(WWW_USER) -g $(WWW_USER) $(DESTDIR)$(STATEDIR) && \
	    echo "  STATE $(DESTDIR)$(STATEDIR) ($(WWW_USER), 0750)"; \
	else \
	    $(INSTALL) -d -m 0750 $(DESTDIR)$(STATEDIR) && \
	    echo "  STATE $(DESTDIR)$(STATEDIR): not root, so as root run:" && \
	    echo "        chown $(WWW_USER):$(WWW_USER) $(DESTDIR)$(STATEDIR)"; \
	fi
	@echo "Installed. Next (as root): keycrm-sync-setup writes $(CONFDIR)/keycrm-sync.conf;"
	@echo "see man keycrm-sync. The FastCGI workers, with systemd: systemctl daemon-reload;"
	@echo "systemctl enable --now keycrm-sync@webhook.socket keycrm-sync@sync.socket keycrm-sync@settings.socket"
	@echo "without systemd: keycrm-sync-workers start (after an upgrade: keycrm-sync-workers restart)."
	@echo "Shell commands as the web server's user: runuser -u $(WWW_USER) -- $(PKGLIBDIR)/sync.cgi --dry-run"

# Removes what install put there; never the configuration, the state or an htpasswd.
uninstall:
	rm -f $(INSTALL_PROGRAMS:%=$(DESTDIR)$(PKGLIBDIR)/%.cgi) \
	    $(DESTDIR)$(SBINDIR)/keycrm-sync-setup $(DESTDIR)$(SBINDIR)/keycrm-sync-workers \
	    $(DESTDIR)$(LOGROTATEDIR)/keycrm-sync $(DESTDIR)$(MAN8DIR)/keycrm-sync.8 \
	    $(DESTDIR)$(CONFDIR)/keycrm-sync.conf.example $(UNITS:%=$(DESTDIR)$(UNITDIR)/%)
	-@rmdir $(DESTDIR)$(PKGLIBDIR) 2>/dev/null || true
	-@rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true
	@echo "Left in place: $(DESTDIR)$(CONFDIR)/keycrm-sync.conf (and htpasswd), $(DESTDIR)$(STATEDIR) and /var/log/keycrm-sync, if there."
	@echo "If keycrm-sync-workers started workers, stop them first: keycrm-sync-workers stop"
	@echo "If the units were enabled: systemctl disable --now 'keycrm-sync@*.socket' 'keycrm-sync@*.service'"

# make install into a scratch root, servers from the installed files, the worker
# supervisor, the first-run helper, make uninstall (tests/integration/test_install.py,
# test_workers.py).
check-install: all
	@KC_BINDIR=$(BINDIR) $(PYTHON) tests/run.py test_install test_workers

# Fuzzing (tests/fuzz/run.sh): libFuzzer targets built with clang (ASan+UBSan)
# against lib/*.c in $(BUILD)/fuzz.
#   make fuzz          every target FUZZ_SECONDS (default 120) s, about 15 min in all
#   make check-fuzz    replay the committed seeds, then every target 3 s
FUZZ_SECONDS ?= 120

.PHONY: fuzz check-fuzz
fuzz: deps
	@FUZZ_BUILD=$(BUILD)/fuzz bash tests/fuzz/run.sh -t $(FUZZ_SECONDS)

check-fuzz:
	@FUZZ_BUILD=$(BUILD)/fuzz bash tests/fuzz/run.sh -r
	@FUZZ_BUILD=$(BUILD)/fuzz bash tests/fuzz/run.sh -t 3

# The bounded tests of make check, run with many more rounds and seeds.
.PHONY: stress
stress: deps all
	@KC_CRASH_ROUNDS=300 KC_CRASH_SYNC_ROUNDS=80 KC_FAULT_RIGS=8 KC_SIM_SEEDS=1-150 \
	    KC_BINDIR=$(BINDIR) $(PYTHON) tests/run.py test_crash test_faults \
	    test_concurrency test_convergence

# Speed and memory, measured and printed, never asserted (bench/run.py, ~10 min;
# the last results are in docs/BENCHMARKS.md).  BENCH_ARGS=--quick: ~2 minutes.
.PHONY: bench
bench: deps all
	$(PYTHON) bench/run.py --bindir $(BINDIR) $(BENCH_ARGS)

# Languages: GNU gettext catalogues (lib/i18n.c).  Messages are marked in the
# sources with _(), N_() and kc_ntr(); make pot extracts them into
# po/keycrm-sync.pot; po/uk.po is Ukrainian.  Each language is compiled
# (msgfmt --check) into $(BINDIR)/locale/C.UTF-8/LC_MESSAGES/keycrm-sync-LANG.mo,
# next to the programs that read it, and installed into
# $(PREFIX)/share/locale/C.UTF-8/LC_MESSAGES/.  make check-po: every message
# the sources mark has a Ukrainian translation.
MSGFMT     ?= msgfmt
XGETTEXT   ?= xgettext
PO_LANGS    = uk
LOCALEDIR   = $(PREFIX)/share/locale
MO_SUBDIR   = C.UTF-8/LC_MESSAGES
MO_FILES    = $(PO_LANGS:%=$(BINDIR)/locale/$(MO_SUBDIR)/keycrm-sync-%.mo)
PO_SOURCES  = $(sort $(wildcard lib/*.c lib/*.h cgi-bin/*.c))
XGETTEXT_FLAGS = --language=C --from-code=UTF-8 --keyword=_ --keyword=N_ \
    --keyword=kc_ntr:1,2 --add-comments=TRANSLATORS: --package-name=keycrm-sync \
    --msgid-bugs-address="the keycrm-sync issue tracker" --sort-by-file --force-po

.PHONY: pot check-po install-locale uninstall-locale
all: $(MO_FILES)

$(BINDIR)/locale/$(MO_SUBDIR)/keycrm-sync-%.mo: po/%.po
	@mkdir -p $(dir $@)
	@echo "  MSGFMT $<"
	@$(MSGFMT) --check -o $@.tmp $< && mv -f $@.tmp $@

$(BUILD)/lib/i18n.o: KC_CFLAGS += -DKC_LOCALEDIR='"$(LOCALEDIR)"'
$(BUILD)/tests/test_i18n: KC_CFLAGS += -DKC_TEST_LOCALEDIR='"$(abspath $(BINDIR)/locale)"'
$(BUILD)/tests/test_i18n: $(MO_FILES)

pot:
	@$(XGETTEXT) $(XGETTEXT_FLAGS) -o po/keycrm-sync.pot $(PO_SOURCES)
	@echo "  XGETTEXT po/keycrm-sync.pot"

check-po: $(MO_FILES)
	@mkdir -p $(BUILD)
	@$(XGETTEXT) $(XGETTEXT_FLAGS) -o $(BUILD)/keycrm-sync.pot $(PO_SOURCES)
	@$(PYTHON) tests/check_po.py $(BUILD)/keycrm-sync.pot $(PO_LANGS:%=po/%.po)

install: install-locale
install-locale: $(MO_FILES)
	$(INSTALL) -d -m 0755 $(DESTDIR)$(LOCALEDIR)/$(MO_SUBDIR)
	@for l in $(PO_LANGS); do \
	    echo "  INSTALL $(DESTDIR)$(LOCALEDIR)/$(MO_SUBDIR)/keycrm-sync-$$l.mo"; \
	    $(INSTALL) -m 0644 $(BINDIR)/locale/$(MO_SUBDIR)/keycrm-sync-$$l.mo \
	        $(DESTDIR)$(LOCALEDIR)/$(MO_SUBDIR)/keycrm-sync-$$l.mo || exit 1; \
	done

uninstall: uninstall-locale
uninstall-locale:
	rm -f $(PO_LANGS:%=$(DESTDIR)$(LOCALEDIR)/$(MO_SUBDIR)/keycrm-sync-%.mo)
	-@rmdir $(DESTDIR)$(LOCALEDIR)/$(MO_SUBDIR) $(DESTDIR)$(LOCALEDIR)/$(dir $(MO_SUBDIR)) 2>/dev/null || true

clean: clean-locale
.PHONY: clean-locale
clean-locale:
	rm -rf $(BINDIR)/locale
