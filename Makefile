# Two commands: `make demo` (venv, install, analyse the sample clip) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
SAMPLE := tests/fixtures/hamilton-audience-640x360.mp4

.PHONY: install demo test mosquitto chromium ffmpeg check vermin lambda clean

$(BIN)/reaction: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[test,bench,batch]'
	# norfair pins filterpy<2, which the library does not use: without its dependencies.
	$(BIN)/pip install -q -c constraints.txt --no-deps norfair
	touch $@

install: $(BIN)/reaction

demo: install
	$(BIN)/reaction analyze $(SAMPLE) --out out/demo --annotate out/demo/annotated.mp4
	@echo "outputs: out/demo/events.jsonl tracks.csv smiles.csv presence.csv summary.json annotated.mp4"
	$(BIN)/reaction report out/demo --out out/demo/report --title "Sample clip"
	@echo "report: out/demo/report/report.html (laughs_per_second.csv moments.csv report.json beside it)"

# The IoT tests run a real broker: installed here when missing, or one line saying what to install.
mosquitto:
	@tests/ensure-package.sh mosquitto mosquitto "the IoT tests"

# The report tests open report.html in headless Chromium: installed here when missing, or one line saying what to install.
chromium:
	@tests/ensure-package.sh chromium chromium "the report tests (headless Chromium)"

# The stream tests serve the sample clip over HTTP with a real ffmpeg.
ffmpeg:
	@tests/ensure-package.sh ffmpeg ffmpeg "the stream tests"

# Lint, format and types over the package; Python 3.7 over what the DeepLens Lambda imports.
check: install vermin
	$(BIN)/ruff check reaction
	$(BIN)/ruff format --check reaction
	$(BIN)/mypy

vermin: install
	$(BIN)/vermin --target=3.7- --no-tips --violations -q $$($(BIN)/python lambda_package/build.py --list-modules)

test: install mosquitto chromium ffmpeg check
	REACTION_DATA=$(DATA) $(BIN)/python -m pytest -q

lambda: install
	$(BIN)/python lambda_package/build.py --out dist/reaction-deeplens.zip

clean:
	rm -rf out dist build *.egg-info
