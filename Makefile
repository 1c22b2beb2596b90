# slim's make targets. `make demo` and `make test` work on a fresh Debian machine: they
# install what they need (Debian packages, and buildkitd/buildctl built from the BuildKit
# version pinned in go.mod) before they run.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)
# Third-party tools the tests and benchmarks drive: runc (BuildKit's worker), skopeo and
# umoci (readers of what slim writes), pigz/zstd/xz (peers in the benchmarks),
# busybox-static (offline base images), gcc (a real dynamically linked test program;
# libssl-dev for the OpenSSL one),
# docker.io (a daemon that loads and runs the docker archives slim writes),
# debootstrap (the Debian root file systems the runtime tests install their runtimes into),
# g++ and a JDK (the runtime tests' C++ probe and Java classes; npm comes with the
# machine's Node.js), tmux (the live progress display, seen as a terminal shows it).
APT_PACKAGES := tmux runc skopeo umoci pigz zstd xz-utils busybox-static gcc g++ libc6-dev libssl-dev openjdk-17-jdk-headless docker.io debootstrap
TEST_FLAGS ?= -race -timeout 20m
BENCH_FLAGS ?=

.PHONY: all build test fuzz demo bench image lint deps tools syft clean

all: build

# Static (no cgo): slim is also the --trace tracer, run inside the image's root.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/slim ./cmd/slim

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# buildkitd and buildctl come from go.mod's tool directives, so the daemon always matches
# the client library slim is built with.
tools: $(BIN)/buildkitd $(BIN)/buildctl

$(BIN)/buildkitd: go.mod go.sum
	$(GO) build -o $@ github.com/moby/buildkit/cmd/buildkitd

$(BIN)/buildctl: go.mod go.sum
	$(GO) build -o $@ github.com/moby/buildkit/cmd/buildctl

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi

# syft is the third-party scanner the package-metadata tests compare slim's list with;
# built from its own module at a pinned version, never through go.mod.
SYFT_VERSION := v1.57.2
syft: .cache/bench/bin/syft

.cache/bench/bin/syft:
	GOBIN=$(CURDIR)/.cache/bench/bin $(GO) install github.com/anchore/syft/cmd/syft@$(SYFT_VERSION)

# The end-to-end tests of real runtimes, of programs onto scratch and static, of
# attestations, of Debian package metadata and of slim's own image (NORACE_TESTS) run
# in a second invocation without -race, which multiplies their time while the code
# they drive is raced by the unit tests and the other end-to-end tests. (Run beside
# the first, both took longer: 997 s against 967 s.) The live display's timing is
# measured there too: under -race a zstd best recompress takes 88 s and tsan's range
# checks stall every goroutine for over a second, which no user sees;
# TestRecompressProgressPlain races the display's code. go test -json feeds slimdev
# slowest: go test's usual output, then the 10 slowest tests.
NORACE_TESTS := ^(TestSlimLangs|TestSlimServer|TestOwnImage$$|TestPackageMetadataDebian$$|TestRecompressProgressLive$$|TestAttestationsByDefault$$|TestSlimCProgramOntoScratch$$|TestSlimMultiPlatform$$|TestSlimGoServerGlobOntoScratch$$|TestSlimGoNonrootOntoStatic$$)
NORACE_FLAGS ?= -timeout 20m
test: deps tools syft lint
	@set -o pipefail; { $(GO) test -json $(TEST_FLAGS) -skip '$(NORACE_TESTS)' ./...; \
		$(GO) test -json $(NORACE_FLAGS) -run '$(NORACE_TESTS)' ./cmd/slim; } | $(GO) run ./cmd/slimdev slowest
	@$(MAKE) --no-print-directory fuzz

# Parsers of untrusted bytes, fuzzed beyond their seed corpus (which go test runs):
# manifests, configs and indexes as slim reads them, a docker archive's manifest.json,
# the layer cache's key metadata, package databases. Each runs a count of inputs (about
# five seconds' worth here), not a duration: Go 1.26's fuzzing coordinator can fail a
# target with "context deadline exceeded" when a -fuzztime duration ends mid-input
# (golang/go#75804, fixed in Go 1.27), and a count has no deadline to race.
FUZZ := ./internal/imageref:FuzzStrictImage:20000 ./internal/imageref:FuzzLayoutIndex:3000 \
	./internal/imageref:FuzzArchiveManifest:3000 ./tarball:FuzzReadCacheEntry:5000 ./extract/pkgdb:FuzzDatabases:150000 \
	./extract/shell:FuzzExpand:50000 ./extract/elfdeps:FuzzSourceReaders:40000

fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; rest=$${t#*:}; \
		$(GO) test -run='^$$' -fuzz="^$${rest%%:*}$$" -fuzztime="$${rest#*:}x" $$pkg || exit 1; done

demo: deps tools build
	$(GO) run ./cmd/slimdev demo

# slim's own image, built by slim from cmd/slim/Dockerfile onto the static base, offline
# (a golang image made from the local toolchain, the modules vendored): .cache/image holds
# it as an OCI layout tar and a docker archive, loaded into Docker when a daemon answers.
image: deps tools build
	$(GO) run ./cmd/slimdev image

# The harness builds its Go peers (crane, regctl) from their own modules at pinned versions
# into .cache/bench/bin (never through go.mod), and reads peak memory with GNU time.
# BENCH_FLAGS: -only NAME[,NAME…] (e.g. -only memory,rootfs,many-small), -quick, -repeats N.
bench: deps tools build
	@dpkg -s time >/dev/null 2>&1 || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends time; }
	GOBIN=$(CURDIR)/.cache/bench/bin $(GO) install github.com/google/go-containerregistry/cmd/crane@v0.22.1
	GOBIN=$(CURDIR)/.cache/bench/bin $(GO) install github.com/regclient/regclient/cmd/regctl@v0.11.7
	$(GO) run ./cmd/slimdev bench $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) .cache
