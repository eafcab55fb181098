# The project's stable interface: targets named in the issues and README.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_OUT ?= bench/results
export BENCH_OUT

.PHONY: help venv browser kafka-jars kafka-up kafka-down kafka-status test test-unit test-integration demo bench bench-drift bench-faults clean

help:
	@echo "make demo    run the demo: local Kafka, serving + two model pools, a multi-tenant stream"
	@echo "make test    venv, install, Kafka jars, broker, every test"
	@echo "make kafka-up / kafka-down   the local broker on 127.0.0.1:$${LOCAL_KAFKA_PORT:-19092}"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,bench]"
	touch $(STAMP)

venv: $(STAMP)

# The ops-page browser test drives Debian's chromium headless; Playwright never downloads one.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

browser: $(CHROMIUM)

kafka-jars: venv
	$(PY) -c "from localkafka import BrokerConfig, resolve_jars; print(resolve_jars(BrokerConfig.from_env().cache_dir))"

kafka-up: venv
	$(PY) -m localkafka up

kafka-down: venv
	$(PY) -m localkafka down

kafka-status: venv
	$(PY) -m localkafka status

test: venv kafka-jars browser
	$(PY) -m pytest -q

test-unit: venv
	$(PY) -m pytest -q tests/unit tests/agents kafka_io learning schemas agents app

test-integration: venv kafka-jars browser
	$(PY) -m pytest -q tests/integration

demo: venv kafka-jars
	$(PY) -m demo

bench: venv kafka-jars
	$(PY) -m bench.run

bench-drift: venv kafka-jars
	$(PY) -m bench.drift_pipeline

bench-faults: venv kafka-jars
	$(PY) -m bench.faults

clean:
	rm -rf var $(BENCH_OUT)
