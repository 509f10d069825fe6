"""Measured vs reported, cell by cell: one table's diff, and the whole experiment's diff and report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..checks import write_atomic
from ..provenance import read_provenance
from .paper import REPORTED_TABLES, average_consistency, reported_numbers

PAPER_ABLATION_BACKBONE = "Qwen3-4B-Base"  # the one backbone of the paper's Table 2/3 and Figures 4/5
NO_BACKBONE_BLOCK = ("table2", "table3", "figure3", "figure4", "figure5")


def diff_against_paper(table: str, measured_wide: pd.DataFrame, comparable: bool) -> pd.DataFrame:
    """Measured vs reported per cell of ``table``: status is "compared", "not comparable" or "not run"."""
    measured = measured_wide.melt(id_vars=["group", "row"], var_name="column", value_name="measured")
    if table in NO_BACKBONE_BLOCK:  # these paper tables have no backbone block: they are all Qwen3-4B-Base
        measured["group"] = measured["group"].replace(PAPER_ABLATION_BACKBONE, "")
    if table in REPORTED_TABLES:
        reported = reported_numbers(table)[["group", "row", "column", "value"]].rename(columns={"value": "reported"})
    else:  # e.g. Figure 3: the paper prints no number of it
        reported = pd.DataFrame({"group": [], "row": [], "column": [], "reported": []}, dtype=object)
    merged = measured.merge(reported, on=["group", "row", "column"], how="outer")
    empty = merged["measured"].isna() | (merged["measured"].astype(str) == "")
    merged = merged[~empty | merged["reported"].notna()]  # a cell in neither (SFT's own Δ) is no cell
    merged.insert(0, "table", table)
    if comparable:
        missing = merged["measured"].isna() | (merged["measured"].astype(str) == "")
        merged["status"] = np.where(missing, "not run",
                                    np.where(merged["reported"].isna(), "not in paper", "compared"))
        merged["delta"] = pd.to_numeric(merged["measured"].replace("", np.nan)) - merged["reported"]
    else:
        merged["status"] = "not comparable"
        merged["delta"] = np.nan
    return merged[["table", "group", "row", "column", "measured", "reported", "delta", "status"]]


def read_table(path: str | Path) -> pd.DataFrame:
    """A built table as the diff reads it (group and row labels stay strings; "" stays "")."""
    return pd.read_csv(path, keep_default_na=False, dtype={"group": str, "row": str})


def write_diff(tables: list[str], out_dir: str | Path, name: str, comparable: bool) -> pd.DataFrame:
    """diff.csv (every cell of ``tables``, named <table>.csv, against the paper), paper_consistency.csv (the paper's
    own averages re-computed) and diff.md (the tables, their provenance and the diff status) in ``out_dir``."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    diff = pd.concat([diff_against_paper(Path(p).stem, read_table(p), comparable) for p in tables], ignore_index=True)
    diff.to_csv(out / "diff.csv", index=False)
    consistency = average_consistency()
    consistency.to_csv(out / "paper_consistency.csv", index=False)
    lines = [f"# Measured vs reported ({name})", ""]
    if not comparable:
        lines += ["This experiment is not the paper's configuration: every cell is marked *not comparable*.", ""]
    for path in tables:
        lines += [f"## {Path(path).stem}", "", pd.read_csv(path).to_markdown(index=False), ""]
    lines += ["## Provenance", "", "Commits of the score files / training runs each table was built from (details: "
              "`<table>.provenance.json` beside each table):", ""]
    for path in tables:
        prov = read_provenance(path) or {}
        missing = sum(1 for i in prov.get("inputs", []) if i.get("provenance") is None)
        commits = ", ".join(c[:12] for c in prov.get("input_commits", [])) or "none recorded"
        lines.append(f"- {Path(path).stem}: {commits}" + (f" ({missing} inputs without a record)" if missing else ""))
    lines.append("")
    counts = diff.groupby(["table", "status"]).size().rename("cells").reset_index()
    lines += ["## Diff status", "", counts.to_markdown(index=False), ""]
    bad = consistency[consistency.delta.abs() > 0.05]
    lines += ["## The paper's own averages", "",
              f"{len(consistency)} printed averages and gains re-computed from their cells; "
              f"{len(bad)} differ by more than 0.05 (rounding of 1-decimal cells allows up to 0.1):", ""]
    if len(bad):
        lines += [bad.to_markdown(index=False), ""]
    (out / "diff.md").write_text("\n".join(lines))
    return diff


def table_diff_stage(table: str, comparable: bool, out: str) -> None:
    """One built table (named <table>.csv) against the paper's reported numbers, cell by cell."""

    write_atomic(out, diff_against_paper(Path(table).stem, read_table(table), comparable).to_csv(index=False))
