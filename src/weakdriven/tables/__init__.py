"""The paper's reported numbers, table builders from score files, and the measured-vs-reported diff."""

from __future__ import annotations

import re
from importlib import resources

import numpy as np
import pandas as pd

from ..methods import METHODS, SNAPSHOT, Run

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

    Columns: table, group (the backbone block or benchmark block, "" if none), row, column, value, source.
    Labels are as the paper prints them. Cells printed as "-" (no value) are absent.
    """
    if table not in REPORTED_TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {REPORTED_TABLES}")
    with resources.files(__package__).joinpath("reported", f"{table}.csv").open() as fh:
        df = pd.read_csv(fh, dtype={"group": str, "row": str, "column": str}, keep_default_na=False)
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


SCORE_FIELDS = ("benchmark", "backbone", "seed", "run", "method", "lam", "n", "correct", "accuracy")


# eval/<backbone>/seed<s>/<run>/<protocol>/<benchmark>.scores.json (paths.scores): the cell a record must belong to
SCORE_PATH = re.compile(r"eval/(?P<backbone>[^/]+)/seed(?P<seed>\d+)/(?P<run>[^/]+)/(?P<protocol>[^/]+)/"
                        r"(?P<benchmark>[^/]+)\.scores\.json$")
CELL = ("backbone", "seed", "run", "benchmark")


def load_scores(files: list[str]) -> pd.DataFrame:
    """Score files (one per run x benchmark) -> a frame with accuracy in percent. A truncated file, a record that
    lacks a field, or one whose backbone/seed/run/protocol/benchmark is not the cell its path names is an error
    naming the file."""
    from ..checks import read_json

    records = []
    for path in files:
        record = read_json(path)
        missing = [k for k in SCORE_FIELDS if k not in record]
        if missing:
            raise ValueError(f"{path}: score record lacks {missing}")
        if not 0 <= record["correct"] <= record["n"] or record["n"] == 0:
            raise ValueError(f"{path}: correct={record['correct']} is not within n={record['n']}")
        if (cell := SCORE_PATH.search(str(path))) is not None:
            named = {**cell.groupdict(), "seed": int(cell["seed"])}
            wrong = {k: record.get(k) for k, v in named.items() if record.get(k) != v}
            if wrong:
                raise ValueError(f"{path}: the record is of {wrong}, not of the cell its path names "
                                 f"{ {k: named[k] for k in wrong} }: it was copied or written by another job")
        records.append(record)
    df = pd.DataFrame(records)
    df["lam"] = pd.to_numeric(df["lam"], errors="coerce")
    df["accuracy_pct"] = 100.0 * df["accuracy"]
    return df


def check_cells(scores: pd.DataFrame, expected: list[tuple], table: str) -> None:
    """Every expected (backbone, seed, run, benchmark) cell has exactly one score record: a missing seed or record
    would otherwise give an empty cell or an average over fewer seeds."""
    from collections import Counter

    have = Counter(zip(*(scores[k] for k in CELL), strict=True))
    missing = [cell for cell in expected if not have[cell]]
    twice = sorted(cell for cell, n in have.items() if n > 1)
    if missing or twice:
        raise ValueError(f"{table}: {len(missing)} of {len(expected)} cells (backbone, seed, run, benchmark) have no "
                         f"score record, e.g. {missing[:5]}; {len(twice)} have more than one, e.g. {twice[:5]}; "
                         "the table is not built")


def _row_labels(scores: pd.DataFrame, names: dict[str, str], label_lambda: bool) -> pd.Series:
    """Paper row labels; with a lam grid, lam-using methods get one row per lam ("WMSS (λ=0.3)")."""
    def label(method: str, lam: float) -> str:
        base = names.get(method, METHODS[method].label)
        return f"{base} (λ={lam:g})" if label_lambda and METHODS[method].uses_lambda else base

    labels = [label(m, lam) for m, lam in zip(scores["method"], scores["lam"], strict=True)]
    return pd.Series(labels, index=scores.index)


DOMAIN_AVERAGES = {"math": "Math Avg.", "code": "Code Avg.", "logic": "Logic Avg."}


def build_table1(scores: pd.DataFrame, benchmarks: list[str], label_lambda: bool = False) -> pd.DataFrame:
    """Table 1 layout: one row per (backbone, method), one column per benchmark (pass@1, %), each domain's columns
    followed by their average (Math Avg., Code Avg.; Logic Avg. if logic benchmarks are configured)."""
    from ..benchmarks import BENCHMARKS

    df = scores.assign(column=scores["benchmark"].map(lambda b: TABLE1_COLUMNS.get(b, b)),
                       group=scores["backbone"].map(lambda b: BACKBONE_LABELS.get(b, b)),
                       row=_row_labels(scores, {}, label_lambda))
    wide = df.pivot_table(index=["group", "row"], columns="column", values="accuracy_pct", aggfunc="mean")
    wide = wide.reindex(columns=[TABLE1_COLUMNS.get(b, b) for b in benchmarks])  # a missing score stays NaN
    order = []
    for domain, avg in DOMAIN_AVERAGES.items():
        cols = [TABLE1_COLUMNS.get(b, b) for b in benchmarks if BENCHMARKS[b].domain == domain]
        if cols:
            wide[avg] = wide[cols].mean(axis=1)
            order += [*cols, avg]
    return wide[order].round(1).reset_index()


def build_table2(scores: pd.DataFrame, benchmarks: list[str], label_lambda: bool = False) -> pd.DataFrame:
    """Table 2 layout: Baseline / + WD-DS / + WD-JT / WMSS rows, benchmark columns and their Avg. (pass@1, %)."""
    cols = [TABLE2_COLUMNS.get(b, b) for b in benchmarks]
    df = scores.assign(column=scores["benchmark"].map(lambda b: TABLE2_COLUMNS.get(b, b)),
                       group=scores["backbone"].map(lambda b: BACKBONE_LABELS.get(b, b)),
                       row=_row_labels(scores, TABLE2_ROWS, label_lambda))
    wide = df.pivot_table(index=["group", "row"], columns="column", values="accuracy_pct", aggfunc="mean")
    wide = wide.reindex(columns=cols)
    wide["Avg."] = wide[cols].mean(axis=1)
    order = {"Baseline": 0, "+ WD-DS": 1, "+ WD-JT": 2, "WMSS": 3}
    wide = wide.reset_index().sort_values("row", key=lambda s: s.map(lambda r: order.get(r.split(" (λ")[0], 9)))
    wide = wide.reset_index(drop=True)
    return wide.round(1)


TABLE10_GROUPS = {"AIME2025": "AIME 2025"}  # Table 10 prints "AIME 2025"


def build_table10(scores: pd.DataFrame, benchmarks: list[str], label_lambda: bool = False) -> pd.DataFrame:
    """Table 10 layout (App. B.9): one block per benchmark, one row per k, one column per method: the unbiased
    pass@k (%) from the score records' ``pass_at_k`` (n samples per problem, mean over seeds)."""
    if scores["backbone"].nunique() > 1:
        raise ValueError(f"Table 10 shows one backbone; its score files hold {sorted(set(scores.backbone))}")
    records = []
    for row, label in zip(scores.itertuples(index=False), _row_labels(scores, {}, label_lambda), strict=True):
        if not isinstance(row.pass_at_k, dict) or not row.pass_at_k:
            raise ValueError(f"score record of {row.run} on {row.benchmark} has no pass@k: its protocol "
                             f"{row.protocol!r} draws one sample per problem")
        records += [{"group": TABLE10_GROUPS.get(row.benchmark, row.benchmark), "bench": row.benchmark,
                     "row": int(k), "column": label, "value": 100.0 * v} for k, v in row.pass_at_k.items()]
    df = pd.DataFrame(records)
    wide = df.pivot_table(index=["bench", "group", "row"], columns="column", values="value", aggfunc="mean")
    wide = wide.reset_index()
    wide["_b"] = wide["bench"].map({b: i for i, b in enumerate(benchmarks)})
    wide = wide.sort_values(["_b", "row"]).drop(columns=["_b", "bench"]).reset_index(drop=True)
    wide["row"] = wide["row"].astype(str)
    wide.columns.name = None
    return wide.round(2)


# ---- relative checkpoints (Table 3, Figure 4) and the weak-side sweep (Figure 5) ----------------------------------
TRAJECTORY_LABELS = {
    "table3": {"wdjt_only": "WD-JT only (w/o WD-DS)", "wdjt_frozen": "Frozen base"},   # App. B.1
    "figure4": {"wdjt_only": "w/o WD-DS", "wmss": "w/ WD-DS"},                        # Sec. 6.5
}
SNAPSHOT_FIELDS = ("backbone", "seed", "run", "benchmark", "checkpoint", "step", "n", "correct", "accuracy")
PAPER_ABLATION_BACKBONE = "Qwen3-4B-Base"  # the one backbone of the paper's Table 2/3 and Figures 4/5
NO_BACKBONE_BLOCK = ("table2", "table3", "figure3", "figure4", "figure5")


def _order(label: str) -> int:
    """base (M0) < ck50 < ck100 < ... < final, for labels "ck50" / "50" / "ck-50"."""
    if label == "base":
        return 0
    match = SNAPSHOT.fullmatch("ck" + label.removeprefix("ck").removeprefix("-"))
    return int(match[1]) if match else 10**9


def _sorted(wide: pd.DataFrame) -> pd.DataFrame:
    key = wide["row"].map(_order)
    return wide.assign(_key=key).sort_values(["group", "_key"]).drop(columns="_key").reset_index(drop=True)


def load_snapshot_scores(files: list[str]) -> pd.DataFrame:
    """Snapshot score CSVs (one per run x benchmark, written by ``eval-snapshots``); a bad file is named."""
    frames = []
    for path in files:
        df = pd.read_csv(path, dtype={"checkpoint": str})
        missing = [c for c in SNAPSHOT_FIELDS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: snapshot scores lack columns {missing}")
        if (df.checkpoint == "final").sum() != 1 or not df.accuracy.between(0, 1).all():
            raise ValueError(f"{path}: needs exactly one 'final' row and accuracies in [0, 1]")
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["method"] = df["run"].map(lambda r: Run.parse(r).method.name)
    return df


def build_table3(snaps: pd.DataFrame, methods: list[str], benchmarks: list[str]) -> pd.DataFrame:
    """Table 3 layout: rows = relative checkpoints (50 ... final), columns = "<variant> <benchmark>" (pass@1, %)."""
    labels = TRAJECTORY_LABELS["table3"]
    df = snaps[snaps.method.isin(methods) & snaps.benchmark.isin(benchmarks)]
    df = df.assign(group=df.backbone.map(lambda b: BACKBONE_LABELS.get(b, b)),
                   row=df.checkpoint.map(lambda c: c.removeprefix("ck")),
                   column=df.method.map(labels.get) + " " + df.benchmark, pct=100 * df.accuracy)
    wide = df.pivot_table(index=["group", "row"], columns="column", values="pct", aggfunc="mean")
    wide = wide.reindex(columns=[f"{labels[m]} {b}" for m in methods for b in benchmarks]).reset_index()
    return _sorted(wide).round(1)


def build_figure4(snaps: pd.DataFrame, init: pd.DataFrame, methods: list[str], benchmarks: list[str]) -> pd.DataFrame:
    """Figure 4 data: accuracy (fraction, as the paper's text) along optimizer steps from the shared initialization
    (M1, step 0) for each variant, their Avg., and the active-step fraction of the WD-DS variant (123 / 218 there)."""
    labels = TRAJECTORY_LABELS["figure4"]
    rows = []
    for backbone, block in init[init.benchmark.isin(benchmarks)].groupby("backbone"):
        rows.append({"backbone": backbone, "row": "shared initialization", "step": 0,
                     **dict(zip(block.benchmark, block.accuracy, strict=True))})
    df = snaps[snaps.method.isin(methods) & snaps.benchmark.isin(benchmarks)]
    for (backbone, method, checkpoint), block in df.groupby(["backbone", "method", "checkpoint"]):
        label = labels[method] if checkpoint == "final" else f"{labels[method]} ck-{checkpoint.removeprefix('ck')}"
        rows.append({"backbone": backbone, "row": label, "step": int(block.step.iloc[0]),
                     **dict(zip(block.benchmark, block.accuracy, strict=True))})
    wide = pd.DataFrame(rows).groupby(["backbone", "row"], as_index=False).first()
    wide["Avg."] = wide[benchmarks].mean(axis=1)
    wide = wide.rename(columns={"step": "steps"})
    finals = wide.set_index(["backbone", "row"])["steps"]
    if {"wdjt_only", "wmss"} <= set(methods):
        fraction = {b: 100 * finals.get((b, labels["wmss"]), np.nan) / finals.get((b, labels["wdjt_only"]), np.nan)
                    for b in wide.backbone.unique()}
        is_final = wide.row == labels["wmss"]
        wide.loc[is_final, "active fraction (%)"] = wide.loc[is_final, "backbone"].map(fraction)
    wide.insert(0, "group", wide.pop("backbone").map(lambda b: BACKBONE_LABELS.get(b, b)))
    wide = wide.sort_values(["group", "steps", "row"]).reset_index(drop=True)
    return wide.round({b: 3 for b in benchmarks} | {"Avg.": 3, "active fraction (%)": 1})


def build_figure5(gaps: pd.DataFrame, scores: pd.DataFrame, benchmarks: list[str]) -> pd.DataFrame:
    """Figure 5 data: per weak-side checkpoint (strong fixed at M1), the entropy separation
    ΔH = mean_i [H_weak(i) - H_strong(i)] over the training set and the accuracy (fraction) after training the pair."""
    scores = scores.assign(weak=scores["run"].map(lambda r: Run.parse(r).weak))
    wide = scores[scores.benchmark.isin(benchmarks)].pivot_table(index=["backbone", "weak"], columns="benchmark",
                                                                  values="accuracy", aggfunc="mean")
    gap = gaps.groupby(["backbone", "weak"])["delta_h_mean"].mean().rename("ΔH (weak − strong)")
    wide = pd.concat([gap, wide.reindex(columns=benchmarks)], axis=1).reset_index()
    wide.insert(0, "group", wide.pop("backbone").map(lambda b: BACKBONE_LABELS.get(b, b)))
    wide.insert(1, "row", wide.pop("weak").map(lambda w: w if w == "base" else f"ck-{w.removeprefix('ck')}"))
    return _sorted(wide).round(4)


def build_figure3(scores: pd.DataFrame, benchmarks: list[str]) -> pd.DataFrame:
    """Figure 3 data: accuracy (%) after each epoch of an extended WMSS schedule. Epoch 1 is M1 (run "m1"); epoch
    t + 1 is the output of Algorithm 1's outer iteration t (one epoch each: wmss_lam<λ>, ..._k2, ..._k3)."""
    def epoch(run: str) -> int:
        return 1 if run == "m1" else Run.parse(run).iteration + 1

    df = scores[scores.benchmark.isin(benchmarks)]
    df = df.assign(group=df.backbone.map(lambda b: BACKBONE_LABELS.get(b, b)), epoch=df.run.map(epoch),
                   pct=100 * df.accuracy)
    wide = df.pivot_table(index=["group", "epoch"], columns="benchmark", values="pct", aggfunc="mean")
    wide = wide.reindex(columns=benchmarks)
    wide["Avg."] = wide[benchmarks].mean(axis=1)
    wide = wide.reset_index().sort_values(["group", "epoch"])
    wide.insert(1, "row", wide.pop("epoch").map(lambda e: f"Epoch {e}"))
    return wide.reset_index(drop=True).round(1)


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
    merged.insert(0, "table", table)
    if comparable:
        merged["status"] = np.where(merged["measured"].isna(), "not run",
                                    np.where(merged["reported"].isna(), "not in paper", "compared"))
        merged["delta"] = merged["measured"] - merged["reported"]
    else:
        merged["status"] = "not comparable"
        merged["delta"] = np.nan
    return merged[["table", "group", "row", "column", "measured", "reported", "delta", "status"]]
