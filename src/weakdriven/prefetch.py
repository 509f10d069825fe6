"""Everything a run downloads, fetched once on a machine with internet (a login node) into the shared Hugging Face
cache and the benchmark directory; the jobs then read them with ``HF_HUB_OFFLINE=1`` and stop at once, naming the
missing file, when something was not prefetched.

    weakdriven prefetch --configfile config/config.yaml      # or: snakemake prefetch (a local rule)

Fetched: every hub backbone at its pinned revision (the files ``init_backbone`` copies), the training data's subset
files at the pinned dataset revision, LogiQA 2.0's raw splits at a pinned commit (ReClor's must be put in place by
hand), the logic distillation teacher at its pinned revision, and each configured benchmark from its pinned source
(``fetch_benchmark``; the sets without a direct download must already be in ``benchmark_dir``). Gated repositories
(Gemma-3) need a token that accepted the licence: ``export HF_TOKEN=...`` (or ``huggingface-cli login``) before
prefetching.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .benchmarks import BENCHMARKS, fetch_benchmark
from .checks import write_atomic
from .config import LOCAL_TEACHERS, Experiment, load_config
from .data.am import PAPER_SUBSETS, SUBSET_FILES
from .data.logic import fetch_raw

log = logging.getLogger(__name__)

BACKBONE_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]  # what init_backbone copies


@dataclass(frozen=True)
class Item:
    kind: str       # "backbone", "train_data", "benchmark", "logic_data" (raw splits) or "teacher" (a hub model)
    name: str
    repo: str       # hub repository, or the benchmark's source
    revision: str | None
    patterns: tuple[str, ...] = ()


def items(exp: Experiment) -> list[Item]:
    """What the experiment downloads: its hub backbones, hub training data and configured paper benchmarks."""
    out = [Item("backbone", b.name, b.hub_id, b.revision, tuple(BACKBONE_FILES))
           for b in exp.backbones if b.source == "hub"]
    td = exp.train_data
    if td.source == "hub":
        out.append(Item("train_data", "train_data", td.hub_id, td.revision,
                        tuple(SUBSET_FILES[s] for s in (td.subsets or PAPER_SUBSETS))))
    logic = exp.logic_data
    if logic is not None and logic.source == "url":
        out.append(Item("logic_data", "logic_data", "csitfun/LogiQA2.0 + ReClor", None))
    if logic is not None and logic.teacher.model.partition(":")[0] not in LOCAL_TEACHERS:
        out.append(Item("teacher", logic.teacher.model, logic.teacher.model, logic.teacher.revision,
                        tuple(BACKBONE_FILES)))
    wanted = sorted({b for spec in (*exp.tables.values(), *exp.trajectory_tables.values()) for b in spec.benchmarks}
                    | {b for spec in (exp.figure3, exp.figure5) if spec for b in spec.benchmarks})
    out += [Item("benchmark", b, BENCHMARKS[b].source.where if BENCHMARKS[b].source else "", None)
            for b in wanted if BENCHMARKS[b].file is not None]
    return out


def fetch(item: Item, benchmark_dir: str | Path, logic_dir: str | Path | None = None) -> str:
    """Download one item (a no-op when it is already in the cache); returns where it is."""
    if item.kind == "benchmark":
        return str(fetch_benchmark(item.name, benchmark_dir))
    if item.kind == "logic_data":
        return ", ".join(fetch_raw(logic_dir))
    from huggingface_hub import snapshot_download

    repo_type = "dataset" if item.kind == "train_data" else "model"
    path = Path(snapshot_download(item.repo, repo_type=repo_type, revision=item.revision,
                                  allow_patterns=list(item.patterns)))
    if item.kind in ("backbone", "teacher") and not (path / "config.json").is_file():
        raise FileNotFoundError(f"{item.repo}@{item.revision}: the snapshot has no config.json")
    if item.kind == "train_data":
        missing = [p for p in item.patterns if not (path / p).is_file()]
        if missing:
            raise FileNotFoundError(f"{item.repo}@{item.revision}: {missing} not in the snapshot")
    return str(path)


def prefetch(exp: Experiment) -> list[dict]:
    """Fetch every item; all are tried, then a failure of any is an error naming each one that is missing."""
    done, failed = [], []
    for item in items(exp):
        try:
            where = fetch(item, exp.benchmark_dir, exp.logic_data.path if exp.logic_data else None)
        except Exception as err:  # noqa: BLE001 - reported per item below, then raised together
            failed.append(f"{item.kind} {item.name} ({item.repo}{'@' + item.revision if item.revision else ''}): "
                          f"{type(err).__name__}: {err}")
            log.error("not fetched: %s", failed[-1])
            continue
        log.info("%s %s: %s", item.kind, item.name, where)
        done.append({"kind": item.kind, "name": item.name, "repo": item.repo, "revision": item.revision,
                     "path": where})
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(done) + len(failed)} downloads are missing (set HF_TOKEN for "
                           "gated repositories; put manual test sets into benchmark_dir):\n  " + "\n  ".join(failed))
    return done


def prefetch_to(exp: Experiment, record: str | Path, log_file: str | Path | None = None) -> None:
    """``prefetch`` then its record (JSON) at ``record``, written only when everything was fetched; the workflow's
    local rule. ``log_file`` receives the log."""
    import json


    handler = logging.FileHandler(log_file) if log_file else None
    if handler:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        done = prefetch(exp)
    finally:
        if handler:
            log.removeHandler(handler)
            handler.close()
    write_atomic(record, json.dumps({"experiment": exp.name, "items": done}, indent=1))


def prefetch_config(configfile: str, out: str) -> None:
    """Download every pinned backbone, the training data and the benchmarks of ``configfile`` (where there is
    internet), and record what is cached in ``out``."""

    exp = load_config(configfile)
    prefetch_to(exp, out)
    print(f"everything is in the cache (HF_HOME) and {exp.benchmark_dir}; jobs can run with HF_HUB_OFFLINE=1; "
          f"record: {out}")
