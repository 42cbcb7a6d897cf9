# omnicc — the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     ?= bin/omniccd
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Benchmarks: make bench BENCH=. COUNT=6 > new.txt; benchstat old.txt new.txt
BENCH   ?= .
COUNT   ?= 1
FUZZTIME ?= 20s
# Soak: make soak SOAK_ARGS='-duration 60s -concurrency 100 -ws 50' (flags: go run ./tools/soak -h)
SOAK_ARGS ?=

.PHONY: run build web test test-asterisk vet unit mariadb nats chromium bench fuzz soak clean

# Front ends (web chat widget, agent desktop): each npm package in the repo is
# installed from its lockfile and built into its dist/, which go:embed puts
# into the binary. Needs Node.js >= 20 and npm.
WEB_DIRS ?= $(patsubst %/package.json,%,$(shell git ls-files '*package.json' 2>/dev/null | grep -v node_modules))

## run: build and start omniccd on the embedded SQLite store (./data)
run: build
	./$(BIN) serve

build: web
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/omniccd

## test: go vet, then every test with the race detector on SQLite and MariaDB
## (and NATS for the fan-out)
test: vet mariadb nats chromium unit

## vet: go vet, and go.mod/go.sum must be what `go mod tidy` writes (a direct
## dependency left "// indirect" hides what the code really imports)
vet: web
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; \
	  echo 'go.mod/go.sum are not tidy: run go mod tidy and commit the result' >&2; exit 1; }
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt'ed (run gofmt -w): $$unformatted" >&2; exit 1; fi

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

## test-asterisk: the end-to-end suite against a real Asterisk
## (OMNICC_TEST_ASTERISK=/path/to/sbin/asterisk; README "Tests against a real
## Asterisk"); without it every test skips, saying why
test-asterisk: web mariadb
	$(GO) test -count=1 -timeout 30m -v ./e2e/

## web: npm ci (only when the lockfile changed) and npm run build in every
## front-end package
web:
	@for d in $(WEB_DIRS); do \
	  command -v npm >/dev/null || { echo 'make web: npm not found: install Node.js >= 20 and npm' >&2; exit 1; }; \
	  echo "== $$d: npm ci, npm run build"; \
	  ( cd $$d && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } \
	    && npm run --silent build ) || exit 1; \
	done

## chromium: make sure the headless browser of the front-end tests is there
## (best effort locally: the browser tests skip without it unless CI=true)
chromium:
	@./.ci/chromium-up || true

## mariadb: make sure the MariaDB the store tests use is up (best effort
## locally; the tests skip it when unreachable unless CI=true)
mariadb:
	@./.ci/mariadb-up || true

## nats: make sure the NATS the fan-out tests use is up (best effort
## locally; the tests skip it when unreachable unless CI=true)
nats:
	@./.ci/nats-up || true

## bench: run the Go benchmarks (figures in README.md)
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) ./...

## fuzz: run every fuzzer briefly; new crashers land in testdata/fuzz
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## soak: build omniccd, start it on a temporary SQLite data dir (or -dsn
## MariaDB) and load it for -duration with FastAGI, websockets, realtime and
## REST; -kill adds a kill -9 and checks the call log (README "Soak test")
soak: build
	$(GO) build -o bin/soak ./tools/soak
	./bin/soak -bin $(BIN) $(SOAK_ARGS)

clean:
	rm -rf bin
