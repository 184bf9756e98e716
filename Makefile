# keycrm-sync - WooCommerce <-> KeyCRM stock sync as small CGI/FastCGI programs.
#
#   make            build cgi-bin/*.cgi
#   make check      install what the tests need, run every test (also under
#                   ASan+UBSan, and a FastCGI worker under valgrind)
#   make demo       build, start nginx + simulated KeyCRM and WooCommerce,
#                   walk a webhook end to end, keep running until Ctrl-C
#   make deps       install the Debian packages the build and tests need

CC       ?= cc
CFLAGS   ?= -O2 -g
PYTHON   ?= /usr/bin/python3
BUILD    ?= build
BINDIR   ?= cgi-bin
PKGS      = libcurl jansson sqlite3 libcrypto

WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wvla \
            -Wno-format-truncation
KC_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -Ilib \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
KC_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lfcgi -lm

LIB_SRC   = $(wildcard lib/*.c)
LIB_OBJ   = $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
LIB_A     = $(BUILD)/libkeycrm-sync.a
PROGRAMS  = webhook sync
BINS      = $(PROGRAMS:%=$(BINDIR)/%.cgi)
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined

.PHONY: all clean check check-unit check-integration check-asan \
        check-valgrind demo deps unit
.SUFFIXES:

all: $(BINS)

$(BUILD)/lib/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(KC_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
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

# Installs the Debian packages the build, the tests and the demo need.
deps:
	@sh tests/install-deps.sh

check: deps
	$(MAKE) all unit
	$(MAKE) check-unit
	$(MAKE) check-integration
	$(MAKE) check-asan
	$(MAKE) check-valgrind
	@echo "make check: all test suites passed"

check-unit: unit
	@$(PYTHON) tests/run_unit.py $(UNIT_BINS)

check-integration: all
	@KC_BINDIR=$(BINDIR) $(PYTHON) tests/run.py

check-asan:
	$(MAKE) BUILD=$(BUILD)/asan BINDIR=$(BUILD)/asan/cgi-bin \
	    CFLAGS="$(ASAN_FLAGS)" all unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(PYTHON) tests/run_unit.py $(UNIT_BINS:$(BUILD)/%=$(BUILD)/asan/%)
	@KC_BINDIR=$(BUILD)/asan/cgi-bin KC_SANITIZED=1 $(PYTHON) tests/run.py

check-valgrind: all
	@KC_BINDIR=$(BINDIR) $(PYTHON) tests/valgrind_fastcgi.py

demo: deps all
	$(PYTHON) tests/demo.py --bindir $(BINDIR)

clean:
	rm -rf $(BUILD) $(BINS)
