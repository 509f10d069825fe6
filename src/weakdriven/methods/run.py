"""The training stages the rules run: SFT (which also writes M1 and Figure 5's snapshots) and the generic ``train``
stage, which hands one run of any method plug-in its start models, data and settings."""

from __future__ import annotations

import json
from pathlib import Path

from ..checks import read_json
from ..data.gemma import training_examples
from ..data.subsample import read_subsample
from ..provenance import stamp
from ..stages import MethodDataStage, SftStage, TrainStage
from . import DataJob, Run, TrainJob
from .sft import run_sft
from .wdds import resolve_active


def refuse_overwrite(path: str | Path) -> None:
    if Path(path).exists():
        raise FileExistsError(f"{path} exists; remove it (or let Snakemake rerun the rule) rather than overwrite it")


def keep_snapshots(stage: SftStage | TrainStage, snapshots_out: str | None, n_rows: int):
    """The relative checkpoints (the stage's ``snapshots`` labels) a run keeps under ``snapshots_out``; the labels
    count steps of a full-data epoch."""
    from ..training import Keep, relative_checkpoint_steps

    if not snapshots_out:
        return Keep()
    refuse_overwrite(snapshots_out)
    steps = relative_checkpoint_steps(list(stage.snapshots), n_rows, stage.training.global_batch_size,
                                      stage.reference_epoch_steps)
    return Keep(steps=steps, snapshots_out=snapshots_out)


def train_sft(stage: SftStage, base: str, data: str, out: str, m1_out: str | None = None,
              snapshots_out: str | None = None) -> None:
    """SFT of M0 (Eq. 1); with ``m1_out`` its epoch-1 checkpoint is M1."""

    examples = training_examples(data, stage.prompt.family)
    run_sft(base, examples, stage.prompt.system_prompt, stage.training, out, m1_out=m1_out,
            snapshots=keep_snapshots(stage, snapshots_out, len(examples)))
    stamp(Path(out) / "train_summary.json", stage.to_json(), stage.training.seed)
    from ..training import release_process_group  # torch

    release_process_group()


def parse_parts(values: list[str]) -> dict[str, str]:
    """``name=path`` arguments (a method's data parts) as a dict; a malformed or repeated name is an error."""
    parts = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name or not path or name in parts:
            raise ValueError(f"--parts {value!r}: expected distinct name=path")
        parts[name] = path
    return parts


def method_data(stage: MethodDataStage, model: str, data: str, out: str, subsample: str | None = None,
                parts: list[str] | None = None) -> None:
    """One data part of a run (``Method.data_parts``), made from ``model`` on the subsample's prompts (or all rows)
    and the run's earlier parts it reads (``parts``: name=path); its counts go to ``<out>.summary.json`` with the
    job's provenance."""
    refuse_overwrite(out)
    run = Run.parse(stage.run)
    examples = training_examples(data, stage.prompt.family)
    if subsample:
        examples = read_subsample(subsample, examples)
    job = DataJob(run=run, model=model, examples=examples, stage=stage, out=out, parts=parse_parts(parts))
    summary = run.method.make_data(stage.part, job)
    record = Path(out).with_suffix(".summary.json")
    record.write_text(json.dumps(summary, indent=1, sort_keys=True))
    stamp(record, stage.to_json(), stage.seed)


def train_run(stage: TrainStage, strong: str, data: str, out: str, weak: str | None = None,
              active: str | None = None, snapshots_out: str | None = None, parts: list[str] | None = None) -> None:
    """One run of a method plug-in from the start models the workflow resolved for it."""
    run = Run.parse(stage.run)
    examples = training_examples(data, stage.prompt.family)
    keep = keep_snapshots(stage, snapshots_out, len(examples))  # ck labels count steps of a full-data epoch
    if run.method.data == "wdds":
        if not active:
            raise ValueError(f"run {stage.run} trains on the WD-DS active set: pass --active")
        examples = resolve_active(examples, read_json(active)["ids"], active)
    if run.method.loss == "mixed" and not weak:
        raise ValueError(f"run {stage.run} trains a weak/strong pair: pass --weak")
    job = TrainJob(run=run, strong=strong, weak=weak, examples=examples, system_prompt=stage.prompt.system_prompt,
                   settings=stage.training, out=out, keep=keep, options=dict(stage.options),
                   parts=parse_parts(parts))
    run.method.train(job)
    stamp(Path(out) / "train_summary.json", stage.to_json(), stage.training.seed)
    from ..training import release_process_group  # torch

    release_process_group()
