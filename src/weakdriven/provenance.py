"""Provenance of an output: what produced it, so that a table cell can be traced to code, settings, software and
hardware.

Every training summary, score record and snapshot score file carries a ``provenance`` record; every table gets a
``<table>.provenance.json`` beside it that cites the records of its inputs. A record holds:

- ``git_commit`` (+ ``git_dirty``): of the workflow checkout. The Snakefile exports ``WEAKDRIVEN_GIT_COMMIT`` (jobs
  inside a container see no .git); outside a workflow the package's own checkout is asked.
- ``settings_sha256``: of the job's settings JSON, i.e. of exactly the config keys the job depends on (the whole
  config's hash would change with every unrelated key).
- ``software``: the container image (path, size, mtime; APPTAINER_CONTAINER) or the conda env (Snakemake names env
  directories by the hash of their env file), the sha256 of every env / container definition file of the workflow
  (exported by the Snakefile), Python and the versions of the libraries that decide the numbers.
- ``seed`` and ``hardware``: host, CPU model and count, memory, GPUs (nvidia-smi) when present.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from .checks import file_sha256, read_json, write_atomic

PACKAGES = ("torch", "transformers", "trl", "accelerate", "deepspeed", "vllm", "math-verify", "evalplus",
            "bigcodebench", "numpy", "pandas")


def settings_sha256(settings: str | dict | None) -> str:
    """sha256 of a job's settings (canonical JSON: key order does not matter)."""
    if isinstance(settings, str):
        settings = json.loads(settings) if settings else {}
    return hashlib.sha256(json.dumps(settings or {}, sort_keys=True).encode()).hexdigest()


def _run(cmd: list[str], cwd: str | None = None) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@cache
def git_state(directory: str | None = None) -> dict:
    """Commit and dirty flag of the checkout holding ``directory`` (default: this package)."""
    if os.environ.get("WEAKDRIVEN_GIT_COMMIT"):
        return {"git_commit": os.environ["WEAKDRIVEN_GIT_COMMIT"],
                "git_dirty": os.environ.get("WEAKDRIVEN_GIT_DIRTY") == "1"}
    where = directory or str(Path(__file__).resolve().parent)
    commit = _run(["git", "rev-parse", "HEAD"], cwd=where)
    if commit is None:
        return {"git_commit": "unknown", "git_dirty": None}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where)
    return {"git_commit": commit, "git_dirty": bool(status)}


@cache
def software() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out = {"python": platform.python_version(), "packages": versions}
    if os.environ.get("WEAKDRIVEN_ENV_FILES"):  # sha256 of pyproject.toml and containers/*.def
        out["env_files"] = json.loads(os.environ["WEAKDRIVEN_ENV_FILES"])
    image = os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER")
    if image:
        stat = Path(image).stat() if Path(image).exists() else None
        out["container"] = {"image": image, "size": stat.st_size if stat else None,
                            "mtime": int(stat.st_mtime) if stat else None}
    elif os.environ.get("CONDA_PREFIX"):
        out["conda_env"] = os.environ["CONDA_PREFIX"]  # Snakemake's env dirs are named by their env file's hash
    else:
        out["environment"] = sys.prefix
    return out


@cache
def hardware() -> dict:
    out = {"host": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                out["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        out["memory_gb"] = round(int(mem.split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    gpus = _run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"])
    out["gpus"] = [g.strip() for g in gpus.splitlines() if g.strip()] if gpus else []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        out["cuda_visible_devices"] = visible
    return out


def record(settings: str | dict | None = None, seed: int | None = None) -> dict:
    """The provenance record of an output made now, in this process, from ``settings`` with ``seed``."""
    return {**git_state(), "settings_sha256": settings_sha256(settings), "seed": seed, "software": software(),
            "hardware": hardware()}


def digest(prov: dict) -> str:
    """A short id of a provenance record (what a table cites per input)."""
    return hashlib.sha256(json.dumps(prov, sort_keys=True).encode()).hexdigest()[:12]


def table_provenance(inputs: list[str], settings: str | dict | None = None) -> dict:
    """The provenance of a table built now from ``inputs`` (score / summary JSON or snapshot CSV files): its own
    record and, per input that carries one, the input's commit, settings hash, seed and record digest."""
    cited = []
    for path in inputs:
        prov = read_provenance(path)
        if prov is not None and "table" in prov and "git_commit" not in prov:  # a table's: cite its own record
            prov = prov["table"]
        if prov is None:
            cited.append({"file": str(path), "provenance": None})
            continue
        cited.append({"file": str(path), "git_commit": prov.get("git_commit"),
                      "settings_sha256": prov.get("settings_sha256"), "seed": prov.get("seed"),
                      "provenance": digest(prov)})
    commits = sorted({c["git_commit"] for c in cited if c.get("git_commit")})
    return {"table": record(settings), "input_commits": commits, "inputs": cited}


def read_provenance(path: str | Path) -> dict | None:
    """The provenance record an output carries: inside a JSON file, or in the ``.provenance.json`` beside a CSV."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            return json.loads(path.read_text()).get("provenance")
        except (json.JSONDecodeError, AttributeError):
            return None
    side = sidecar(path)
    return read_json(side) if side.is_file() else None  # a damaged record is an error naming it


def sidecar(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".provenance.json")


def export_workflow_state(checkout: str | Path) -> None:
    """What every job of a workflow records (jobs inside containers see no .git): the checkout's commit and dirty flag,
    and the sha256 of the files their software was built from (pyproject.toml, whose extras are the pins, and the
    container definitions). Set as environment variables by the Snakefile, inherited by the jobs; values already set
    are kept."""
    checkout = Path(checkout)
    commit = _run(["git", "rev-parse", "HEAD"], cwd=str(checkout))
    if commit is not None:
        os.environ.setdefault("WEAKDRIVEN_GIT_COMMIT", commit)
        status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=str(checkout))
        os.environ.setdefault("WEAKDRIVEN_GIT_DIRTY", "1" if status else "0")
    files = sorted([checkout / "pyproject.toml", *checkout.glob("containers/*.def")])
    os.environ.setdefault("WEAKDRIVEN_ENV_FILES", json.dumps(
        {str(p.relative_to(checkout)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}))


def stamp(path: str | Path, settings: str | dict | None, seed: int | None) -> None:
    """Add this job's provenance record to a JSON output (a training summary); under a launcher, in the main process
    only (it alone writes the outputs)."""
    if os.environ.get("RANK", "0") != "0":
        return
    path = Path(path)
    data = json.loads(path.read_text())
    data["provenance"] = record(settings, seed)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def cite(out: str | Path, inputs: list[str], settings: str | dict | None) -> None:
    """``<table>.provenance.json`` beside a table: its own record and the provenance of every input it was built
    from."""
    write_sidecar(out, table_provenance(inputs, settings))


def write_sidecar(out: str | Path, provenance: dict) -> None:
    """``<table>.provenance.json`` beside ``out``, written atomically."""
    write_atomic(sidecar(out), json.dumps(provenance, indent=1))


def write_summary(path: str | Path, summary: dict, inputs: list[str | Path] = ()) -> None:
    """A data-preparation summary (counts per reason, sources) with its provenance record and the sha256 of each
    input file, written atomically."""
    digests = {str(f): file_sha256(f) for f in inputs}
    write_atomic(path, json.dumps({**summary, "inputs": digests, "provenance": record()}, indent=1, sort_keys=True))
