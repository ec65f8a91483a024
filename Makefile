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
	/usr/sbin/nginx -p $(CURDIR)/ -c conf/nginx.conf -g 'daemon off;'

stop:
	@if [ -f $(BUILD)/run/nginx.pid ]; then \
	    kill -QUIT $$(cat $(BUILD)/run/nginx.pid); fi

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
