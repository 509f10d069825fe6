"""Where a stage runs its model: one rule for every stage that runs one (training, the WD-DS entropy pass,
generation with the transformers backend, the logit statistics of Tables 6/7).

- The job's GPU if it sees one: ``cuda:<LOCAL_RANK>`` under a launcher (one process per GPU), else ``cuda:0``.
  Which GPUs a job sees is ``CUDA_VISIBLE_DEVICES`` (set by SLURM for the GPUs it granted); torch counts only those.
- Otherwise the CPU, unless the job was given GPUs (``cluster.train_gpus`` / ``cluster.eval_gpus`` > 0): then a job
  that sees none stops at once instead of running a 4B model on the CPU until its time limit.
- bf16 where the config says so (``training.bf16``), fp32 otherwise.

Stages that only rewrite weight files (the Gemma text-only conversion and its vLLM wrap) run no model and stay on
the CPU; vLLM places its own model on the job's GPUs.
"""

from __future__ import annotations

import os


class NoGpuError(RuntimeError):
    """The job was given GPUs by the config but sees none."""


def job_device(gpus: int = 0, key: str = "cluster.eval_gpus"):
    """The torch device of this job's model: its GPU if it sees one, else the CPU; ``gpus`` > 0 (the GPUs the config
    gives the job, config key ``key``) and no visible GPU is an error."""
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    if gpus > 0:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise NoGpuError(
            f"config key '{key}' gives this job {gpus} GPU(s), but it sees none (CUDA_VISIBLE_DEVICES="
            f"{visible!r}, torch {torch.__version__} built for CUDA {torch.version.cuda}); check the job's GPU "
            "request and, in a container, apptainer's --nv, or set the key to 0 to run on the CPU"
        )
    return torch.device("cpu")


def model_dtype(bf16: bool):
    """The dtype a stage loads its model in (config key ``training.bf16``)."""
    import torch

    return torch.bfloat16 if bf16 else torch.float32


def to_device(batch: dict, device) -> dict:
    """A collated batch (tensors by name) on ``device``."""
    return {k: v.to(device, non_blocking=True) if hasattr(v, "to") else v for k, v in batch.items()}
