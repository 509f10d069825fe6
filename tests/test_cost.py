"""`weakdriven cost TARGET`: the jobs a target still needs, priced from the config's Table 11 calibration."""

import subprocess
from dataclasses import replace

import pytest
from conftest import BIN, REPO

from weakdriven.config import load_config
from weakdriven.cost import Job, cost_table, job_gpu_hours, parse_jobs


@pytest.fixture(scope="module")
def exp():
    return load_config(REPO / "config" / "config.yaml")


def test_jobs_are_priced_from_table_11(exp):
    bb = {"backbone": "qwen3-4b-base", "domain": "math", "seed": "42"}
    # Table 11: one SFT epoch on Qwen3-4B-Base = 4h30m x 8 GPUs = 36 GPU-h; the SFT baseline trains 2 epochs
    assert job_gpu_hours(Job("sft", bb), exp) == pytest.approx(72.0)
    assert job_gpu_hours(Job("sft", {**bb, "backbone": "qwen3-8b-base"}), exp) == pytest.approx(72.0 * 8.2 / 4.0)
    assert job_gpu_hours(Job("train", {**bb, "run": "wmss_lam0.5"}), exp) == pytest.approx(72.0)  # 2 models
    assert job_gpu_hours(Job("train", {**bb, "run": "wdds_only"}), exp) == pytest.approx(36.0)
    # NEFTune: SFT's cost; 1 epoch after the warm start (Table 11: 4h30m), or SFT's 2 epochs from M0
    assert job_gpu_hours(Job("train", {**bb, "run": "neftune"}), exp) == pytest.approx(36.0)
    from_base = replace(exp, methods={"neftune": replace(exp.methods["neftune"], start="base")})
    assert job_gpu_hours(Job("train", {**bb, "run": "neftune"}), from_base) == pytest.approx(72.0)
    # UNDIAL: 1 epoch after the warm start with a frozen teacher, Table 11's 4h31m
    assert job_gpu_hours(Job("train", {**bb, "run": "undial"}), exp) == pytest.approx(36.0 * 271 / 270)
    assert job_gpu_hours(Job("entropy_shard", {**bb, "which": "base", "shard": "0", "shards": "8"}), exp) == \
        pytest.approx(36.0 * 0.33 / 8)
    # one generation job per model and protocol, over the benchmarks its tables read of it: the math run's Table 1's
    # 7 math sets, the code run's 4 code sets; Table 10's three math sets with 64 samples each
    math_rows, code_rows = 30 + 500 + 40 + 254 + 1319 + 238 + 1000, 164 + 378 + 1140 + 1055
    assert job_gpu_hours(Job("generate", {**bb, "run": "sft", "protocol": "paper-greedy"}), exp) == \
        pytest.approx(math_rows * 2.0 / 3600)
    code = {**bb, "domain": "code"}
    assert job_gpu_hours(Job("generate", {**code, "run": "sft", "protocol": "paper-greedy"}), exp) == \
        pytest.approx(code_rows * 2.0 / 3600)
    # a domain's runs are priced on its own set: the code set's 19,457 rows, the logic set's candidates
    assert job_gpu_hours(Job("sft", code), exp) == pytest.approx(72.0 * 19457 / 111657)
    assert job_gpu_hours(Job("sft", {**bb, "domain": "logic"}), exp) == \
        pytest.approx(72.0 * (12567 + 1569 + 4638) / 111657)  # no expected count: the splits' release sizes
    assert job_gpu_hours(Job("method_data", {**code, "run": "spin", "part": "generated"}), exp) == \
        pytest.approx(19457 * exp.raw["cost"]["training_gpu_seconds_per_sample"] / 3600)  # fewer rows than 20K
    assert job_gpu_hours(Job("generate", {**bb, "run": "wmss_lam0.5", "protocol": "passk"}), exp) == \
        pytest.approx((30 + 500 + 40) * 64 * 2.0 / 3600)
    assert job_gpu_hours(Job("eval_snapshots", {**bb, "run": "sft", "benchmark": "GSM8K"}), exp) == \
        pytest.approx(4 * 1319 * 2.0 / 3600)  # four relative checkpoints
    assert job_gpu_hours(Job("init_backbone", {"backbone": "qwen3-4b-base"}), exp) == 0.0  # CPU / download
    assert job_gpu_hours(Job("tables", {}), exp) == 0.0


def test_dry_run_blocks_are_parsed_with_their_wildcards():
    text = ("rule sft:\n    input: a\n    wildcards: backbone=qwen3-4b-base, seed=42\n    resources: gpu=8\n"
            "\nlocalrule all:\n    input: x\n\n"
            "rule generate:\n    wildcards: backbone=b, seed=1, run=m1, benchmark=GSM8K\n")
    assert parse_jobs(text) == [Job("sft", {"backbone": "qwen3-4b-base", "seed": "42"}), Job("all", {}),
                                Job("generate", {"backbone": "b", "seed": "1", "run": "m1", "benchmark": "GSM8K"})]


def test_cost_command_prints_each_tables_gpu_hours(exp):
    result = subprocess.run([str(BIN / "weakdriven"), "cost", "results/paper/tables/table3.csv"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:-1]}
    # Table 3 needs Qwen3-4B-Base's SFT (M1), WD-JT only and the frozen base
    assert lines["sft"] == ["1", "72.00"] and lines["train"] == ["2", "144.00"]
    assert result.stdout.splitlines()[-1].startswith("results/paper/tables/table3.csv: ")
    assert "GPU-hours" in result.stdout.splitlines()[-1]


def test_cost_table_totals(exp):
    jobs = [Job("sft", {"backbone": "qwen2.5-3b", "seed": "42"}), Job("tables", {})]
    table = cost_table(jobs, exp)
    assert list(table.rule) == ["sft", "tables", "total"]
    assert table.iloc[-1].gpu_hours == pytest.approx(72.0 * 3.1 / 4.0, abs=0.01) and table.iloc[-1].jobs == 2
