# `make demo` and `make test` on a fresh machine: both create .venv and install first.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
CORES  ?= 2
SMK    := $(PY) -m snakemake --cores $(CORES) --printshellcmds --rerun-incomplete

VENV_RA  ?= .venv-ra
PY_RA    := $(VENV_RA)/bin/python
STAMP_RA := $(VENV_RA)/.installed-stamp

.PHONY: install demo export test test-ra bench clean-outputs dag system-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(SMK)
	@echo
	@echo "Klaar / done (synthetic data). Outputs:"
	@echo "  tables:        reports/tables/transmission_{buurt,wijk,gemeente,region}.csv"
	@echo "                 reports/tables/young_adults_{gemeente,wijk,region}.csv, reports/tables/attrition.csv"
	@echo "  output check:  reports/output_check.md (and .json)"
	@echo "  maps:          figures/{measure}_{buurt,wijk,gemeente}.png/.pdf, figures/kaart.html (offline)"
	@echo "  hotspots:      reports/tables/hotspots_{buurt,wijk,summary}.csv, figures/hotspots_*.png"
	@echo "  fact sheets:   reports/factsheets/feitenblad_{GMxxxx,regio}.html/.pdf"
	@echo "  trends:        reports/tables/cohorts_{gemeente,wijk,region}.csv, trend_{gemeente,region}.csv,"
	@echo "                 figures/trend_{GMxxxx,regio}.png; output check: reports/output_check_trend.md"
	@echo "  report:        $(PY) -m snakemake --report report.html"
	@echo "  timings:       benchmarks/*.tsv; logs: logs/*.log"

# Debian packages some tests need: Chromium for the headless-browser test of the offline map,
# pango for WeasyPrint's PDF fact sheets, poppler-utils (pdftoppm) to look at PDF pages. Installed
# only where missing and only where apt-get can run (root, as in CI); elsewhere those tests skip.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || missing="$$missing chromium chromium-driver"; \
	ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0' || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	command -v fc-list >/dev/null 2>&1 && [ -n "$$(fc-list 2>/dev/null | head -n 1)" ] \
	  || missing="$$missing fontconfig fonts-dejavu-core"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "note: missing Debian packages:$$missing (not root: the tests that need them skip)"; fi

# The zip for the CBS output checkers: runs whatever is missing, the audit last, then bundles exactly
# what the audit passed. Add SMKFLAGS="--configfile mine.yaml" for a run of your own.
export: $(STAMP)
	$(SMK) $(SMKFLAGS) export/veenkolonien_export.zip
	@echo "Uitvoer voor de outputcontrole / bundle for the output checkers: export/veenkolonien_export.zip"
	@echo "  (controle / audit: reports/audit.md; outputcontrole / output check: reports/output_check.md)"

test: $(STAMP) system-deps
	$(PY) -m pytest -q

# The same unit and end-to-end tests on the CBS Remote Access versions (requirements-ra.txt):
# pandas 2.2.3, pyreadstat 1.2.8, numpy 1.26, Snakemake 8. The cluster test runs once, in `test`.
$(STAMP_RA): pyproject.toml requirements-ra.txt
	test -x $(PY_RA) || $(PYTHON) -m venv $(VENV_RA)
	$(PY_RA) -m pip install --quiet --upgrade pip
	$(PY_RA) -m pip install --quiet -c requirements-ra.txt -e '.[test]'
	touch $(STAMP_RA)

test-ra: $(STAMP_RA) system-deps
	$(PY_RA) -m pytest -q --ignore=tests/test_slurm.py

# The scale benchmark (issue #7): per size synthetic data, a cold run up to the exported tables on
# $(CORES) cores, the read floor of the same run, a re-analysis; tables in $(BENCH_OUT). Not a test.
SIZES     ?= 200000 2000000
BENCH_OUT ?= benchmarks/results/$(shell date +%Y-%m-%d)
bench: $(STAMP)
	$(PY) -m benchmarks --persons $(SIZES) --cores $(CORES) --out $(BENCH_OUT) $(BENCHFLAGS)

dag: $(STAMP)
	$(PY) -m snakemake --dag | dot -Tpng > dag.png

clean-outputs:
	rm -rf data/processed/* reports/* figures/* export logs benchmarks/*.tsv .snakemake
	touch data/processed/.gitkeep figures/.gitkeep reports/.gitkeep
