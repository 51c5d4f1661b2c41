GO        ?= go
BIN       := bin/plg
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)
# TAGS leave out code plg never runs (issue 2, binary size; and the agent's
# RSS, which includes the binary's mapped pages): nomsgpack drops gin's
# MessagePack binding and rendering (ugorji/go, 6.0 MiB), stdlibjson makes
# minio-go use encoding/json instead of goccy/go-json (1.3 MiB), grpcnotrace
# drops gRPC's x/net/trace debug pages (0.1 MiB). The build is static
# (CGO_ENABLED=0): no libc to map, and any base image will do.
TAGS      := nomsgpack,stdlibjson,grpcnotrace

.PHONY: all build build-agent run test test-short vet lint fmt bench bench-e2e fuzz clean browser

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/plg

# build-agent: the same program without the GCS backend (Google's JSON API
# client, its credential chain and the gRPC and OpenTelemetry packages that
# client still links: 4.7 MiB of the binary), for the node DaemonSet, where
# the agent never opens a bucket. Every mode still runs; only
# store.backend gcs is refused.
build-agent:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS),nogcs' -ldflags '$(LDFLAGS)' -o bin/plg-agent ./cmd/plg

# run: the whole stack in one process, filesystem storage under ./data,
# API (and later the UI) on 127.0.0.1:3100.
run: build
	./$(BIN) -mode=all -data.dir=./data -http.addr=127.0.0.1:3100

# test: everything CI runs. Formatting and vet first, then every package with
# the race detector; objstore's acceptance test of the GCS backend (a 200 MiB
# upload, over a minute under the detector) runs without it. The UI's browser
# test needs Chromium, installed here when missing (Debian's package, about
# two minutes on a fresh machine).
test: vet browser
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -tags '$(TAGS)' -count=1 -timeout 20m ./...
	$(GO) test -tags '$(TAGS)' -count=1 -run GCSBucketAcceptance ./chunks/store
	$(GO) test -tags '$(TAGS),nogcs' -count=1 -run NoGCS ./chunks/store
	$(GO) vet -tags '$(TAGS),nogcs' ./chunks/store ./cmd/plg

browser:
	@sh ui/install-chromium.sh

test-short:
	$(GO) test -tags '$(TAGS)' -count=1 -short ./...

vet:
	$(GO) vet -tags '$(TAGS)' ./...

# lint: staticcheck at a pinned version, fetched through the module proxy
# (not a dependency of the module). Not part of test: a cold run analyses
# every dependency, minutes on two cores; about 30 s warm.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) -tags '$(TAGS)' ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# bench: the Go micro-benchmarks, then the end-to-end harness.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./chunks/... ./push/... ./ingester/... ./querier/... | tee bench.out
	$(MAKE) bench-e2e

# bench-e2e: the end-to-end harness alone (cmd/plgbench, docs/BENCHMARKS.md):
# measures the binary `make build` ships, pushes SIZE of generated log text,
# checks every query.
# make bench-e2e SIZE=200MB
SIZE ?= 1GB
bench-e2e: build build-agent
	$(GO) run ./cmd/plgbench -bin=$(BIN) -agent-bin=bin/plg-agent -size=$(SIZE) -out-json=bench-e2e.json -out-md=bench-e2e.md

clean:
	rm -rf bin data bench.out
