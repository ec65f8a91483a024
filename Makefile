# ngx_scale: `make run` builds and starts the server, `make test` runs
# every test.  Both install what is missing first (Debian, as root).

SHELL      := /bin/bash
NGINX_SRC  ?= /usr/share/nginx/src
BUILD      := $(CURDIR)/build
MODULE     := $(BUILD)/ngx_scale_module.so
SOURCES    := config $(wildcard ngx_scale_module/*.[ch])
PAGE_SRCS  := scripts/gen-page.pl $(wildcard ngx_scale_module/html/*)
CC_OPT     := -g -O2 -fPIC -Wall -Wextra -Werror -Wno-unused-parameter
PROVE_JOBS ?= 1

.PHONY: all deps module client bench-bin run stop test bench lint clean
.PHONY: cluster cluster-stop
.PHONY: asan asan-test fuzz fuzz-build

all: module client bench-bin

deps:
	@scripts/deps.sh

module: $(MODULE)

# configure a copy of the distro's nginx sources with the distro's own
# flags (--with-compat), so that the .so loads into /usr/sbin/nginx
$(BUILD)/nginx/Makefile: config $(NGINX_SRC)/conf_flags
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-cc-opt="$(CC_OPT)" \
	    --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log

$(MODULE): $(BUILD)/nginx/Makefile $(SOURCES) $(PAGE_SRCS)
	scripts/gen-page.pl ngx_scale_module/html \
	    $(BUILD)/nginx/objs/ngx_http_scale_page_html.h
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_http_scale_module.so $(MODULE).tmp
	mv -f $(MODULE).tmp $(MODULE)

# the module built with ASan/UBSan into build/asan/ (its own nginx copy);
# `make asan-test` runs the module tests with it, the sanitizer runtimes
# preloaded into the uninstrumented distro nginx (t/README.md)
ASAN_BUILD := $(BUILD)/asan
ASAN_MODULE := $(ASAN_BUILD)/ngx_scale_module.so
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
ASAN_TESTS ?= t/00*.t t/010-health.t t/02[0-4]*.t t/04*.t
# (reports go to stderr, which nginx points at the error log; workers
# run as nobody and could not open a log_path file in the prefix)
ASAN_ENV = LD_PRELOAD=$(shell gcc -print-file-name=libasan.so):$(shell \
    gcc -print-file-name=libubsan.so) \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1

asan: $(ASAN_MODULE)

$(ASAN_BUILD)/nginx/Makefile: config $(NGINX_SRC)/conf_flags
	rm -rf $(ASAN_BUILD)/nginx
	mkdir -p $(ASAN_BUILD)
	cp -r $(NGINX_SRC) $(ASAN_BUILD)/nginx
	cd $(ASAN_BUILD)/nginx && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(CC_OPT) $(ASAN_FLAGS)" --with-ld-opt="$(ASAN_FLAGS)" \
	    --add-dynamic-module=$(CURDIR) > $(ASAN_BUILD)/configure.log

$(ASAN_MODULE): $(ASAN_BUILD)/nginx/Makefile $(SOURCES) $(PAGE_SRCS)
	scripts/gen-page.pl ngx_scale_module/html \
	    $(ASAN_BUILD)/nginx/objs/ngx_http_scale_page_html.h
	$(MAKE) -C $(ASAN_BUILD)/nginx -f objs/Makefile modules
	cp $(ASAN_BUILD)/nginx/objs/ngx_http_scale_module.so $(ASAN_MODULE).tmp
	mv -f $(ASAN_MODULE).tmp $(ASAN_MODULE)

asan-test: asan
	SCALE_MODULE=$(ASAN_MODULE) SCALE_NGINX_ENV='$(ASAN_ENV)' \
	    SCALE_SERVROOT=$${SCALE_SERVROOT:-$(ASAN_BUILD)/servroot} \
	    prove $(ASAN_TESTS)

# libFuzzer targets of the parsers (fuzz/README.md), built with clang
# against this nginx configuration's headers; each runs FUZZ_SECONDS
FUZZ_SECONDS ?= 60

fuzz-build: $(BUILD)/nginx/Makefile
	$(MAKE) -C fuzz

fuzz: fuzz-build
	$(MAKE) -C fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

client:
	@if [ -f client/Makefile ]; then $(MAKE) -C client; fi

bench-bin:
	@if [ -f bench/Makefile ]; then $(MAKE) -C bench; fi

run: deps all
	@mkdir -p $(BUILD)/run
	@echo "ngx_scale on http://127.0.0.1:8080 (Ctrl-C stops it)"
	@echo "  POST http://127.0.0.1:8080/connect   register, get peers"
	@echo "  POST http://127.0.0.1:8080/delete    unregister"
	@echo "  GET  http://127.0.0.1:8080/status    JSON figures"
	@echo "  GET  http://127.0.0.1:8080/          health"
	@echo "  GET  http://127.0.0.1:8080/status-page  dashboard"
	@echo "  GET  http://127.0.0.1:8080/metrics   Prometheus"
	/usr/sbin/nginx -p $(CURDIR)/ -c conf/nginx.conf -g 'daemon off;'

stop:
	@if [ -f $(BUILD)/run/nginx.pid ]; then \
	    kill -QUIT $$(cat $(BUILD)/run/nginx.pid); fi

# conf/cluster/ on loopback: redis-server, two instances, the front on
# :8080 and a swarm of 100 peers (scripts/cluster.sh; logs in build/cluster)
cluster: deps all
	@scripts/cluster.sh start

cluster-stop:
	@scripts/cluster.sh stop

test: deps all
	prove -j$(PROVE_JOBS) -r t/

bench: deps all
	bench/run-suite.sh

# lines <= 80 columns, no tabs, no trailing spaces, no // comments
lint:
	@! grep -nE '.{81,}|	| +$$' ngx_scale_module/*.[ch] || \
	    { echo "lint: fix the lines above"; exit 1; }
	@! grep -n '//' ngx_scale_module/*.[ch] || \
	    { echo "lint: no // comments in the module"; exit 1; }
	@echo "lint: clean"

clean:
	rm -rf $(BUILD) t/servroot
	@if [ -f client/Makefile ]; then $(MAKE) -C client clean; fi
	@if [ -f bench/Makefile ]; then $(MAKE) -C bench clean; fi
