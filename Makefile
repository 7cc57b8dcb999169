# flowc — top-level build.
#
#   make            build flowc and the runtime into build/ (an install tree)
#   make test       install missing deps, build with sanitizers, run every test
#   make demo       build, compile examples/demo and run it against a local server
#   make bench      run the benchmarks in bench/
#   make install PREFIX=/usr/local
#
# build/ mirrors an installed prefix: bin/flowc, lib/flowc/libflowrt.a,
# include/flowc/*.h, share/flowc/stdlib/*.flow. flowc finds the rest
# relative to its own executable, in the tree and once installed.

CC       ?= gcc
PREFIX   ?= /usr/local
O        ?= build
SAN      ?= 0

WARN     = -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
DEFS     = -D_GNU_SOURCE
OPT      = -O2 -g
ifeq ($(SAN),1)
  OPT   = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN = -fsanitize=address,undefined
endif
CFLAGS   = $(OPT) $(WARN) $(DEFS)
# flex/bison output is not ours: keep -Werror but forgive what it does.
GENFLAGS = $(OPT) -std=c11 -Wall -Werror $(DEFS) -Wno-unused-function -Wno-sign-compare \
           -Wno-unused-but-set-variable -Icompiler -I$(O)/gen

COMPILER_SRC = $(wildcard compiler/*.c)
COMPILER_OBJ = $(COMPILER_SRC:compiler/%.c=$(O)/obj/compiler/%.o) \
               $(O)/obj/gen/parser.o $(O)/obj/gen/lexer.o
RUNTIME_SRC  = $(wildcard runtime/*.c)
RUNTIME_OBJ  = $(RUNTIME_SRC:runtime/%.c=$(O)/obj/runtime/%.o)

FLOWC   = $(O)/bin/flowc
RTLIB   = $(O)/lib/flowc/libflowrt.a
LIBS    = -ltcc -ljansson -ldl -lpthread -lm

.PHONY: all test demo bench install clean deps
all: $(FLOWC) $(RTLIB) $(O)/share/flowc/stdlib $(O)/include/flowc/.stamp $(O)/tests/flowtest-server

deps:
	@./scripts/install-deps.sh

$(O)/gen/parser.c $(O)/gen/parser.h: grammar/parser.y
	@mkdir -p $(O)/gen
	bison -Wall -Werror -o $(O)/gen/parser.c --defines=$(O)/gen/parser.h $<

$(O)/gen/lexer.c $(O)/gen/lexer.h: grammar/lexer.l $(O)/gen/parser.h
	@mkdir -p $(O)/gen
	flex -o $(O)/gen/lexer.c --header-file=$(O)/gen/lexer.h $<

$(O)/obj/gen/%.o: $(O)/gen/%.c $(O)/gen/parser.h $(O)/gen/lexer.h $(wildcard compiler/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(GENFLAGS) -c -o $@ $<

$(O)/obj/compiler/%.o: compiler/%.c $(wildcard compiler/*.h) $(O)/gen/parser.h $(O)/gen/lexer.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icompiler -I$(O)/gen -Iruntime -c -o $@ $<

$(FLOWC): $(COMPILER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $^ $(LIBS)

# The runtime is linked into job binaries by tcc: always gcc -O2, never sanitized.
RTFLAGS = -O2 -g $(WARN) $(DEFS) -fPIC -Iruntime -Istdlib
$(O)/obj/runtime/%.o: runtime/%.c $(wildcard runtime/*.h) stdlib/flow.h
	@mkdir -p $(dir $@)
	$(CC) $(RTFLAGS) -c -o $@ $<

$(RTLIB): $(RUNTIME_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^ $(if $(RUNTIME_OBJ),,$(O)/obj/empty.o)

$(O)/include/flowc/.stamp: $(wildcard runtime/*.h stdlib/*.h) Makefile
	@rm -rf $(O)/include/flowc && mkdir -p $(O)/include/flowc
	cp $(wildcard runtime/*.h stdlib/*.h) $(O)/include/flowc/
	@touch $@

$(O)/share/flowc/stdlib:
	@mkdir -p $(O)/share/flowc
	ln -sfn ../../../stdlib $@

# The scriptable HTTP API the end-to-end tests and benchmarks run against.
SERVER_LIBS = $(shell pkg-config --libs libmicrohttpd jansson) -lpthread
$(O)/tests/flowtest-server: tests/server/flowtest_server.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDSAN) $(SERVER_LIBS)

test:
	@./scripts/install-deps.sh
	@$(MAKE) --no-print-directory all SAN=1 O=build-san
	@$(MAKE) --no-print-directory all
	@./tests/run.sh

demo:
	@./scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh

bench: all
	@./bench/run.sh

install: all
	install -d $(PREFIX)/bin $(PREFIX)/lib/flowc $(PREFIX)/include/flowc $(PREFIX)/share/flowc/stdlib
	install -m 755 $(FLOWC) $(PREFIX)/bin/flowc
	install -m 644 $(RTLIB) $(PREFIX)/lib/flowc/
	install -m 644 $(O)/include/flowc/*.h $(PREFIX)/include/flowc/
	install -m 644 stdlib/*.flow $(PREFIX)/share/flowc/stdlib/

clean:
	rm -rf build build-san
