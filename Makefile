# The commands people type. CMake does the building; see CMakeLists.txt.
#   make          release build of the library, examples and benchmarks
#                 (installs nothing: an adapter or example whose library is
#                 missing is left out, and the last line says so)
#   make deps     install the Debian packages the build uses: compiler,
#                 CMake, and the adapters' and examples' libraries
#   make demo     build and run the examples
#   make test     every test: release, ASan+UBSan, Valgrind, ucontext, aarch64
#   make check    the quick loop: every test once, release build (~1.5 min)
#   make bench    benchmarks side by side with asyncio, uvloop, Go and libuv,
#                 then the network, HTTP, chat, PostgreSQL, Redis, kv and WebSocket
#                 ones (bench/net, bench/http, bench/chat, bench/pg,
#                 bench/redis, bench/kv, bench/ws), and loops on 1 and 2
#                 cores (bench/loops)
#   make docs     the API reference from the headers (Doxygen): HTML in
#                 build/release/docs/html, man pages (man 3 aioc_gather,
#                 man 7 aioc); fails on an undocumented public symbol
#   make install  install into PREFIX (default /usr/local), with the man
#                 pages when Doxygen is installed (`make docs` installs it)
#   make test-install  install into a scratch prefix and build programs
#                 against each library with pkg-config and with CMake
#   make clean    remove build trees

PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
REL := build/release

.PHONY: all demo test check test-release test-asan test-valgrind test-ucontext \
        test-aarch64 test-install bench install clean deps docs

all:
	@command -v $(CMAKE) >/dev/null || { echo "make: $(CMAKE) not found; \`make deps\` installs it" >&2; exit 1; }
	$(CMAKE) -S . -B $(REL) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	$(CMAKE) --build $(REL) -j$(JOBS)

# the only target besides demo, docs, test, check and bench that installs
# packages
deps:
	@scripts/deps.sh libs

# the web examples' libraries first, so that the build finds them
demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(REL)

test:
	@scripts/test.sh

check:
	@scripts/deps.sh test
	@$(CMAKE) -S . -B build/test-release -DAIOC_WERROR=ON -DAIOC_BENCH=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(CMAKE) --build build/test-release -j$(JOBS) >/dev/null
	@cd build/test-release && ctest -j$(JOBS) --output-on-failure

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@bench/run.sh $(REL)
	@bench/net/run.sh $(REL)
	@bench/http/run.sh $(REL)
	@bench/loops/run.sh $(REL)
	@bench/chat/run.sh $(REL)
	@bench/pg/run.sh $(REL)
	@bench/redis/run.sh $(REL)
	@bench/kv/run.sh $(REL)
	@bench/ws/run.sh $(REL)

docs:
	@scripts/deps.sh docs
	@$(MAKE) --no-print-directory all
	$(CMAKE) --build $(REL) --target docs

# the man pages go with the library when Doxygen can make them
install: all
	@if command -v doxygen >/dev/null; then $(CMAKE) --build $(REL) --target docs; \
	else echo "make install: no man pages (doxygen not installed; make docs installs it)"; fi
	$(CMAKE) --install $(REL)

# installs the release tree into a scratch prefix and builds, links and
# runs an outside program against each library (scripts/test-install.sh)
test-install: all
	@scripts/test-install.sh $(REL)

clean:
	rm -rf build
