# The friendly front door. Everything here is a thin wrapper around CMake presets.
#
#   make run            install what is missing, build, run every chapter's default guest
#   make run CH=02      ... only chapter 02
#   make test           install, build, run the whole test suite, build the docs (warnings = errors)
#   make ch01           build chapter 01 alone (its VMM and its guest)
#   make docs           build the site into build/<preset>/docs/html
#   make bench          run the benchmarks (figures side by side with a same-run baseline)
#   make linux-guest    build the Linux guest (kernel + initramfs) from Debian packages
#   make fuzz           run the virtio-blk fuzzer for a minute (SECONDS=...)
#
# PRESET picks the CMake preset: dev by default, ci (warnings are errors) when CI is set.

PRESET ?= $(if $(CI),ci,dev)
BUILD := build/$(PRESET)
CH ?=

.PHONY: deps configure build run test docs bench fuzz linux-guest clean

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake --preset $(PRESET)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build --preset $(PRESET)

run: build linux-guest
	@scripts/tour.sh $(BUILD) $(CH)

test: build linux-guest
	@scripts/run-tests.sh $(BUILD) $(PRESET)
	@scripts/run-fuzz.sh 30
	cmake --build $(BUILD) --target docs
	@echo "docs: $(BUILD)/docs/html/index.html"

docs: configure
	cmake --build $(BUILD) --target docs
	@echo "docs: $(BUILD)/docs/html/index.html"

bench: build linux-guest
	cmake --build $(BUILD) --target bench

# The Linux guest (chapter 05 on) from Debian packages: scripts/build-linux-guest.sh.
linux-guest: configure
	cmake --build $(BUILD) --target linux_guest

# The libFuzzer targets, built with clang in build/fuzz: make fuzz SECONDS=600
fuzz: deps
	@scripts/run-fuzz.sh $(or $(SECONDS),60)

# make ch01, make ch02, ...: the chapter directory chapters/NN-slug builds target chNN_slug.
ch%: configure
	cmake --build $(BUILD) --target $$(basename chapters/$*-* | tr - _ | sed 's/^/ch/')

clean:
	rm -rf build
