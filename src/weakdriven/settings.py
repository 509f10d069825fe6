"""Typed settings a training stage receives (torch-free: the workflow builds them, the job reads them back)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class TrainSettings:
    """What one training stage needs; built from the config's ``training`` section and the method."""

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
    save_steps: int = 0  # resumable checkpoints every N optimizer steps (0: none)
    deepspeed: str | None = None  # a config name under config/deepspeed/ (zero2, zero3) or None
    attn_implementation: str = "sdpa"  # transformers' attention kernel: sdpa, flash_attention_2 (GPU), eager
    gpus: int = 0  # GPUs the config gives the job (cluster.train_gpus): > 0 and none visible is an error
    # transformers.TrainingArguments fields a method sets itself (NEFTune: neftune_noise_alpha), passed through as
    # they are; a name TrainingArguments does not have is refused when the trainer is built
    trainer_arguments: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any], **overrides: Any) -> TrainSettings:
        """From a rule's ``training`` settings (keys it does not know, such as ``sft_epochs``, are ignored)."""
        merged = {**values, **overrides}
        return cls(**{f.name: merged[f.name] for f in fields(cls) if f.name in merged})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
