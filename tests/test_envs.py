"""One list of pins: pyproject.toml's extras. Every rule group's container and conda environment installs from it, and
nothing else in the repository pins a package."""

import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import REPO

from weakdriven import envs

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)$")
EXTRAS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_every_extra_pins_exact_versions_and_agrees_with_the_others():
    versions = {}
    for extra, requirements in EXTRAS.items():
        assert requirements, extra
        for requirement in requirements:
            match = PIN.match(requirement)
            assert match, f"[{extra}] {requirement}: not pinned with =="
            name, version = match.groups()
            assert versions.setdefault(name.lower(), version) == version, f"[{extra}] {name}: two versions"
    assert versions["torch"] == "2.13.0"  # the CPU wheel on disk; an unpinned torch pulls a CUDA build
    assert set(envs.GROUPS) | {envs.NO_DEPS, envs.NO_BUILD_ISOLATION} <= set(EXTRAS)


def test_nothing_outside_pyproject_pins_a_package():
    """A pin in a container definition, the Makefile or a workflow file would be a second copy to keep equal."""
    files = [REPO / "Makefile", *(REPO / "containers").glob("*.def"), *(REPO / "workflow").rglob("*.smk"),
             REPO / "Snakefile"]
    for path in files:
        for line in path.read_text().splitlines():
            if "pip install" in line or re.match(r"^\s+[A-Za-z0-9_.\-]+==", line):
                pins = re.findall(r"\b([A-Za-z][A-Za-z0-9_.\-]*)==", line)
                # uv installs BigCodeBench's own task environment (its pinned file) in the code image: not ours
                assert not pins or pins == ["uv"] or "bcb" in line, f"{path.name}: {line.strip()}"


@pytest.mark.parametrize("group", envs.GROUPS)
def test_each_container_installs_its_extra(group):
    post = (REPO / "containers" / f"{group}.def").read_text()
    assert f"-e '/opt/weakdriven[{group}]'" in post and "pyproject.toml /opt/weakdriven/pyproject.toml" in post
    if group in envs.POST_DEPLOY:
        assert f"weakdriven.envs pins {envs.POST_DEPLOY[group]})" in post


@pytest.mark.parametrize("group", envs.GROUPS)
def test_the_conda_env_holds_the_extra_and_this_checkout(group, tmp_path):
    path = envs.write_conda_env(group, REPO, tmp_path)
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == [*EXTRAS[group], f"-e {REPO.resolve()}"]  # absolute: Snakemake copies the file before conda reads it
    assert f"python={envs.PYTHON}" in env["dependencies"] and "pip" in env["dependencies"]
    assert ("bubblewrap" in env["dependencies"]) == (group == "code")
    script = tmp_path / f"{group}.post-deploy.sh"
    assert script.exists() == (group in ("code", "train"))
    if group == "code":
        text = script.read_text()
        assert "pip install --no-deps" in text and all(pin in text for pin in EXTRAS["judges"])
    if group == "train":
        assert "--no-build-isolation" in script.read_text() and EXTRAS["flash"][0] in script.read_text()
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0 if script.exists() else True


def test_conda_env_files_change_with_a_pin_and_only_then(tmp_path):
    """Snakemake names a conda environment by its file's content: a changed pin must give a new file (a new env),
    an unchanged one the same file, untouched."""
    pyproject = tmp_path / "checkout" / "pyproject.toml"
    pyproject.parent.mkdir()
    pyproject.write_text((REPO / "pyproject.toml").read_text())
    out = tmp_path / "envs"
    first = envs.write_conda_env("tables", pyproject.parent, out).read_text()
    mtime = (out / "tables.yaml").stat().st_mtime_ns
    assert envs.write_conda_env("tables", pyproject.parent, out).read_text() == first
    assert (out / "tables.yaml").stat().st_mtime_ns == mtime
    pyproject.write_text(pyproject.read_text().replace('"tabulate==0.10.0"', '"tabulate==0.9.0"'))
    second = envs.write_conda_env("tables", pyproject.parent, out).read_text()
    assert second != first and "tabulate==0.9.0" in second


def test_pins_command_prints_one_requirement_per_line_and_names_a_missing_extra(tmp_path):
    out = subprocess.run([sys.executable, "-m", "weakdriven.envs", "pins", "judges"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.split() == EXTRAS["judges"]
    with pytest.raises(KeyError, match="no 'gpu'"):
        envs.pins("gpu")
    with pytest.raises(FileNotFoundError, match="no pyproject.toml"):
        envs.pins("train", tmp_path / "pyproject.toml")


def test_the_local_environment_has_what_the_extras_pin():
    """`make env` installed train, code, tables and dev (and the judges): the versions the tests run with are the
    pinned ones."""
    from importlib import metadata

    for extra in ("train", "code", "tables", "dev", "judges"):
        for requirement in EXTRAS[extra]:
            name, version = PIN.match(requirement).groups()
            assert metadata.version(name).split("+")[0] == version, requirement  # torch: 2.13.0+cpu


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
