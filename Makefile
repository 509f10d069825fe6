# The two commands of the README:  `make demo`  (embedded preset end to end)  and  `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test env system-deps dry-run lint clean-demo

# The pins are pyproject.toml's extras (src/weakdriven/envs.py): every rule group's but vLLM's and flash-attn's, the
# workflow engine and the test tools; then the code judges without their model-API clients and vLLM (--no-deps).
$(BIN)/weakdriven: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,code,tables,dev]'
	$(BIN)/pip install --quiet --no-deps $$($(BIN)/python -m weakdriven.envs pins judges)
	touch $@

env: system-deps $(BIN)/weakdriven  ## create the CPU environment if missing

# bubblewrap: the sandbox that scores model-written code outside a container (the tests, a local run). Installed
# with apt when missing and running as root (CI); otherwise only a note: never sudo. On a cluster, code is scored in
# the code container and the submit host needs no bubblewrap.
# chromium: the report's browser test (headless); the same: apt as root, else a note.
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y --no-install-recommends bubblewrap \
	    || { apt-get update && apt-get install -y --no-install-recommends bubblewrap; }; \
	  else \
	    echo "note: bubblewrap (bwrap) is missing: the code-sandbox tests are skipped and code cannot be scored" \
	         "outside a container; install the package 'bubblewrap' to run them (not needed on a cluster's" \
	         "submit host)"; \
	  fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y --no-install-recommends chromium \
	    || { apt-get update && apt-get install -y --no-install-recommends chromium; }; \
	  else \
	    echo "note: chromium is missing: the test that opens the report in a headless browser is skipped;" \
	         "install the package 'chromium' to run it"; \
	  fi; }

demo: env  ## the embedded preset end to end on CPU: results/embedded/tables/ and results/embedded/report.html
	$(BIN)/snakemake --profile profiles/local --configfile config/embedded.yaml
	$(BIN)/snakemake --profile profiles/local --configfile config/embedded.yaml --report results/embedded/report.html
	@echo "the report: results/embedded/report.html (open it in a browser); the tables: results/embedded/tables/"

test: env  ## unit tests, snakemake --lint, the paper dry-run and the embedded preset end to end
	$(BIN)/python -m pytest -q

dry-run: env  ## the paper's full experiment as a job list
	$(BIN)/snakemake -n

lint: env
	$(BIN)/snakemake --lint

clean-demo:
	rm -rf results/embedded
