# flowc — top-level build.
#
#   make            build flowc and the runtime into build/ (an install tree)
#   make test       install missing deps, build with sanitizers, run every test
#   make demo       build, compile examples/demo and run it against a local server
#   make bench      run the benchmarks in bench/ (their programs built here)
#   make fuzz       build the libFuzzer harnesses (tests/fuzz) and run each
#                   for FUZZ_SECONDS (default 60), e.g. FUZZ_SECONDS=1800
#   make install PREFIX=/usr/local [DESTDIR=...]
#
# build/ mirrors an installed prefix: bin/flowc, lib/flowc/libflowrt.a,
# include/flowc/*.h, share/flowc/stdlib/*.flow. flowc finds the rest
# relative to its own executable, in the tree and once installed.
# SAN=1 O=build-san is the test build: flowc, the test server and a
# sanitized copy of the runtime (lib/libflowrt-san.a) for tests that link
# the runtime with gcc.

CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
O        ?= build
SAN      ?= 0

WARN     = -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
DEFS     = -D_GNU_SOURCE
DEPS     = -MMD -MP
SANOPT   = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
OPT      = -O2 -g
ifeq ($(SAN),1)
  OPT   = $(SANOPT)
  LDSAN = -fsanitize=address,undefined
endif
CFLAGS   = $(OPT) $(WARN) $(DEFS) $(DEPS)
# flex/bison output is not ours: keep -Werror but forgive what it does.
GENFLAGS = $(OPT) -std=c11 -Wall -Werror $(DEFS) $(DEPS) -Wno-unused-function -Wno-sign-compare \
           -Wno-unused-but-set-variable -Icompiler -Iruntime -I$(O)/gen

COMPILER_SRC = $(wildcard compiler/*.c)
# Runtime modules flowc links too, so that one fact has one parser: the cron
# expressions `check` validates are parsed by the code that fires them.
SHARED_SRC   = runtime/rt_cron.c
COMPILER_OBJ = $(COMPILER_SRC:compiler/%.c=$(O)/obj/compiler/%.o) \
               $(SHARED_SRC:runtime/%.c=$(O)/obj/shared/%.o) \
               $(O)/obj/gen/parser.o $(O)/obj/gen/lexer.o
RUNTIME_SRC  = $(wildcard runtime/*.c)
RUNTIME_OBJ  = $(RUNTIME_SRC:runtime/%.c=$(O)/obj/runtime/%.o)
RUNTIME_SAN_OBJ = $(RUNTIME_SRC:runtime/%.c=$(O)/obj/runtime-san/%.o)

# The headers generated code includes: all a job needs at build time.
PUBLIC_H = runtime/flowrt.h runtime/flow_ops.def runtime/flow_builtins.def runtime/rt_test.h stdlib/flow.h

FLOWC   = $(O)/bin/flowc
RTLIB   = $(O)/lib/flowc/libflowrt.a
RTLIB_SAN = $(O)/lib/libflowrt-san.a
LIBS    = -ltcc -ljansson -ldl -lpthread -lm
# What a program linking the runtime needs besides it.
RT_LIBS = -lcurl -lcrypto -ljansson -llmdb -lmicrohttpd -lpthread -lm -ldl

BENCH_PROGS = $(O)/bench/curl_floor $(O)/bench/lmdb_floor $(O)/bench/history_fill $(O)/bench/latency_floor

.PHONY: all test demo bench bench-progs install clean deps fuzz fuzz-build fuzz-merge
all: $(FLOWC) $(RTLIB) $(O)/share/flowc/stdlib $(O)/include/flowc/.stamp $(O)/tests/flowtest-server \
     $(if $(filter 1,$(SAN)),$(RTLIB_SAN))

deps:
	@./scripts/install-deps.sh

# One bison (and one flex) run makes both of its outputs: grouped targets.
$(O)/gen/parser.c $(O)/gen/parser.h &: grammar/parser.y
	@mkdir -p $(O)/gen
	bison -Wall -Werror -o $(O)/gen/parser.c --defines=$(O)/gen/parser.h $<

$(O)/gen/lexer.c $(O)/gen/lexer.h &: grammar/lexer.l $(O)/gen/parser.h
	@mkdir -p $(O)/gen
	flex -o $(O)/gen/lexer.c --header-file=$(O)/gen/lexer.h $<

$(O)/obj/gen/%.o: $(O)/gen/%.c $(O)/gen/parser.h $(O)/gen/lexer.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(GENFLAGS) -c -o $@ $<

# Every object depends on the Makefile (flags) and, through -MMD, on the
# headers it included. Compiler objects include the generated headers: order them before.
$(O)/obj/compiler/%.o: compiler/%.c Makefile | $(O)/gen/parser.h $(O)/gen/lexer.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icompiler -I$(O)/gen -Iruntime -c -o $@ $<

$(O)/obj/shared/%.o: runtime/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iruntime -c -o $@ $<

$(FLOWC): $(COMPILER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $^ $(LIBS)

# The runtime is linked into job binaries by tcc: always gcc -O2, never sanitized.
RTFLAGS = -O2 -g $(WARN) $(DEFS) $(DEPS) -fPIC -Iruntime -Istdlib
$(O)/obj/runtime/%.o: runtime/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(RTFLAGS) -c -o $@ $<

$(RTLIB): $(RUNTIME_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The same runtime under ASan/UBSan, for tests that link it with gcc (unit
# tests, hand-written and generated workflows built sanitized).
$(O)/obj/runtime-san/%.o: runtime/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(SANOPT) $(WARN) $(DEFS) $(DEPS) -Iruntime -Istdlib -c -o $@ $<

$(RTLIB_SAN): $(RUNTIME_SAN_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(O)/include/flowc/.stamp: $(PUBLIC_H) Makefile
	@rm -rf $(O)/include/flowc && mkdir -p $(O)/include/flowc
	cp $(PUBLIC_H) $(O)/include/flowc/
	@touch $@

$(O)/share/flowc/stdlib:
	@mkdir -p $(O)/share/flowc
	ln -sfn ../../../stdlib $@

# The scriptable HTTP API the end-to-end tests and benchmarks run against.
SERVER_LIBS = $(shell pkg-config --libs libmicrohttpd jansson) -lpthread
$(O)/tests/flowtest-server: tests/server/flowtest_server.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDSAN) $(SERVER_LIBS)

# Benchmark programs: the floors the benchmarks compare against.
bench-progs: $(BENCH_PROGS)
$(O)/bench/curl_floor: bench/curl_floor.c
	@mkdir -p $(dir $@)
	$(CC) -O2 $(WARN) $(DEFS) -o $@ $< -lcurl
$(O)/bench/lmdb_floor: bench/lmdb_floor.c
	@mkdir -p $(dir $@)
	$(CC) -O2 $(WARN) $(DEFS) -o $@ $< -llmdb
$(O)/bench/latency_floor: bench/latency_floor.c
	@mkdir -p $(dir $@)
	$(CC) -O2 $(WARN) $(DEFS) -o $@ $< $(shell pkg-config --libs libmicrohttpd libcurl jansson) -llmdb -lm
$(O)/bench/history_fill: bench/history_fill.c $(RTLIB)
	@mkdir -p $(dir $@)
	$(CC) -O2 $(WARN) $(DEFS) -Iruntime -Istdlib -o $@ $< $(RTLIB) $(RT_LIBS)

test:
	@./scripts/install-deps.sh
	@$(MAKE) --no-print-directory all SAN=1 O=build-san
	@$(MAKE) --no-print-directory all bench-progs
	@./tests/run.sh

demo:
	@./scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh

bench: all bench-progs
	@./bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/flowc $(DESTDIR)$(PREFIX)/include/flowc \
	           $(DESTDIR)$(PREFIX)/share/flowc/stdlib
	install -m 755 $(FLOWC) $(DESTDIR)$(PREFIX)/bin/flowc
	install -m 644 $(RTLIB) $(DESTDIR)$(PREFIX)/lib/flowc/
	install -m 644 $(PUBLIC_H) $(DESTDIR)$(PREFIX)/include/flowc/
	install -m 644 stdlib/*.flow $(DESTDIR)$(PREFIX)/share/flowc/stdlib/

# ---- fuzzing: tests/fuzz/*.c with clang's libFuzzer, ASan and UBSan --------
# Everything the harnesses link is rebuilt with coverage instrumentation in
# $(FO): the front end without main.c (fuzz_frontend), the whole runtime
# (fuzz_validate). tests/fuzz/run.sh (part of `make test`) runs each briefly.
FUZZ_CC      = clang
FO           = build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OPT     = -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_CFLAGS  = $(FUZZ_OPT) $(WARN) $(DEFS) $(DEPS)
FUZZ_GENFLAGS = $(FUZZ_OPT) -std=c11 -Wall -Werror $(DEFS) $(DEPS) -Wno-unused-function -Wno-sign-compare \
           -Wno-unused-but-set-variable -Wno-unused-but-set-parameter -Wno-unneeded-internal-declaration \
           -Icompiler -Iruntime -I$(FO)/gen
FUZZ_COMPILER_OBJ = $(filter-out $(FO)/obj/compiler/main.o,$(COMPILER_SRC:compiler/%.c=$(FO)/obj/compiler/%.o)) \
               $(SHARED_SRC:runtime/%.c=$(FO)/obj/runtime/%.o) \
               $(FO)/obj/gen/parser.o $(FO)/obj/gen/lexer.o
FUZZ_RUNTIME_OBJ = $(RUNTIME_SRC:runtime/%.c=$(FO)/obj/runtime/%.o)
FUZZ_RT_LIBS = $(shell pkg-config --libs libcurl jansson libmicrohttpd) -lcrypto -llmdb -lpthread -lm -ldl

$(FO)/gen/parser.c $(FO)/gen/parser.h &: grammar/parser.y
	@mkdir -p $(FO)/gen
	bison -Wall -Werror -o $(FO)/gen/parser.c --defines=$(FO)/gen/parser.h $<

$(FO)/gen/lexer.c $(FO)/gen/lexer.h &: grammar/lexer.l $(FO)/gen/parser.h
	@mkdir -p $(FO)/gen
	flex -o $(FO)/gen/lexer.c --header-file=$(FO)/gen/lexer.h $<

$(FO)/obj/gen/%.o: $(FO)/gen/%.c $(FO)/gen/parser.h $(FO)/gen/lexer.h Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_GENFLAGS) -c -o $@ $<

$(FO)/obj/compiler/%.o: compiler/%.c Makefile | $(FO)/gen/parser.h $(FO)/gen/lexer.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Icompiler -I$(FO)/gen -Iruntime -c -o $@ $<

$(FO)/obj/runtime/%.o: runtime/%.c Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iruntime -Istdlib -c -o $@ $<

$(FO)/fuzz_frontend: tests/fuzz/fuzz_frontend.c $(FUZZ_COMPILER_OBJ) $(O)/include/flowc/.stamp
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Icompiler -Iruntime -I$(FO)/gen -DFUZZ_ROOT='"$(CURDIR)"' \
	    -DFUZZ_INCLUDE='"$(CURDIR)/$(O)/include/flowc"' -o $@ $< $(FUZZ_COMPILER_OBJ) -ltcc -ljansson -ldl -lpthread -lm

$(FO)/fuzz_validate: tests/fuzz/fuzz_validate.c $(FUZZ_RUNTIME_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iruntime -Istdlib -o $@ $< $(FUZZ_RUNTIME_OBJ) $(FUZZ_RT_LIBS)

fuzz-build: $(FO)/fuzz_frontend $(FO)/fuzz_validate

# make fuzz FUZZ_SECONDS=1800 [FUZZ_TARGETS="fuzz_validate"]: one harness at
# a time, one job each (the machine is shared); new inputs go to
# $(FO)/corpus/NAME, crashes to $(FO)/crash-*.
fuzz: all fuzz-build
	@./tests/fuzz/campaign.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Minimises what a campaign found into the committed seed corpus.
fuzz-merge: fuzz-build
	@./tests/fuzz/campaign.sh --merge $(FUZZ_TARGETS)

clean:
	rm -rf build build-san build-fuzz

-include $(wildcard $(O)/obj/*/*.d $(FO)/obj/*/*.d)
