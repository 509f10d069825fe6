"""The container definitions, checked as far as a machine without apptainer can: each base image provides the
Python its %post uses (or %post installs one, into a venv where the system Python is externally managed); each %test
imports every module the container's rules import; and the cluster profile runs containerized jobs with --nv and the
shared Hugging Face cache, offline (a stand-in apptainer records the call Snakemake makes)."""

import ast
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, snakemake, workflow_copy

# Base images known to ship a Python 3 that pip may install into or make a venv from
PYTHON_BASES = ("python:", "nvcr.io/nvidia/pytorch:")
# ... and bases whose system Python is externally managed (PEP 668): pip only inside a venv
PEP668_BASES = ("nvcr.io/nvidia/cuda:", "nvcr.io/nvidia/pytorch:", "ubuntu:24.04")
NO_TORCH = ("tables", "code")  # containers without torch: their rules must import without it


def sections(group: str) -> dict[str, str]:
    text = (REPO / "containers" / f"{group}.def").read_text()
    header = dict(re.findall(r"^(\w+):\s*(\S+)", text.split("%", 1)[0], re.M))
    parts = dict(re.findall(r"^%(\w+)\n(.*?)(?=^%\w+|\Z)", text, re.M | re.S))
    return {"From": header["From"], **parts}


def rules_by_container() -> dict[str, set[str]]:
    """Container -> the `weakdriven` subcommands its rules run (a `use rule A as B with:` runs A's command in its own
    container, if it names one). Only local rules (the submit host's prefetch) may run without a container."""
    out: dict[str, set[str]] = {}
    rules = "\n".join(smk.read_text() for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    local = set(re.findall(r"^\s*localrules:\s*\n\s*(\w+),", rules, re.M))
    starts = list(re.finditer(r"^\s*(?:rule (\w+)|use rule (\w+) as (\w+) with):", rules, re.M))
    found = {}
    for m, nxt in zip(starts, [*starts[1:], None]):
        block = rules[m.start():nxt.start() if nxt else len(rules)]
        name, parent = (m[1], None) if m[1] else (m[3], m[2])
        container = re.search(r'CONTAINERS\["(\w+)"\]', block)
        command = re.search(r"(?:weakdriven|\{params\.launch\}) ([a-z][a-z-]+)", block)
        container = container[1] if container else (found[parent][0] if parent else None)
        command = command[1] if command else (found[parent][1] if parent else None)
        found[name] = (container, command)
        if not container:
            assert name in local, f"rule {name} names no container and is not a local rule"
            continue
        assert command, f"rule {name} runs no weakdriven command"
        out.setdefault(container, set()).add(command)
    return out


def command_modules(command: str) -> set[str]:
    """The package modules a subcommand needs: cli.py itself and the module of the function it calls (each
    ``stage(name, help, ".module:function", ...)`` registration names it)."""
    tree = ast.parse((REPO / "src" / "weakdriven" / "cli.py").read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "stage"
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == command):
            module = node.args[2].value.split(":")[0]
            return {"weakdriven.cli", f"weakdriven{module}"}
    raise AssertionError(f"cli.py registers no subcommand {command!r}")


def imports_in_test_section(group: str) -> set[str]:
    return {name.strip() for line in re.findall(r"python3 -c \"import ([^\"]+)\"", sections(group)["test"])
            for name in line.split(",")}


GROUPS = sorted(rules_by_container())


def test_every_rule_runs_in_one_of_the_four_containers():
    assert GROUPS == ["code", "eval", "tables", "train"]


@pytest.mark.parametrize("group", GROUPS)
def test_the_base_image_provides_the_python_that_post_uses(group):
    s = sections(group)
    post = s["post"]
    first_python = re.search(r"(?:^\s*|&&\s*|^\s*\w+=\S+\s+)(python3|pip3?|/opt/venv/bin/python)\s", post, re.M)
    assert first_python, f"{group}: %post runs no Python"
    if not s["From"].startswith(PYTHON_BASES):
        installs = re.search(r"apt-get install[^\n]*\bpython3\b", post)
        assert installs and installs.start() < first_python.start(), f"{group}: {s['From']} ships no Python"
    if s["From"].startswith(PEP668_BASES):
        assert "python3 -m venv /opt/venv" in post and "export PATH=/opt/venv/bin:$PATH" in s["environment"]
        for line in re.findall(r"^.*pip install.*$", post, re.M):
            assert "/opt/venv/bin/python -m pip" in line or "uv pip" in line, f"{group}: system pip: {line.strip()}"


@pytest.mark.parametrize("group", GROUPS)
def test_the_container_test_imports_what_its_rules_import(group):
    needed = set().union(*(command_modules(c) for c in rules_by_container()[group]))
    assert needed and needed <= imports_in_test_section(group), sorted(needed - imports_in_test_section(group))


@pytest.mark.parametrize("group", NO_TORCH)
def test_containers_without_torch_import_their_modules_without_it(group):
    modules = sorted(m for m in imports_in_test_section(group) if m.startswith("weakdriven"))
    program = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] in ('torch', 'transformers', 'trl', 'deepspeed', 'vllm', 'accelerate'):\n"
               "            raise ImportError('blocked: ' + name)\n"
               "sys.meta_path.insert(0, Block())\n"
               f"import {', '.join(modules)}\nprint('ok')\n")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_the_cluster_profile_gives_containerized_jobs_the_gpus_and_the_offline_cache(tmp_path):
    """One rule of the embedded preset through the shipped cluster profile (local executor, a stand-in apptainer
    that logs its arguments and runs the command): Snakemake calls `apptainer exec ... --nv --bind <HF cache> --env
    HF_HUB_OFFLINE=1 <image>`."""
    (tmp_path / "wf").mkdir()
    work = workflow_copy(tmp_path / "wf")
    (work / "containers").mkdir()
    for group in GROUPS:
        (work / "containers" / f"{group}.sif").touch()
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apptainer").write_text(
        "#!/bin/sh\necho \"$@\" >> \"$APPTAINER_LOG\"\n"
        "case \"$1\" in --version|version) echo 'apptainer version 1.3.4'; exit 0;; esac\n"
        "while [ $# -gt 0 ]; do case \"$1\" in *.sif) shift; exec \"$@\";; *) shift;; esac; done\n")
    (fake / "apptainer").chmod(0o755)
    log = tmp_path / "apptainer.log"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "APPTAINER_LOG": str(log),
           "HF_HOME": str(tmp_path / "hf")}
    result = snakemake(work, "results/embedded/data/math/train.jsonl", "--profile", str(REPO / "profiles" / "slurm"),
                       "--executor", "local", "--cores", "1", "--configfile", "config/embedded.yaml", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    calls = [line for line in log.read_text().splitlines() if line.startswith("exec ")]
    assert len(calls) == 1 and "containers/train.sif" in calls[0]
    args = calls[0].split(" containers/train.sif")[0]
    assert " --nv " in f"{args} " and f"--bind {tmp_path / 'hf'}" in args
    assert f"HF_HOME={tmp_path / 'hf'}" in args and "HF_HUB_OFFLINE=1" in args
    assert (work / "results" / "embedded" / "data" / "math" / "train.jsonl").is_file()
