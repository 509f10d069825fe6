"""Figure 4 (Sec. 6.5): accuracy along optimizer steps with and without WD-DS, from the shared initialization."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..methods import M1
from .base import Inputs, Needs, exact_cells, record_cells
from .paper import BACKBONE_LABELS
from .table3 import TrajectoryTable

LABELS = {"wdjt_only": "w/o WD-DS", "wmss": "w/ WD-DS"}   # Sec. 6.5
INIT, SFT = "shared initialization", "SFT"               # step 0 (M1), and the figure's SFT reference line
PAPER_BATCH = 512  # App. E.5: the paper's steps are batches of 512 (218 = one epoch of 111,657 rows)
FRACTION = "active fraction (%)"


def schedule_differences(global_batch_size: int, dedup: bool) -> dict[str, str]:
    """Why this config's step counts are not the paper's quantities, by the cells they concern ("steps", the WD-DS
    variant's steps and the active fraction); empty under the paper's schedule (batch 512, duplicate draws removed)."""
    out = {}
    if global_batch_size != PAPER_BATCH:
        out["steps"] = (f"steps of {global_batch_size} rows (training.global_batch_size); the paper counts batches "
                        f"of {PAPER_BATCH} (App. E.5)")
    if not dedup:
        out["dedup"] = ("the WD-DS schedule keeps duplicate draws (wmss.dedup: false); the paper's 123 steps and 56 % "
                        "drop them (Sec. 6.5)")
    return out


def labelled_figure4(snaps: pd.DataFrame, scores: pd.DataFrame, methods: list[str],
                     benchmarks: list[str]) -> pd.DataFrame:
    """The records behind Figure 4 with their cell: group = backbone, row = the shared initialization (M1's scores,
    step 0), the SFT reference (the SFT run's final model) or a variant's checkpoint, column = benchmark."""
    scores = scores[scores.benchmark.isin(benchmarks)]
    init = scores[scores.run == M1].assign(row=INIT, steps=0, checkpoint="final")
    sft = scores[scores.run == "sft"].assign(row=SFT, steps=np.nan, checkpoint="final")  # not on the variants' axis
    df = snaps[snaps.method.isin(methods) & snaps.benchmark.isin(benchmarks)]
    rows = [LABELS[m] if c == "final" else f"{LABELS[m]} ck-{c.removeprefix('ck')}"
            for m, c in zip(df.method, df.checkpoint, strict=True)]
    df = df.assign(row=rows, steps=df.step)
    out = pd.concat([init, sft, df], ignore_index=True)
    return out.assign(group=out.backbone.map(lambda b: BACKBONE_LABELS.get(b, b)), column=out.benchmark)


def build_figure4(snaps: pd.DataFrame, scores: pd.DataFrame, methods: list[str], benchmarks: list[str]
                  ) -> pd.DataFrame:
    """Figure 4 data: accuracy (fraction, as the paper's text) along optimizer steps from the shared initialization
    (M1, step 0) for each variant, the SFT reference, their Avg. (the figure's y axis), and the active-step fraction
    of the WD-DS variant (123 / 218 there); each a mean over the seeds."""
    df = labelled_figure4(snaps, scores, methods, benchmarks)
    wide = df.pivot_table(index=["group", "row"], columns="column", values="accuracy", aggfunc="mean")
    wide = wide.reindex(columns=benchmarks)
    wide["Avg."] = wide[benchmarks].mean(axis=1)
    wide.insert(0, "steps", df.groupby(["group", "row"])["steps"].mean())
    wide = wide.reset_index()
    wide.columns.name = None
    if {"wdjt_only", "wmss"} <= set(methods):
        finals = wide.set_index(["group", "row"])["steps"]
        fraction = {g: 100 * finals.get((g, LABELS["wmss"]), np.nan) / finals.get((g, LABELS["wdjt_only"]), np.nan)
                    for g in wide.group.unique()}
        is_final = wide.row == LABELS["wmss"]
        wide.loc[is_final, FRACTION] = wide.loc[is_final, "group"].map(fraction)
    wide = wide.sort_values(["group", "steps", "row"], na_position="last").reset_index(drop=True)
    if (wide["steps"].dropna() % 1 == 0).all():  # counts print as counts (a mean over seeds may not be one)
        wide["steps"] = wide["steps"].astype("Int64")
    return wide.round({b: 3 for b in benchmarks} | {"Avg.": 3, FRACTION: 1})


class Figure4(TrajectoryTable):
    def spec(self, exp) -> dict[str, Any]:
        return super().spec(exp) | {"global_batch_size": exp.training.global_batch_size, "dedup": exp.wmss.dedup}

    def needs(self, exp) -> Needs:
        spec = exp.trajectory_tables[self.name]
        protocol = exp.evaluation.protocol  # step 0: the shared initialization M1's scores
        # step 0: the shared initialization M1's scores; the SFT reference: the SFT run's final model's
        scored = tuple((b, s, run, bench, protocol) for run in (M1, "sft")
                       for b in spec.backbones for s in exp.seeds for bench in spec.benchmarks)
        return Needs(scores=scored, snapshots=super().needs(exp).snapshots)

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        """Every accuracy cell (fractions) and each row's Avg. from the records behind them; the steps and the active
        fraction are the runs' own counts."""
        df = labelled_figure4(data.snapshots, data.scores, spec["methods"], spec["benchmarks"])
        wide = self.build(data, spec)
        # the runs' own step counts and their ratio: exact for one seed (with several, a mean: no interval); a count
        # of another schedule than the paper's is another quantity, whatever the seeds (schedule_differences)
        one_seed = df.groupby(["group", "row"])["seed"].nunique().max() == 1
        differ = schedule_differences(spec["global_batch_size"], spec["dedup"])
        wdds = wide["row"].str.startswith(LABELS["wmss"])
        parts = [record_cells(df, scale=1.0), record_cells(df.assign(column="Avg."), scale=1.0)]

        def counts(rows: pd.Series, column: str, reasons: tuple[str, ...]) -> pd.DataFrame | None:
            why = "; ".join(differ[r] for r in reasons if r in differ)
            return exact_cells(wide[rows], [column], why) if why or one_seed else None

        if "steps" in wide:
            parts += [counts(~wdds, "steps", ("steps",)), counts(wdds, "steps", ("steps", "dedup"))]
        if FRACTION in wide:
            parts.append(counts(wdds, FRACTION, ("dedup",)))
        return pd.concat([p for p in parts if p is not None], ignore_index=True)

    def plot(self, wide: pd.DataFrame, reported: pd.DataFrame, fig) -> bool:
        """Accuracy along optimizer steps, one panel per benchmark and one for their Avg. (the paper's y axis), a line
        per variant from the shared initialization, the SFT reference dashed; the paper's stated points (Sec. 6.5)
        as open markers at its own steps."""
        benchmarks = [c for c in wide.columns if c not in ("group", "row", "steps", "Avg.", FRACTION)]
        panels = [*benchmarks, "Avg."]
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        paper = reported.pivot_table(index="row", columns="column", values="value", aggfunc="first")
        if set(benchmarks) <= set(paper.columns):
            paper["Avg."] = paper[benchmarks].mean(axis=1)
        for ax, column in zip(axes, panels, strict=True):
            for group, block in wide.groupby("group", sort=False):
                start = block[block.row == INIT]
                for label in LABELS.values():
                    line = pd.concat([start, block[block.row.str.startswith(label)]]).sort_values("steps")
                    if len(line) > len(start):
                        ax.plot(line["steps"], line[column], marker="o", label=f"{group} {label}".strip())
                sft = block[block.row == SFT]
                if len(sft):
                    ax.axhline(sft[column].iloc[0], ls="--", color="grey", label=f"{group} {SFT}".strip())
            for label in LABELS.values():
                if label in paper.index and column in paper.columns and INIT in paper.index:
                    ax.plot([0, paper.loc[label, "steps"]], [paper.loc[INIT, column], paper.loc[label, column]],
                            ls=":", marker="s", mfc="none", label=f"{label} (paper, batch {PAPER_BATCH})")
            ax.set_title(column)
            ax.set_xlabel("optimizer steps")
            ax.set_ylabel("accuracy")
            ax.legend(fontsize=7)
        return True

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return build_figure4(data.snapshots, data.scores, spec["methods"], spec["benchmarks"])


TABLE = Figure4("figure4", "accuracy along optimizer steps")
