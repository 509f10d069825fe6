"""M0, what every run starts from: the pinned hub snapshot, a local checkpoint, or the embedded preset's tiny model
pre-trained here (the ``init_backbone`` rule)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .data.embedded import CORPUS_SEPARATOR, build_tiny_model, build_tokenizer, training_texts
from .data.gemma import text_only_checkpoint
from .stages import BackboneStage


def copy_backbone(entry: dict, source: Path, out: Path) -> None:
    """M0 as training loads it. A multimodal Gemma-3 (the hub's gemma-3-4b-pt) becomes its text-only
    Gemma3ForCausalLM with the fallback chat template; the original is kept in ``multimodal/`` for the vLLM wrap."""
    if entry["family"] == "gemma" and "text_config" in json.loads((source / "config.json").read_text()):
        text_only_checkpoint(source, out)
        shutil.copytree(source, out / "multimodal")
    else:
        shutil.copytree(source, out)


def init_backbone(stage: BackboneStage, out: str | Path, corpus: str | None = None, train: str | None = None) -> None:
    """Download the pinned hub snapshot, copy a local checkpoint, or build and pre-train the embedded model (its
    tokenizer is trained on ``corpus`` and the training set ``train`` as the chat template renders it)."""
    b, out = stage.backbone, Path(out)
    if b["source"] == "hub":
        from huggingface_hub import snapshot_download

        # Into the shared HF cache (reused across jobs; HF_HUB_OFFLINE=1 reads only the cache), then copied.
        snapshot = snapshot_download(b["hub_id"], revision=b["revision"],
                                     allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"])
        if not (Path(snapshot) / "config.json").is_file():
            raise FileNotFoundError(f"{b['hub_id']}@{b['revision']}: the snapshot has no config.json")
        copy_backbone(b, Path(snapshot), out)
    elif b["source"] == "local":
        if not (Path(b["path"]) / "config.json").is_file():
            raise FileNotFoundError(f"config key 'backbones[{b['name']}].path': {b['path']} has no config.json")
        copy_backbone(b, Path(b["path"]), out)
    else:
        from .training import encode_corpus, train_causal_lm

        if corpus is None or train is None:
            raise ValueError(f"backbone {b['name']!r} is built here: it needs the pre-training corpus and the "
                             "training set (--corpus, --train)")
        tokenizer = build_tokenizer([corpus], texts=training_texts(train, stage.prompt.system_prompt))
        model = build_tiny_model(tokenizer, b["architecture"], seed=b["pretrain"]["seed"])
        documents = [d.strip() for d in Path(corpus).read_text().split(CORPUS_SEPARATOR) if d.strip()]
        settings = stage.pretrain
        train_causal_lm(model, tokenizer, encode_corpus(tokenizer, documents, settings.max_length), settings, out)
