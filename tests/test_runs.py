"""Run names: what a run trains, from which weak/strong start (Algorithm 1's outer loop, Figure 5's weak sweep)."""

import re

import pytest

from weakdriven.methods import BASE, M1, METHODS, RUN_PATTERN, Run, parse_run


@pytest.mark.parametrize("name", ["sft", "wdds_only", "wmss_lam0.5", "wmss_lam0.5_k3", "wdjt_only_lam0.3",
                                  "wdjt_frozen_lam0.5", "wdjt_only_lam0.5_weakck50", "wmss_lam1_weakck200"])
def test_names_round_trip_and_match_the_workflow_pattern(name):
    assert Run.parse(name).name == name
    assert re.fullmatch(RUN_PATTERN, name)


def test_algorithm1_chains_each_outer_iteration_from_the_previous_one():
    wmss = METHODS["wmss"]
    t1, t2, t3 = (Run(wmss, 0.5, t) for t in (1, 2, 3))
    assert (t1.weak_key, t1.strong_key) == (BASE, M1)                   # (M0, M1)
    assert (t2.weak_key, t2.strong_key) == (M1, "wmss_lam0.5")          # (M1, M2)
    assert (t3.weak_key, t3.strong_key) == ("wmss_lam0.5", "wmss_lam0.5_k2")  # (M2, M3)
    assert t3.previous() == t2 and t1.previous() is None


def test_figure5_runs_take_an_sft_snapshot_as_weak_side():
    run = Run.parse("wdjt_only_lam0.5_weakck100")
    assert (run.method.name, run.lam, run.weak, run.weak_key, run.strong_key) == (
        "wdjt_only", 0.5, "ck100", "sft@ck100", M1)


def test_frozen_base_is_wdjt_only_with_a_frozen_weak_branch():
    frozen, only = METHODS["wdjt_frozen"], METHODS["wdjt_only"]
    assert frozen.freeze_weak and not only.freeze_weak
    assert (frozen.loss, frozen.data, frozen.uses_lambda) == (only.loss, only.data, only.uses_lambda)


@pytest.mark.parametrize("name, message", [
    ("grpo", "unknown run 'grpo'"),
    ("wmss", "needs a lambda"),
    ("sft_lam0.5", "takes no lambda"),
    ("wdjt_only_lam0.5_k2", "only iterative methods"),
    ("wdds_only_weakck50", "mixed-logit method"),
    ("wmss_lam0.5_k2_weakck50", "at t = 1"),
    ("wmss_lam0.5_weakstep50", "unknown run"),
])
def test_bad_run_names_are_refused_with_the_reason(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Run.parse(name)


def test_parse_run_keeps_its_contract():
    assert parse_run("wmss_lam0.5_k2") == (METHODS["wmss"], 0.5)
    assert parse_run("sft") == (METHODS["sft"], None)
