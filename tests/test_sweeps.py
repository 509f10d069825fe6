"""Sweeps as run coordinates: the WD-DS shares (Table 8) and training replicates (Table 9) in run names, selections
and seeds; Tables 8 and 9 built from score records and diffed against the paper."""

import pandas as pd
import pytest
from conftest import REPO

from weakdriven import paths, reported_numbers
from weakdriven.config import ConfigError, Experiment, load_config
from weakdriven.methods import METHODS, Run
from weakdriven.stages import TrainStage, WddsStage
from weakdriven.tables import TABLES
from weakdriven.tables.base import Inputs
from weakdriven.tables.diff import diff_against_paper
from weakdriven.tables.table8 import mix_run
from weakdriven.tables.table9 import lambda_run

WMSS = METHODS["wmss"]


def test_run_names_carry_the_shares_and_the_replicate():
    run = Run(WMSS, 0.5, mix=(0.2, 0.7, 0.1), replicate=2)
    assert run.name == "wmss_lam0.5_abg0.2-0.7-0.1_r2"
    assert Run.parse(run.name) == run
    assert run.selection == "abg0.2-0.7-0.1_r2" and Run(WMSS, 0.5).selection == "default"
    k2 = Run(WMSS, 0.42, iteration=2, replicate=3)
    assert k2.name == "wmss_lam0.42_k2_r3" and Run.parse(k2.name) == k2
    assert k2.strong_key == "wmss_lam0.42_r3"  # Algorithm 1's chain stays within the replicate
    assert Run.parse("wdds_only_abg0-1-0").mix == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="WD-DS shares"):
        Run(METHODS["wdjt_only"], 0.5, mix=(0.2, 0.7, 0.1))  # trains on all rows: no selection to change
    with pytest.raises(ValueError, match="sum to 1"):
        Run(WMSS, 0.5, mix=(0.2, 0.7, 0.2))
    with pytest.raises(ValueError, match="replicate"):
        Run(WMSS, 0.5, replicate=0)
    # names keep coordinates exactly enough to parse back: thirds, and small values without an exponent
    thirds = Run(WMSS, 0.5, mix=(1 / 3, 1 / 3, 1 / 3))
    assert thirds.name == "wmss_lam0.5_abg0.3333333333-0.3333333333-0.3333333333"
    assert Run.parse(thirds.name).mix == pytest.approx(thirds.mix)
    assert Run(WMSS, 0.00001).name == "wmss_lam0.00001" and Run.parse("wmss_lam0.00001").lam == 1e-5


def test_a_replicate_has_its_own_training_seed_and_selection_and_the_shares_their_own_selection():
    exp = load_config(REPO / "config" / "config.yaml")
    plain = TrainStage.build(exp, "qwen3-4b-base", "math", 42, "wmss_lam0.5")
    second = TrainStage.build(exp, "qwen3-4b-base", "math", 42, "wmss_lam0.5_r2")
    assert (plain.training.seed, second.training.seed) == (42, 1042)
    default, mixed = WddsStage.build(exp), WddsStage.build(exp, "abg0.2-0.7-0.1_r3")
    assert (default.alpha, default.beta, default.gamma) == (0.1, 0.8, 0.1)
    assert (mixed.alpha, mixed.beta, mixed.gamma) == (0.2, 0.7, 0.1)
    assert mixed.sampling_seed == default.sampling_seed + 2000
    assert paths.wdds_active("paper", "b", "math", 42, "base", "m1", "abg0.2-0.7-0.1_r3").endswith(
        "seed42/wdds/abg0.2-0.7-0.1_r3/base--m1.json")


def test_the_default_configuration_and_lambda_are_table1s_run(paper_raw):
    exp = Experiment.from_dict(paper_raw)
    assert mix_run(exp, "wmss", (0.1, 0.8, 0.1)) == "wmss_lam0.5"   # one measurement per model
    assert mix_run(exp, "wmss", (0.2, 0.7, 0.1)) == "wmss_lam0.5_abg0.2-0.7-0.1"
    assert lambda_run(exp, "wmss", 0.5, 1) == "wmss_lam0.5" and lambda_run(exp, "wmss", 0.42, 3) == "wmss_lam0.42_r3"
    t8, t9 = TABLES["table8"].needs(exp), TABLES["table9"].needs(exp)
    assert len(t8.scores) == 2 * 6 * 2 and len({c[2] for c in t8.scores}) == 6
    assert len(t9.scores) == 17 * 3 * 6 and len({c[2] for c in t9.scores}) == 51
    assert ("qwen3-4b-base", 42, "wmss_lam0.5", "MATH500", "paper-greedy") in set(t9.scores) & set(
        TABLES["table1"].needs(exp).scores)


def test_sweep_configs_are_checked(paper_raw):
    bad = {**paper_raw, "tables": {**paper_raw["tables"], "table8": {
        **paper_raw["tables"]["table8"], "configs": {"Config A": [0.2, 0.7, 0.2]}}}}
    with pytest.raises(ConfigError, match=r"tables\.table8\.configs\.Config A.*sum to 1"):
        Experiment.from_dict(bad)
    bad = {**paper_raw, "tables": {**paper_raw["tables"], "table8": {**paper_raw["tables"]["table8"],
                                                                       "method": "wdjt_only"}}}
    with pytest.raises(ConfigError, match=r"tables\.table8\.method.*WD-DS selection"):
        Experiment.from_dict(bad)


def paper_records(table: str, to_record) -> pd.DataFrame:
    rows = []
    for r in reported_numbers(table).itertuples():
        record = to_record(r)
        if record is not None:
            rows.append({"seed": 42, "n": 500, "correct": 0, "accuracy": r.value / 100, "accuracy_pct": r.value,
                         "samples_per_prompt": 1, **record})
    return pd.DataFrame(rows)


def test_table8_fed_the_papers_cells_reproduces_them(paper_raw):
    exp = Experiment.from_dict(paper_raw)
    spec = TABLES["table8"].spec(exp)
    run_of = {label: run for run, label in spec["runs"].items()}
    bench = {"AIME 2025": "AIME2025", "MATH 500": "MATH500"}
    backbone = {"Qwen3-4B-Base": "qwen3-4b-base", "Qwen2.5-3B": "qwen2.5-3b"}
    scores = paper_records("table8", lambda r: None if r.group == "" else {
        "backbone": backbone[r.group], "run": run_of[r.row], "benchmark": bench[r.column], "method": "wmss",
        "lam": 0.5})
    wide = TABLES["table8"].build(Inputs(scores=scores), spec)
    assert list(wide.columns) == ["group", "row", "α", "β", "γ", "AIME 2025", "MATH 500"]
    assert list(wide.row.unique()) == ["Config A", "Default", "Config B", "Config C", "Config D", "Config E"]
    diff = diff_against_paper("table8", wide, comparable=True)
    compared = diff[diff.status == "compared"]
    assert len(compared) == len(reported_numbers("table8")) == 36 and compared.delta.abs().max() < 1e-9


def test_table9_fed_the_papers_cells_reproduces_them_and_its_average(paper_raw):
    exp = Experiment.from_dict(paper_raw)
    spec = TABLES["table9"].spec(exp)
    bench = {"AIME25": "AIME2025", "AQUA": "AQuA"}
    scores = paper_records("table9", lambda r: None if r.row == "Avg." else {
        "backbone": "qwen3-4b-base", "run": lambda_run(exp, "wmss", float(r.column), 1), "method": "wmss",
        "lam": float(r.column), "benchmark": bench.get(r.row, r.row)})
    wide = TABLES["table9"].build(Inputs(scores=scores), spec)
    assert list(wide.row) == ["AIME25", "MATH500", "AQUA", "GSM8K", "MAWPS", "SVAMP", "Avg."]
    assert list(wide.columns)[2:5] == ["0.1", "0.2", "0.3"] and len(wide.columns) == 2 + 17
    diff = diff_against_paper("table9", wide, comparable=True)
    assert (diff.status == "compared").all() and len(diff) == 119
    cells = diff[diff.row != "Avg."]
    assert cells.delta.abs().max() < 1e-9
    assert diff[diff.row == "Avg."].delta.abs().max() <= 0.1 + 1e-9  # the paper averages unrounded cells
    # its verdicts: each λ's average over six benchmarks of three replicates
    triple = pd.concat([scores.assign(run=scores.run + suffix, seed=42) for suffix in ("", "_r2", "_r3")])
    cells = TABLES["table9"].cells(Inputs(scores=triple), spec)
    avg = cells[(cells.row == "Avg.") & (cells.column == "0.42")]
    assert len(avg) == 6 * 3 and set(avg.benchmark) == {"AIME2025", "MATH500", "AQuA", "GSM8K", "MAWPS", "SVAMP"}


def test_table11_times_every_iteration_of_an_iterated_run(paper_raw):
    from weakdriven.tables.table11 import run_timings

    exp = Experiment.from_dict(paper_raw)
    files = run_timings(exp, "qwen3-4b-base", "math", 42, "wmss_lam0.5_k2")
    train = [f.rsplit("/", 1)[1] for f in files if "/train/" in f]
    assert train == ["wmss_lam0.5_k2.tsv", "wmss_lam0.5.tsv"]
    entropies = {f.split("/entropy/")[1].split(".shard")[0] for f in files if "/entropy/" in f}
    assert entropies == {"seed42/m1", "seed42/wmss_lam0.5", "base"}  # the pairs (M1, M2) and (M0, M1)
    assert len(files) == len(set(files)) == 2 + 3 * exp.wmss.entropy_shards
