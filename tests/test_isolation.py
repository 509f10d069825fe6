"""A sandbox that cannot start is an error of the job, never a failed sample: a stand-in bwrap that fails the way it
does inside apptainer, the automatic choice of isolation, an interpreter inside a private (0700) directory, and the
grader-error limit of a score record."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from code_fixtures import fenced, write_code_benchmarks
from conftest import BIN, eval_stage

from weakdriven.benchmarks import load_benchmark
from weakdriven.eval import sandbox
from weakdriven.eval.code import judge_many, unpack_task
from weakdriven.eval.pipeline import GraderError, score_records
from weakdriven.eval.sandbox import SandboxUnavailable, resolve_isolation, run_sandboxed

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None and not os.environ.get("CI"),
                                reason="bubblewrap is not installed (make env installs it)")

# What bwrap prints inside an apptainer container without user namespaces (and exits 1, before running anything)
APPTAINER_BWRAP = ("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, likely because the kernel "
                   "does not allow non-privileged user namespaces.' >&2\nexit 1\n")


SYSTEM_PYTHON = "/usr/bin/python3"  # reachable by user nobody (the venv's base interpreter may live under /root)


@pytest.fixture
def failing_bwrap(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bwrap").write_text(APPTAINER_BWRAP)
    (bin_dir / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    sandbox._bwrap_works.cache_clear()
    yield bin_dir
    sandbox._bwrap_works.cache_clear()


def test_a_sandbox_that_cannot_start_raises_naming_the_setting(failing_bwrap):
    with pytest.raises(SandboxUnavailable, match=r"evaluation.code.isolation.*'bwrap'.*set it to 'container'") as err:
        run_sandboxed("print('hi')", timeout_s=5, isolation="bwrap")
    assert "No permissions to creating new namespace" in str(err.value)


def test_auto_isolation_picks_bwrap_where_it_works_else_the_container(failing_bwrap, monkeypatch):
    monkeypatch.setattr(sandbox, "in_container", lambda: True)
    assert resolve_isolation("auto") == "container"  # the stand-in bwrap fails: inside a container, use it
    if os.path.exists(SYSTEM_PYTHON):
        assert run_sandboxed("print(6 * 7)", timeout_s=5, isolation="auto", python=SYSTEM_PYTHON).stdout == "42\n"
    monkeypatch.setattr(sandbox, "in_container", lambda: False)
    with pytest.raises(SandboxUnavailable, match="'auto', but bwrap cannot start a sandbox here and this is not a"):
        resolve_isolation("auto")
    monkeypatch.setenv("PATH", os.environ["PATH"].split(":", 1)[1])  # the real bwrap again
    sandbox._bwrap_works.cache_clear()
    assert resolve_isolation("auto") == "bwrap"
    with pytest.raises(ValueError, match="evaluation.code.isolation': 'docker' is not one of"):
        resolve_isolation("docker")


@pytest.fixture(scope="module")
def humaneval(tmp_path_factory):
    rows = load_benchmark("HumanEval+", write_code_benchmarks(tmp_path_factory.mktemp("code")))
    return rows[:2]


def _gens(rows, texts):
    return [{"prompt_id": r["id"], "sample_index": 0, "text": t, "finish_reason": "stop", "protocol": "paper-greedy",
             "checkpoint_sha256": "abc"} for r, t in zip(rows, texts)]


def test_the_code_judge_fails_the_job_instead_of_failing_samples(failing_bwrap, humaneval):
    """Before: every sample 'failed' and the column read 0.0. Now the judge raises before any verdict."""
    tasks = [unpack_task(r["task"], r["id"]) for r in humaneval]
    right = [fenced(f"def add_{i}(x):\n    return x + {i}") for i in (0, 1)]
    with pytest.raises(SandboxUnavailable, match="evaluation.code.isolation"):
        judge_many(tasks, right, workers=2, timeout_s=10, isolation="bwrap")


def test_the_score_command_writes_nothing_when_the_sandbox_cannot_start(failing_bwrap, humaneval, tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in humaneval))
    gens = tmp_path / "gens.jsonl"
    right = [fenced(f"def add_{i}(x):\n    return x + {i}") for i in (0, 1)]
    gens.write_text("".join(json.dumps(g) + "\n" for g in _gens(humaneval, right)))
    settings = eval_stage(code={"isolation": "bwrap"}).to_json()
    out = tmp_path / "scores.json"
    result = subprocess.run([str(BIN / "weakdriven"), "score", "--settings", settings, "--generations",
                             str(gens), "--benchmark", "HumanEval+", "--benchmark-file", str(bench), "--backbone",
                             "b", "--seed", "1", "--run", "sft", "--out", str(out)],
                            capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode != 0
    assert "SandboxUnavailable" in result.stderr and "evaluation.code.isolation" in result.stderr
    assert not out.exists()


def test_grader_errors_fail_the_score_unless_the_config_allows_them(humaneval, monkeypatch):
    from weakdriven.eval import code

    right = [fenced(f"def add_{i}(x):\n    return x + {i}") for i in (0, 1)]

    # a judge whose program crashes in the sandbox: no verdict for either sample
    monkeypatch.setattr(code, "judge_program", lambda judge: "raise SystemExit('judge crashed')")
    with pytest.raises(GraderError, match=r"gens.jsonl: 2 of 2 samples got no verdict .*'evaluation.max_grader_errors'"
                                          r" allows 0.*judge crashed"):
        score_records("HumanEval+", humaneval, _gens(humaneval, right), eval_stage().evaluation, "gens.jsonl")
    scored = score_records("HumanEval+", humaneval, _gens(humaneval, right),
                           eval_stage(max_grader_errors=2).evaluation, "gens.jsonl")
    assert scored["grader_errors"] == 2 and scored["correct"] == 0


@pytest.fixture(scope="module")
def private_venv():
    """A virtual environment inside a private directory (mode 0700, as `mktemp -d` makes it), outside /tmp (which
    the sandbox replaces anyway)."""
    import tempfile

    root = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="wd-private-"))
    venv = root / "clone" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    yield root, venv / "bin" / "python"
    shutil.rmtree(root)


@pytest.mark.skipif(os.getuid() != 0, reason="only root drops to user nobody, who cannot enter a private directory")
def test_the_sandbox_runs_an_interpreter_from_a_private_directory(private_venv):
    root, python = private_venv
    assert sandbox.untraversable_ancestor(str(python)) == str(root)
    result = run_sandboxed("import os, sys; print(os.getuid(), sys.prefix)", timeout_s=10, isolation="bwrap",
                           python=str(python))
    assert result.ok and result.stdout.split() == ["65534", str(python.parents[1])]
    # the rest of the private directory stays hidden
    probe = run_sandboxed(f"import os; print(sorted(os.listdir({str(root)!r})))", timeout_s=10, isolation="bwrap",
                          python=str(python))
    assert probe.stdout.strip() == "['clone']"
    # without namespaces nothing can be re-bound: said up front, naming the directory
    with pytest.raises(SandboxUnavailable, match=f"cannot enter {root} on the way to"):
        run_sandboxed("print(1)", timeout_s=10, isolation="container", python=str(python))


def test_a_program_cannot_fake_the_launcher(tmp_path):
    """The launcher's announcement comes before the program runs; what the program prints cannot stand in for it."""
    result = run_sandboxed(f"import sys; sys.stderr.write({sandbox.STARTED!r} + '\\n')", timeout_s=5)
    assert result.ok and result.stderr == sandbox.STARTED + "\n"


@pytest.mark.skipif(os.getuid() != 0 or not os.path.exists(SYSTEM_PYTHON), reason="root drops to nobody")
def test_an_interpreter_nobody_may_not_run_is_an_error_not_a_failed_sample():
    import tempfile

    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        os.chmod(tmp, 0o755)
        shutil.copy(os.path.realpath(SYSTEM_PYTHON), Path(tmp) / "python")
        os.chmod(Path(tmp) / "python", 0o700)  # root only
        with pytest.raises(SandboxUnavailable, match="could not run .* as user nobody: PermissionError"):
            run_sandboxed("print(1)", timeout_s=5, isolation="container", python=str(Path(tmp) / "python"))
