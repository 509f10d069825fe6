"""GPU-hours of the jobs a target still needs, before launching it: `weakdriven cost TARGET ...`.

The job list is Snakemake's own dry-run (only jobs whose outputs are missing or outdated appear). Each job is priced
from the config's ``cost`` section, calibrated on the paper's Table 11: one SFT epoch over the 111,657-row training set
on Qwen3-4B-Base took 4h30m on 8 GPUs (36 GPU-hours). Training scales with the backbone's parameters and the rows;
a mixed-logit stage runs two models (``mixed_loss_factor``); the WD-DS entropy pass is a forward pass
(``forward_fraction`` of an epoch); generation is priced per sample at 4B, scaled: benchmark answers at
``gpu_seconds_per_sample``, a method's generation phase on training prompts at ``training_gpu_seconds_per_sample``
(calibrated with ``preference_loss_factor`` on Table 11's SPIN and SSB times).
These are estimates for planning, not measurements.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .benchmarks import BENCHMARKS
from .cluster import job_gpus, train_nodes
from .config import Experiment, load_config
from .data.logic import RELEASE_ROWS as LOGIC_ROWS
from .methods import Run
from .methods.base import full_rows
from .tables import generation_plan

_JOB = re.compile(r"^(?:local)?rule (\w+):\n((?:    .*\n?)*)", re.M)


@dataclass(frozen=True)
class Job:
    rule: str
    wildcards: dict[str, str]


def dry_run_jobs(targets: list[str], configfile: str | None, workdir: str | Path = ".") -> list[Job]:
    """The jobs Snakemake would run for ``targets`` (a dry-run of the workflow in ``workdir``)."""
    beside = Path(sys.executable).parent / "snakemake"  # the environment's own snakemake, even if not on PATH
    cmd = [str(beside) if beside.is_file() else "snakemake", "-n", *targets]
    if configfile:
        cmd += ["--configfile", configfile]
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"snakemake dry-run failed:\n{result.stderr[-3000:]}")
    return parse_jobs(result.stdout)


def parse_jobs(dry_run: str) -> list[Job]:
    jobs = []
    for match in _JOB.finditer(dry_run):
        wildcards = {}
        for line in match[2].splitlines():
            if line.strip().startswith("wildcards:"):
                wildcards = dict(part.split("=", 1) for part in line.split(":", 1)[1].strip().split(", "))
        jobs.append(Job(match[1], wildcards))
    return jobs


def _benchmark_rows(name: str) -> int:
    return BENCHMARKS[name].rows or 50


_PLANS: dict[int, tuple[Experiment, dict]] = {}


def _generation_plan(exp: Experiment) -> dict:
    """tables.generation_plan, once per experiment (every generate job's run time asks for it)."""
    if id(exp) not in _PLANS:
        _PLANS[id(exp)] = (exp, generation_plan(exp))  # the experiment is kept so that its id is not reused
    return _PLANS[id(exp)][1]


def job_gpu_hours(job: Job, exp: Experiment) -> float:
    """Estimated GPU-hours of one job (0 for CPU-only rules)."""
    c = exp.raw["cost"]
    wc = job.wildcards
    if job.rule == "logic_distill":  # one thinking answer of the teacher per candidate of the shard
        # the candidates are known once their job ran: the splits' release sizes stand in
        prompts = sum(LOGIC_ROWS.get(s, 0) for s in exp.logic_data.splits) / exp.logic_data.shards
        return prompts * c.get("teacher_gpu_seconds_per_sample", 8.0) / 3600
    if "backbone" not in wc:
        return 0.0
    size = exp.backbone(wc["backbone"]).params_b / c["reference_params_b"]
    domain = wc.get("domain", exp.primary_domain)  # init_backbone has none (and costs nothing here)
    rows = full_rows(exp, domain)
    epoch = c["gpu_hours_per_epoch"] * size * rows / c["reference_rows"]
    if job.rule == "sft":
        return exp.training.sft_epochs * epoch
    if job.rule == "sft_m1":
        return epoch
    if job.rule == "train":
        method = Run.parse(wc["run"]).method
        return method.epochs(exp) * epoch * method.cost_factor(exp, domain)
    if job.rule == "entropy_shard":
        return epoch * c["forward_fraction"] / exp.wmss.entropy_shards
    if job.rule in ("generate", "eval_snapshots"):
        protocol = wc.get("protocol", exp.evaluation.protocol)
        benchmarks = (wc["benchmark"],) if "benchmark" in wc else _generation_plan(exp).get(
            (wc["backbone"], domain, str(wc["seed"]), wc["run"], protocol), ())
        samples = sum(_benchmark_rows(b) for b in benchmarks) * exp.evaluation.protocols[protocol].n
        models = len(exp.trajectory.checkpoints) if job.rule == "eval_snapshots" else 1
        return samples * models * c["gpu_seconds_per_sample"] * size / 3600
    if job.rule == "method_data":  # a method's generation phase: its samples per prompt of its subsample
        run = Run.parse(wc["run"])
        part = next(p for p in run.method.data_parts(run, exp) if p.name == wc["part"])
        prompts = min(part.subsample or rows, rows)
        return prompts * part.samples * c["training_gpu_seconds_per_sample"] * size / 3600
    if job.rule == "logit_stats":
        return c["gpu_hours_per_diagnostics"] * size
    return 0.0


def cost_table(jobs: list[Job], exp: Experiment):
    """Per rule: jobs and GPU-hours (a pandas frame), sorted by GPU-hours, with a total row."""
    import pandas as pd

    per_rule: dict[str, list[float]] = defaultdict(list)
    for job in jobs:
        per_rule[job.rule].append(job_gpu_hours(job, exp))
    rows = [{"rule": rule, "jobs": len(hours), "gpu_hours": round(sum(hours), 2)} for rule, hours in per_rule.items()]
    table = pd.DataFrame(rows, columns=["rule", "jobs", "gpu_hours"]).sort_values("gpu_hours", ascending=False)
    total = {"rule": "total", "jobs": int(table.jobs.sum()), "gpu_hours": round(float(table.gpu_hours.sum()), 2)}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def job_runtime_minutes(exp: Experiment, rule: str, wildcards: dict, attempt: int = 1) -> int:
    """Minutes a job asks for: its estimated GPU-hours over its GPUs, times cluster.runtime_safety and the attempt
    (a retried job asks for more); at least 30."""

    hours = job_gpu_hours(Job(rule, dict(wildcards)), exp) / max(1, job_gpus(exp, rule) * train_nodes(exp, rule))
    return max(30, math.ceil(hours * 60 * exp.raw["cluster"]["runtime_safety"] * attempt))


def print_cost(targets: list[str], configfile: str | None) -> None:
    """The jobs ``targets`` still need and their estimated GPU-hours (config section ``cost``)."""

    path = configfile or "config/config.yaml"
    exp = load_config(path)
    table = cost_table(dry_run_jobs(targets, configfile), exp)
    print(table.to_string(index=False))
    total = table.iloc[-1]
    print(f"{', '.join(targets) or 'all'}: {total.jobs} jobs not done yet, {total.gpu_hours:.1f} GPU-hours "
          f"(estimate from {path}: cost)")
