"""The workflow through a real SLURM: a one-node cluster (tests/slurm/start_cluster.sh) runs every rule of the
embedded preset with profiles/slurm-test and the shipped workflow profile, and its tables and models equal a local
run's byte for byte; the srun-torchrun launcher trains inside a SLURM allocation like one process."""

import hashlib
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
from conftest import REPO, snakemake

from weakdriven import paths

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"),
                       reason="starting slurmctld/slurmd needs root (CI runs it)"),
]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cluster():
    started = subprocess.run(["bash", str(REPO / "tests" / "slurm" / "start_cluster.sh"), "2", "16000"],
                             capture_output=True, text=True, timeout=600)
    assert started.returncode == 0, started.stdout + started.stderr
    return started.stdout


EXP, BB, SEED, PROTOCOL = "embedded", "tiny-qwen3", 42, "paper-greedy"
WHICH = paths.entropy_which(SEED, "sft@ck200")
# One job of every rule but the roots, each made again under SLURM from the local run's inputs (a target and its
# own output forced: nothing downstream of it is in the DAG): every output is the local run's bytes, so a table made
# from SLURM-made inputs equals the local one by induction, at a small fraction of the whole preset's time. Chains
# (train -> generate -> score_code, the entropies, the table -> its diff -> the report) also run one on another.
ONE_JOB_EACH = {
    "subsample": paths.subsample(EXP, "code", 64, SEED),
    "method_data": paths.method_data(EXP, BB, "code", SEED, "spin", "generated"),  # SPIN's answers
    "train": paths.final_model(EXP, BB, "code", SEED, "neftune"),
    "generate": paths.generations_dir(EXP, BB, "code", SEED, "neftune", PROTOCOL),
    "score_code": paths.scores(EXP, BB, "code", SEED, "neftune", "synth-code", PROTOCOL),
    "score": paths.scores(EXP, BB, "math", SEED, "sft", "synth-copy", PROTOCOL),
    "entropy_shard": paths.entropy_shard(EXP, BB, "math", WHICH, 0, 1),
    "merge_entropy": paths.entropy(EXP, BB, "math", WHICH),
    "entropy_gap": paths.diagnostics(EXP, BB, "math", SEED, "entropy_gap/ck200.json"),  # Figure 5's weak side
    "wdds_select": paths.wdds_active(EXP, BB, "math", SEED, "m1", "wmss_lam0.5"),  # Figure 3's iteration 2
    "eval_snapshots": paths.snapshot_scores(EXP, BB, "math", SEED, "wdjt_frozen_lam0.5", "synth-copy"),
    "logit_stats": paths.diagnostics(EXP, BB, "math", SEED, "logit_stats.json"),
    "table": paths.table(EXP, "table5"),
    "table_diff": paths.table_diff(EXP, "table5"),
    "report_table": paths.report_part(EXP, "table5.html"),
    "report_plot": paths.report_part(EXP, "figure5.svg"),
    "diff": paths.diff(EXP, "csv"),
    "report_scatter": paths.report_part(EXP, "scatter.svg"),
}
# The roots (data, M0, an SFT) and the code and logic sets' jobs, made again last (a root made again is newer than
# everything the local run made from it): only these jobs, not the runs downstream of them.
ROOTS = {paths.train_data(EXP, "math"): ("make_embedded_data",), paths.base_model(EXP, BB): ("init_backbone",),
         paths.final_model(EXP, BB, "code", SEED, "sft"): ("sft",),
         paths.train_data(EXP, "code"): ("code_candidates", "code_verify", "code_merge"),
         paths.train_data(EXP, "logic"): ("logic_candidates", "logic_teacher", "logic_distill", "logic_merge")}
# Files a job writes that are not a function of its inputs: a training summary's wall-clock seconds (Table 11's
# minutes, which reach diff.csv: compared without them below), Snakemake's directory stamps
NOT_COMPARED = {".snakemake_timestamp", "train_summary.json"}


def ran_rules(log: str) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):$", log, re.M))


def submitted_jobs(log: str) -> list[str]:
    return re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)


def files(output) -> list:
    return sorted(p for p in output.rglob("*") if p.is_file() and p.name not in NOT_COMPARED) \
        if output.is_dir() else [output]


def assert_same_bytes(local, slurm, rel: str) -> None:
    """``rel`` (a file or a directory's files) made again under SLURM, with the local run's bytes (digests: pytest's
    diff of two differing multi-MB byte strings would run for hours)."""
    mine = files(local / rel)
    assert mine, rel
    for path in mine:
        other = slurm / path.relative_to(local)
        assert other.stat().st_mtime > path.stat().st_mtime, f"{other}: not made again"
        if other.name == "diff.csv":  # the Table 11 rows hold the jobs' measured wall-clock minutes
            time = "Total training time (min)"
            mine_df, theirs = pd.read_csv(path), pd.read_csv(other)
            pd.testing.assert_frame_equal(mine_df[mine_df.column != time].reset_index(drop=True),
                                          theirs[theirs.column != time].reset_index(drop=True))
            continue
        assert sha256(other) == sha256(path), f"{other.relative_to(slurm)} differs from the local run's"


@pytest.mark.e2e
def test_every_rule_of_the_embedded_preset_runs_through_slurm_and_equals_the_local_run(cluster, embedded_local,
                                                                                       tmp_path, monkeypatch):
    """A copy of the local run (outputs and Snakemake's records): the SLURM run (the shipped workflow profile: its
    resources fit a tiny model) makes one job of every rule again, then the DAG's roots (data, M0, an SFT) and the
    code and logic sets' jobs; every rule of the local run ran as a SLURM job, and every output made again is the
    local run's bytes (models, data sets, generations, scores, entropies, tables, the report's parts)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as in the local run: identical float reductions
    local = embedded_local
    slurm = tmp_path / "slurm"
    shutil.copytree(local, slurm, symlinks=True)  # copy2: the modification times Snakemake compares are kept
    config = ("--configfile", "config/embedded.yaml")
    untouched = snakemake(slurm, "-n", *config)
    assert "Nothing to be done" in untouched.stdout + untouched.stderr  # the copy is the finished local run
    targets = list(ONE_JOB_EACH.values())  # targets first: options that take lists end last
    ran = snakemake(slurm, *targets, "--profile", "profiles/slurm-test", *config, "--forcerun", *targets,
                    timeout=1800)
    assert ran.returncode == 0, ran.stderr[-3000:]
    log = ran.stdout + ran.stderr
    assert ran_rules(log) == set(ONE_JOB_EACH)
    assert re.search(r"^total\s+(\d+)$", log, re.M)[1] == str(len(ONE_JOB_EACH))  # one job each, no more
    rules = [rule for names in ROOTS.values() for rule in names]
    again = snakemake(slurm, *ROOTS, "--profile", "profiles/slurm-test", *config, "--forcerun", *rules, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    log_roots = again.stdout + again.stderr
    assert ran_rules(log_roots) == set(rules)
    local_log = "\n".join(p.read_text() for p in (local / ".snakemake" / "log").glob("*.log"))
    assert ran_rules(log) | ran_rules(log_roots) == ran_rules(local_log) - {"all"}  # every rule, through SLURM:
    submitted = submitted_jobs(log) + submitted_jobs(log_roots)
    total = sum(int(re.search(r"^total\s+(\d+)$", text, re.M)[1]) for text in (log, log_roots))
    assert len(submitted) == total, log[-3000:]
    for job_id in submitted[-10:]:  # SLURM itself knows them, and they completed (the last ones: slurmctld may
        shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True)  # forget old jobs)
        assert "JobState=COMPLETED" in shown.stdout, shown.stdout + shown.stderr
    slurm_logs = {p.stem for p in (slurm / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert slurm_logs >= set(submitted)
    for rel in ONE_JOB_EACH.values():
        assert_same_bytes(local, slurm, rel)
    for model in (paths.base_model(EXP, BB), paths.m1(EXP, BB, "code", SEED),
                  paths.final_model(EXP, BB, "code", SEED, "sft"), paths.logic_teacher(EXP, BB)):
        assert_same_bytes(local, slurm, f"{model}/model.safetensors")
    for data in (paths.train_data(EXP, "math"), paths.train_data(EXP, "code"), paths.train_data(EXP, "logic")):
        assert_same_bytes(local, slurm, data)


def test_srun_torchrun_launcher_trains_like_one_process_inside_a_slurm_job(cluster, tmp_path, tiny_training_inputs):
    """cluster.launcher srun-torchrun, as a training rule runs it (weakdriven.cluster.launch_prefix): srun starts
    torchrun on the job's node, 2 processes meet at the c10d rendezvous named by SLURM's node list, DDP on CPU."""
    from test_launcher import BIN, assert_same_training, train, train_command

    from weakdriven.cluster import launch_prefix

    inputs = tiny_training_inputs
    train(inputs, tmp_path / "one", [str(BIN / "weakdriven")])
    prefix = launch_prefix("srun-torchrun", 1, 2)
    command = " ".join(f"'{c}'" if " " in c or "{" in c else c for c in train_command(inputs, tmp_path / "two", []))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    ran = subprocess.run(["salloc", "--nodes", "1", "--cpus-per-task", "2", "--mem", "4000", "bash", "-c",
                          f"{prefix} {command}"], capture_output=True, text=True, env=env, timeout=900)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-4000:]
    assert "salloc: Granted job allocation" in ran.stderr
    assert_same_training(tmp_path / "one", tmp_path / "two", processes=2)
