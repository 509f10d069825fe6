"""The workflow through a real SLURM: a one-node cluster (tests/slurm/start_cluster.sh) runs the whole embedded
preset with profiles/slurm-test and the shipped workflow profile, and its tables equal a local run's byte for byte;
the srun-torchrun launcher trains inside a SLURM allocation like one process."""

import os
import re
import subprocess

import pytest
from conftest import REPO, snakemake, workflow_copy

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"),
                       reason="starting slurmctld/slurmd needs root (CI runs it)"),
]


@pytest.fixture(scope="module")
def cluster():
    started = subprocess.run(["bash", str(REPO / "tests" / "slurm" / "start_cluster.sh"), "2", "16000"],
                             capture_output=True, text=True, timeout=600)
    assert started.returncode == 0, started.stdout + started.stderr
    return started.stdout


@pytest.mark.e2e
def test_the_whole_embedded_preset_runs_through_slurm_and_equals_a_local_run(cluster, embedded_local, tmp_path,
                                                                              monkeypatch):
    """Every job of the embedded preset is a SLURM job on the one-node test cluster, with the shipped workflow
    profile (its resources fit a tiny model), and every table equals the local run's byte for byte."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as in the local run: identical float reductions
    (tmp_path / "slurm").mkdir()
    slurm = workflow_copy(tmp_path / "slurm")
    ran = snakemake(slurm, "--profile", "profiles/slurm-test", "--configfile", "config/embedded.yaml", timeout=3600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    log = ran.stdout + ran.stderr
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", log)
    total = int(re.search(r"^total\s+(\d+)$", log, re.M)[1])
    assert len(submitted) == total - 1, log[-3000:]  # every job but the target rule `all` went through SLURM
    for job_id in submitted[-10:]:  # SLURM itself knows them, and they completed (the last ones: slurmctld may
        shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True)  # forget old jobs)
        assert "JobState=COMPLETED" in shown.stdout, shown.stdout + shown.stderr
    slurm_logs = {p.stem for p in (slurm / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert slurm_logs >= set(submitted)
    tables = sorted((embedded_local / "results" / "embedded" / "tables").glob("*.csv"))
    assert len(tables) >= 9
    for table in tables:
        other = slurm / "results" / "embedded" / "tables" / table.name
        assert other.read_bytes() == table.read_bytes(), table.name


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
