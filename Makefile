# The commands people type. CMake does the building; see CMakeLists.txt.
#   make          release build of the library, examples and benchmarks
#   make demo     build and run the examples
#   make test     every test: release, ASan+UBSan, Valgrind, ucontext, aarch64
#   make check    the quick loop: every test once, release build (~1.5 min)
#   make bench    benchmarks side by side with asyncio, uvloop, Go and libuv,
#                 then the network, HTTP and chat ones (bench/net, bench/http,
#                 bench/chat)
#   make install  install into PREFIX (default /usr/local)
#   make clean    remove build trees

PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
REL := build/release

.PHONY: all demo test check test-release test-asan test-valgrind test-ucontext \
        test-aarch64 test-install bench install clean deps

all: deps
	$(CMAKE) -S . -B $(REL) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	$(CMAKE) --build $(REL) -j$(JOBS)

deps:
	@scripts/deps.sh build

# the web examples' libraries first, so that the build finds them
demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(REL)

test: deps
	@scripts/test.sh

check: deps
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
	@bench/chat/run.sh $(REL)

install: all
	$(CMAKE) --install $(REL)

clean:
	rm -rf build
