"""Table 11 (App. B.10): measured wall-clock training time per method after the shared SFT warm start, on one backbone
(the paper: Qwen3-4B-Base), beside its Math-Avg gain over SFT in Table 1.

The times are the jobs' own ``benchmark:`` records (``timings/…tsv``, Snakemake's wall-clock seconds), summed over
the jobs that make the run from its start models:

* SFT: its training job past the warm start, (E − 1)/E of the E-epoch job (M1 is its epoch 1);
* every other method: its training job, the data parts it generates before training (SPIN's answers, SSB's rollouts
  and teacher replies: "rollout-heavy methods include their own generation stages"), and for a method that trains on
  a WD-DS selection the entropy passes of its weak and strong models ("WMSS includes the WD-DS active schedule").

Like the paper's, these are implementation-level measurements on whatever the jobs ran on, not FLOP-normalized. The
WMSS row is labelled "WMSS (dedup WD-DS)" as the paper's when ``wmss.dedup`` is on (the paper timed the deduplicated
schedule); otherwise its cell is ours alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import paths
from ..methods import METHODS, Run, table_run
from .base import Inputs, Needs, Table
from .paper import TABLE1_COLUMNS
from .score_table import score_cells
from .table1 import labelled_table1

TIME, GAIN = "Total training time (min)", "Math-Avg Δ"


@dataclass(frozen=True)
class TimeTable:
    backbone: str
    methods: tuple[str, ...]
    benchmarks: tuple[str, ...]  # the math columns whose average gain over SFT is printed


def time_table(exp, name: str = "table11") -> TimeTable:
    raw = exp.raw["tables"][name]
    return TimeTable(raw["backbone"], tuple(raw["methods"]), tuple(raw["benchmarks"]))


def run_timings(exp, backbone: str, domain: str, seed: int, run: str) -> list[str]:
    """The timing records of the jobs that make ``run`` from its start models (see the module's docstring); for
    outer iteration t of Algorithm 1, those of iterations 1 .. t."""
    parsed = Run.parse(run)
    files = []
    while parsed is not None:
        files += [paths.train_timing(exp.name, backbone, domain, seed, parsed.name)]
        files += [paths.method_data_timing(exp.name, backbone, domain, seed, parsed.name, part.name)
                  for part in parsed.method.data_parts(parsed, exp)]
        if parsed.method.data == "wdds":
            shards = exp.wmss.entropy_shards
            for model in parsed.method.models(parsed, exp).values():
                which = paths.entropy_which(seed, model)
                files += [paths.entropy_timing(exp.name, backbone, domain, which, i, shards) for i in range(shards)]
        parsed = parsed.previous()
    return list(dict.fromkeys(files))


def read_seconds(path: str) -> float:
    """Wall-clock seconds of one Snakemake benchmark record (the mean of its repeats)."""
    frame = pd.read_csv(path, sep="\t")
    if "s" not in frame or frame.empty:
        raise ValueError(f"{path}: not a Snakemake benchmark record (no 's' column)")
    return float(frame["s"].mean())


class Table11(Table):
    schema = "time_table"

    def check(self, raw: dict[str, Any]) -> str | None:
        spec = raw["tables"][self.name]
        if "sft" not in spec["methods"]:
            return f"config key 'tables.{self.name}.methods': the gains are over SFT; list sft"
        return None

    def _runs(self, exp) -> dict[str, str]:
        spec = time_table(exp, self.name)
        return {m: table_run(exp, m, exp.wmss.lam) for m in spec.methods}

    def needs(self, exp) -> Needs:
        spec = time_table(exp, self.name)
        b, seed, protocol = spec.backbone, exp.seeds[0], exp.evaluation.protocol
        domain = exp.run_domain(spec.benchmarks[0])
        files = []
        for method, run in self._runs(exp).items():
            files += ([paths.sft_timing(exp.name, b, domain, seed)] if method == "sft"
                      else run_timings(exp, b, domain, seed, run))
        return Needs(scores=tuple((b, s, run, bench, protocol) for s in exp.seeds for run in self._runs(exp).values()
                                  for bench in spec.benchmarks),
                     files=tuple(dict.fromkeys(files)))

    def spec(self, exp) -> dict[str, Any]:
        spec = time_table(exp, self.name)
        b, seed = spec.backbone, exp.seeds[0]
        domain = exp.run_domain(spec.benchmarks[0])
        dedup = exp.wmss.dedup
        # [run, files] pairs in the config's method order (a stage's JSON sorts mapping keys)
        timings = [[run, [paths.sft_timing(exp.name, b, domain, seed)] if method == "sft"
                    else run_timings(exp, b, domain, seed, run)] for method, run in self._runs(exp).items()]
        return {"benchmarks": list(spec.benchmarks), "timings": timings,
                "labels": {run: (f"{METHODS[m].label} (dedup WD-DS)" if m == "wmss" and dedup else METHODS[m].label)
                           for m, run in self._runs(exp).items()},
                "sft_share": (exp.training.sft_epochs - 1) / exp.training.sft_epochs}

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        given = [Path(f).as_posix() for f in data.files]

        def find(wanted: str) -> str:  # the given file of a needed path (the job may see it under another root)
            hits = [f for f in given if f == wanted or f.endswith("/" + wanted)]
            if len(hits) != 1:
                raise ValueError(f"table11: the timing record {wanted} was not given (or given {len(hits)} times)")
            return hits[0]

        rows = []
        scores = data.scores.assign(label=data.scores["run"].map(spec["labels"]))
        means = scores.groupby(["label", "benchmark"])["accuracy_pct"].mean().unstack()[spec["benchmarks"]]
        math_avg = means.mean(axis=1).round(1)
        sft = spec["labels"]["sft"]
        for run, files in spec["timings"]:
            seconds = sum(read_seconds(find(f)) for f in files) * (spec["sft_share"] if run == "sft" else 1.0)
            label = spec["labels"][run]
            rows.append({"group": "", "row": label, TIME: round(seconds / 60), GAIN:
                         None if label == sft else round(float(math_avg[label] - math_avg[sft]), 1)})
        return pd.DataFrame(rows, columns=["group", "row", TIME, GAIN])

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        """The Math-Avg gain's records (paired with SFT's): the times have no interval."""
        scores = data.scores
        labelled = labelled_table1(scores, False).assign(group="", row=scores["run"].map(spec["labels"]))
        cols = [TABLE1_COLUMNS.get(b, b) for b in spec["benchmarks"]]
        cells = score_cells(labelled, {"Math-Avg": cols}, spec["labels"]["sft"])
        return cells[cells["column"] == "Math-Avg Δ"]


TABLE = Table11("table11", "measured training time after the SFT warm start")
