import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BENCHMARK_DATA = SHARED / "data" / "benchmarks"
PAPER_TEXT = next(iter(sorted((SHARED / "seeds").glob("002_*.txt"))), None) if (SHARED / "seeds").is_dir() else None
WORKFLOW_FILES = ("Snakefile", "workflow", "config", "profiles", "pyproject.toml", "src")


@pytest.fixture
def paper_raw():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture
def embedded_raw():
    return yaml.safe_load((REPO / "config" / "embedded.yaml").read_text())


def workflow_copy(dest: Path) -> Path:
    """A copy of the workflow's tracked inputs in ``dest`` (so test runs never touch the checkout's results/)."""
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dest / name)
    return dest


BIN = Path(sys.executable).parent  # the environment's bin/ holds snakemake and the weakdriven script


def snakemake(cwd: Path, *args: str, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    env = env or os.environ
    env = dict(env, PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)


def mutate(raw: dict, dotted: str, value):
    raw = copy.deepcopy(raw)
    node = raw
    *parents, last = dotted.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return raw


DELETE = object()

# the configs' protocols (evaluation.protocols)
PROTOCOLS = {"paper-greedy": {"temperature": 0.0, "top_p": 1.0, "n": 1},
             "sampled-3x": {"temperature": 0.5, "top_p": 0.95, "n": 3},
             "passk": {"temperature": 0.7, "top_p": 0.95, "n": 64}}


def eval_stage(code: dict | None = None, prompt: str = "s", gpus: int = 0, bf16: bool = False, **evaluation):
    """An EvalStage with a complete evaluation section: test defaults, ``evaluation`` keys and ``code`` overriding."""
    from weakdriven.config import CodeJudging, Evaluation
    from weakdriven.eval.generation import Protocol
    from weakdriven.stages import EvalStage, Prompt

    judging = {"workers": 1, "timeout_s": 10, "test_timeout_s": 3, "memory_mb": 4096, "isolation": "bwrap",
               **(code or {})}
    section = {"backend": "transformers", "protocol": "paper-greedy", "max_new_tokens": 16, "long_max_new_tokens": 16,
               "long_benchmarks": (), "max_prompt_tokens": 128, "batch_size": 8, "grader_workers": 1,
               "grader_timeout_s": 5, "max_grader_errors": 0,
               "protocols": {name: Protocol(name, **spec) for name, spec in PROTOCOLS.items()}, **evaluation}
    return EvalStage(Evaluation(**section, code=CodeJudging(**judging)), Prompt(prompt, "qwen"), gpus, bf16, 1, None)


# CI replays the same examples every run (a red CI must be reproducible); locally hypothesis explores afresh.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="module")
def tiny_training_inputs(tmp_path_factory):
    """A tiny Qwen3 base checkpoint and 64 training records (tests/test_launcher.py, tests/test_slurm.py)."""
    from weakdriven.data.embedded import build_tiny_model, build_tokenizer, make_embedded_data

    root = tmp_path_factory.mktemp("launcher")
    make_embedded_data(root, n_train=64, n_test=5, n_pretrain=60, seed=3)
    tok = build_tokenizer([root / "data" / "pretrain.txt", root / "data" / "math" / "train.jsonl"], vocab_size=300)
    arch = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                intermediate_size=64)
    model = build_tiny_model(tok, arch, seed=2)
    model.save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    return root


@pytest.fixture(scope="session")
def embedded_local(tmp_path_factory):
    """The embedded preset run once per test session, one thread per job (OMP_NUM_THREADS=1: the float
    reductions of the SLURM run it is compared with are then identical); returns the workflow copy it ran in."""
    work = workflow_copy(tmp_path_factory.mktemp("embedded-local"))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = snakemake(work, "--profile", "profiles/local", "--configfile", "config/embedded.yaml", timeout=3000,
                    env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    # the jobs' commands ran in forks of the job server (src/weakdriven/jobserver.py), not in interpreters of their own
    served = re.search(r"weakdriven job server: (\d+) commands started from one interpreter", run.stderr)
    assert served and int(served[1]) >= 200, run.stderr[-3000:]
    return work
