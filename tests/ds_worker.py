"""Worker for tests/test_deepspeed.py: one WD-JT run on a tiny pair, with a DeepSpeed config name or none.

    python tests/ds_worker.py {none,zero2,zero3} OUT_DIR [KILL_AT_STEP]
Checkpoints every 2 steps; with KILL_AT_STEP the process dies hard (os._exit) after that step, as a pre-empted job.
Prints {"losses": [...], "resumed_from": ...} on the last line. Sets the single-process distributed environment.
"""

import json
import os
import sys

os.environ.update(DS_ACCELERATOR="cpu", RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
os.environ.setdefault("MASTER_PORT", "29533")

from pathlib import Path  # noqa: E402

from transformers import TrainerCallback  # noqa: E402

from weakdriven.data.chat import load_examples  # noqa: E402
from weakdriven.data.embedded import build_tiny_model, build_tokenizer, make_embedded_data  # noqa: E402
from weakdriven.training import TrainSettings, encode_dataset, train_joint  # noqa: E402

# hidden 512 x vocab 300 = 153,600 elements: above ZeRO-3's persistence threshold, so the head is partitioned
ARCH = dict(hidden_size=512, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            intermediate_size=64)

stage, out = sys.argv[1], Path(sys.argv[2])
kill_at = int(sys.argv[3]) if len(sys.argv) > 3 else None


class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == kill_at:
            os._exit(9)


make_embedded_data(out / "world", n_train=24, n_test=2, n_pretrain=20, seed=0)
train = out / "world" / "data" / "math" / "train.jsonl"
tok = build_tokenizer([out / "world" / "data" / "pretrain.txt", train], vocab_size=300)
data = encode_dataset(tok, load_examples(train), "sys", 96, "completion")
settings = TrainSettings(learning_rate=1e-2, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.0,
                         max_grad_norm=1.0, max_length=96, per_device_batch_size=4, global_batch_size=4, epochs=1,
                         bf16=False, gradient_checkpointing=False, logging_steps=1, seed=0, save_steps=2,
                         deepspeed=None if stage == "none" else stage)
summary = train_joint(build_tiny_model(tok, ARCH, 1), build_tiny_model(tok, ARCH, 2), tok, data, settings, lam=0.5,
                      freeze_weak=False, out=out / "strong", callbacks=[Kill()] if kill_at else None)
print(json.dumps({"losses": [h["loss"] for h in summary["log_history"] if "loss" in h],
                  "resumed_from": summary["resumed_from"]}))
