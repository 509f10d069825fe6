"""The paper config's whole grid: synthetic inputs for every cell of every configured table, built and diffed; every
value the paper prints gets a diff row, and each one the config does not measure is named."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from weakdriven import pass_at_k
from weakdriven.config import load_config
from weakdriven.eval.generation import PASS_KS
from weakdriven.methods import M1, Run
from weakdriven.tables import TABLES, configured
from weakdriven.tables.base import Inputs
from weakdriven.tables.diff import diff_against_paper, read_table
from weakdriven.tables.paper import REPORTED_TABLES, reported_numbers


def score_frame(exp, cells, rng, drawn: dict | None = None) -> pd.DataFrame:
    """A score record per cell, as `weakdriven score` writes it: 100 problems, each with its count of right samples
    (outcomes), the accuracy and pass@k from them; ``drawn`` keeps each cell's counts, so tables sharing a cell
    share its record."""
    drawn = {} if drawn is None else drawn
    rows = []
    for backbone, seed, run, bench, protocol in cells:
        parsed = None if run == M1 else Run.parse(run)
        n = exp.evaluation.protocols[protocol].n
        key = (backbone, seed, run, bench, protocol)
        if key not in drawn:
            drawn[key] = rng.binomial(n, rng.uniform(0.05, 0.95, size=100))
        counts = drawn[key]
        acc = counts.sum() / (100 * n)
        rows.append({"backbone": backbone, "seed": seed, "run": run, "benchmark": bench, "protocol": protocol,
                     "method": "sft" if parsed is None else parsed.method.name,
                     "lam": np.nan if parsed is None or parsed.lam is None else parsed.lam,
                     "n": 100 * n, "correct": int(counts.sum()), "accuracy": acc, "accuracy_pct": 100 * acc,
                     "samples_per_prompt": n, "outcomes": {f"p{i:02d}": int(c) for i, c in enumerate(counts)},
                     "pass_at_k": {str(k): float(np.mean([pass_at_k(n, int(c), k) for c in counts]))
                                   for k in PASS_KS if k <= n}})
    return pd.DataFrame(rows)


STATS = ("target", "distractor_mean", "gap", "mean", "std", "centered_norm", "l2_norm", "entropy", "max_prob")


def snapshot_frame(cells, checkpoints, rng) -> pd.DataFrame:
    rows = []
    for backbone, seed, run, bench in cells:
        labels = [*checkpoints, "final"]
        for step, label in enumerate(labels, start=1):
            acc = float(rng.uniform(0.05, 0.95))
            rows.append({"backbone": backbone, "seed": seed, "run": run, "benchmark": bench, "checkpoint": label,
                         "step": 50 * step, "n": 100, "correct": round(100 * acc), "accuracy": acc,
                         "method": Run.parse(run).method.name})
    return pd.DataFrame(rows)


def write_files(files, tmp_path) -> list[str]:
    """Other inputs as their jobs write them: diagnostics tables (the paper's layout), training-set summaries,
    Snakemake benchmark records."""
    out = []
    for i, name in enumerate(files):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(("table6.csv", "table7.csv")):
            paper = reported_numbers(path.stem)
            wide = paper.pivot_table(index=["group", "row"], columns="column", values="value", sort=False)
            wide.reset_index().to_csv(path, index=False)
        elif name.endswith("logit_examples.csv"):  # each example's share of every statistic, five models
            rng = np.random.default_rng(i)
            pd.DataFrame([{"model": m, "example": e, "positions": 20, "max": 40.0 + e, "min": -20.0 - e,
                           **{k: 20 * float(rng.normal(2, 0.5)) for k in STATS}}
                          for m in ("weak_init", "strong_pre", "strong_post", "sft", "wmss") for e in range(10)]
                         ).to_csv(path, index=False)
        elif name.endswith(".summary.json"):
            domain = path.name.removesuffix(".summary.json")
            path.write_text(json.dumps({"domain": domain, "kept": 1000 + i}))
        elif name.endswith(".tsv"):
            path.write_text("s\th:m:s\tmax_rss\n" + f"{60.0 * (i + 1)}\t0:01:00\t100\n")
        else:
            raise AssertionError(f"no synthetic form for {name}")
        out.append(str(path))
    return out


@pytest.fixture(scope="module")
def paper_diff(tmp_path_factory):
    exp = load_config(REPO / "config" / "config.yaml")
    rng = np.random.default_rng(0)
    diffs, built = [], {}
    for table in configured(exp):
        tmp = tmp_path_factory.mktemp(table.name)
        needs = table.needs(exp)
        gaps = pd.DataFrame([{"backbone": b, "seed": s, "weak": w, "delta_h_mean": 0.1} for b, s, w in needs.gaps])
        data = Inputs(scores=score_frame(exp, needs.scores, rng) if needs.scores else None,
                      snapshots=snapshot_frame(needs.snapshots, exp.trajectory.checkpoints, rng)
                      if needs.snapshots else None,
                      gaps=gaps if needs.gaps else None, files=write_files(needs.files, tmp))
        wide = table.build(data, table.spec(exp))
        path = tmp / f"{table.name}.csv"
        wide.to_csv(path, index=False)
        built[table.name] = read_table(path)
        diffs.append(diff_against_paper(table.name, built[table.name], True, table.cells(data, table.spec(exp))))
    return exp, pd.concat(diffs, ignore_index=True), built


def test_every_artifact_of_the_paper_is_configured_and_built(paper_diff):
    exp, _, built = paper_diff
    assert set(built) == {*REPORTED_TABLES, "figure3"} == set(TABLES)


def test_every_printed_value_has_a_diff_row_and_only_named_ones_are_not_run(paper_diff):
    _, diff, _ = paper_diff
    reported = pd.concat([reported_numbers(t) for t in REPORTED_TABLES], ignore_index=True)
    assert len(reported) == 712
    keys = ["table", "group", "row", "column"]
    rows = reported[keys].merge(diff[[*keys, "status"]], on=keys, how="left")
    assert len(rows) == 712 and rows.status.notna().all()
    assert set(rows.status) == {"compared", "not run", "not comparable"}
    not_run = rows[rows.status == "not run"]
    # the paper timed WMSS on the deduplicated schedule; the paper config trains WMSS as the code does (no dedup)
    assert not_run[keys].values.tolist() == [["table11", "", "WMSS (dedup WD-DS)", "Total training time (min)"],
                                             ["table11", "", "WMSS (dedup WD-DS)", "Math-Avg Δ"]]
    # Figure 4's step counts at the code's batch of 256 without dedup are not the paper's (batches of 512, dedup)
    other = rows[rows.status == "not comparable"]
    assert sorted(map(tuple, other[keys].values.tolist())) == [
        ("figure4", "", "w/ WD-DS", "active fraction (%)"), ("figure4", "", "w/ WD-DS", "steps"),
        ("figure4", "", "w/o WD-DS", "steps")]
    assert (rows.status == "compared").sum() == 707


def test_every_compared_cell_has_an_interval_and_a_verdict_but_the_named_kinds(paper_diff):
    """Proportions, averages, gains, pass@k, counts and logit statistics get an interval; Table 11's wall-clock
    minutes (no sampling model: they depend on the hardware) are "no interval", and nothing else."""
    _, diff, _ = paper_diff
    compared = diff[diff.status == "compared"]
    assert set(compared.verdict) <= {"reproduced", "not reproduced", "no interval"}
    bare = compared[compared.verdict == "no interval"]
    assert set(bare.table) == {"table11"} and (bare.column == "Total training time (min)").all()
    assert len(bare) == (reported_numbers("table11").column == "Total training time (min)").sum() - 1  # not dedup
    spans = compared[compared.verdict != "no interval"]
    assert (spans.interval_low <= spans.interval_high).all() and spans.interval_method.ne("").all()
    methods = spans.groupby("table").interval_method.agg(lambda m: sorted(set(m)))
    assert methods["table10"] == ["bootstrap over problems"] and methods["table12"] == ["exact"]
    assert methods["table6"] == methods["table7"] == ["bootstrap over examples"]
    assert methods["figure4"] == ["wilson"]  # a benchmark's accuracy, one seed (its step counts: not comparable)
    assert set(methods["table1"]) == {"wilson", "average of benchmarks", "paired bootstrap"}
    figure4 = spans[(spans.table == "figure4") & (spans.interval_method == "wilson")]
    assert figure4.interval_high.max() <= 1.0 and len(figure4) == 6  # fractions, as the paper prints them


def test_a_model_several_tables_show_is_measured_once_beside_each_printed_value():
    """WMSS on Qwen3-4B-Base, MATH500: Table 1 prints 71.4, Table 2 71.3, Table 8's default row 68.2 — one run."""
    from weakdriven.tables.diff import shared_models

    exp = load_config(REPO / "config" / "config.yaml")
    rng = np.random.default_rng(1)
    diffs, cells, drawn = [], {}, {}
    for name in ("table1", "table2", "table8", "table9"):
        table = TABLES[name]
        data = Inputs(scores=score_frame(exp, table.needs(exp).scores, rng, drawn))
        spec = table.spec(exp)
        diffs.append(diff_against_paper(name, table.build(data, spec), True))
        cells[name] = table.cells(data, spec)
    models = shared_models(pd.concat(diffs, ignore_index=True), cells)
    wmss = models[(models.backbone == "qwen3-4b-base") & (models.run == "wmss_lam0.5")
                  & (models.benchmark == "MATH500")].set_index("table")
    assert list(wmss.index) == ["table1", "table2", "table8"]  # Table 9 averages three runs: not this model alone
    assert wmss.reported.tolist() == [71.4, 71.3, 68.2] and wmss.measured.nunique() == 1
    assert list(wmss.row) == ["WMSS", "WMSS", "Default"]
