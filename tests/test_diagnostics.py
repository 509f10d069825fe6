"""Logit statistics of Tables 6/7: hand-computed values, and the paper's own Δ / % columns from its raw values."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from weakdriven import reported_numbers
from weakdriven.diagnostics import (
    TABLE6_ROWS,
    TABLE7_ROWS,
    aggregate,
    crossover_from_stats,
    position_statistics,
    table6,
    table7,
)
from weakdriven.tables.diagnostics import logit_cells, logit_table
from weakdriven.tables.verdicts import intervals, logit_interval


def test_position_statistics_hand_computed():
    z = torch.tensor([[4.0, 0.0, 2.0, -2.0]])  # target 0
    s = {k: float(v[0]) for k, v in position_statistics(z, torch.tensor([0])).items()}
    assert s["target"] == 4.0 and s["distractor_mean"] == 0.0 and s["gap"] == 4.0
    assert s["mean"] == 1.0
    assert s["std"] == pytest.approx(math.sqrt((9 + 1 + 1 + 9) / 4))
    assert s["centered_norm"] == pytest.approx(math.sqrt(20))  # = sqrt(V) * std, Eq. (48)
    assert s["l2_norm"] == pytest.approx(math.sqrt(16 + 4 + 4))
    p = torch.softmax(z.double(), -1)[0]
    assert s["max_prob"] == pytest.approx(float(p[0]))
    assert s["entropy"] == pytest.approx(float(-(p * p.log()).sum()))


def test_aggregate_averages_but_keeps_extremes():
    z = torch.tensor([[1.0, 0.0], [10.0, -5.0]])
    agg = aggregate(position_statistics(z, torch.tensor([0, 0])))
    assert agg["max"] == 10.0 and agg["min"] == -5.0
    assert agg["target"] == pytest.approx(5.5)


def paper_values(table, column):
    df = reported_numbers(table)
    return {r: v for r, c, v in zip(df.row, df.column, df.value) if c == column}


def test_table_formulas_reproduce_the_papers_derived_columns():
    t7 = reported_numbers("table7")
    cols = {c: paper_values("table7", c) for c in ("Weak init", "Strong Pre", "Strong Post")}
    keys = {label: key for key, label in TABLE7_ROWS.items()}
    as_stats = {c: {keys[r]: v for r, v in vals.items()} for c, vals in cols.items()}
    ours = table7(as_stats["Weak init"], as_stats["Strong Pre"], as_stats["Strong Post"]).set_index("row")
    for row, col, value in zip(t7.row, t7.column, t7.value):
        assert ours.loc[row, col] == pytest.approx(value, abs=0.011), (row, col)
    t6 = reported_numbers("table6")
    keys6 = {label: key for key, label in TABLE6_ROWS.items()}
    sft = {keys6[r]: v for r, v in paper_values("table6", "SFT").items()}
    wmss = {keys6[r]: v for r, v in paper_values("table6", "WMSS").items()}
    ours6 = table6(sft, wmss).set_index("row")
    for row, col, value in zip(t6.row, t6.column, t6.value):
        assert ours6.loc[row, col] == pytest.approx(value, abs=0.051), (row, col)
    # Eq. (17) from the paper's Table 7 centered norms
    assert crossover_from_stats(as_stats["Strong Pre"], as_stats["Weak init"]) == pytest.approx(0.490, abs=5e-4)


def test_logit_intervals_bootstrap_the_examples_paired_across_models():
    """A mean over positions is Σ sums / Σ positions of the resampled examples; a Δ or % column resamples the same
    examples of both models, so a constant per-position shift has a zero-width interval."""
    rng = np.random.default_rng(0)
    positions = rng.integers(5, 50, size=40)
    per_position = rng.normal(3.0, 1.0, size=40)
    post = {str(i): [float(m * p), int(p)] for i, (m, p) in enumerate(zip(per_position, positions))}
    pre = {i: [s - 0.5 * p, p] for i, (s, p) in post.items()}  # every position 0.5 lower
    point = sum(s for s, _ in post.values()) / positions.sum()
    lo, hi = logit_interval(post, None, "mean", "value")
    assert lo < point < hi and hi - lo < 1.0
    assert logit_interval(post, pre, "mean", "difference") == pytest.approx((0.5, 0.5))
    doubled = {i: [2 * s, p] for i, (s, p) in pre.items()}
    assert logit_interval(doubled, pre, "mean", "relative") == pytest.approx((100.0, 100.0))
    # z_max: the largest of the examples' maxima; a resample that drops the top example lowers it
    maxima = {str(i): float(v) for i, v in enumerate([1.0] * 39 + [9.0])}
    lo, hi = logit_interval(maxima, None, "max", "value")
    assert hi == 9.0 and lo == 1.0
    with pytest.raises(ValueError, match="different examples"):
        logit_interval(post, {"0": [1.0, 1]}, "mean", "difference")


def test_table6_and_7_cells_hold_each_examples_share_and_the_diff_gives_their_intervals():
    rng = np.random.default_rng(1)
    rows = []
    for model in ("weak_init", "strong_pre", "strong_post", "sft", "wmss"):
        for e in range(30):
            p = int(rng.integers(10, 40))
            rows.append({"model": model, "example": e, "positions": p, "max": float(rng.normal(40, 5)),
                         "min": float(rng.normal(-25, 3)),
                         **{k: float(rng.normal(2, 0.5) * p) for k in ("target", "distractor_mean", "gap", "mean",
                                                                       "std", "centered_norm", "l2_norm", "entropy",
                                                                       "max_prob")}})
    examples = pd.DataFrame(rows)
    for table, layout in (("table6", TABLE6_ROWS), ("table7", TABLE7_ROWS)):
        cells = logit_cells(table, examples)
        spans = intervals(cells).set_index(["row", "column"])
        assert set(spans.interval_method) == {"bootstrap over examples"} and len(spans) == len(layout) * (
            3 if table == "table6" else 5)
        # the table's own value of each cell lies inside its interval
        stats = {m: {k: (g[k].max() if k == "max" else g[k].min() if k == "min" else g[k].sum() / g.positions.sum())
                     for k in layout} for m, g in examples.groupby("model")}
        wide = logit_table(table, stats).set_index("row")
        for (row, column), span in spans.iterrows():
            assert span.interval_low - 0.06 <= wide.loc[row, column] <= span.interval_high + 0.06, (table, row, column)
