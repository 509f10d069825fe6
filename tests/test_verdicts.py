"""The diff's statistics: intervals against hand-computed values, an exact McNemar example, and verdicts on a table
built from score records with per-problem outcomes."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from weakdriven.tables import TABLES
from weakdriven.tables.base import Inputs, exact_cells
from weakdriven.tables.diff import diff_against_paper, gains, read_cells
from weakdriven.tables.verdicts import (
    average_interval,
    gain_interval,
    intervals,
    mcnemar_pvalue,
    pass_at_k_interval,
    proportion_interval,
    rounding,
    seeds_interval,
    verdict,
)

Z = 1.959963984540054  # the normal 97.5 % quantile


def test_wilson_interval_is_the_score_interval():
    # 10 of AIME2025's 30 problems: p = 1/3; the Wilson score interval, by its closed form
    p, n = 10 / 30, 30
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    lo, hi = proportion_interval(10, 30, "wilson")
    assert (lo, hi) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert (lo, hi) == pytest.approx((0.1923, 0.5122), abs=1e-4)  # by hand: 0.3522 -+ 0.1600
    # one AIME problem is 3.3 points; the interval spans 32 of them
    assert 100 * (hi - lo) == pytest.approx(31.99, abs=0.01)


def test_clopper_pearson_interval_of_zero_successes():
    # 0 of 30: the exact (Beta) upper bound solves (1 - p)^30 = 0.025
    lo, hi = proportion_interval(0, 30, "beta")
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 30), abs=1e-9) and hi == pytest.approx(0.11570, abs=1e-5)
    with pytest.raises(ValueError, match="expected one of"):
        proportion_interval(1, 30, "wald")
    with pytest.raises(ValueError, match="0 <= correct <= n"):
        proportion_interval(31, 30)


def wilson(correct: float, n: int) -> tuple[float, float]:
    """Wilson's score interval by its closed form."""
    p = correct / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / (1 + Z**2 / n)
    return centre - half, centre + half


T2 = 4.302652729911275  # Student's t 97.5 % quantile, 2 degrees of freedom


def test_seeds_interval_widens_the_shared_problems_interval_by_the_runs_spread():
    # seeds 0.5, 0.6, 0.7 on 100 problems: Wilson(60, 100) = 0.5020..0.6906 around 0.6, and the runs' spread
    # t2 * s / sqrt(3) = 4.3027 * 0.1 / 1.7321 = 0.2484, each side in quadrature
    wlo, whi = wilson(60, 100)
    assert (wlo, whi) == pytest.approx((0.5020, 0.6906), abs=1e-4)
    spread = T2 * 0.1 / math.sqrt(3)
    lo, hi = seeds_interval([0.5, 0.6, 0.7], 100)
    assert (lo, hi) == pytest.approx((0.6 - math.hypot(0.6 - wlo, spread), 0.6 + math.hypot(whi - 0.6, spread)))
    assert (lo, hi) == pytest.approx((0.3330, 0.8644), abs=1e-4)
    # identical runs add nothing: the interval of one run, however many (the problems' part does not shrink)
    assert seeds_interval([0.6] * 50, 100) == pytest.approx(wilson(60, 100))
    assert seeds_interval([0.6], 100, "beta") == pytest.approx(proportion_interval(60, 100, "beta"))
    # two runs that both solve none of AIME's 30 problems: as wide as one such run (0 to 11.35 %), not narrower
    assert seeds_interval([0.0, 0.0], 30) == pytest.approx((0.0, 0.11351), abs=1e-5)
    assert seeds_interval([0.0, 0.0], 30) == pytest.approx(seeds_interval([0.0], 30))


def test_average_interval_reads_each_benchmark_from_its_interval_and_the_runs_from_their_own_averages():
    # one run, AIME-sized 0.3 and MATH500-sized 0.8: each benchmark's variance from its Wilson width / (2z),
    # the average's half-width z * sqrt(var_1 + var_2) / 2
    var = sum(((hi - lo) / (2 * Z)) ** 2 for lo, hi in (wilson(9, 30), wilson(400, 500)))
    half = Z * math.sqrt(var) / 2
    lo, hi = average_interval([[0.3, 0.8]], [30, 500])
    assert (lo, hi) == pytest.approx((0.55 - half, 0.55 + half)) and half == pytest.approx(0.07997, abs=1e-5)
    # three runs whose averages agree (each better on one benchmark, worse on the other): no runs' spread
    assert average_interval([[0.2, 0.9], [0.3, 0.8], [0.4, 0.7]], [30, 500]) == pytest.approx((lo, hi))
    # three runs good or bad on both benchmarks together: averages 0.45, 0.55, 0.65, spread t2 * 0.1 / sqrt(3)
    together = average_interval([[0.2, 0.7], [0.3, 0.8], [0.4, 0.9]], [30, 500])
    spread = T2 * 0.1 / math.sqrt(3)
    assert together == pytest.approx((0.55 - math.hypot(half, spread), 0.55 + math.hypot(half, spread)))
    with pytest.raises(ValueError, match="each of the 2 benchmarks"):
        average_interval([[0.3]], [30, 500])


def test_exact_mcnemar_counts_only_the_discordant_problems():
    # 1 problem only the method solves, 6 only the baseline: p = 2 * P(X <= 1 | 7, 1/2) = 2 * 8 / 128
    method = [1] * 1 + [0] * 6 + [1] * 20 + [0] * 10
    base = [0] * 1 + [1] * 6 + [1] * 20 + [0] * 10
    assert mcnemar_pvalue(method, base) == pytest.approx(0.125, abs=1e-12)
    assert mcnemar_pvalue([1, 0, 1], [1, 0, 1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="paired 0/1"):
        mcnemar_pvalue([1, 0.5], [1, 0])


def test_paired_bootstrap_of_a_gain_matches_its_normal_approximation():
    # 100 problems: 30 gained, 10 lost: mean 0.2, se = sqrt((0.4 - 0.04) / 100) = 0.06
    diffs = [1] * 30 + [-1] * 10 + [0] * 60
    lo, hi = gain_interval([diffs])
    assert lo == pytest.approx(0.2 - Z * 0.06, abs=0.02) and hi == pytest.approx(0.2 + Z * 0.06, abs=0.02)
    assert gain_interval([[0.5] * 10, [0.1] * 4]) == (pytest.approx(0.3), pytest.approx(0.3))  # no spread: exact
    # stratified: two benchmarks, the mean of their means
    lo2, hi2 = gain_interval([diffs, [0] * 100])
    assert lo2 == pytest.approx(lo / 2, abs=0.02) and hi2 == pytest.approx(hi / 2, abs=0.02)
    # a one-problem benchmark has no spread: its difference is fixed, the others are resampled
    lo3, hi3 = gain_interval([diffs, [1.0]])
    assert lo3 == pytest.approx((lo + 1) / 2, abs=0.02) and hi3 == pytest.approx((hi + 1) / 2, abs=0.02)
    # the same resamples every call: a diff is reproducible byte for byte
    assert gain_interval([diffs]) == (lo, hi)
    # several seeds: their own gains' spread widens the problems' interval (t2 * 0.05 / sqrt(3) with 0.15, 0.2, 0.25)
    spread = T2 * 0.05 / math.sqrt(3)
    wide = gain_interval([diffs], [0.15, 0.2, 0.25])
    assert wide == pytest.approx((0.2 - math.hypot(0.2 - lo, spread), 0.2 + math.hypot(hi - 0.2, spread)))
    assert gain_interval([diffs], [0.2, 0.2, 0.2]) == pytest.approx((lo, hi))


def test_verdict_allows_the_papers_rounding():
    assert verdict(16.7, (0.10, 0.40)) == "not reproduced"  # a fraction interval is not a percent one
    assert verdict(16.7, (10.0, 16.65)) == "reproduced"     # 16.7 printed may be 16.65
    assert verdict(16.7, (10.0, 16.6)) == "not reproduced"
    assert verdict(4.9, (1.0, 4.8), rounding=0.1) == "reproduced"  # a printed gain: two rounded values apart


def test_a_printed_value_stands_for_half_a_unit_of_its_last_digit():
    assert rounding(1) == pytest.approx(0.05) and rounding(3) == pytest.approx(0.0005) and rounding(0) == 0.5
    assert rounding(1, gain=True) == pytest.approx(0.1)
    assert verdict(0.658, (0.60, 0.6574), rounding(3)) == "not reproduced"  # Figure 4's fractions: 3 decimals
    assert verdict(0.658, (0.60, 0.6576), rounding(3)) == "reproduced"


def test_pass_at_k_interval_bootstraps_the_problems():
    # 10 of 30 problems always right (64/64), 20 never: each problem's estimate is 1 or 0 for every k, so the
    # interval is the bootstrap of a 10/30 proportion: near its normal interval 1/3 -+ 1.96 sqrt(2/9/30)
    counts = [[64] * 10 + [0] * 20]
    for k in (1, 8, 64):
        lo, hi = pass_at_k_interval(counts, 64, k)
        half = Z * math.sqrt((1 / 3) * (2 / 3) / 30)
        assert lo == pytest.approx(1 / 3 - half, abs=0.03) and hi == pytest.approx(1 / 3 + half, abs=0.03)
    # every problem half right: pass@1 is exactly 0.5 on each, no spread; pass@64 is 1
    assert pass_at_k_interval([[32] * 30], 64, 1) == pytest.approx((0.5, 0.5))
    assert pass_at_k_interval([[32] * 30], 64, 64) == pytest.approx((1.0, 1.0))
    # two seeds: a problem's estimate is its mean over them (1 right of 4, then 3 of 4: pass@2 = 1/2 and 1 -> 0.75)
    assert pass_at_k_interval([[1] * 5, [3] * 5], 4, 2) == pytest.approx((0.75, 0.75))


def test_table10_cells_get_a_bootstrap_interval_per_k_and_count_cells_are_exact(tmp_path):
    from weakdriven import pass_at_k

    counts = [64] * 5 + [4] * 20 + [0] * 5  # AIME2025: 30 problems
    record = {"backbone": "qwen3-4b-base", "seed": 42, "run": "wmss_lam0.5", "method": "wmss", "lam": 0.5,
              "benchmark": "AIME2025", "protocol": "passk", "n": 64 * 30, "correct": sum(counts),
              "accuracy": sum(counts) / (64 * 30), "samples_per_prompt": 64,
              "outcomes": {f"p{i}": c for i, c in enumerate(counts)},
              "pass_at_k": {str(k): float(np.mean([pass_at_k(64, c, k) for c in counts])) for k in (1, 4, 64)}}
    scores = pd.DataFrame([record])
    spec = {"benchmarks": ["AIME2025"], "label_lambda": False}
    table = TABLES["table10"]
    cells = table.cells(Inputs(scores=scores), spec)
    assert sorted(set(cells.statistic)) == ["pass@1", "pass@4", "pass@64"]
    diff = diff_against_paper("table10", table.build(Inputs(scores=scores), spec), True, cells)
    wmss = diff[(diff.column == "WMSS") & (diff.status == "compared")].set_index("row")
    assert set(wmss.interval_method) == {"bootstrap over problems"} and len(wmss) == 3
    one = wmss.loc["1"]  # measured (5 + 20 x 4/64) / 30 = 20.8 %: the paper's 17.97 lies inside 30 problems' interval
    assert one.measured == pytest.approx(100 * (5 + 20 / 16) / 30, abs=0.01)
    assert one.interval_low < 17.97 < one.interval_high and one.verdict == "reproduced"
    top = wmss.loc["64"]  # 25 of 30 problems solved at least once: 83.3 %; the paper prints 33.33
    assert top.measured == pytest.approx(83.33) and top.interval_low > 33.33 and top.verdict == "not reproduced"
    # Table 12's counts: exact, reproduced only when equal
    summaries = []
    for domain, kept in (("math", 111657), ("code", 19457), ("logic", 14880)):
        path = tmp_path / f"{domain}.summary.json"
        path.write_text(json.dumps({"domain": domain, "kept": kept}))
        summaries.append(str(path))
    t12 = TABLES["table12"]
    data = Inputs(files=summaries)
    d12 = diff_against_paper("table12", t12.build(data, {}), True, t12.cells(data, {})).set_index("row")
    assert d12.loc["Math", "verdict"] == "reproduced" and d12.loc["Math", "interval_method"] == "exact"
    assert d12.loc["Logic", "verdict"] == "not reproduced"  # 14880 printed as 14,882
    assert d12.loc["Logic", "interval_low"] == d12.loc["Logic", "interval_high"] == 14880


def records(method: str, run: str, outcomes: dict[str, list[int]], lam=None, seed=42):
    """One score record per benchmark with per-problem outcomes (greedy: one sample each)."""
    out = []
    for bench, right in outcomes.items():
        n = len(right)
        out.append({"backbone": "qwen3-4b-base", "seed": seed, "run": run, "method": method, "lam": lam,
                    "benchmark": bench, "n": n, "correct": sum(right), "accuracy": sum(right) / n,
                    "accuracy_pct": 100 * sum(right) / n, "samples_per_prompt": 1,
                    "outcomes": {f"{bench}-{i}": r for i, r in enumerate(right)}})
    return out


def test_table1_cells_carry_intervals_verdicts_and_paired_gains(tmp_path):
    """Table 1 from score records with outcomes: a benchmark cell gets Wilson's interval, an average the combined
    one, a gain the paired bootstrap; the verdict says whether the paper's printed value lies inside."""
    rng = np.random.default_rng(0)
    sft_aime = [1] * 5 + [0] * 25                         # 16.7 %: the paper's SFT AIME2025 is 13.3
    wmss_aime = [1] * 5 + [1] * 1 + [0] * 24               # one more right: 20.0 %
    sft_math = [int(x) for x in rng.random(500) < 0.60]
    wmss_math = [max(s, int(rng.random() < 0.5)) for s in sft_math]  # gains ~20 points, loses none
    rows = (records("sft", "sft", {"AIME2025": sft_aime, "MATH500": sft_math})
            + records("wmss", "wmss_lam0.5", {"AIME2025": wmss_aime, "MATH500": wmss_math}, lam=0.5))
    scores = pd.DataFrame(rows)
    spec = {"benchmarks": ["AIME2025", "MATH500"], "label_lambda": False}
    table = TABLES["table1"]
    wide = table.build(Inputs(scores=scores), spec)
    cells = table.cells(Inputs(scores=scores), spec)
    diff = diff_against_paper("table1", wide, True, cells).set_index(["group", "row", "column"])
    aime = diff.loc[("Qwen3-4B-Base", "SFT", "AIME2025")]
    lo, hi = proportion_interval(5, 30)
    assert (aime.interval_low, aime.interval_high) == pytest.approx((100 * lo, 100 * hi))
    assert aime.reported == 13.3 and aime.verdict == "reproduced" and aime.interval_method == "wilson"
    avg = diff.loc[("Qwen3-4B-Base", "SFT", "Math Avg.")]
    assert avg.interval_method == "average of benchmarks"
    assert avg.interval_low < avg.measured < avg.interval_high
    gain = diff.loc[("Qwen3-4B-Base", "WMSS", "Math Avg. Δ")]
    assert gain.interval_method == "paired bootstrap" and gain.interval_low > 0  # a real gain: the interval excludes 0
    # the paper's +4.9 lies far below a ~+11 point measured gain: not reproduced
    assert gain.reported == pytest.approx(4.9) and gain.verdict == "not reproduced"
    assert (diff[diff.status == "compared"].verdict != "").all()
    # per-benchmark gains with the exact McNemar test: AIME's single discordant problem is no evidence
    g = gains("table1", cells).set_index(["row", "column"])
    assert g.loc[("WMSS", "AIME2025 Δ"), "p_value"] == pytest.approx(1.0)
    assert not g.loc[("WMSS", "AIME2025 Δ"), "significant"]
    assert g.loc[("WMSS", "MATH500 Δ"), "p_value"] < 1e-10 and g.loc[("WMSS", "MATH500 Δ"), "significant"]
    assert g.loc[("WMSS", "MATH500 Δ"), "gain"] == pytest.approx(100 * (np.mean(wmss_math) - np.mean(sft_math)))


def test_cells_read_back_from_their_csv_give_the_same_intervals(tmp_path):
    """A table's cells file mixes score-record cells with exact ones (Table 8's shares, Figure 4's steps), whose
    numeric fields are empty: read back, the numbers are numbers again and every interval is the in-memory one."""
    rows = records("sft", "sft", {"AIME2025": [1] * 5 + [0] * 25, "MATH500": [1, 0] * 50})
    scores = pd.DataFrame(rows)
    spec = {"benchmarks": ["AIME2025", "MATH500"], "label_lambda": False}
    wide = TABLES["table1"].build(Inputs(scores=scores), spec)
    cells = pd.concat([TABLES["table1"].cells(Inputs(scores=scores), spec),
                       exact_cells(wide.assign(steps=218), ["steps"])], ignore_index=True)
    (tmp_path / "t.csv").write_text("")
    cells.to_csv(tmp_path / "t.cells.csv", index=False)
    again = read_cells(tmp_path / "t.csv")
    assert again["accuracy"].dtype.kind == "f" and again["samples_per_prompt"].dtype.kind == "f"
    pd.testing.assert_frame_equal(intervals(again), intervals(cells))
    assert set(intervals(again).interval_method) == {"wilson", "average of benchmarks", "exact"}


def test_records_without_outcomes_give_no_gain_interval_and_a_named_verdict():
    rows = records("sft", "sft", {"GSM8K": [1, 0, 1, 1]}) + records("wmss", "wmss_lam0.5", {"GSM8K": [1, 1, 1, 1]},
                                                                     lam=0.5)
    for r in rows:
        r.pop("outcomes")
    scores = pd.DataFrame(rows)
    spec = {"benchmarks": ["GSM8K"], "label_lambda": False}
    cells = TABLES["table1"].cells(Inputs(scores=scores), spec)
    diff = diff_against_paper("table1", TABLES["table1"].build(Inputs(scores=scores), spec), True, cells)
    diff = diff[diff.group == "Qwen3-4B-Base"]
    gain = diff.set_index(["row", "column"]).loc[("WMSS", "Math Avg. Δ")]
    assert gain.interval_method.startswith("none") and gain.verdict == "no interval"
    # a benchmark cell needs only n and the accuracy
    assert diff.set_index(["row", "column"]).loc[("SFT", "GSM8K")].interval_method == "wilson"
    assert json.loads(json.dumps(cells.outcomes.tolist())) == [""] * len(cells)


def test_a_gain_whose_baseline_lacks_a_benchmark_is_an_error_naming_it():
    rows = records("sft", "sft", {"GSM8K": [1, 0, 1, 1]}) + records("wmss", "wmss_lam0.5",
                                                                     {"GSM8K": [1, 1, 1, 1], "MAWPS": [1, 0]}, lam=0.5)
    cells = TABLES["table1"].cells(Inputs(scores=pd.DataFrame(rows)), {"benchmarks": ["GSM8K", "MAWPS"],
                                                                       "label_lambda": False})
    with pytest.raises(ValueError, match=r"benchmarks \['MAWPS'\] are scored on one side only"):
        diff_against_paper("table1", pd.DataFrame({"group": [], "row": []}), True, cells)


def test_a_one_run_gain_is_significant_by_mcnemar_not_by_its_bootstrap_interval():
    # AIME: 5 problems gained, none lost. Every resample keeps a gain > 0 with probability 1 - (25/30)^30 ~ 0.996,
    # so the bootstrap interval excludes 0; the exact McNemar test gives p = 2 * (1/2)^5 = 0.0625: not significant
    sft = [0] * 5 + [1] * 10 + [0] * 15
    rows = (records("sft", "sft", {"AIME2025": sft})
            + records("wmss", "wmss_lam0.5", {"AIME2025": [1] * 5 + sft[5:]}, lam=0.5))
    cells = TABLES["table1"].cells(Inputs(scores=pd.DataFrame(rows)), {"benchmarks": ["AIME2025"],
                                                                       "label_lambda": False})
    g = gains("table1", cells).set_index(["row", "column"]).loc[("WMSS", "AIME2025 Δ")]
    assert g.interval_low > 0 and g.p_value == pytest.approx(0.0625) and not g.significant
    assert g.gain == pytest.approx(100 * 5 / 30)


def test_a_gain_over_several_seeds_pairs_each_seed_with_the_baseline_of_the_same_seed():
    # 40 problems. Seed 1: SFT 20 right, WMSS 24; seed 2: SFT 24, WMSS 28. Paired by seed both gain 0.1: no spread,
    # the interval is the problems' bootstrap alone (a mix-up of seeds, 24 - 24 and 28 - 20, would add t1 * s / sqrt 2)
    def right(k):
        return [1] * k + [0] * (40 - k)

    rows = (records("sft", "sft", {"AMC23": right(20)}, seed=1) + records("sft", "sft", {"AMC23": right(24)}, seed=2)
            + records("wmss", "wmss_lam0.5", {"AMC23": right(24)}, lam=0.5, seed=1)
            + records("wmss", "wmss_lam0.5", {"AMC23": right(28)}, lam=0.5, seed=2))
    spec = {"benchmarks": ["AMC23"], "label_lambda": False}
    cells = TABLES["table1"].cells(Inputs(scores=pd.DataFrame(rows)), spec)
    span = intervals(cells).set_index(["row", "column"]).loc[("WMSS", "Math Avg. Δ")]
    # each problem's difference of its means over the two seeds, in the cells' order of problem ids
    mean = {f"AMC23-{i}": 0.5 if 20 <= i < 28 else 0.0 for i in range(40)}
    problems = gain_interval([[mean[p] for p in sorted(mean)]])
    assert (span.interval_low, span.interval_high) == pytest.approx((100 * problems[0], 100 * problems[1]))
    assert np.isnan(span.p_value)  # two runs a side: no McNemar
    # seed 2 gains 8 problems instead: per-seed gains 0.1 and 0.2 add their spread t1 * 0.0707 / sqrt(2) = 0.635
    rows[3] = records("wmss", "wmss_lam0.5", {"AMC23": right(32)}, lam=0.5, seed=2)[0]
    wide = intervals(TABLES["table1"].cells(Inputs(scores=pd.DataFrame(rows)), spec)).set_index(
        ["row", "column"]).loc[("WMSS", "Math Avg. Δ")]
    mean = {f"AMC23-{i}": 0.5 if 20 <= i < 32 else 0.0 for i in range(40)}
    problems = gain_interval([[mean[p] for p in sorted(mean)]])
    spread = 12.706204736174698 * math.sqrt(0.005) / math.sqrt(2)
    assert wide.interval_low == pytest.approx(100 * (0.15 - math.hypot(0.15 - problems[0], spread)))
    assert wide.interval_high == pytest.approx(100 * (0.15 + math.hypot(problems[1] - 0.15, spread)))
    # a method seed without its baseline seed cannot be paired
    lone = pd.DataFrame(rows[:1] + rows[2:])
    with pytest.raises(ValueError, match=r"seeds \[1, 2\] and the baseline's \[1\]"):
        intervals(TABLES["table1"].cells(Inputs(scores=lone), spec))
