# libtinv — GNU make build.
#
#   make                  shared + static library and the tinv CLI, under build/
#   make test             build and run every test; ends with "N passed, N failed"
#   make asan             the same tests under AddressSanitizer + UBSan (+ LeakSanitizer)
#   make check-abi        compare build/libtinv.so.0 with the committed ABI baseline
#   make abi-baseline     refresh the baseline after a deliberate change (docs/abi.md)
#   make install PREFIX=/usr/local DESTDIR=
#   make demo             textual inversion end to end with a tiny built-in model (no download)
#   make examples         build examples/*.c against the build tree (examples/README.md)
#   make toy-model / toy-eval / bench-toy   retrain / measure the toy-world model (docs/toy-world.md)
#   make TORCH_DIR=<dir with include/ and lib/>   build against another libtorch (e.g. CUDA)
#   make DEPS_PREFIX=<dir>  look for the -dev libraries' headers/libs there too (GPU machine)

PREFIX    ?= /usr/local
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include
BINDIR    ?= $(PREFIX)/bin
PCDIR     ?= $(LIBDIR)/pkgconfig
DESTDIR   ?=
BUILD     ?= build

VERSION   := 0.1.0
SOMAJOR   := 0
SONAME    := libtinv.so.$(SOMAJOR)

CC        ?= cc
CXX       ?= g++
OPT       ?= -O2 -g

# ---- libtorch ---------------------------------------------------------------------------
ifdef TORCH_DIR
TORCH_CPPFLAGS := -isystem $(TORCH_DIR)/include -isystem $(TORCH_DIR)/include/torch/csrc/api/include
TORCH_LIBDIR   := $(TORCH_DIR)/lib
TORCH_LDFLAGS  := -L$(TORCH_LIBDIR) -Wl,-rpath,$(TORCH_LIBDIR)
# pip wheels of libtorch may use the pre-C++11 std::string ABI; match whatever libc10 was built with.
TORCH_CXX11_ABI ?= $(shell nm -D --defined-only $(TORCH_LIBDIR)/libc10.so 2>/dev/null | grep -q __cxx11 && echo 1 || echo 0)
TORCH_CPPFLAGS += -D_GLIBCXX_USE_CXX11_ABI=$(TORCH_CXX11_ABI)
# CUDA builds: link the CUDA parts even though no symbol is referenced directly, so
# their device hooks register when libtinv is loaded.
comma := ,
TORCH_CUDA_LIBS := $(if $(wildcard $(TORCH_LIBDIR)/libtorch_cuda.so),-Wl$(comma)--no-as-needed -ltorch_cuda -lc10_cuda -Wl$(comma)--as-needed)
else
TORCH_CPPFLAGS := -isystem /usr/include/torch/csrc/api/include
TORCH_LDFLAGS  :=
TORCH_CUDA_LIBS :=
endif
TORCH_LIBS := $(TORCH_LDFLAGS) $(TORCH_CUDA_LIBS) -ltorch -ltorch_cpu -lc10

# ---- other dependencies (Debian -dev packages; DEPS_PREFIX for an unpacked copy) --------
ifdef DEPS_PREFIX
DEPS_CPPFLAGS := -I$(DEPS_PREFIX)/usr/include -I$(DEPS_PREFIX)/usr/include/x86_64-linux-gnu
DEPS_LDFLAGS  := -L$(DEPS_PREFIX)/usr/lib/x86_64-linux-gnu -Wl,-rpath,$(DEPS_PREFIX)/usr/lib/x86_64-linux-gnu
endif
DEP_LIBS := $(DEPS_LDFLAGS) -ljansson -lutf8proc -lpcre2-8 -lpng -ljpeg -lz -lm -ldl -lpthread

# The shim carries line tables only (-g1): full DWARF would describe all of libtorch's
# types, bloating the library and the ABI baseline, and none of them are public.
SHIM_DEBUG ?= -g1

# ---- flags ------------------------------------------------------------------------------
WARN      := -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation
ifdef SANITIZE
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT       := -O1 -g
endif
CFLAGS_ALL   := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC -fvisibility=hidden $(SANFLAGS) -Iinclude $(DEPS_CPPFLAGS) $(CFLAGS)
CXXFLAGS_ALL := -std=c++17 $(OPT) $(SHIM_DEBUG) $(WARN) -fPIC -fvisibility=hidden -fvisibility-inlines-hidden $(SANFLAGS) -Iinclude $(TORCH_CPPFLAGS) $(CXXFLAGS)
LDFLAGS_ALL  := $(SANFLAGS) $(LDFLAGS)

# ---- sources ----------------------------------------------------------------------------
LIB_SRC  := $(wildcard lib/*.c)
SHIM_SRC := $(wildcard shim/*.cpp)
CLI_SRC  := $(wildcard cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(SHIM_SRC:%.cpp=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT := $(BUILD)/obj/tests/check.o

SHARED   := $(BUILD)/libtinv.so.$(VERSION)
STATIC   := $(BUILD)/libtinv.a
CLI      := $(BUILD)/tinv

.PHONY: all lib test asan check-abi abi-baseline install uninstall clean golden bench
all: lib $(CLI)
lib: $(SHARED) $(BUILD)/$(SONAME) $(BUILD)/libtinv.so $(STATIC)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -MMD -MP -c $< -o $@

$(SHARED): $(LIB_OBJ) lib/libtinv.map
	$(CXX) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/libtinv.map -Wl,--no-undefined \
	    -o $@ $(LIB_OBJ) $(LDFLAGS_ALL) $(TORCH_LIBS) $(DEP_LIBS)

$(BUILD)/$(SONAME): $(SHARED)
	ln -sf $(notdir $<) $@
$(BUILD)/libtinv.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The CLI uses only the public API, through the shared library.
# tinv demo --toy looks for the toy model in this source tree, then where make install puts it.
TOY_MODEL_DATADIR := $(PREFIX)/share/tinv/toy-model
$(BUILD)/obj/cli/cmd_demo_toy.o: CFLAGS_ALL += -DTINV_TOY_MODEL_SOURCE='"$(CURDIR)/toy/model"' \
    -DTINV_TOY_MODEL_INSTALLED='"$(TOY_MODEL_DATADIR)"'

$(CLI): $(CLI_OBJ) $(BUILD)/libtinv.so
	$(CC) -o $@ $(CLI_OBJ) $(LDFLAGS_ALL) -L$(BUILD) -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../lib' -ltinv

# Tests link the static library so they can reach internal (hidden) functions too.
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_SUPPORT) $(STATIC)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $< $(TEST_SUPPORT) $(STATIC) $(LDFLAGS_ALL) $(TORCH_LIBS) $(DEP_LIBS)

$(BUILD)/obj/tests/%.o: CFLAGS_ALL += -Ilib -Ishim -Itests

test: all $(TEST_BIN)
	@BUILD=$(BUILD) MAKE="$(MAKE)" bash tests/run.sh

# Sanitized copy of everything under build-asan/. libtorch itself is not instrumented;
# tests/lsan.supp silences leaks that are libtorch's own one-time allocations.
asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 all $(TEST_SRC:tests/%.c=build-asan/tests/%)
	ASAN_OPTIONS=detect_leaks=1:alloc_dealloc_mismatch=0:detect_odr_violation=0 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	BUILD=build-asan TINV_SKIP_INSTALL_TEST=1 bash tests/run.sh

ABI_BASELINE := abi/libtinv.abi
check-abi: lib
	bash tests/check_abi.sh $(BUILD)/$(SONAME) $(ABI_BASELINE)

abi-baseline: lib
	abidw --no-corpus-path --headers-dir include --out-file $(ABI_BASELINE) $(BUILD)/$(SONAME)

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PCDIR)
	install -m 644 include/tinv.h $(DESTDIR)$(INCDIR)/tinv.h
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libtinv.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtinv.so
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/tinv
	for d in scheduler text_encoder tokenizer unet vae; do install -d $(DESTDIR)$(TOY_MODEL_DATADIR)/$$d && \
	    install -m 644 toy/model/$$d/* $(DESTDIR)$(TOY_MODEL_DATADIR)/$$d/; done
	install -m 644 toy/model/model_index.json $(DESTDIR)$(TOY_MODEL_DATADIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCDIR@|$(INCDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' -e 's|@TORCH_LIBS@|$(TORCH_LIBS)|g' -e 's|@DEP_LIBS@|$(DEP_LIBS)|g' \
	    pkgconfig/tinv.pc.in > $(DESTDIR)$(PCDIR)/tinv.pc

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/tinv.h $(DESTDIR)$(LIBDIR)/libtinv.* $(DESTDIR)$(BINDIR)/tinv $(DESTDIR)$(PCDIR)/tinv.pc
	rm -rf $(DESTDIR)$(TOY_MODEL_DATADIR)

clean:
	rm -rf build build-asan

# ---- API reference ------------------------------------------------------------------------
#   make docs   HTML reference of include/tinv.h in build/docs/html (needs doxygen; see Doxyfile)
docs:
	@if command -v doxygen >/dev/null 2>&1; then \
	    mkdir -p build/docs && doxygen Doxyfile && echo "API reference: build/docs/html/index.html"; \
	else \
	    echo "make docs: doxygen is not installed; install it with: sudo apt-get install doxygen" >&2; \
	    exit 1; \
	fi
.PHONY: docs

# ---- tokenizer: golden runner, fuzzers, benchmark -----------------------------------------
#   make golden FIXTURES=<set dir>   run build/golden over one fixture set (default: sd1-tiny)
#   make fuzz                        build the libFuzzer targets (clang) and run each ~20 s
#   make bench-tokenizer             prompts per second over 10,000 prompts
GOLDEN_SRC := $(wildcard tests/golden/*.c)
GOLDEN_OBJ := $(GOLDEN_SRC:%.c=$(BUILD)/obj/%.o)
FIXTURES   ?= ../shared/fixtures/sd1-tiny
FUZZ_TIME  ?= 20
FUZZ_BUILD := $(BUILD)/fuzz
FUZZ_CC    ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -Iinclude -Ilib $(DEPS_CPPFLAGS)
# The tokenizer's sources only: the fuzzers need no libtorch.
FUZZ_LIB_SRC := lib/tokenizer.c lib/bpe.c lib/text_clean.c lib/html_entities.c lib/error.c lib/log.c

$(BUILD)/obj/tests/golden/%.o: CFLAGS_ALL += -Ilib -Itests -Itests/golden
$(BUILD)/golden: $(GOLDEN_OBJ) $(STATIC)
	$(CXX) -o $@ $(GOLDEN_OBJ) $(STATIC) $(LDFLAGS_ALL) $(TORCH_LIBS) $(DEP_LIBS)

test: $(BUILD)/golden
# asan's test run includes tests/test_golden.sh, which needs the sanitized runner.
asan: asan-golden
asan-golden:
	$(MAKE) BUILD=build-asan SANITIZE=1 build-asan/golden

golden: $(BUILD)/golden
	$(BUILD)/golden $(FIXTURES)

$(FUZZ_BUILD)/%: fuzz/%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB_SRC) $(DEPS_LDFLAGS) -ljansson -lutf8proc -lpcre2-8 -lz -lm

# The safetensors reader fuzzes without libtorch: the target stubs the one shim call it reaches.
FUZZ_ST_SRC := lib/safetensors.c lib/safetensors_tensor.c lib/error.c
$(FUZZ_BUILD)/fuzz_safetensors: fuzz/fuzz_safetensors.c $(FUZZ_ST_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Ishim -o $@ $< $(FUZZ_ST_SRC) $(DEPS_LDFLAGS) -ljansson -lm

fuzz: $(FUZZ_BUILD)/fuzz_tokenizer_encode $(FUZZ_BUILD)/fuzz_tokenizer_load $(FUZZ_BUILD)/fuzz_safetensors
	bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME)

$(BUILD)/bench_tokenizer: bench/bench_tokenizer.c $(STATIC)
	$(CXX) -x c -std=c11 -D_GNU_SOURCE -O2 -Iinclude -x none -o $@ bench/bench_tokenizer.c $(STATIC) $(LDFLAGS_ALL) \
	    $(TORCH_LIBS) $(DEP_LIBS)

bench-tokenizer: $(BUILD)/bench_tokenizer
	$(BUILD)/bench_tokenizer $(dir $(FIXTURES))clip/bpe_simple_vocab_16e6.txt.gz

# ---- models benchmark (prints figures; not part of make test) ---------------------------------
#   make bench-models [FIXTURES=<set dir>] [BENCH_ARGS=--no-full]
$(BUILD)/bench_models: bench/bench_models.c $(STATIC)
	$(CXX) -x c -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Ilib -Ishim -x none -o $@ bench/bench_models.c $(STATIC) \
	    $(LDFLAGS_ALL) $(TORCH_LIBS) $(DEP_LIBS)

bench-models: $(BUILD)/bench_models
	$(BUILD)/bench_models $(or $(FIXTURES),../shared/fixtures/sd1-tiny) $(BENCH_ARGS)

# ---- sampler benchmark (prints figures; not part of make test) --------------------------------
#   make bench-sampler [FIXTURES=<set dir>]   per-step time vs one batch-2 UNet forward, fixture only
$(BUILD)/bench_sampler: bench/bench_sampler.c $(STATIC)
	$(CXX) -x c -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Ilib -Ishim -x none -o $@ bench/bench_sampler.c $(STATIC) \
	    $(LDFLAGS_ALL) $(TORCH_LIBS) $(DEP_LIBS)

bench-sampler: $(BUILD)/bench_sampler
	$(BUILD)/bench_sampler $(or $(FIXTURES),../shared/fixtures/sd1-tiny)

# ---- training benchmark (prints figures; not part of make test) -------------------------------
#   make bench-train [BENCH_ARGS=--quick]   per-phase step times (demo + full-size random SD-1.5),
#                                           cached vs per-step VAE, full-size sampling; ~10 min in full
$(BUILD)/bench_train: bench/bench_train.c $(STATIC)
	$(CXX) -x c -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Ilib -Ishim -x none -o $@ bench/bench_train.c $(STATIC) \
	    $(LDFLAGS_ALL) $(TORCH_LIBS) $(DEP_LIBS)

bench-train: $(BUILD)/bench_train
	$(BUILD)/bench_train --vocab $(dir $(FIXTURES))clip/bpe_simple_vocab_16e6.txt.gz $(BENCH_ARGS)

.PHONY: bench-train

# ---- toy world (issue 9): the committed toy/model and its evaluation ------------------------------
#   make toy-model [TOY_ARGS=...]   retrain toy/model from its seed (~1 h on 2 cores)
$(BUILD)/toy_build_model: toy/build_model.c $(STATIC)
	$(CXX) -x c -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Ilib -Ishim -x none -o $@ toy/build_model.c $(STATIC) \
	    $(LDFLAGS_ALL) $(TORCH_LIBS) $(DEP_LIBS)

toy-model: $(BUILD)/toy_build_model
	$(BUILD)/toy_build_model --out toy/model $(TOY_ARGS)

#   make bench-toy [BENCH_ARGS=--quick]   caption following and TI recall of toy/model (figures only)
#   make toy-eval                         the same, full size, writing the grids in docs/toy/
$(BUILD)/bench_toy: bench/bench_toy.c $(STATIC)
	$(CXX) -x c -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Ilib -Ishim -x none -o $@ bench/bench_toy.c $(STATIC) \
	    $(LDFLAGS_ALL) $(TORCH_LIBS) $(DEP_LIBS)

bench-toy: $(BUILD)/bench_toy
	$(BUILD)/bench_toy toy/model $(BENCH_ARGS)

toy-eval: $(BUILD)/bench_toy
	$(BUILD)/bench_toy toy/model --out docs/toy | tee docs/toy/results.txt

.PHONY: toy-model bench-toy toy-eval

# ---- demo: train and sample with the tiny built-in model, no download ----------------------------
demo: $(CLI)
	$(BUILD)/tinv demo $(BUILD)/demo

.PHONY: fuzz bench-tokenizer asan-golden bench-models bench-sampler demo

# ---- examples (examples/*.c; tests/test_examples.sh builds and runs them) ----------------------
#   make examples   built like an outside program: public header only, linked to $(BUILD)/libtinv.so
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)
$(BUILD)/examples/%: examples/%.c include/tinv.h $(BUILD)/libtinv.so
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(WARN) -Wpedantic $(SANFLAGS) -Iinclude -o $@ $< $(LDFLAGS_ALL) -L$(BUILD) \
	    -Wl,-rpath,'$$ORIGIN/..' -ltinv -pthread
.PHONY: examples

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
.SECONDARY:
