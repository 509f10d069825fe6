"""The Snakemake workflow: lint, the paper's dry-run grid, and the embedded preset end to end."""

import json
import re

import pandas as pd
import pytest
import yaml
from conftest import REPO, mutate, snakemake, workflow_copy


def job_counts(stdout: str) -> dict[str, int]:
    block = stdout.split("Job stats:")[1].split("Reasons:")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def test_lint_is_clean():
    result = snakemake(REPO, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_paper_dry_run_lists_the_full_grid():
    result = snakemake(REPO, "-n")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    # Table 1: 3 backbones x {sft, wmss}; Table 2 adds wdds_only and wdjt_only on Qwen3-4B-Base; 1 seed.
    assert counts["sft"] == 3 and counts["train_continue"] == 3 + 2
    assert counts["init_backbone"] == 3 and counts["wdds_select"] == 3
    assert counts["merge_entropy"] == 3 * 2 and counts["entropy_shard"] == 3 * 2 * 8  # M0 and M1, 8 shards each
    assert counts["generate"] == counts["score"] == 3 * 2 * 7 + 2 * 3  # table1 runs x 7 + table2's extra runs x 3
    assert counts["prepare_benchmark"] == 7 and counts["tables"] == 1 and counts["logit_stats"] == 1


def test_dry_run_expands_seeds_and_lambdas_with_one_sft_per_backbone_and_seed(tmp_path, paper_raw):
    work = workflow_copy(tmp_path)
    raw = mutate(mutate(paper_raw, "seeds", [42, 7]), "tables.table1.lambdas", [0.3, 0.5])
    (work / "grid.yaml").write_text(yaml.safe_dump(raw))
    result = snakemake(work, "-n", "--configfile", "grid.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["sft"] == 3 * 2                       # once per (backbone, seed), shared by every method
    assert counts["merge_entropy"] == 3 + 3 * 2  # M0 once per backbone, M1 once per (backbone, seed)
    assert counts["train_continue"] == 3 * 2 * 2 + 2 * 2  # wmss x lam on 3 backbones; table2's two ablations
    runs = set(re.findall(r"results/paper/runs/qwen3-4b-base/seed7/(\w+?(?:_lam[0-9.]+)?)/final", result.stdout))
    assert {"sft", "wmss_lam0.3", "wmss_lam0.5", "wdds_only", "wdjt_only_lam0.5"} <= runs


def test_m1_from_own_run_adds_a_separate_one_epoch_sft(tmp_path, paper_raw):
    work = workflow_copy(tmp_path)
    (work / "own.yaml").write_text(yaml.safe_dump(mutate(paper_raw, "training.m1_from", "own_run")))
    result = snakemake(work, "-n", "-p", "--configfile", "own.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["sft"] == 3 and counts["sft_m1"] == 3
    assert "--epochs 1 --out results/paper/runs/qwen3-4b-base/seed42/sft/epoch1" in result.stdout


@pytest.mark.e2e
def test_embedded_preset_end_to_end(tmp_path):
    """The README's demo on a copy of the workflow: data -> M0 -> SFT -> WMSS + ablations -> eval -> tables."""
    work = workflow_copy(tmp_path)
    run = snakemake(work, "--profile", "profiles/local", "--configfile", "config/embedded.yaml", timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    tables = work / "results" / "embedded" / "tables"
    t1, t2 = pd.read_csv(tables / "table1.csv"), pd.read_csv(tables / "table2.csv")
    assert list(t1.columns) == ["group", "row", "synth-copy", "synth-next", "synth-add", "Math Avg."]
    assert list(t2.row) == ["Baseline", "+ WD-DS", "+ WD-JT", "WMSS"]
    assert t1.set_index("row").loc["SFT", ["synth-copy", "synth-next", "synth-add"]].max() > 20  # clearly above zero
    diff = pd.read_csv(tables / "diff.csv")
    assert set(diff.status) == {"not comparable"} and {"table1", "table2", "table6", "table7"} == set(diff.table)
    diag = work / "results" / "embedded" / "diagnostics" / "tiny-qwen3" / "seed42"
    t7 = pd.read_csv(diag / "table7.csv")
    assert list(t7.columns) == ["group", "row", "Weak init", "Strong Pre", "Strong Post", "Δ", "Δ (%)"] and len(t7) == 8
    stats = json.loads((diag / "logit_stats.json").read_text())
    assert 0 < stats["lambda_crossover"] < 1 and stats["n_examples"] == 200
    assert stats["strong_pre"]["entropy"] < stats["weak_init"]["entropy"]  # SFT sharpened M0 on its own data
    assert "not comparable" in (tables / "diff.md").read_text()
    runs = work / "results" / "embedded" / "runs" / "tiny-qwen3" / "seed42"
    assert (runs / "sft" / "epoch1" / "model.safetensors").is_file()  # M1, reused by every other method
    active = json.loads((runs / "wdds_active.json").read_text())
    assert active["n_draws"] == 1500 and 0 < active["n_unique"] <= 1500
    assert active["steps_full"] == 94 and active["steps_active"] == 94  # 1500 rows / 16; no dedup in the preset
    gen = (work / "results/embedded/eval/tiny-qwen3/seed42/wmss_lam0.5/synth-copy.generations.jsonl").read_text()
    record = json.loads(gen.splitlines()[0])
    assert {"prompt_id", "sample_index", "text", "prompt_tokens", "completion_tokens", "finish_reason", "protocol",
            "checkpoint_sha256"} <= set(record)
    again = snakemake(work, "-n", "--profile", "profiles/local", "--configfile", "config/embedded.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
    # Changing one WD-DS setting reruns the selection and what depends on it, never M0, SFT or the entropies.
    raw = yaml.safe_load((work / "config" / "embedded.yaml").read_text())
    raw["wmss"]["formula"] = "paper_v2"
    (work / "changed.yaml").write_text(yaml.safe_dump(raw))
    changed = job_counts(snakemake(work, "-n", "--configfile", "changed.yaml").stdout)
    assert changed["wdds_select"] == 1 and changed["train_continue"] == 2  # wmss and wdds_only; wdjt_only uses all data
    assert not {"init_backbone", "sft", "entropy_shard", "merge_entropy", "make_embedded_data"} & set(changed)
