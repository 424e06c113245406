# Two commands: `make demo` (venv, install, analyse the sample clip) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
SAMPLE := tests/fixtures/hamilton-audience-640x360.mp4
# The modules the DeepLens Lambda imports; they must run on Python 3.7.
LAMBDA_MODULES := lambda_package reaction/__init__.py reaction/types.py reaction/preprocess.py \
	reaction/detector.py reaction/tracker.py reaction/smile.py reaction/laughs.py reaction/sinks.py \
	reaction/pipeline.py reaction/annotate.py reaction/sources.py reaction/schema.py

.PHONY: install demo test vermin lambda clean

$(BIN)/reaction: setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/reaction

demo: install
	$(BIN)/reaction analyze $(SAMPLE) --out out/demo --annotate out/demo/annotated.mp4
	@echo "outputs: out/demo/events.jsonl tracks.csv smiles.csv summary.json annotated.mp4"

vermin: install
	$(BIN)/vermin --target=3.7- --no-tips --violations -q $(wildcard $(LAMBDA_MODULES))

test: install vermin
	REACTION_DATA=$(DATA) $(BIN)/python -m pytest -q

lambda: install
	$(BIN)/python lambda_package/build.py --out dist/reaction-deeplens.zip

clean:
	rm -rf out dist build *.egg-info
