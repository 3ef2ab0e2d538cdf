# The friendly front door. Everything here is a thin wrapper around CMake presets.
#
#   make run            install what is missing, build, run every chapter's default guest
#   make run CH=02      ... only chapter 02
#   make test           install, build, run the whole test suite, build the docs (warnings = errors)
#   make ch01           build chapter 01 alone (its VMM and its guest)
#   make docs           build the site into build/<preset>/docs/html
#   make bench          run the benchmarks (figures side by side with a same-run baseline)
#
# PRESET picks the CMake preset: dev by default, ci (warnings are errors) when CI is set.

PRESET ?= $(if $(CI),ci,dev)
BUILD := build/$(PRESET)
CH ?=

.PHONY: deps configure build run test docs bench clean

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake --preset $(PRESET)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build --preset $(PRESET)

run: build
	@scripts/tour.sh $(BUILD) $(CH)

test: build
	@scripts/run-tests.sh $(BUILD) $(PRESET)
	cmake --build $(BUILD) --target docs
	@echo "docs: $(BUILD)/docs/html/index.html"

docs: configure
	cmake --build $(BUILD) --target docs
	@echo "docs: $(BUILD)/docs/html/index.html"

bench: build
	cmake --build $(BUILD) --target bench

# make ch01, make ch02, ...: the chapter directory chapters/NN-slug builds target chNN_slug.
ch%: configure
	cmake --build $(BUILD) --target $$(basename chapters/$*-* | tr - _ | sed 's/^/ch/')

clean:
	rm -rf build
