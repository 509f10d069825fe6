"""Pinned environments: each container pins exactly its envs/ file; the CPU requirements agree with both."""

import re

import pytest
import yaml
from conftest import REPO

GROUPS = ("train", "eval", "code", "tables")
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)")


def env_pins(group):
    env = yaml.safe_load((REPO / "envs" / f"{group}.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = dict(PIN.match(p).groups() for p in pip if PIN.match(p))
    post_deploy = REPO / "envs" / f"{group}.post-deploy.sh"  # what Snakemake installs after the env (--no-deps)
    if post_deploy.exists():
        lines = [line.strip() for line in post_deploy.read_text().splitlines()]
        pins.update(PIN.match(line).groups() for line in lines if PIN.match(line))
    return pins


def def_pins(group):
    lines = (REPO / "containers" / f"{group}.def").read_text().splitlines()
    return dict(PIN.match(line.strip()).groups() for line in lines if PIN.match(line.strip()))


@pytest.mark.parametrize("group", GROUPS)
def test_container_pins_equal_env_pins(group):
    assert env_pins(group) and def_pins(group) == env_pins(group)


def test_cpu_requirements_agree_with_every_env():
    lines = (REPO / "envs" / "requirements-cpu.txt").read_text().splitlines()
    cpu = dict(PIN.match(line).groups() for line in lines if PIN.match(line))
    for group in GROUPS:
        for name, version in env_pins(group).items():
            if name in cpu:
                assert cpu[name] == version, (group, name)
    assert cpu["torch"] == "2.13.0"  # the CPU wheel on disk; an unpinned torch pulls a CUDA build


def test_code_requirements_install_what_the_code_env_pins():
    """make env installs the judges --no-deps from requirements-code.txt: every judge pin of envs/code.yaml (and its
    post-deploy script) is there with the same version, and the list is closed under what judging imports."""
    lines = (REPO / "envs" / "requirements-code.txt").read_text().splitlines()
    code = dict(PIN.match(line).groups() for line in lines if PIN.match(line))
    env = env_pins("code")
    for name in ("evalplus", "bigcodebench", "tree-sitter-python", "pqdm", "matplotlib", "tempdir", "termcolor"):
        assert code[name] == env[name], name
    for name, version in code.items():
        if name in env:
            assert env[name] == version, name


def test_scoring_and_tables_import_without_torch():
    """The code and tables containers hold no torch: `weakdriven score`, `score-table` and the judges run without."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'transformers', 'trl', 'deepspeed', 'vllm'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import weakdriven, weakdriven.cli, weakdriven.eval.pipeline, weakdriven.eval.code, weakdriven.tables\n"
        "import weakdriven.benchmarks, weakdriven.cost\n"
        "from weakdriven import pass_at_k, reported_numbers, score_answer, run_sandboxed\n"
        "assert abs(pass_at_k(4, 2, 1) - 0.5) < 1e-12 and len(reported_numbers('table1'))\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_submit_host_requirements_agree_with_the_cpu_environment():
    """One pip command installs the submit host (Snakemake, the SLURM plugin, this package); its pins are the ones
    the tests ran with."""
    lines = (REPO / "envs" / "requirements-submit.txt").read_text().splitlines()
    submit = dict(PIN.match(line).groups() for line in lines if PIN.match(line))
    cpu_lines = [*(REPO / "envs" / "requirements-cpu.txt").read_text().splitlines(),
                 *(REPO / "envs" / "requirements-code.txt").read_text().splitlines()]
    cpu = dict(PIN.match(line).groups() for line in cpu_lines if PIN.match(line))
    assert {"snakemake", "snakemake-executor-plugin-slurm", "huggingface_hub", "evalplus"} <= set(submit)
    assert "-e ." in lines
    for name, version in submit.items():
        if name in cpu:
            assert cpu[name] == version, name
