"""One device rule for every stage that runs a model: the choice itself, and that each stage puts its model and its
batches on the chosen device (checked with torch's ``meta`` device standing in for a GPU: a global forward pre-hook
records where the model's weights and inputs are at its first forward call, then stops the stage)."""


import pytest
import torch
from conftest import eval_stage
from torch import nn

from weakdriven import device as device_rule
from weakdriven import training  # imported before any test patches the device rule (it binds job_device)
from weakdriven.cli import main
from weakdriven.data.embedded import build_tiny_model, build_tokenizer, make_embedded_data
from weakdriven.device import NoGpuError, job_device
from weakdriven.stages import DiagnosticsStage, EntropyStage, Prompt

ARCH = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            intermediate_size=64)
META = torch.device("meta")


def test_the_job_device_is_its_gpu_else_the_cpu_and_a_missing_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert job_device() == torch.device("cpu") and job_device(0) == torch.device("cpu")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(NoGpuError, match=r"config key 'cluster.eval_gpus' gives this job 1 GPU\(s\), but it sees none "
                                         r"\(CUDA_VISIBLE_DEVICES=''.*--nv"):
        job_device(1)
    with pytest.raises(NoGpuError, match="'cluster.train_gpus' gives this job 8"):
        job_device(8, "cluster.train_gpus")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert job_device(1) == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's second process on the node: its own GPU
    assert job_device(8, "cluster.train_gpus") == torch.device("cuda", 1)
    assert job_device(0) == torch.device("cuda", 1)  # a GPU the job sees is used even if the config asked for none


def test_model_dtype_follows_the_bf16_setting():
    assert device_rule.model_dtype(True) is torch.bfloat16 and device_rule.model_dtype(False) is torch.float32


class _Stop(Exception):
    pass


@pytest.fixture
def on_meta(monkeypatch):
    """Stages see ``meta`` as the job's device. A global forward pre-hook records the weights' devices and dtype of
    the first module called (the model) and the devices of the first tensors passed positionally (the batch reaches
    the embedding that way), then stops the stage."""
    seen = {}

    def hook(module, args):
        if "params" not in seen:
            seen["params"] = {p.device for p in module.parameters()}
            seen["dtype"] = next(module.parameters()).dtype
        tensors = [t for t in args if isinstance(t, torch.Tensor)]
        if tensors:
            seen["inputs"] = {t.device for t in tensors}
            raise _Stop

    monkeypatch.setattr(device_rule, "job_device", lambda gpus=0, key="": META)
    handle = nn.modules.module.register_module_forward_pre_hook(hook)
    yield seen
    handle.remove()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    make_embedded_data(root / "w", n_train=6, n_test=2, n_pretrain=6, seed=0)
    tok = build_tokenizer([root / "w" / "data" / "pretrain.txt", root / "w" / "data" / "math" / "train.jsonl"])
    model = build_tiny_model(tok, ARCH, seed=0)
    model.save_pretrained(root / "ckpt")
    tok.save_pretrained(root / "ckpt")
    return root / "ckpt", root / "w" / "data" / "math" / "train.jsonl"


def _placed(seen):
    assert "inputs" in seen, "the stage ran no forward pass"
    return seen["params"] == {META} and seen["inputs"] == {META}


def test_the_entropy_stage_runs_its_model_and_batches_on_the_job_device(tiny, on_meta, tmp_path):
    ckpt, data = tiny
    settings = EntropyStage(gpus=1, bf16=True, attn_implementation="sdpa", prompt=Prompt("s", "qwen"),
                            system_prompt=False, max_length=64).to_json()
    with pytest.raises(_Stop):
        main(["entropy", "--settings", settings, "--model", str(ckpt), "--data", str(data), "--out",
              str(tmp_path / "e.jsonl")])
    assert _placed(on_meta) and on_meta["dtype"] is torch.bfloat16


def test_the_logit_statistics_stage_runs_on_the_job_device(tiny, on_meta, tmp_path):
    ckpt, data = tiny
    settings = DiagnosticsStage(gpus=1, bf16=False, n_examples=2, seed=0, prompt=Prompt("s", "qwen"),
                                max_length=64).to_json()
    with pytest.raises(_Stop):
        main(["logit-stats", "--settings", settings, "--weak", str(ckpt), "--strong-pre", str(ckpt),
              "--strong-post", str(ckpt), "--sft", str(ckpt), "--data", str(data), "--out-dir", str(tmp_path)])
    assert _placed(on_meta) and on_meta["dtype"] is torch.float32


def test_generation_with_transformers_runs_on_the_job_device(tiny, on_meta, monkeypatch):
    from transformers.generation.utils import GenerationMixin

    from weakdriven.eval.pipeline import generate_records

    def generate(model, **batch):  # model.generate(**batch): where the model and the batch are when it is called
        on_meta.update(params={p.device for p in model.parameters()}, dtype=next(model.parameters()).dtype,
                       inputs={t.device for t in batch.values() if isinstance(t, torch.Tensor)})
        raise _Stop

    monkeypatch.setattr(GenerationMixin, "generate", generate)

    ckpt, _ = tiny
    settings = eval_stage(gpus=1, bf16=True, max_prompt_tokens=64, max_new_tokens=4, long_max_new_tokens=4,
                          batch_size=2)
    rows = [{"id": "p0", "question": "1 2 3", "gold": "4"}, {"id": "p1", "question": "5 6", "gold": "7"}]
    with pytest.raises(_Stop):
        generate_records(ckpt, "synth-next", rows, settings, 0, "bench.jsonl")
    assert _placed(on_meta) and on_meta["dtype"] is torch.bfloat16


def test_training_runs_where_the_device_rule_says(monkeypatch, tmp_path):
    from dataclasses import replace

    from weakdriven.training import TrainSettings, _training_arguments

    settings = TrainSettings(learning_rate=1e-3, lr_scheduler="linear", warmup_ratio=0.0, weight_decay=0.0,
                             max_grad_norm=1.0, max_length=32, per_device_batch_size=1, global_batch_size=1, epochs=1,
                             bf16=False, gradient_checkpointing=False, logging_steps=1, seed=0, gpus=0)
    chosen = []
    real = training.job_device
    monkeypatch.setattr(training, "job_device", lambda gpus=0, key="": chosen.append((gpus, key)) or real(gpus, key))
    assert _training_arguments(settings, tmp_path).device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(NoGpuError, match="'cluster.train_gpus' gives this job 8 GPU"):
        _training_arguments(replace(settings, gpus=8), tmp_path)  # before any model or data is loaded
    assert chosen == [(0, "cluster.train_gpus"), (8, "cluster.train_gpus")]
