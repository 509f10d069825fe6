"""Measured vs reported, cell by cell: one table's diff, and the whole experiment's diff and report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..checks import write_atomic
from ..paths import table_cells_of
from ..provenance import read_provenance
from .paper import REPORTED_TABLES, average_consistency, reported_numbers
from .verdicts import CELL, NOT_COMPARABLE, intervals, rounding, verdict

PAPER_ABLATION_BACKBONE = "Qwen3-4B-Base"  # the one backbone of the paper's Table 2/3 and Figures 4/5
NO_BACKBONE_BLOCK = ("table2", "table3", "table9", "table11", "figure3", "figure4", "figure5")


DIFF_COLUMNS = ["table", "group", "row", "column", "measured", "reported", "delta", "interval_low", "interval_high",
                "interval_method", "p_value", "status", "verdict"]


def paper_group(table: str, groups: pd.Series) -> pd.Series:
    """The paper's group label of a measured block: the tables of one backbone print no backbone block."""
    return groups.replace(PAPER_ABLATION_BACKBONE, "") if table in NO_BACKBONE_BLOCK else groups


def diff_against_paper(table: str, measured_wide: pd.DataFrame, comparable: bool, cells: pd.DataFrame | None = None,
                       interval: str = "wilson") -> pd.DataFrame:
    """Measured vs reported per cell of ``table``: status is "compared", "not comparable", "not run" or "not in
    paper"; a compared cell whose records are in ``cells`` (``Table.cells``) gets its 95 % interval and a verdict
    (tables/verdicts.py): "reproduced", "not reproduced", or "no interval" for a cell without records."""
    measured = measured_wide.melt(id_vars=["group", "row"], var_name="column", value_name="measured")
    measured["group"] = paper_group(table, measured["group"])
    if table in REPORTED_TABLES:
        reported = reported_numbers(table)[["group", "row", "column", "value", "decimals"]].rename(
            columns={"value": "reported"})
    else:  # e.g. Figure 3: the paper prints no number of it
        reported = pd.DataFrame({"group": [], "row": [], "column": [], "reported": [], "decimals": []}, dtype=object)
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
    spans = cell_intervals(table, cells, interval)
    merged = merged.merge(spans, on=["group", "row", "column"], how="left")
    # a cell the table says measures another quantity under this config (its interval_method says why)
    other = merged["interval_method"].fillna("").str.startswith(NOT_COMPARABLE) & (merged["status"] == "compared")
    merged.loc[other, "status"] = "not comparable"
    merged.loc[other, "delta"] = np.nan
    exact = (merged["interval_method"] == "exact").to_numpy()  # a count: the measured value is its own interval
    value = pd.to_numeric(merged["measured"].replace("", np.nan), errors="coerce")
    merged.loc[exact, "interval_low"] = value[exact]
    merged.loc[exact, "interval_high"] = value[exact]
    inside = [verdict(rep, (lo, hi), rounding(int(dec), gain=col.endswith("Δ")))
              if status == "compared" and lo == lo else ("no interval" if status == "compared" else "")
              for rep, dec, lo, hi, status, col in zip(merged["reported"], merged["decimals"], merged["interval_low"],
                                                       merged["interval_high"], merged["status"],
                                                       merged["column"].astype(str), strict=True)]
    merged["verdict"] = inside
    return merged[DIFF_COLUMNS]


def cell_intervals(table: str, cells: pd.DataFrame | None, interval: str = "wilson") -> pd.DataFrame:
    """The intervals of ``table``'s cells from their records, under the paper's group labels."""
    if cells is None or cells.empty:
        return pd.DataFrame(columns=["group", "row", "column", "interval_low", "interval_high", "interval_method",
                                     "p_value"])
    spans = intervals(cells, interval)
    spans["group"] = paper_group(table, spans["group"])
    return spans


def gains(table: str, cells: pd.DataFrame | None, interval: str = "wilson") -> pd.DataFrame:
    """Every gain over the baseline row the records of ``table`` give (the "Δ" columns, per benchmark and per
    average): its paired interval, exact McNemar p-value (one run, one sample per problem) and significance."""
    if cells is None or cells.empty or not (cells["side"] == "baseline").any():
        return pd.DataFrame()
    gain_cells = cells[cells["column"].str.endswith(" Δ")]
    spans = intervals(gain_cells, interval)
    measured = gain_cells[gain_cells.side == "measured"].groupby(["group", "row", "column"], sort=False)
    base = gain_cells[gain_cells.side == "baseline"].groupby(["group", "row", "column"], sort=False)
    keys = list(zip(spans["group"], spans["row"], spans["column"], strict=True))
    spans["gain"] = [float(measured.get_group(k)["scale"].iloc[0])
                     * (measured.get_group(k).groupby("benchmark").accuracy.mean().mean()
                        - base.get_group(k).groupby("benchmark").accuracy.mean().mean()) for k in keys]
    # one run on one benchmark: the exact McNemar test decides; otherwise whether the paired interval excludes 0
    excludes_zero = (spans["interval_low"] > 0) | (spans["interval_high"] < 0)
    significant = np.where(spans["p_value"].notna(), spans["p_value"] < 0.05, excludes_zero)
    # no interval (records without per-problem outcomes): unknown, not "no"
    spans["significant"] = pd.Series(significant, index=spans.index, dtype=object).where(
        spans["interval_low"].notna() | spans["p_value"].notna(), None)
    spans["group"] = paper_group(table, spans["group"])
    spans.insert(0, "table", table)
    return spans


def shared_models(diff: pd.DataFrame, cells: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
    """The models several paper tables print a number of: for each (backbone, run, benchmark) measured once and shown
    in more than one table cell, every such cell with the paper's value beside our one measurement (one run, one
    benchmark, one checkpoint: a cell over replicates or benchmarks is not one model's, a relative checkpoint is not
    the run's final model)."""
    rows = []
    for table, frame in cells.items():
        if frame is None:
            continue
        # a gain (a cell with a baseline side) is two models' difference, not one model's value
        single = frame.groupby(CELL, sort=False).filter(
            lambda c: (c["side"] == "measured").all() and c["run"].nunique() == 1 and c["benchmark"].nunique() == 1
            and (c["statistic"] == "accuracy").all())
        for (group, row, column), c in single.groupby(CELL, sort=False):
            rows.append({"backbone": c["backbone"].iloc[0], "run": c["run"].iloc[0],
                         "checkpoint": c["checkpoint"].iloc[0],
                         "protocol": c["protocol"].iloc[0], "benchmark": c["benchmark"].iloc[0], "table": table,
                         "group": paper_group(table, pd.Series([group])).iloc[0], "row": row, "column": column})
    if not rows:
        return pd.DataFrame(columns=["backbone", "run", "checkpoint", "protocol", "benchmark", "table", "row",
                                     "column", "measured", "reported"])
    shown = pd.DataFrame(rows)
    values = diff[["table", "group", "row", "column", "measured", "reported"]]
    shown = shown.merge(values, on=["table", "group", "row", "column"], how="inner")  # the tables' own cells
    model = ["backbone", "run", "checkpoint", "protocol", "benchmark"]
    shared = shown[shown.groupby(model)["table"].transform("nunique") > 1].sort_values([*model, "table"])
    return shared[[*model, "table", "row", "column", "measured", "reported"]].reset_index(drop=True)


def read_cells(table_csv: str | Path) -> pd.DataFrame | None:
    """The records behind a built table's cells (``<table>.cells.csv`` beside it), None if the table has none."""
    path = Path(table_cells_of(str(table_csv)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the table job writes the records behind its cells beside {table_csv}")
    cells = pd.read_csv(path, keep_default_na=False, dtype={"group": str, "row": str, "column": str,
                                                             "outcomes": str, "statistic": str})
    if "statistic" not in cells:  # written before cells named their statistic: score records' accuracies
        cells["statistic"] = "accuracy"
    # an exact cell has no record: its numeric fields are empty, which keep_default_na reads as "" (a string column)
    for column in ("seed", "problems", "accuracy", "samples_per_prompt", "scale"):
        cells[column] = pd.to_numeric(cells[column].replace("", np.nan))
    return None if cells.empty else cells


def read_table(path: str | Path) -> pd.DataFrame:
    """A built table as the diff reads it (group and row labels stay strings; "" stays "")."""
    return pd.read_csv(path, keep_default_na=False, dtype={"group": str, "row": str})


def write_diff(tables: list[str], out_dir: str | Path, name: str, comparable: bool,
               interval: str = "wilson") -> pd.DataFrame:
    """diff.csv (every cell of ``tables``, named <table>.csv, against the paper, with intervals and verdicts),
    gains.csv (every measured gain over SFT with its paired test), models.csv (every model several tables show, with
    each of the paper's values for it), paper_consistency.csv (the paper's own averages
    re-computed) and diff.md (the tables, their provenance, the diff status and verdicts) in ``out_dir``."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells = {p: read_cells(p) for p in tables}
    diff = pd.concat([diff_against_paper(Path(p).stem, read_table(p), comparable, cells[p], interval)
                      for p in tables], ignore_index=True)
    diff.to_csv(out / "diff.csv", index=False)
    shared = shared_models(diff, {Path(p).stem: c for p, c in cells.items()})
    shared.to_csv(out / "models.csv", index=False)
    gain_frames = [g for p in tables if not (g := gains(Path(p).stem, cells[p], interval)).empty]
    (pd.concat(gain_frames, ignore_index=True) if gain_frames else pd.DataFrame(
        columns=["table", "group", "row", "column", "interval_low", "interval_high", "interval_method", "p_value",
                 "gain", "significant"])).to_csv(out / "gains.csv", index=False)
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
    counts = diff.groupby(["table", "status", "verdict"]).size().rename("cells").reset_index()
    lines += ["## Diff status and verdicts", "", "A compared cell is *reproduced* when the reported value lies inside "
              "the measured value's 95 % interval (README: Statistics).", "", counts.to_markdown(index=False), ""]
    spread = shared[shared.reported.notna()].groupby(["backbone", "run", "checkpoint", "protocol", "benchmark"]).agg(
        tables=("table", lambda t: ", ".join(sorted(set(t)))), measured=("measured", "first"),
        reported=("reported", lambda r: ", ".join(f"{v:g}" for v in r)))
    n_models = shared.groupby(["backbone", "run", "checkpoint", "protocol", "benchmark"]).ngroups
    lines += ["## One measurement per model", "", f"{n_models} models (run × protocol × benchmark) appear in several "
              "tables and are measured once (`models.csv`); where the paper prints them more than once, its own "
              "values:", ""]
    if len(spread):
        lines += [spread.reset_index().to_markdown(index=False), ""]
    bad = consistency[consistency.delta.abs() > 0.05]
    lines += ["## The paper's own averages", "",
              f"{len(consistency)} printed averages and gains re-computed from their cells; "
              f"{len(bad)} differ by more than 0.05 (rounding of 1-decimal cells allows up to 0.1):", ""]
    if len(bad):
        lines += [bad.to_markdown(index=False), ""]
    (out / "diff.md").write_text("\n".join(lines))
    return diff


def table_diff_stage(table: str, comparable: bool, out: str, interval: str = "wilson") -> None:
    """One built table (named <table>.csv) against the paper's reported numbers, cell by cell, with verdicts."""

    diff = diff_against_paper(Path(table).stem, read_table(table), comparable, read_cells(table), interval)
    write_atomic(out, diff.to_csv(index=False))
