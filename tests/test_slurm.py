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
# One job of every rule made again under SLURM, each an output of the finished local run forced, in three runs ordered
# so that a job made again is never upstream of a later run's job (Snakemake would redo everything in between): the
# diff of all tables and its scatter; one job of every other rule but the roots; the roots (data, M0, an SFT, the
# code and logic sets). A job whose input is made again in the same run follows it, on the SLURM-made file (train ->
# generate -> score_code, the entropies, a table -> its diff -> its report part); every output equals the local run's
# bytes, so a table made from SLURM-made inputs equals the local one by induction, at a fraction of the preset's time.
LAST_OF_ALL = {"diff": paths.diff(EXP, "csv"), "report_scatter": paths.report_part(EXP, "scatter.svg")}
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
    "wdds_select": paths.wdds_active(EXP, BB, "code", SEED),  # the code WMSS run's selection
    "eval_snapshots": paths.snapshot_scores(EXP, BB, "math", SEED, "wdjt_frozen_lam0.5", "synth-copy"),
    "logit_stats": paths.diagnostics(EXP, BB, "math", SEED, "logit_stats.json"),
    "table": paths.table(EXP, "table5"),
    "table_diff": paths.table_diff(EXP, "table5"),
    "report_table": paths.report_part(EXP, "table5.html"),
    "report_plot": paths.report_part(EXP, "table10.svg"),
}
# The roots and the code and logic sets' jobs, as targets with their rules forced: only these jobs, not the runs
# downstream of them (a root made again is newer than everything the local run made from it: last)
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
    resources fit a tiny model) makes one job of every rule again; every rule of the local run ran as a SLURM job, and
    every output made again is the local run's bytes (data sets, M0 and the models, generations, scores, entropies,
    tables, the report's parts)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as in the local run: identical float reductions
    local = embedded_local
    slurm = tmp_path / "slurm"
    shutil.copytree(local, slurm, symlinks=True)  # copy2: the modification times Snakemake compares are kept
    config = ("--configfile", "config/embedded.yaml")
    untouched = snakemake(slurm, "-n", *config)
    assert "Nothing to be done" in untouched.stdout + untouched.stderr  # the copy is the finished local run
    logs = []
    for targets in (LAST_OF_ALL.values(), ONE_JOB_EACH.values()):  # targets first: options that take lists end last
        ran = snakemake(slurm, *targets, "--profile", "profiles/slurm-test", *config, "--forcerun", *targets,
                        timeout=1800)
        assert ran.returncode == 0, ran.stderr[-3000:]
        logs.append(ran.stdout + ran.stderr)
        assert re.search(r"^total\s+(\d+)$", logs[-1], re.M)[1] == str(len(targets))  # these jobs, no other
    rules = [rule for names in ROOTS.values() for rule in names]
    again = snakemake(slurm, *ROOTS, "--profile", "profiles/slurm-test", *config, "--forcerun", *rules, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    logs.append(again.stdout + again.stderr)
    assert ran_rules(logs[-1]) == set(rules)
    local_log = "\n".join(p.read_text() for p in (local / ".snakemake" / "log").glob("*.log"))
    assert set().union(*map(ran_rules, logs)) == ran_rules(local_log) - {"all"}  # every rule, through SLURM:
    submitted = [job for log in logs for job in submitted_jobs(log)]
    assert len(submitted) == sum(int(re.search(r"^total\s+(\d+)$", log, re.M)[1]) for log in logs), logs[-1][-3000:]
    for job_id in submitted[-10:]:  # SLURM itself knows them, and they completed (the last ones: slurmctld may
        shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True)  # forget old jobs)
        assert "JobState=COMPLETED" in shown.stdout, shown.stdout + shown.stderr
    slurm_logs = {p.stem for p in (slurm / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert slurm_logs >= set(submitted)
    for target in (*LAST_OF_ALL.values(), *ONE_JOB_EACH.values()):
        assert_same_bytes(local, slurm, target)
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
