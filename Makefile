# regfleet: `make run` shows the whole story, `make test` is what CI runs.

GO              ?= go
STATICCHECK_VER := v0.8.2
BIN             := $(CURDIR)/.bin
STATICCHECK     := $(BIN)/staticcheck
FUZZTIME        ?= 60s

.PHONY: all build test check vet lint cross race norace bench fuzz run drill clean

all: build

build:
	$(GO) build ./...

## test: format check, vet, staticcheck, the cross-platform vet, the
## race-enabled tests, and the tests the race detector cannot run (see
## TestHerd) without it.
test: check vet lint cross race norace

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags drill ./drill/...

## cross: vet (which builds) the SDK and the examples for the desktops'
## systems: Windows and macOS on amd64 and arm64.
CROSS_OS   := windows darwin
CROSS_ARCH := amd64 arm64
cross:
	@for os in $(CROSS_OS); do for arch in $(CROSS_ARCH); do \
		echo "GOOS=$$os GOARCH=$$arch go vet ./client/... ./offline/... ./examples/..."; \
		GOOS=$$os GOARCH=$$arch $(GO) vet ./client/... ./offline/... ./examples/... || exit 1; \
	done; done

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VER)

lint: $(STATICCHECK)
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags drill ./drill/...

race:
	$(GO) test -race -timeout 10m ./...

norace:
	$(GO) test -count=1 -run '^TestHerd$$' ./client/

## bench: every benchmark, with allocations.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequestFast$$' -fuzztime $(FUZZTIME) ./internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeReplyFast$$' -fuzztime $(FUZZTIME) ./internal/wire
	$(GO) test -run '^$$' -fuzz '^FuzzReadResponse$$' -fuzztime $(FUZZTIME) ./internal/h1
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) ./regsim
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./offline/sqlite
	$(GO) test -run '^$$' -fuzz '^FuzzCheckHeader$$' -fuzztime $(FUZZTIME) ./offline/sqlite
	$(GO) test -run '^$$' -fuzz '^FuzzParseThreshold$$' -fuzztime $(FUZZTIME) ./loadgen
	$(GO) test -run '^$$' -fuzz '^FuzzParseWindow$$' -fuzztime $(FUZZTIME) ./loadgen
	$(GO) test -run '^$$' -fuzz '^FuzzParseRange$$' -fuzztime $(FUZZTIME) ./internal/nagios

## drill: the seed-001 failover test plan on regsim + HAProxy + toxiproxy
## (needs Debian's haproxy; .ci/run installs it). No -race: it is a real-time
## run of 240 clients on two cores; its unit tests run under -race in `race`.
DRILL_OUT ?= $(CURDIR)/drill.json
drill:
	DRILL_OUT=$(DRILL_OUT) $(GO) test -tags drill -count=1 -v -timeout 10m ./drill/...

## run: the load generator against the embedded simulated cluster, with an outage.
run:
	$(GO) run ./cmd/loadgen --clients 2000 --duration 90s --outage down:20s@35s --drain-timeout 90s --html report.html --out report.json

clean:
	rm -rf $(BIN) report.html report.json drill.json
