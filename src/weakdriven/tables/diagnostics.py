"""Tables 6 and 7 (App. B.4): the logit statistics the ``logit_stats`` job writes per diagnostics backbone; the
table shows the first diagnostics backbone's (first seed), as the paper shows Qwen3-4B-Base's.

The layout lives here, without torch: the job (weakdriven.diagnostics) fills it from its models' statistics, and the
table's cells carry each example's share of every statistic (``logit_examples.csv``), from which the diff
bootstraps the examples (tables/verdicts.py: ``logit_interval``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .. import paths
from .base import CELL_COLUMNS, Inputs, Needs, Table

EXTREMES = ("max", "min")  # statistics that are extremes over the positions; the others are means over them
TABLE6_ROWS = {"target": "Target Strength (z_target)", "distractor_mean": "Distractors Mean (z_bg)",
               "gap": "Target-to-Background Gap (Δ_gap)", "std": "Logit Std. (σ)"}
TABLE7_ROWS = {"mean": "Mean logit z_mean", "std": "Std σ", "centered_norm": "Centered norm ‖z̃‖₂",
               "max": "Max logit z_max", "min": "Min logit z_min", "l2_norm": "L2 norm ‖z‖₂", "entropy": "Entropy H",
               "max_prob": "Max prob p_max"}
# column -> (model, baseline model, how the two combine): value, difference, relative (% of the baseline),
# relative_abs (% of the baseline's magnitude, Table 6's "WMSS vs SFT")
TABLE6_COLUMNS = {"SFT": ("sft", None, "value"), "WMSS": ("wmss", None, "value"),
                  "WMSS vs SFT (%)": ("wmss", "sft", "relative_abs")}
TABLE7_COLUMNS = {"Weak init": ("weak_init", None, "value"), "Strong Pre": ("strong_pre", None, "value"),
                  "Strong Post": ("strong_post", None, "value"), "Δ": ("strong_post", "strong_pre", "difference"),
                  "Δ (%)": ("strong_post", "strong_pre", "relative")}
LAYOUTS = {"table6": (TABLE6_ROWS, TABLE6_COLUMNS), "table7": (TABLE7_ROWS, TABLE7_COLUMNS)}


def combine(value: float, base: float | None, how: str) -> float:
    if how == "value":
        return value
    if how == "difference":
        return value - base
    return 100 * (value - base) / (abs(base) if how == "relative_abs" else base)


def logit_table(table: str, stats: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Table 6 or 7 in the paper's layout from each model's statistics (``stats[model][statistic]``): values to two
    decimals, percentages to one."""
    rows, columns = LAYOUTS[table]
    out = []
    for key, label in rows.items():
        row = {"group": "", "row": label}
        for column, (model, base, how) in columns.items():
            value = combine(stats[model][key], stats[base][key] if base else None, how)
            row[column] = round(value, 1 if how.startswith("relative") else 2)
        out.append(row)
    return pd.DataFrame(out)


def table6(sft: dict[str, float], wmss: dict[str, float]) -> pd.DataFrame:
    """Table 6 layout: SFT vs WMSS, with WMSS's relative change in percent."""
    return logit_table("table6", {"sft": sft, "wmss": wmss})


def table7(weak: dict[str, float], pre: dict[str, float], post: dict[str, float]) -> pd.DataFrame:
    """Table 7 layout: weak init, strong pre/post WD-JT, Delta = post - pre and Delta / pre in percent."""
    return logit_table("table7", {"weak_init": weak, "strong_pre": pre, "strong_post": post})


def example_parts(examples: pd.DataFrame, model: str, key: str) -> dict[str, list[float] | float]:
    """One model's statistic per example: [sum over its positions, positions] for a mean, the extreme for z_max and
    z_min (``logit_examples.csv``: one row per model and example)."""
    rows = examples[examples["model"] == model]
    if rows.empty:
        raise ValueError(f"logit_examples.csv has no rows of model {model!r}")
    if key in EXTREMES:
        return {str(e): float(v) for e, v in zip(rows["example"], rows[key], strict=True)}
    return {str(e): [float(v), int(p)] for e, v, p in zip(rows["example"], rows[key], rows["positions"], strict=True)}


def logit_cells(table: str, examples: pd.DataFrame) -> pd.DataFrame:
    """The cells of Table 6 or 7 with each example's share of their statistic: side measured (the column's model)
    and baseline (the model a Δ or % column compares with); ``statistic`` "logit <mean|max|min> <how>"."""
    rows, columns = LAYOUTS[table]
    cells = []
    for key, label in rows.items():
        agg = key if key in EXTREMES else "mean"
        for column, (model, base, how) in columns.items():
            for side, name in (("measured", model), ("baseline", base)):
                if name is None:
                    continue
                parts = example_parts(examples, name, key)
                cells.append({"group": "", "row": label, "column": column, "side": side, "run": name,
                              "problems": len(parts), "outcomes": json.dumps(parts, sort_keys=True), "scale": 1.0,
                              "statistic": f"logit {agg} {how}"})
    return pd.DataFrame(cells).reindex(columns=CELL_COLUMNS)


class DiagnosticsTable(Table):
    def configured(self, exp) -> bool:
        return bool(exp.diagnostics_backbones)

    def needs(self, exp) -> Needs:
        backbone = exp.diagnostics_backbones[0]
        return Needs(files=tuple(paths.diagnostics(exp.name, backbone, exp.primary_domain, exp.seeds[0], name)
                                 for name in (f"{self.name}.csv", "logit_examples.csv")))

    def spec(self, exp) -> dict[str, Any]:
        return {}

    def _file(self, data: Inputs, name: str) -> str:
        (path,) = [f for f in data.files if Path(f).name == name]
        return path

    def build(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return pd.read_csv(self._file(data, f"{self.name}.csv"), keep_default_na=False,
                           dtype={"group": str, "row": str})

    def cells(self, data: Inputs, spec: dict[str, Any]) -> pd.DataFrame:
        return logit_cells(self.name, pd.read_csv(self._file(data, "logit_examples.csv")))
