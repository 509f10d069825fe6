"""Training through the transformers Trainer: pre-training (embedded preset), SFT, WD-JT on a weak/strong pair,
UNDIAL's distillation from a frozen teacher, and DPO (SPIN) through TRL's DPOTrainer.

The same code runs on a laptop CPU and, one process per GPU under torchrun (DDP, or DeepSpeed by config name), on a
GPU cluster; the device is chosen by ``weakdriven.device.job_device``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn

from .checks import checked_checkpoint
from .data.chat import IGNORE_INDEX, Example, encode_example, prompt_messages, prompt_text
from .device import job_device, model_dtype, to_device
from .fused import (
    chunked_entropy,
    fused_linear_cross_entropy,
    fused_mixed_linear_cross_entropy,
    fused_soft_target_cross_entropy,
)
from .methods.base import SNAPSHOT
from .methods.equations import sequence_entropy, ssb_loss, topk_distillation_loss, undial_noise_std
from .settings import TrainSettings

log = logging.getLogger(__name__)


def release_process_group() -> None:
    """Tear the distributed process group down once a job's work is saved. Left to the interpreter's shutdown, a gloo
    worker thread can be destroyed while it runs: the rank aborts after the model is written ("terminate called
    without an active exception", SIGABRT) and torchrun reports the finished job as failed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def load_causal_lm(path: str | Path, bf16: bool = False, attn_implementation: str = "sdpa", device=None):
    """A checkpoint and its tokenizer; ``attn_implementation`` = transformers' attention kernel (flash_attention_2
    needs the flash-attn package and a GPU: the train container has both). ``device``: where the model is put (a
    stage that runs it passes ``job_device(...)``); None leaves it on the CPU for a trainer to place."""
    from transformers import AutoModelForCausalLM, AutoTokenizer


    path = checked_checkpoint(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=model_dtype(bf16), attn_implementation=attn_implementation)
    if device is not None:
        model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def checkpoint_sha256(path: str | Path) -> str:
    """sha256 over the checkpoint's weight files (sorted by name): the model identity in generation records."""
    h = hashlib.sha256()
    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path} holds no *.safetensors weights")
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class Collator:
    """Right-pads ``input_ids`` (pad id), ``labels`` (-100) and, if asked, ``completion_mask`` (0); builds the
    attention mask."""

    def __init__(self, pad_id: int, completion_mask: bool = False):
        self.pad_id = pad_id
        self.keys = ("input_ids", "labels") + (("completion_mask",) if completion_mask else ())

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)

        def pad(key: str, value: int) -> torch.Tensor:
            return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows], dtype=torch.long)

        fill = {"input_ids": self.pad_id, "labels": IGNORE_INDEX, "completion_mask": 0}
        batch = {key: pad(key, fill[key]) for key in self.keys}
        batch["attention_mask"] = torch.tensor(
            [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows], dtype=torch.long
        )
        return batch


def encode_dataset(tokenizer, examples: list[Example], system_prompt: str | None, max_length: int, mask: str):
    from datasets import Dataset

    rows = [encode_example(tokenizer, ex, system_prompt, max_length, mask) for ex in examples]
    return Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])


def encode_corpus(tokenizer, documents: list[str], max_length: int):
    """Plain-text pre-training rows: every token supervised, each document closed by the EOS token."""
    from datasets import Dataset

    rows = []
    for document in documents:
        ids = tokenizer(document + tokenizer.eos_token, add_special_tokens=False)["input_ids"][:max_length]
        rows.append({"input_ids": ids, "labels": list(ids)})
    return Dataset.from_list(rows)


def shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """Align labels with logits for next-token prediction: position t predicts token t+1; the last has no target."""
    return torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE_INDEX)], dim=1)


DEEPSPEED_CONFIGS = Path(__file__).resolve().parents[2] / "config" / "deepspeed"


def deepspeed_config(name: str) -> str:
    path = DEEPSPEED_CONFIGS / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in DEEPSPEED_CONFIGS.glob("*.json"))
        raise ValueError(f"unknown DeepSpeed config {name!r}; config/deepspeed/ has {known}")
    return str(path)


def _gathered(*weights):
    """Under ZeRO-3 the output embedding is partitioned outside its module's forward: gather it for the fused loss.
    The gradient the loss returns has the full shape and is partitioned by DeepSpeed's hooks as usual."""
    partitioned = {id(w): w for w in weights if hasattr(w, "ds_id") and w.ds_status.name == "NOT_AVAILABLE"}
    if partitioned:  # small parameters below stage3_param_persistence_threshold are never partitioned
        import deepspeed

        return deepspeed.zero.GatheredParameters(list(partitioned.values()), modifier_rank=None)
    return contextlib.nullcontext()


def _hidden_and_head(model, input_ids, attention_mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden states ``[B*T, d]`` and the output embedding ``[V, d]`` of a causal LM (no logits computed)."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    if getattr(config, "final_logit_softcapping", None):
        raise ValueError(f"{type(model).__name__} soft-caps its logits; the fused loss does not implement that")
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise ValueError(f"{type(model).__name__} has an output bias; the fused loss does not implement that")
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return hidden.reshape(-1, hidden.shape[-1]), head.weight


class FusedCausalLM(nn.Module):
    """SFT loss module: next-token CE (Eq. 1) through the chunked fused loss; ``retained`` is the model to save."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @property
    def retained(self) -> tuple[str, nn.Module]:
        return "model.", self.model

    def get_input_embeddings(self) -> nn.Module:
        """Where the Trainer hooks NEFTune's embedding noise (``TrainingArguments.neftune_noise_alpha``)."""
        return self.model.get_input_embeddings()

    def forward(self, input_ids, attention_mask, labels, num_items_in_batch=None):
        hidden, weight = _hidden_and_head(self.model, input_ids, attention_mask)
        targets = shifted_targets(labels).reshape(-1)
        with _gathered(weight):
            loss = fused_linear_cross_entropy(hidden, weight, targets, normalizer=_float(num_items_in_batch))
        return {"loss": loss}

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None, every_n_layers=1, offload=False):
        """What the Trainer calls for ``activation_checkpointing=True`` (training.gradient_checkpointing)."""
        self.model.activation_checkpointing_enable(activation_checkpointing_kwargs, every_n_layers, offload)


class PairedModel(nn.Module):
    """Weak (M0) and strong (M1) sub-models trained jointly on CE of z_mix (Eq. 5-6); only the strong one is kept."""

    def __init__(self, weak: nn.Module, strong: nn.Module, lam: float, freeze_weak: bool):
        super().__init__()
        self.weak, self.strong, self.lam, self.freeze_weak = weak, strong, lam, freeze_weak
        if freeze_weak:
            self.weak.requires_grad_(False)
            self.weak.eval()

    @property
    def retained(self) -> tuple[str, nn.Module]:
        return "strong.", self.strong

    def forward(self, input_ids, attention_mask, labels, num_items_in_batch=None):
        h_s, w_s = _hidden_and_head(self.strong, input_ids, attention_mask)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_weak):
            h_w, w_w = _hidden_and_head(self.weak, input_ids, attention_mask)
        targets = shifted_targets(labels).reshape(-1)
        with _gathered(w_w, w_s):
            loss = fused_mixed_linear_cross_entropy(h_w, h_s, w_w, w_s, targets, self.lam,
                                                    normalizer=_float(num_items_in_batch))
        return {"loss": loss}

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None, every_n_layers=1, offload=False):
        """Checkpointing per sub-model (what the Trainer calls for training.gradient_checkpointing)."""
        for sub in (self.weak, self.strong):
            sub.activation_checkpointing_enable(activation_checkpointing_kwargs, every_n_layers, offload)


class TeacherTargets(nn.Module):
    """UNDIAL: the student trained on soft targets softmax(z_t - gamma * e_y [+ noise]) of a frozen teacher (always in
    eval mode, no gradient); only the student is kept.

    ``noise`` (App. E.6: sigma * eps / sqrt(L), eps ~ N(0, 1)): ``none``; ``penalty``, one draw per position added
    to gamma; ``logits``, one draw per teacher logit. ``noise_length`` is what L counts per sequence: ``tokens`` (its
    unpadded length) or ``supervised`` (its supervised positions). Draws come from torch's global generator, which the
    Trainer seeds, so a run is reproducible.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, strength: float, noise: str, noise_scale: float,
                 noise_length: str):
        super().__init__()
        if noise not in ("none", "penalty", "logits"):
            raise ValueError(f"unknown UNDIAL noise {noise!r}; expected none, penalty or logits")
        if noise_length not in ("tokens", "supervised"):
            raise ValueError(f"unknown UNDIAL noise length {noise_length!r}; expected tokens or supervised")
        self.student, self.teacher = student, teacher
        self.strength, self.noise, self.noise_scale, self.noise_length = strength, noise, noise_scale, noise_length
        self.teacher.requires_grad_(False)
        self.teacher.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the Trainer switches the whole module to train mode every step
        return self

    @property
    def retained(self) -> tuple[str, nn.Module]:
        return "student.", self.student

    def get_input_embeddings(self) -> nn.Module:
        return self.student.get_input_embeddings()

    def forward(self, input_ids, attention_mask, labels, num_items_in_batch=None):
        h, w = _hidden_and_head(self.student, input_ids, attention_mask)
        with torch.no_grad():
            h_t, w_t = _hidden_and_head(self.teacher, input_ids, attention_mask)
        targets = shifted_targets(labels)
        penalty = torch.full(targets.shape, float(self.strength), device=h.device)
        std = None
        if self.noise != "none":
            lengths = attention_mask.sum(dim=1) if self.noise_length == "tokens" else (targets != IGNORE_INDEX).sum(1)
            std = undial_noise_std(lengths, self.noise_scale)[:, None].expand(targets.shape)
            if self.noise == "penalty":
                penalty = penalty + std * torch.randn(targets.shape, device=h.device)
                std = None
            else:
                std = std.reshape(-1)
        with _gathered(w, w_t):
            loss = fused_soft_target_cross_entropy(h, w, h_t, w_t, targets.reshape(-1), penalty.reshape(-1), std,
                                                   normalizer=_float(num_items_in_batch))
        return {"loss": loss}

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None, every_n_layers=1, offload=False):
        self.student.activation_checkpointing_enable(activation_checkpointing_kwargs, every_n_layers, offload)


class TopKCollator(Collator):
    """SSB rows: right-padded ids and labels plus the teacher's stored targets, placed at the positions that predict
    the reply tokens (``kd_start`` + j predicts reply token j): ``topk_ids``/``topk_values`` [B, T, k],
    ``teacher_lse`` [B, T]; positions without a target hold zeros and are never read."""

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = super().__call__(rows)
        b, width = batch["input_ids"].shape
        k = rows[0]["topk_ids"].shape[1]
        ids = torch.zeros((b, width, k), dtype=torch.long)
        values = torch.zeros((b, width, k), dtype=torch.float32)
        lse = torch.zeros((b, width), dtype=torch.float32)
        for i, r in enumerate(rows):
            sl = slice(r["kd_start"], r["kd_start"] + r["topk_ids"].shape[0])
            ids[i, sl] = torch.as_tensor(r["topk_ids"], dtype=torch.long)
            values[i, sl] = torch.as_tensor(r["topk_values"], dtype=torch.float32)
            lse[i, sl] = torch.as_tensor(r["teacher_lse"], dtype=torch.float32)
        return {**batch, "topk_ids": ids, "topk_values": values, "teacher_lse": lse}


def encode_topk_rows(tokenizer, rows: list[dict], system_prompt: str | None, max_length: int, vocab: int,
                     source: str) -> tuple[list[dict], int]:
    """SSB training rows: the student's prompt (the plain question in the chat format) followed by the teacher's
    reply tokens, supervised on the reply, with the teacher's top-k targets of each reply token; a reply longer than
    ``max_length`` allows is cut with its targets (returned: the rows and how many were cut); a token id outside the
    vocabulary is an error naming the row."""
    out, cut = [], 0
    for row in rows:
        prompt = tokenizer(prompt_text(tokenizer, row["question"], system_prompt), add_special_tokens=False)
        prompt_ids = prompt["input_ids"]
        room = max_length - len(prompt_ids)
        if room < 1:
            raise ValueError(f"{source}: id {row['id']!r}: the prompt alone has {len(prompt_ids)} tokens, "
                             f"training.max_length is {max_length}")
        reply = row["reply_ids"][:room]
        cut += len(reply) < len(row["reply_ids"])
        targets = row["topk_ids"][:room]
        if max(max(reply), int(targets.max())) >= vocab:
            raise ValueError(f"{source}: id {row['id']!r}: token ids beyond the model's vocabulary of {vocab}")
        out.append({"input_ids": prompt_ids + reply, "labels": [IGNORE_INDEX] * len(prompt_ids) + reply,
                    "kd_start": len(prompt_ids) - 1, "topk_ids": targets, "topk_values": row["topk_values"][:room],
                    "teacher_lse": row["teacher_lse"][:room]})
    if cut:  # the cut tail holds the final answer: say how many lost it
        log.warning("%s: %d of %d replies cut at training.max_length %d", source, cut, len(rows), max_length)
    return out, cut


class _MergedLoRA:
    """What the final save writes for a LoRA student: the adapters merged into the base weights, an ordinary HF
    checkpoint that evaluation loads like any other. Under ZeRO-2 (or without DeepSpeed) every process holds the
    full parameters, so the gathered ``state_dict`` the Trainer passes adds nothing and is not needed."""

    def __init__(self, peft_model):
        self.peft_model = peft_model

    def save_pretrained(self, output_dir, state_dict=None, safe_serialization=True):
        merged = self.peft_model.merge_and_unload()
        merged.save_pretrained(output_dir, safe_serialization=safe_serialization)


class TopKTargets(nn.Module):
    """SSB (App. E.6): a LoRA student trained on kd_weight * KD + (1 - kd_weight) * CE over the reply tokens, KD
    against the teacher's stored top-k logits at temperature T (equations.py: ``topk_distillation_loss``). The
    student's logits are computed per chunk of supervised positions under activation checkpointing, so at most one
    chunk of ``[chunk, V]`` logits lives at a time (recomputed in the backward pass)."""

    def __init__(self, student, temperature: float, tail: str, kd_weight: float):
        super().__init__()
        self.student = student
        self.temperature, self.tail, self.kd_weight = temperature, tail, kd_weight

    @property
    def retained(self):
        return "student.", _MergedLoRA(self.student)

    def get_input_embeddings(self) -> nn.Module:
        return self.student.get_input_embeddings()

    def _chunk(self, hidden, weight, ids, values, lse, targets):
        logits = hidden @ weight.T
        kd = topk_distillation_loss(logits, ids, values, self.temperature, self.tail, lse).sum()
        ce = nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
        return kd, ce

    def forward(self, input_ids, attention_mask, labels, topk_ids, topk_values, teacher_lse, num_items_in_batch=None):
        from torch.utils.checkpoint import checkpoint

        from .fused import DEFAULT_CHUNK_ELEMENTS

        h, w = _hidden_and_head(self.student.get_base_model(), input_ids, attention_mask)
        targets = shifted_targets(labels).reshape(-1)
        at = (targets != IGNORE_INDEX).nonzero().squeeze(-1)
        h, y = h[at], targets[at]
        k = topk_ids.shape[-1]
        ids, values = topk_ids.reshape(-1, k)[at], topk_values.reshape(-1, k)[at]
        lse = teacher_lse.reshape(-1)[at]
        rows = max(1, DEFAULT_CHUNK_ELEMENTS // w.shape[0])
        kd = ce = h.new_zeros((), dtype=torch.float32)
        for start in range(0, h.shape[0], rows):
            sl = slice(start, start + rows)
            kd_c, ce_c = checkpoint(self._chunk, h[sl], w, ids[sl], values[sl], lse[sl], y[sl], use_reentrant=False)
            kd, ce = kd + kd_c, ce + ce_c
        denom = _float(num_items_in_batch) or max(int(at.numel()), 1)
        return {"loss": ssb_loss(kd / denom, ce / denom, self.kd_weight), "kd": kd.detach() / denom,
                "ce": ce.detach() / denom}

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None, every_n_layers=1, offload=False):
        self.student.get_base_model().activation_checkpointing_enable(activation_checkpointing_kwargs,
                                                                       every_n_layers, offload)


def _float(n) -> float | None:
    return None if n is None else float(n)


def _make_trainer(loss_module: nn.Module, tokenizer, settings: TrainSettings, dataset, out_dir: Path, callbacks=None,
                  collator=None):
    """A transformers Trainer over a loss module; normalises like HF causal LMs and saves the retained model."""
    import safetensors.torch
    from transformers import Trainer

    class WeakDrivenTrainer(Trainer):
        """Resumable checkpoints hold the whole loss module (both branches); final saves the retained HF model."""

        def _save(self, output_dir=None, state_dict=None):
            if not self.args.should_save:  # every process calls save_model (ZeRO gathers first); one writes
                return
            output_dir = Path(output_dir or self.args.output_dir)
            module = self.accelerator.unwrap_model(self.model)
            if output_dir.name.startswith("checkpoint-"):
                # DeepSpeed resumes from its engine checkpoint (saved beside this) and hands us gathered weights.
                output_dir.mkdir(parents=True, exist_ok=True)
                if state_dict is None:
                    safetensors.torch.save_model(module, str(output_dir / "model.safetensors"))
                else:
                    safetensors.torch.save_file({k: v.detach().clone().contiguous() for k, v in state_dict.items()},
                                                str(output_dir / "model.safetensors"))
                return
            prefix, retained = module.retained
            if state_dict is not None:  # e.g. gathered from ZeRO-3 shards by save_model()
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
            retained.save_pretrained(output_dir, state_dict=state_dict, safe_serialization=True)
            tokenizer.save_pretrained(output_dir)

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            module = self.accelerator.unwrap_model(model or self.model)
            safetensors.torch.load_model(module, str(Path(resume_from_checkpoint) / "model.safetensors"), strict=True)

    trainer = WeakDrivenTrainer(model=loss_module, args=_training_arguments(settings, out_dir), train_dataset=dataset,
                                data_collator=collator or Collator(tokenizer.pad_token_id), callbacks=callbacks)
    # Token-weighted mean across gradient-accumulation steps (labels[..., 1:] counted), as for HF causal LMs.
    trainer.model_accepts_loss_kwargs = True
    trainer._loss_shifts_labels = True
    return trainer


def _training_arguments(settings: TrainSettings, out_dir: Path, args_class=None, **extra):
    """Trainer arguments (``args_class``: TrainingArguments or a subclass such as TRL's DPOConfig, with its own
    ``extra`` fields); the global batch is split over the processes a launcher started (``WORLD_SIZE``)."""
    from transformers import TrainingArguments

    args_class = args_class or TrainingArguments

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = settings.per_device_batch_size * world_size
    if settings.global_batch_size % per_step:
        raise ValueError(
            f"global batch {settings.global_batch_size} is not a multiple of per-device batch "
            f"{settings.per_device_batch_size} x {world_size} processes"
        )
    # Several processes started by a launcher (torchrun sets MASTER_ADDR) on CPU: DDP over gloo (tests, CPU clusters);
    # on GPUs the Trainer picks NCCL by itself.
    launched = world_size > 1 and "MASTER_ADDR" in os.environ
    # The device rule: the Trainer places the model on the GPU it would pick (cuda:LOCAL_RANK) or on the CPU; a job
    # that the config gives GPUs but that sees none stops here, before any data is read.
    on_cpu = job_device(settings.gpus, "cluster.train_gpus").type == "cpu"
    cpu_ddp = {"use_cpu": True, "ddp_backend": "gloo"} if launched and on_cpu else {}
    known = {f.name for f in fields(args_class)}
    unknown = sorted(set(settings.trainer_arguments) - known)
    if unknown:
        where = "transformers.TrainingArguments" if args_class is TrainingArguments else args_class.__name__
        raise ValueError(f"trainer arguments {unknown} are not fields of {where}")
    return args_class(
        **cpu_ddp,
        **settings.trainer_arguments,
        **extra,
        output_dir=str(out_dir),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=settings.global_batch_size // per_step,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        bf16=settings.bf16,
        activation_checkpointing=settings.gradient_checkpointing,
        logging_steps=settings.logging_steps,
        save_strategy="steps" if settings.save_steps else "no",
        save_steps=settings.save_steps or 500,
        save_total_limit=2,  # the newest may be half-written when a job is killed
        report_to=[],
        deepspeed=deepspeed_config(settings.deepspeed) if settings.deepspeed else None,
        seed=settings.seed,
        data_seed=settings.seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def _summary(trainer, started: float, n_rows: int, **extra) -> dict:
    history = [h for h in trainer.state.log_history if "loss" in h]
    return {
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "processes": trainer.args.world_size,  # > 1 under the launcher (one per GPU)
        "rows": n_rows,
        "first_logged_loss": history[0]["loss"] if history else None,
        "last_logged_loss": history[-1]["loss"] if history else None,
        "wall_s": round(time.time() - started, 2),
        "log_history": trainer.state.log_history,
        **extra,
    }


def relative_checkpoint_steps(labels: list[str], n_rows: int, global_batch_size: int,
                              reference_epoch_steps: int) -> dict[str, int]:
    """Optimizer step of each relative checkpoint label ("ck50") in a run whose full-data epoch has
    ``n_rows // global_batch_size`` steps.

    The paper's labels count steps of its own epoch (Fig. 4: 218 steps = 111,657 rows / 512); they are rescaled to this
    run's epoch so that ck-50 marks the same share of the data seen under any batch size or data set.
    """
    epoch_steps = max(n_rows // global_batch_size, 1)
    steps = {}
    for label in labels:
        match = SNAPSHOT.fullmatch(label)
        if not match:
            raise ValueError(f"relative checkpoint {label!r} is not ck<step>")
        steps[label] = max(1, round(int(match[1]) * epoch_steps / reference_epoch_steps))
    return steps


class _Keeper:
    """Trainer callback keeping the retained model at chosen points: after an epoch (M1 = the SFT run's epoch-1
    checkpoint) and at optimizer steps (relative checkpoints).

    Models are written inside the run's work directory first, so that a run resumed past that point still has them;
    a ``COMPLETE`` marker holding the step is written last.
    """

    def __init__(self, work: Path, epochs: dict[str, int], steps: dict[str, int]):
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                for label, step in outer.steps.items():
                    if state.global_step == step:
                        outer.save(label, state)

            def on_epoch_end(self, args, state, control, **kwargs):
                for label, epoch in outer.epochs.items():
                    if math.isclose(state.epoch, epoch, abs_tol=1e-6):
                        outer.save(label, state)

        self.work, self.epochs, self.steps, self.trainer = work, epochs, steps, None
        self.callback = Callback()

    def save(self, label: str, state) -> None:
        self.trainer.save_model(str(self.path(label)))  # every process calls it (ZeRO-3 gathers); the main one writes
        if self.trainer.is_world_process_zero():
            (self.path(label) / "COMPLETE").write_text(str(state.global_step))

    def path(self, label: str) -> Path:
        return self.work / "keep" / label

    def saved(self, label: str) -> bool:
        return (self.path(label) / "COMPLETE").is_file()

    def move(self, label: str, dest: str | Path) -> None:
        (self.path(label) / "COMPLETE").unlink()
        shutil.copytree(self.path(label), dest, dirs_exist_ok=True)


def last_complete_checkpoint(work_dir: str | Path) -> str | None:
    """The newest ``checkpoint-<step>`` that was fully written (trainer_state.json is saved last)."""
    found = [(int(p.name.split("-")[1]), p) for p in Path(work_dir).glob("checkpoint-*")
             if p.name.split("-")[1].isdigit() and (p / "trainer_state.json").is_file()]
    return str(max(found)[1]) if found else None


@dataclass(frozen=True)
class Keep:
    """Models a training run keeps besides its final one: the epoch-``epoch`` model at ``epoch_out`` (M1) and the
    relative checkpoints ``steps`` (label -> optimizer step) under ``snapshots_out`` with a manifest.json."""

    epoch: int | None = None
    epoch_out: str | Path | None = None
    steps: dict[str, int] | None = None
    snapshots_out: str | Path | None = None


def _run(loss_module: nn.Module | None, tokenizer, dataset, settings: TrainSettings, out: str | Path,
         keep: Keep | None, extra_summary: dict, callbacks=None, trainer_factory=None, collator=None) -> dict:
    """Train, resuming from the newest complete checkpoint in ``<out>.work/`` if a killed run left one there.

    The work directory is not a Snakemake output, so a rerun of a killed job finds it; it is removed on success.
    """
    out = Path(out)
    keep = keep or Keep()
    work = out.parent / (out.name + ".work")
    started = time.time()
    epochs = {"epoch": keep.epoch} if keep.epoch_out else {}
    keeper = _Keeper(work, epochs, dict(keep.steps or {}))
    every_callback = [keeper.callback] + list(callbacks or [])
    if trainer_factory is not None:  # a trainer of its own (TRL's DPOTrainer for SPIN)
        trainer = trainer_factory(work, every_callback)
    else:
        trainer = _make_trainer(loss_module, tokenizer, settings, dataset, work, callbacks=every_callback,
                                collator=collator)
    keeper.trainer = trainer
    resume = last_complete_checkpoint(work)
    if resume:
        log.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))
    # Under a launcher (torchrun: several processes) only the main process arranges the outputs, after all saved.
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return {}
    if keep.epoch_out and not keeper.saved("epoch"):
        raise RuntimeError(f"training ended before epoch {keep.epoch}; {keep.epoch_out} was not written")
    total = trainer.state.global_step
    summary = _summary(trainer, started, len(dataset), resumed_from=resume, **extra_summary)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    if keep.epoch_out:
        keeper.move("epoch", keep.epoch_out)
    if keep.snapshots_out is not None:
        snapshots = Path(keep.snapshots_out)
        snapshots.mkdir(parents=True, exist_ok=True)
        manifest = {"total_steps": total, "snapshots": {}}
        for label, step in (keep.steps or {}).items():
            saved = keeper.saved(label)
            if saved:
                keeper.move(label, snapshots / label)
            elif step <= total:
                raise RuntimeError(f"snapshot {label} (step {step} of {total}) was not written")
            manifest["snapshots"][label] = {"step": step, "saved": saved}
        (snapshots / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(work)
    return summary


def train_causal_lm(model, tokenizer, dataset, settings: TrainSettings, out: str | Path, keep: Keep | None = None,
                    extra_summary: dict | None = None, callbacks=None) -> dict:
    """Plain next-token CE training of one model (pre-training, SFT, the WD-DS-only ablation)."""
    return _run(FusedCausalLM(model), tokenizer, dataset, settings, out, keep, extra_summary or {}, callbacks)


def train_joint(weak, strong, tokenizer, dataset, settings: TrainSettings, lam: float, freeze_weak: bool,
                out: str | Path, keep: Keep | None = None, extra_summary: dict | None = None, callbacks=None) -> dict:
    """WD-JT: train the pair on CE(z_mix, y) and save the strong branch as an ordinary HF checkpoint."""
    pair = PairedModel(weak, strong, lam=lam, freeze_weak=freeze_weak)
    return _run(pair, tokenizer, dataset, settings, out, keep,
                {"lam": lam, "freeze_weak": freeze_weak, **(extra_summary or {})}, callbacks)


def train_distilled(student, teacher, tokenizer, dataset, settings: TrainSettings, out: str | Path,
                    strength: float, noise: str, noise_scale: float, noise_length: str, keep: Keep | None = None,
                    extra_summary: dict | None = None, callbacks=None) -> dict:
    """UNDIAL: train ``student`` on the adjusted soft targets of the frozen ``teacher``; save the student."""
    module = TeacherTargets(student, teacher, strength, noise, noise_scale, noise_length)
    summary = {"strength": strength, "noise": noise, "noise_scale": noise_scale, "noise_length": noise_length}
    return _run(module, tokenizer, dataset, settings, out, keep, {**summary, **(extra_summary or {})}, callbacks)


def train_topk_distilled(model_dir: str | Path, rows: list[dict], system_prompt: str | None,
                         settings: TrainSettings, out: str | Path, temperature: float, tail: str, kd_weight: float,
                         lora: dict, source: str, keep: Keep | None = None, extra_summary: dict | None = None,
                         callbacks=None) -> dict:
    """SSB: LoRA adapters (peft; ``lora``: r, alpha, dropout, target modules) on the model at ``model_dir``, trained on
    the teacher's stored top-k targets (``rows`` from ``data.topk.read_topk``) and saved merged into the weights.
    ``keep`` may hold a snapshots folder (its manifest is written) but no kept models: the merge ends training."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    if keep is not None and (keep.steps or keep.epoch_out):
        raise ValueError("SSB merges its LoRA adapters once, at the end: it keeps no epoch model or relative "
                         "checkpoint")
    if settings.deepspeed == "zero3":
        raise ValueError("SSB trains LoRA adapters and merges them at the end: use training.deepspeed zero2 or null")
    model, tokenizer = load_causal_lm(model_dir, bf16=settings.bf16, attn_implementation=settings.attn_implementation)
    vocab = model.get_output_embeddings().weight.shape[0]
    dataset, cut = encode_topk_rows(tokenizer, rows, system_prompt, settings.max_length, vocab, source)
    config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                        target_modules=lora["target_modules"], bias="none", task_type="CAUSAL_LM")
    # LoRA's A matrices are drawn from torch's global generator, whose seed differs per process unless set; the
    # Trainer seeds it only later, so without this two runs of one config would train different models
    set_seed(settings.seed)
    student = get_peft_model(model, config)
    trainable = sum(p.numel() for p in student.parameters() if p.requires_grad)
    module = TopKTargets(student, temperature, tail, kd_weight)
    summary = {"kd_temperature": temperature, "tail": tail, "kd_weight": kd_weight, "lora": lora,
               "trainable_parameters": trainable, "replies": len(rows), "replies_cut": cut, **(extra_summary or {})}
    return _run(module, tokenizer, dataset, settings, out, keep, summary, callbacks,
                collator=TopKCollator(tokenizer.pad_token_id))


def train_preference(model_dir: str | Path, pairs: list[dict], system_prompt: str | None, settings: TrainSettings,
                     out: str | Path, beta: float, loss_type: str, keep: Keep | None = None,
                     extra_summary: dict | None = None, callbacks=None) -> dict:
    """DPO (TRL's DPOTrainer) from ``model_dir`` with a frozen copy of it as the reference, on ``pairs`` of
    ``{"id", "question", "chosen", "rejected"}`` rendered in the chat format of every other method (the system prompt,
    the question as the user turn, each answer as the assistant turn); saves the policy as an HF checkpoint."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = load_causal_lm(model_dir, bf16=settings.bf16, attn_implementation=settings.attn_implementation)
    reference, _ = load_causal_lm(model_dir, bf16=settings.bf16, attn_implementation=settings.attn_implementation)
    dataset = Dataset.from_list([
        {"prompt": prompt_messages(p["question"], system_prompt),
         "chosen": [{"role": "assistant", "content": p["chosen"]}],
         "rejected": [{"role": "assistant", "content": p["rejected"]}]}
        for p in pairs])

    def trainer(work: Path, every_callback: list):
        args = _training_arguments(settings, work, args_class=DPOConfig, beta=beta, loss_type=[loss_type],
                                   max_length=settings.max_length)
        return DPOTrainer(model=model, ref_model=reference, args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=every_callback)

    summary = {"beta": beta, "loss_type": loss_type, "pairs": len(pairs), **(extra_summary or {})}
    return _run(None, tokenizer, dataset, settings, out, keep, summary, callbacks, trainer_factory=trainer)


@torch.no_grad()
def completion_entropies(model, tokenizer, examples: list[Example], system_prompt: str | None, max_length: int,
                         batch_size: int = 8) -> list[dict]:
    """Eq. (7) per example: the mean next-token entropy over the completion positions (WD-DS, Sec. 4.2)."""

    model.eval()
    device = next(model.parameters()).device  # placed by the stage (job_device)
    rows = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start:start + batch_size]
        padded = to_device(Collator(tokenizer.pad_token_id, completion_mask=True)(
            [encode_example(tokenizer, ex, system_prompt, max_length, "completion") for ex in batch]), device)
        hidden, weight = _hidden_and_head(model, padded["input_ids"], padded["attention_mask"])
        token_h = chunked_entropy(hidden, weight).view(padded["input_ids"].shape)
        target_mask = shifted_targets(padded["completion_mask"]).clamp(min=0).float()  # position t predicts t+1
        h = sequence_entropy(token_h, target_mask)
        for ex, value, n in zip(batch, h.tolist(), target_mask.sum(-1).tolist(), strict=True):
            if n == 0:
                raise ValueError(f"example {ex.id}: no completion token within max_length {max_length}")
            rows.append({"id": ex.id, "entropy": value, "n_tokens": int(n)})
        log.info("entropy %d/%d", min(start + batch_size, len(examples)), len(examples))
    return rows
