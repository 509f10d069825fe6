"""Figure 5: the weak side's checkpoint (strong fixed at M1): entropy separation and accuracy after training."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..methods import METHODS, Run
from .base import Inputs, Needs, Table, record_cells, sorted_by_checkpoint
from .paper import BACKBONE_LABELS


def weak_label(weak: str) -> str:
    """The paper's label of a weak side: "base" or "ck-<step>"."""
    return weak if weak == "base" else f"ck-{weak.removeprefix('ck')}"


def build_figure5(gaps: pd.DataFrame, scores: pd.DataFrame, benchmarks: list[str]) -> pd.DataFrame:
    """Figure 5 data: per weak-side checkpoint (strong fixed at M1), the entropy separation
    ΔH = mean_i [H_weak(i) - H_strong(i)] over the training set and the accuracy (fraction) after training the pair."""
    scores = scores.assign(weak=scores["run"].map(lambda r: Run.parse(r).weak))
    wide = scores[scores.benchmark.isin(benchmarks)].pivot_table(index=["backbone", "weak"], columns="benchmark",
                                                                  values="accuracy", aggfunc="mean")
    gap = gaps.groupby(["backbone", "weak"])["delta_h_mean"].mean().rename("ΔH (weak − strong)")
    wide = pd.concat([gap, wide.reindex(columns=benchmarks)], axis=1).reset_index()
    wide.insert(0, "group", wide.pop("backbone").map(lambda b: BACKBONE_LABELS.get(b, b)))
    wide.insert(1, "row", wide.pop("weak").map(weak_label))
    return sorted_by_checkpoint(wide).round(4)


def figure5_run(exp, weak: str) -> str:
    m = METHODS[exp.figure5.method]
    return Run(m, exp.wmss.lam if m.uses_lambda else None, weak=weak).name


class Figure5(Table):
    schema = "figure5_table"

    def check(self, raw: dict[str, Any]) -> str | None:
        checkpoints = raw["trajectory"]["checkpoints"]
        for i, weak in enumerate(raw["tables"][self.name]["weak"]):
            if weak != "base" and weak not in checkpoints:
                return (f"config key 'tables.{self.name}.weak.{i}': {weak!r} is not one of 'trajectory.checkpoints' "
                        f"{list(checkpoints)}")
        return None

    def configured(self, exp) -> bool:
        return exp.figure5 is not None

    def needs(self, exp) -> Needs:
        spec = exp.figure5
        keys = [(b, s) for b in spec.backbones for s in exp.seeds]
        protocol = exp.evaluation.protocol
        return Needs(
            scores=tuple((b, s, figure5_run(exp, w), bench, protocol) for b, s in keys for w in spec.weak
                         for bench in spec.benchmarks),
            gaps=tuple((b, s, w) for b, s in keys for w in spec.weak),
        )

    def spec(self, exp) -> dict[str, Any]:
        return {"benchmarks": list(exp.figure5.benchmarks)}

    def plot(self, wide: pd.DataFrame, reported: pd.DataFrame, fig) -> bool:
        """Left: the entropy separation per weak side; right: accuracy after training each pair, the paper's stated
        points (ck-200, Sec. 6.6) as open markers."""
        gap_ax, acc_ax = fig.subplots(1, 2)
        benchmarks = [c for c in wide.columns if c not in ("group", "row", "ΔH (weak − strong)")]
        for group, block in wide.groupby("group"):
            gap_ax.plot(block["row"], block["ΔH (weak − strong)"], marker="o", label=group)
            for bench in benchmarks:
                acc_ax.plot(block["row"], block[bench], marker="o", label=f"{group} {bench}")
        for r in reported.itertuples():
            acc_ax.plot([r.row], [r.value], marker="s", mfc="none", ms=9, ls="none", label=f"paper {r.column}")
        gap_ax.set_ylabel("ΔH = H(weak) − H(strong)")
        acc_ax.set_ylabel("accuracy")
        for ax in (gap_ax, acc_ax):
            ax.set_xlabel("weak side")
            ax.legend(fontsize=7)
        return True

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return build_figure5(data.gaps, data.scores, spec["benchmarks"])

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        """The accuracy cells (fractions) from their score records; the entropy separation has no interval."""
        scores = data.scores[data.scores.benchmark.isin(spec["benchmarks"])]
        weak = scores["run"].map(lambda r: Run.parse(r).weak)
        return record_cells(scores.assign(group=scores.backbone.map(lambda b: BACKBONE_LABELS.get(b, b)),
                                          row=weak.map(weak_label), column=scores.benchmark), scale=1.0)


TABLE = Figure5("figure5", "weak-side sweep: entropy separation and accuracy")
