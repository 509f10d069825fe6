"""Training through the transformers Trainer: pre-training (embedded preset), SFT, and WD-JT on a weak/strong pair.

The same code runs on a laptop CPU and, launched by accelerate (DeepSpeed config by name), on a GPU cluster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .data.chat import IGNORE_INDEX, Example, encode_example
from .methods.equations import mixed_logit_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """What one training stage needs; built by the rules from the config's ``training`` section."""

    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    max_length: int
    per_device_batch_size: int
    global_batch_size: int
    epochs: float
    bf16: bool
    gradient_checkpointing: bool
    logging_steps: int
    seed: int


def load_causal_lm(path: str | Path, bf16: bool = False):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face checkpoint (no config.json)")
    dtype = torch.bfloat16 if bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def save_checkpoint(model, tokenizer, out: str | Path, summary: dict | None = None) -> None:
    """An ordinary HF checkpoint (safetensors, config, generation config, tokenizer) plus ``train_summary.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if summary is not None:
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))


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
    """Right-pads ``input_ids`` (pad id), ``labels`` (-100) and builds the attention mask."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)

        def pad(key: str, value: int) -> torch.Tensor:
            return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows], dtype=torch.long)

        return {
            "input_ids": pad("input_ids", self.pad_id),
            "labels": pad("labels", IGNORE_INDEX),
            "attention_mask": torch.tensor(
                [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows], dtype=torch.long
            ),
        }


def encode_dataset(tokenizer, examples: list[Example], system_prompt: str | None, max_length: int, mask: str):
    from datasets import Dataset

    rows = [encode_example(tokenizer, ex, system_prompt, max_length, mask) for ex in examples]
    return Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])


def encode_corpus(tokenizer, lines: list[str], max_length: int):
    """Plain-text pre-training rows: every token supervised, each line closed by the EOS token."""
    from datasets import Dataset

    rows = []
    for line in lines:
        ids = tokenizer(line + tokenizer.eos_token, add_special_tokens=False)["input_ids"][:max_length]
        rows.append({"input_ids": ids, "labels": list(ids)})
    return Dataset.from_list(rows)


def shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """Align labels with logits for next-token prediction: position t predicts token t+1; the last has no target."""
    return torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE_INDEX)], dim=1)


class PairedModel(nn.Module):
    """Weak (M0) and strong (M1) sub-models trained jointly on CE of z_mix (Eq. 5-6); only the strong one is kept."""

    def __init__(self, weak: nn.Module, strong: nn.Module, lam: float, freeze_weak: bool):
        super().__init__()
        self.weak, self.strong, self.lam, self.freeze_weak = weak, strong, lam, freeze_weak
        if freeze_weak:
            self.weak.requires_grad_(False)
            self.weak.eval()

    def forward(self, input_ids, attention_mask, labels):
        strong_logits = self.strong(input_ids=input_ids, attention_mask=attention_mask).logits
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_weak):
            weak_logits = self.weak(input_ids=input_ids, attention_mask=attention_mask).logits
        loss = mixed_logit_loss(weak_logits, strong_logits, shifted_targets(labels), self.lam)
        return {"loss": loss}

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        for sub in (self.weak, self.strong):
            sub.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)


def _training_arguments(settings: TrainSettings, out_dir: Path, world_size: int = 1):
    from transformers import TrainingArguments

    per_step = settings.per_device_batch_size * world_size
    if settings.global_batch_size % per_step:
        raise ValueError(
            f"global batch {settings.global_batch_size} is not a multiple of per-device batch "
            f"{settings.per_device_batch_size} x {world_size} processes"
        )
    return TrainingArguments(
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
        save_strategy="no",
        report_to=[],
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
        "rows": n_rows,
        "first_logged_loss": history[0]["loss"] if history else None,
        "last_logged_loss": history[-1]["loss"] if history else None,
        "wall_s": round(time.time() - started, 2),
        "log_history": trainer.state.log_history,
        **extra,
    }


class _SaveAtEpoch:
    """Trainer callback saving the model after epoch ``epoch`` (M1 = the SFT run's epoch-1 checkpoint)."""

    def __init__(self, epoch: int, out: Path, tokenizer):
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_epoch_end(self, args, state, control, **kwargs):
                if outer.trainer is not None and math.isclose(state.epoch, outer.epoch, abs_tol=1e-6):
                    outer.trainer.save_model(str(outer.out))
                    outer.tokenizer.save_pretrained(outer.out)
                    outer.saved = True

        self.epoch, self.out, self.tokenizer, self.trainer, self.saved = epoch, out, tokenizer, None, False
        self.callback = Callback()


def train_causal_lm(model, tokenizer, dataset, settings: TrainSettings, out: str | Path,
                    save_epoch: tuple[int, str | Path] | None = None, extra_summary: dict | None = None) -> dict:
    """Plain next-token CE training of one model (pre-training, SFT, the WD-DS-only ablation)."""
    from transformers import Trainer

    out = Path(out)
    started = time.time()
    saver = _SaveAtEpoch(save_epoch[0], Path(save_epoch[1]), tokenizer) if save_epoch else None
    trainer = Trainer(
        model=model,
        args=_training_arguments(settings, out.parent / (out.name + ".trainer")),
        train_dataset=dataset,
        data_collator=Collator(tokenizer.pad_token_id),
        callbacks=[saver.callback] if saver else None,
    )
    if saver:
        saver.trainer = trainer
    trainer.train()
    if saver and not saver.saved:
        raise RuntimeError(f"training ended before epoch {saver.epoch}; {saver.out} was not written")
    summary = _summary(trainer, started, len(dataset), **(extra_summary or {}))
    save_checkpoint(trainer.model, tokenizer, out, summary)
    return summary


def train_joint(weak, strong, tokenizer, dataset, settings: TrainSettings, lam: float, freeze_weak: bool,
                out: str | Path, extra_summary: dict | None = None) -> dict:
    """WD-JT: train the pair on CE(z_mix, y) and save the strong branch as an ordinary HF checkpoint."""
    from transformers import Trainer

    out = Path(out)
    started = time.time()
    pair = PairedModel(weak, strong, lam=lam, freeze_weak=freeze_weak)
    trainer = Trainer(
        model=pair,
        args=_training_arguments(settings, out.parent / (out.name + ".trainer")),
        train_dataset=dataset,
        data_collator=Collator(tokenizer.pad_token_id),
    )
    trainer.train()
    summary = _summary(trainer, started, len(dataset), lam=lam, freeze_weak=freeze_weak, **(extra_summary or {}))
    save_checkpoint(pair.strong, tokenizer, out, summary)
    return summary


@torch.no_grad()
def completion_entropies(model, tokenizer, examples: list[Example], system_prompt: str | None, max_length: int,
                         batch_size: int = 8) -> list[dict]:
    """Eq. (7) per example: the mean next-token entropy over the completion positions (WD-DS, Sec. 4.2)."""
    from .methods.equations import sequence_entropy

    model.eval()
    rows = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start:start + batch_size]
        enc = [encode_example(tokenizer, ex, system_prompt, max_length, "completion") for ex in batch]
        width = max(len(e["input_ids"]) for e in enc)
        ids = torch.tensor([e["input_ids"] + [tokenizer.pad_token_id] * (width - len(e["input_ids"])) for e in enc])
        attn = torch.tensor([[1] * len(e["input_ids"]) + [0] * (width - len(e["input_ids"])) for e in enc])
        cmask = torch.tensor([e["completion_mask"] + [0] * (width - len(e["completion_mask"])) for e in enc])
        logits = model(input_ids=ids, attention_mask=attn).logits
        target_mask = shifted_targets(cmask).clamp(min=0).float()  # logits at t predict token t+1
        h = sequence_entropy(logits, target_mask)
        for ex, value, n in zip(batch, h.tolist(), target_mask.sum(-1).tolist()):
            if n == 0:
                raise ValueError(f"example {ex.id}: no completion token within max_length {max_length}")
            rows.append({"id": ex.id, "entropy": value, "n_tokens": int(n)})
        log.info("entropy %d/%d", min(start + batch_size, len(examples)), len(examples))
    return rows
