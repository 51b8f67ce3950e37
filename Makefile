# tracksd — see README.md. `make run` and `make test` are the two commands that matter.

CARGO ?= cargo
PREFIX ?= /usr/local
BIN := target/release/tracksd

.PHONY: all build run test lint unit readme-curl clean

all: build

## build: optimised release binary (target/release/tracksd)
build:
	$(CARGO) build --release --locked

## run: build and serve the embedded development config (127.0.0.1:8000, state in ./var)
run: build
	$(BIN) serve

## test: format, lints, unit + black-box tests, and the README's curl examples
test: lint unit readme-curl

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit:
	$(CARGO) test --locked

## readme-curl: run every curl example of README.md against a started server
readme-curl: build
	bash tests/readme_curl.sh $(BIN) README.md

clean:
	$(CARGO) clean
