"""What a job asks the cluster for, and how a training job starts its processes (config ``cluster.launcher``).

Host memory scales with the backbone: ``MEMORY_MB_PER_B`` megabytes per billion parameters, at least
``MIN_MEMORY_MB``, so the embedded preset's tiny model asks for little and runs on a small test cluster. A training
job's 8 processes each load their model(s) in fp32 on the host before moving them to their GPU (4 GB per B per model
and process), twice that as headroom: 64 GB per B for SFT, 128 for the WD-JT pair; a one-GPU job 16 GB per B; 8 GB
per B to copy M0. Estimates, not measurements.

- ``none``: the plain command, one process (CPU, or one GPU).
- ``torchrun``: one node, one process per GPU: ``torchrun --standalone --nproc_per_node G -m weakdriven.cli``.
- ``srun-torchrun``: any number of nodes: ``srun`` starts one ``torchrun`` per node of the SLURM allocation, which
  meet at a c10d rendezvous on the allocation's first node; every node runs G processes. The job asks SLURM for
  ``cluster.train_nodes`` nodes; ``--overlap`` lets this step share the allocation with the step Snakemake's job
  executor runs the command in.

The Trainer then runs DDP, or DeepSpeed with ``training.deepspeed``, over all processes; only the main process writes
the outputs (training.py).
"""

from __future__ import annotations

import math

LAUNCHERS = ("none", "torchrun", "srun-torchrun")
RDZV_PORT = 29500
MIN_MEMORY_MB = 2000
MEMORY_MB_PER_B = {
    "init_backbone": 8000,
    "sft": 64000, "sft_m1": 64000, "train": 128000,
    "entropy_shard": 16000, "generate": 16000, "eval_snapshots": 16000, "logit_stats": 16000, "method_data": 16000,
    "logic_distill": 4000,  # vLLM's tensor-parallel workers each load their shard of the teacher
}
JUDGE_OVERHEAD_MB = 8000  # the judges' parent process and the benchmark's task payloads


def job_memory_mb(rule: str, params_b: float) -> int:
    """Host memory (MB) of a job of ``rule`` on a backbone of ``params_b`` billion parameters."""
    return max(MIN_MEMORY_MB, math.ceil(MEMORY_MB_PER_B[rule] * params_b))


def score_code_memory_mb(workers: int, memory_mb: int) -> int:
    """Host memory (MB) of a code-scoring job: ``workers`` sandboxes of ``memory_mb`` address space each."""
    return workers * memory_mb + JUDGE_OVERHEAD_MB


def launch_prefix(launcher: str, nodes: int, procs_per_node: int) -> str:
    """The command a training rule runs in front of ``<stage> --settings ...``."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"cluster.launcher must be one of {LAUNCHERS}, not {launcher!r}")
    if nodes > 1 and launcher != "srun-torchrun":
        raise ValueError(f"cluster.train_nodes = {nodes} needs cluster.launcher: srun-torchrun (got {launcher!r})")
    if launcher == "none" or (launcher == "torchrun" and procs_per_node <= 1):
        return "weakdriven"
    if launcher == "torchrun":
        return f"torchrun --standalone --nproc_per_node {procs_per_node} -m weakdriven.cli"
    head = '$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)'
    return (f"srun --overlap --nodes {nodes} --ntasks-per-node 1 --kill-on-bad-exit=1 torchrun --nnodes {nodes} "
            f"--nproc_per_node {max(1, procs_per_node)} --rdzv_backend c10d --rdzv_id $SLURM_JOB_ID "
            f"--rdzv_endpoint {head}:{RDZV_PORT} -m weakdriven.cli")


TRAIN_RULES = ("sft", "sft_m1", "train")  # jobs with cluster.train_gpus (and train_nodes); other model jobs eval_gpus


def job_gpus(exp, rule: str) -> int:
    """GPUs of one job of ``rule`` (config ``cluster``)."""
    cluster = exp.raw["cluster"]
    if rule == "logic_distill":
        return exp.logic_data.teacher.gpus
    return cluster["train_gpus"] if rule in TRAIN_RULES else cluster["eval_gpus"]


def train_nodes(exp, rule: str) -> int:
    return exp.raw["cluster"]["train_nodes"] if rule in TRAIN_RULES else 1


def launcher(exp, rule: str) -> str:
    """How a job of ``rule`` starts its processes: one per GPU through torchrun, on one node or, with srun-torchrun,
    on cluster.train_nodes nodes."""
    return launch_prefix(exp.raw["cluster"]["launcher"], train_nodes(exp, rule), job_gpus(exp, rule))
