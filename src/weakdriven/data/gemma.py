"""Gemma-3-4B-PT as the paper runs it (App. E.4): tag-free data and prompts, a fallback chat template, a text-only
checkpoint for training, and the vLLM wrap of a trained text-only checkpoint.

- Tag-free data: the <think>/<answer> markers are removed from the training completions, their text is kept.
- Tag-free prompts per domain (math / logic / code) instead of the Qwen tagged system prompt.
- Gemma-3-4B-PT has no chat template: a Gemma-3-IT-style fallback (assistant -> "model", a system message prepended
  to the first user turn, every turn in <start_of_turn>/<end_of_turn>).
- The hub checkpoint is a Gemma3ForConditionalGeneration (text + vision); training uses the text-only
  Gemma3ForCausalLM (:func:`text_only_checkpoint`), and vLLM (v0.11) loads Gemma-3 only as the multimodal class:
  :func:`wrap_for_vllm` re-keys the trained weights under ``language_model.`` and injects the base model's
  ``vision_tower.*`` and ``multi_modal_projector.*`` weights unchanged.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

from .chat import load_examples

TAGS = re.compile(r"(?:\s*</?(?:think|answer)>\s*)+")

# App. E.4: the tag-free instructions, by domain
GEMMA_PROMPTS = {
    "math": "Solve the problem step by step. End your solution with the final answer enclosed in \\boxed{}.",
    "logic": "Solve the problem step by step. End your response with 'The answer is (X).'",
    "code": "Provide clean, correct Python code.",
}

# Gemma-3-IT style: no system turn (a system message is prepended to the first user turn), assistant -> model
FALLBACK_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set first_user_prefix = '' %}"
    "{% set loop_messages = messages %}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\n\n' %}"
    "{% set loop_messages = messages[1:] %}"
    "{% endif %}"
    "{% for message in loop_messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim"
    " + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

VISION_PREFIXES = ("vision_tower.", "multi_modal_projector.")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def strip_tags(completion: str) -> str:
    """A tagged completion without its <think>/</think>/<answer>/</answer> markers (their text is kept)."""
    return TAGS.sub("\n", completion).strip()


def training_examples(path: str | Path, family: str) -> list:
    """Training records of ``path``; a Gemma backbone trains on them without their <think>/<answer> tags."""
    examples = load_examples(path)
    if family == "gemma":
        examples = [replace(ex, completion=strip_tags(ex.completion)) for ex in examples]
    return examples


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path} holds no *.safetensors weights")
    out = {}
    for f in files:
        out.update(load_file(str(f)))
    return out


def _multimodal_keys(tensors: dict) -> dict:
    """Normalise a multimodal state dict to the hub layout (``language_model.model.*``, ``vision_tower.*``, ...)."""
    out = {}
    for key, value in tensors.items():
        key = key.removeprefix("model.") if key.startswith(("model.language_model.", "model.vision_tower.",
                                                              "model.multi_modal_projector.")) else key
        if key.startswith("language_model.") and not key.startswith(("language_model.model.",
                                                                     "language_model.lm_head.")):
            key = "language_model.model." + key.removeprefix("language_model.")
        out[key] = value
    return out


def text_only_checkpoint(base: str | Path, out: str | Path) -> None:
    """The Gemma3ForCausalLM (text-only) checkpoint of a multimodal Gemma-3 base, with the fallback chat template."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    base, out = Path(base), Path(out)
    config = json.loads((base / "config.json").read_text())
    if "text_config" not in config:
        raise ValueError(f"{base}/config.json has no text_config: not a multimodal Gemma-3 checkpoint")
    tensors = _multimodal_keys(_tensors(base))
    text = {"model." + k.removeprefix("language_model.model."): v for k, v in tensors.items()
            if k.startswith("language_model.model.")}
    text.update({k.removeprefix("language_model."): v for k, v in tensors.items()
                 if k.startswith("language_model.lm_head.")})
    if not text:
        raise ValueError(f"{base}: no language_model.* weights")
    out.mkdir(parents=True)
    text_config = dict(config["text_config"], architectures=["Gemma3ForCausalLM"], model_type="gemma3_text")
    text_config.setdefault("tie_word_embeddings", config.get("tie_word_embeddings", True))
    (out / "config.json").write_text(json.dumps(text_config, indent=2))
    save_file({k: v.contiguous() for k, v in text.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    if (base / "generation_config.json").is_file():
        shutil.copy(base / "generation_config.json", out / "generation_config.json")
    tokenizer = AutoTokenizer.from_pretrained(base)
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    tokenizer.save_pretrained(out)


def wrap_for_vllm(trained: str | Path, base: str | Path, out: str | Path) -> dict:
    """A trained Gemma3ForCausalLM checkpoint in the multimodal layout vLLM loads (App. E.4): every weight re-keyed
    under ``language_model.``, the base's vision tower and projector injected unchanged, the base's config with the
    trained text config. Returns counts of the weights written."""
    from safetensors.torch import save_file

    trained, base, out = Path(trained), Path(base), Path(out)
    base_config = json.loads((base / "config.json").read_text())
    text_config = json.loads((trained / "config.json").read_text())
    if text_config.get("model_type") != "gemma3_text" or "text_config" not in base_config:
        raise ValueError(f"{trained} must be a Gemma3ForCausalLM checkpoint and {base} a multimodal Gemma-3 base")
    weights = {"language_model." + k: v for k, v in _tensors(trained).items()}
    vision = {k: v for k, v in _multimodal_keys(_tensors(base)).items() if k.startswith(VISION_PREFIXES)}
    if not vision:
        raise ValueError(f"{base}: no vision_tower.* / multi_modal_projector.* weights to inject")
    out.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in {**weights, **vision}.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    kept = {k: v for k, v in text_config.items() if k not in ("architectures", "model_type", "transformers_version")}
    config = dict(base_config, text_config=dict(base_config["text_config"], **kept))
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for name in (*PROCESSOR_FILES, "generation_config.json"):
        if (base / name).is_file():
            shutil.copy(base / name, out / name)
    for f in trained.iterdir():  # the trained tokenizer, with its chat template
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(f, out / f.name)
    return {"language_model": len(weights), "vision": len(vision)}
