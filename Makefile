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

.PHONY: install demo test test-ra clean-outputs dag

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
	@echo "  maps:          figures/outflow_{buurt,wijk,gemeente}.png/.pdf, figures/outflow_kaart.html"
	@echo "  timings:       benchmarks/*.tsv; logs: logs/*.log"

test: $(STAMP)
	$(PY) -m pytest -q

# The same unit and end-to-end tests on the CBS Remote Access versions (requirements-ra.txt):
# pandas 2.2.3, pyreadstat 1.2.8, numpy 1.26, Snakemake 8. The cluster test runs once, in `test`.
$(STAMP_RA): pyproject.toml requirements-ra.txt
	test -x $(PY_RA) || $(PYTHON) -m venv $(VENV_RA)
	$(PY_RA) -m pip install --quiet --upgrade pip
	$(PY_RA) -m pip install --quiet -c requirements-ra.txt -e '.[test]'
	touch $(STAMP_RA)

test-ra: $(STAMP_RA)
	$(PY_RA) -m pytest -q --ignore=tests/test_slurm.py

dag: $(STAMP)
	$(PY) -m snakemake --dag | dot -Tpng > dag.png

clean-outputs:
	rm -rf data/processed/* reports/* figures/* logs benchmarks .snakemake
	touch data/processed/.gitkeep figures/.gitkeep reports/.gitkeep
