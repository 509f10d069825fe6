"""The paper's printed numbers (reported/<table>.csv, one value per row), its labels, and its own averages
re-computed from its cells."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

SOURCE = "arXiv:2602.08222v2"
REPORTED_TABLES = tuple(f"table{i}" for i in range(1, 13)) + ("figure4", "figure5")

# Paper labels of the harness's names.
BACKBONE_LABELS = {"qwen3-4b-base": "Qwen3-4B-Base", "qwen3-8b-base": "Qwen3-8B-Base", "qwen2.5-3b": "Qwen2.5-3B",
                   "gemma-3-4b-pt": "Gemma-3-4B-PT"}
TABLE1_COLUMNS = {"AQuA": "AQUA", "HumanEval+": "HE+", "BigCodeBench": "BCB", "LiveCodeBench": "LCB"}  # as printed
TABLE2_COLUMNS = {"AIME2025": "AIME", "MATH500": "MATH"}    # Table 2 abbreviates
TABLE2_ROWS = {"sft": "Baseline"}                           # Table 2 calls the SFT row "Baseline"
MATH_TABLE1 = ("AIME2025", "MATH500", "AMC23", "AQUA", "GSM8K", "MAWPS", "SVAMP")
CODE_TABLE1 = ("HE+", "MBPP+", "BCB", "LCB")


def reported_numbers(table: str) -> pd.DataFrame:
    """The paper's reported values of ``table`` ("table1" ... "table12", "figure4", "figure5"): one value per row.

    Columns: table, group (the backbone block or benchmark block, "" if none), row, column, value, decimals (the
    digits printed after the point), source.
    Labels are as the paper prints them. Cells printed as "-" (no value) are absent.
    """
    if table not in REPORTED_TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {REPORTED_TABLES}")
    with resources.files(__package__).joinpath("reported", f"{table}.csv").open() as fh:
        df = pd.read_csv(fh, dtype={"group": str, "row": str, "column": str, "value": str}, keep_default_na=False)
    # the digits the paper prints after the point: a printed value stands for +- half a unit of its last digit
    df["decimals"] = [len(v.partition(".")[2]) for v in df["value"]]
    df["value"] = df["value"].astype(float)
    df.insert(0, "table", table)
    df["source"] = f"{SOURCE} {table.replace('table', 'Table ').replace('figure', 'Figure ')}"
    return df


def _avg_checks(df: pd.DataFrame, parts: tuple[str, ...], avg_col: str, pivot_on: str = "column") -> list[dict]:
    out = []
    key = "row" if pivot_on == "column" else "column"
    for (group, label), cells in df.groupby(["group", key]):
        values = dict(zip(cells[pivot_on], cells["value"], strict=True))
        if avg_col not in values or not all(p in values for p in parts):
            continue
        recomputed = float(np.mean([values[p] for p in parts]))
        # Printed cells carry 1 decimal: their mean is within 0.05 of the exact mean, the printed avg within 0.05 more.
        delta = values[avg_col] - recomputed
        out.append({"group": group, "row": label, "column": avg_col, "reported": values[avg_col],
                    "recomputed": round(recomputed, 3), "delta": round(delta, 3),
                    "consistent": bool(abs(delta) <= 0.1 + 1e-9)})
    return out


def average_consistency() -> pd.DataFrame:
    """Re-compute every average the paper prints from its own cells; ``consistent`` is False beyond rounding."""
    rows = []
    t1 = reported_numbers("table1")
    rows += [dict(r, table="table1") for r in _avg_checks(t1, MATH_TABLE1, "Math Avg.")]
    rows += [dict(r, table="table1") for r in _avg_checks(t1, CODE_TABLE1, "Code Avg.")]
    t4 = reported_numbers("table4")
    rows += [dict(r, table="table4") for r in _avg_checks(t4, ("MATH500", "AMC23", "AQUA", "GSM8K", "MAWPS", "SVAMP"),
                                                          "Math Avg.")]
    rows += [dict(r, table="table4") for r in _avg_checks(t4, CODE_TABLE1, "Code Avg.")]
    rows += [dict(r, table="table5") for r in _avg_checks(reported_numbers("table5"), ("LogiQA2", "ReClor"), "Avg.")]
    rows += [dict(r, table="table2") for r in _avg_checks(reported_numbers("table2"), ("AIME", "MATH", "GSM8K"),
                                                          "Avg.")]
    t9 = reported_numbers("table9")
    rows += [dict(r, table="table9")
             for r in _avg_checks(t9, ("AIME25", "MATH500", "AQUA", "GSM8K", "MAWPS", "SVAMP"), "Avg.", "row")]
    # Table 1's printed gains over SFT ("Math Avg. Δ", "Code Avg. Δ").
    for (group, label), cells in t1.groupby(["group", "row"]):
        values = dict(zip(cells["column"], cells["value"], strict=True))
        sft = t1[(t1.group == group) & (t1.row == "SFT")].set_index("column")["value"]
        for avg in ("Math Avg.", "Code Avg."):
            if f"{avg} Δ" in values:
                recomputed = values[avg] - sft[avg]
                delta = values[f"{avg} Δ"] - recomputed
                rows.append({"table": "table1", "group": group, "row": label, "column": f"{avg} Δ",
                             "reported": values[f"{avg} Δ"], "recomputed": round(recomputed, 3),
                             "delta": round(delta, 3), "consistent": bool(abs(delta) <= 1e-6)})
    cols = ["table", "group", "row", "column", "reported", "recomputed", "delta", "consistent"]
    return pd.DataFrame(rows)[cols]
