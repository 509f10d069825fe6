"""The multi-GPU launcher of the training rules, run for real on CPU: `torchrun --nproc_per_node 2 -m weakdriven.cli
train-sft` (two processes, DDP over gloo) gives the weights, M1 and relative checkpoints of the one-process command,
and only the main process writes the outputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from weakdriven.cluster import launch_prefix
from weakdriven.settings import TrainSettings
from weakdriven.stages import Prompt, SftStage

BIN = Path(sys.executable).parent
TRAINING = dict(learning_rate=1e-2, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.0, max_grad_norm=1.0,
                max_length=96, per_device_batch_size=4, global_batch_size=16, bf16=False,
                gradient_checkpointing=False, logging_steps=1, save_steps=0, deepspeed=None)


def train_command(inputs: Path, out: Path, launch: list[str]) -> list[str]:
    settings = SftStage(training=TrainSettings(**TRAINING, epochs=2, seed=0), prompt=Prompt("Think.", "qwen"),
                        snapshots=("ck100",), reference_epoch_steps=218)
    return [*launch, "train-sft", "--settings", settings.to_json(), "--base", str(inputs / "base"), "--data",
            str(inputs / "data" / "math" / "train.jsonl"), "--m1-out", str(out / "epoch1"), "--out", str(out / "final"),
            "--snapshots-out", str(out / "snapshots")]


def train(inputs: Path, out: Path, launch: list[str]):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    result = subprocess.run(train_command(inputs, out, launch), capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def assert_same_training(one: Path, two: Path, processes: int):
    for sub in ("final", "epoch1", "snapshots/ck100"):
        a, b = load_file(one / sub / "model.safetensors"), load_file(two / sub / "model.safetensors")
        assert a.keys() == b.keys()
        assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5, sub  # same batches, gradients all-reduced
    summary = json.loads((two / "final" / "train_summary.json").read_text())
    assert summary["steps"] == 8 and summary["processes"] == processes
    manifest = json.loads((two / "snapshots" / "manifest.json").read_text())
    assert manifest == {"total_steps": 8, "snapshots": {"ck100": {"step": 2, "saved": True}}}
    assert not (two / "final.work").exists()  # the work dir is removed once, by the main process


def test_launch_prefixes():
    assert launch_prefix("none", 1, 8) == launch_prefix("torchrun", 1, 1) == "weakdriven"
    assert launch_prefix("torchrun", 1, 8) == "torchrun --standalone --nproc_per_node 8 -m weakdriven.cli"
    multi = launch_prefix("srun-torchrun", 4, 8)
    assert multi.startswith("srun --overlap --nodes 4 --ntasks-per-node 1 --kill-on-bad-exit=1 torchrun --nnodes 4 ")
    assert "--nproc_per_node 8 --rdzv_backend c10d --rdzv_id $SLURM_JOB_ID" in multi
    assert multi.endswith('head -n 1):29500 -m weakdriven.cli')
    with pytest.raises(ValueError, match="train_nodes = 2 needs cluster.launcher: srun-torchrun"):
        launch_prefix("torchrun", 2, 8)


def test_torchrun_two_processes_train_like_one(tiny_training_inputs, tmp_path):
    inputs = tiny_training_inputs
    train(inputs, tmp_path / "one", [str(BIN / "weakdriven")])
    # the launcher string of workflow/rules/common.smk (launcher()) with 2 "GPUs"
    ddp = train(inputs, tmp_path / "two", [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m",
                                           "weakdriven.cli"])
    assert "Traceback" not in ddp.stderr
    assert_same_training(tmp_path / "one", tmp_path / "two", processes=2)
    assert json.loads((tmp_path / "one" / "final" / "train_summary.json").read_text())["processes"] == 1
    assert json.loads((tmp_path / "two" / "final" / "train_summary.json").read_text())["provenance"]["seed"] == 0
