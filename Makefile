GO        ?= go
BIN       := bin/plg
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)

.PHONY: all build run test test-short vet fmt bench fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/plg

# run: the whole stack in one process, filesystem storage under ./data,
# API (and later the UI) on 127.0.0.1:3100.
run: build
	./$(BIN) -mode=all -data.dir=./data -http.addr=127.0.0.1:3100

# test: everything CI runs. Formatting and vet first, then every package with
# the race detector.
test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -count=1 -short ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./chunks/... ./push/... ./ingester/... ./querier/... | tee bench.out

clean:
	rm -rf bin data bench.out
