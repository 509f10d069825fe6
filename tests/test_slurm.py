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


EXP, BB, SEED = "embedded", "tiny-qwen3", 42
# Outputs of the local run whose jobs the SLURM run is forced to redo, with everything downstream of them: together
# with the roots and the training sets' own jobs (ROOTS, below) every rule of the embedded DAG runs as a SLURM job,
# at a fraction of the whole run's time.
SLICE = [
    paths.final_model(EXP, BB, "math", SEED, "wdjt_only_lam0.5_weakck200"),  # train -> generate -> score -> Figure 5
    # entropy_shard, merge, entropy_gap
    paths.entropy_shard(EXP, BB, "math", paths.entropy_which(SEED, "sft@ck200"), 0, 1),
    paths.wdds_active(EXP, BB, "math", SEED, "m1", "wmss_lam0.5"),  # wdds_select -> Figure 3's iteration 2
    paths.snapshot_scores(EXP, BB, "math", SEED, "wdjt_frozen_lam0.5", "synth-copy"),  # eval_snapshots -> Table 3
    paths.diagnostics(EXP, BB, "math", SEED, "logit_stats.json"),  # logit_stats -> Tables 6 and 7
    paths.subsample(EXP, "math", 64, SEED),  # subsample -> method_data (SPIN's answers) -> SPIN -> Table 1
    paths.scores(EXP, BB, "code", SEED, "sft", "synth-code", "paper-greedy"),  # score_code -> Table 4
]
# The roots (data, M0, SFT) and the code and logic sets' jobs, redone as targets: only these jobs, not every code
# and logic run downstream of them (their outputs' bytes are compared with the local run's instead).
ROOTS = {paths.train_data(EXP, "math"): ("make_embedded_data",), paths.base_model(EXP, BB): ("init_backbone",),
         paths.final_model(EXP, BB, "math", SEED, "sft"): ("sft",),
         paths.train_data(EXP, "code"): ("code_candidates", "code_verify", "code_merge"),
         paths.train_data(EXP, "logic"): ("logic_candidates", "logic_teacher", "logic_distill", "logic_merge")}


def ran_rules(log: str) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):$", log, re.M))


def submitted_jobs(log: str) -> list[str]:
    return re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)


@pytest.mark.e2e
def test_every_rule_of_the_embedded_preset_runs_through_slurm_and_equals_the_local_run(cluster, embedded_local,
                                                                                       tmp_path, monkeypatch):
    """A copy of the local run (outputs and Snakemake's records): the SLURM run (the shipped workflow profile: its
    resources fit a tiny model) is forced to redo a slice of its jobs and everything downstream, then the DAG's roots
    (data, M0, SFT) and the code and logic sets' jobs; every rule of the local run ran as a SLURM job, and every
    table, the code and logic sets, M0, M1, the SFT model and the logic teacher are the local run's bytes."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as in the local run: identical float reductions
    local = embedded_local
    slurm = tmp_path / "slurm"
    shutil.copytree(local, slurm, symlinks=True)  # copy2: the modification times Snakemake compares are kept
    assert all((slurm / rel).exists() for rel in SLICE)
    config = ("--configfile", "config/embedded.yaml")
    untouched = snakemake(slurm, "-n", *config)
    assert "Nothing to be done" in untouched.stdout + untouched.stderr  # the copy is the finished local run
    # (a deleted intermediate output would not do: Snakemake does not redo a job whose downstream outputs are there)
    ran = snakemake(slurm, "--profile", "profiles/slurm-test", *config, "--forcerun", *SLICE, timeout=1800)
    assert ran.returncode == 0, ran.stderr[-3000:]
    log = ran.stdout + ran.stderr
    rules = [rule for names in ROOTS.values() for rule in names]
    again = snakemake(slurm, *ROOTS, "--profile", "profiles/slurm-test", *config,  # targets first: options that
                      "--forcerun", *rules, timeout=1800)  # take lists end last
    assert again.returncode == 0, again.stderr[-3000:]
    log_roots = again.stdout + again.stderr
    assert ran_rules(log_roots) == set(rules)
    local_log = "\n".join(p.read_text() for p in (local / ".snakemake" / "log").glob("*.log"))
    assert ran_rules(log) | ran_rules(log_roots) == ran_rules(local_log)  # every rule: through SLURM below
    submitted = submitted_jobs(log) + submitted_jobs(log_roots)
    total = sum(int(re.search(r"^total\s+(\d+)$", text, re.M)[1]) for text in (log, log_roots))
    assert len(submitted) == total - 1, log[-3000:]  # every job but the target rule `all` went through SLURM
    for job_id in submitted[-10:]:  # SLURM itself knows them, and they completed (the last ones: slurmctld may
        shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True)  # forget old jobs)
        assert "JobState=COMPLETED" in shown.stdout, shown.stdout + shown.stderr
    slurm_logs = {p.stem for p in (slurm / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert slurm_logs >= set(submitted)
    tables = sorted((local / "results" / EXP / "tables").glob("*.csv"))
    assert len(tables) >= 9
    for table in tables:
        other = slurm / "results" / EXP / "tables" / table.name
        if table.name.startswith("table11") or table.name in ("diff.csv", "gains.csv"):
            continue  # Table 11 holds the jobs' measured wall-clock times: compared below without them
        assert other.read_bytes() == table.read_bytes(), table.name
    time = "Total training time (min)"
    for name in ("table11.csv", "diff.csv"):
        mine, theirs = (pd.read_csv(root / "results" / EXP / "tables" / name) for root in (local, slurm))
        if name == "diff.csv":
            mine, theirs = mine[mine.column != time], theirs[theirs.column != time]
        else:
            mine, theirs = mine.drop(columns=time), theirs.drop(columns=time)
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True))
    assert (slurm / "results" / EXP / "tables" / "gains.csv").read_bytes() == (
        local / "results" / EXP / "tables" / "gains.csv").read_bytes()
    for data in (paths.train_data(EXP, "code"), paths.train_data(EXP, "logic")):
        assert sha256(slurm / data) == sha256(local / data), data  # the sets made again under SLURM
    for model in (paths.base_model(EXP, BB), paths.m1(EXP, BB, "math", SEED),
                  paths.final_model(EXP, BB, "math", SEED, "sft"), paths.logic_teacher(EXP, BB)):
        weights = f"{model}/model.safetensors"
        assert (slurm / weights).stat().st_mtime > (local / weights).stat().st_mtime  # made again, under SLURM
        # digests, not bytes: pytest's diff of two differing multi-MB byte strings would run for hours
        assert sha256(slurm / weights) == sha256(local / weights), model


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
