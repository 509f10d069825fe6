"""M0 from the hub (a pinned revision, resolved through the HF cache offline) and from a local checkpoint."""

import os
import subprocess

import torch
from conftest import BIN
from transformers import AutoModelForCausalLM

from weakdriven.data.embedded import build_tiny_model, build_tokenizer, make_embedded_data
from weakdriven.stages import BackboneStage
from weakdriven.training import load_causal_lm

REVISION = "0123456789abcdef0123456789abcdef01234567"
ARCH = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            intermediate_size=64)


def tiny_checkpoint(root):
    make_embedded_data(root / "w", n_train=9, n_test=2, n_pretrain=9, seed=0)
    tok = build_tokenizer([root / "w" / "data" / "pretrain.txt"], vocab_size=280)
    model = build_tiny_model(tok, ARCH, seed=0)
    model.save_pretrained(root / "ckpt")
    tok.save_pretrained(root / "ckpt")
    return root / "ckpt", model


def init_backbone(backbone, out, env):
    settings = BackboneStage(backbone).to_json()
    return subprocess.run([str(BIN / "weakdriven"), "init-backbone", "--settings", settings, "--out", str(out)],
                          capture_output=True, text=True, env=env)


def test_hub_backbone_is_resolved_at_its_pinned_revision_from_the_cache(tmp_path):
    ckpt, model = tiny_checkpoint(tmp_path)
    # The Hugging Face cache layout: models--org--name/{refs,snapshots/<commit>}
    repo = tmp_path / "hf" / "hub" / "models--acme--tiny-base"
    snap = repo / "snapshots" / REVISION
    snap.mkdir(parents=True)
    for f in ckpt.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    backbone = {"name": "tiny", "source": "hub", "hub_id": "acme/tiny-base", "revision": REVISION, "family": "qwen",
                "params_b": 0.001}
    result = init_backbone(backbone, tmp_path / "m0", env)
    assert result.returncode == 0, result.stderr
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "m0")
    ids = torch.tensor([[1, 5, 9, 3]])
    torch.testing.assert_close(loaded(input_ids=ids).logits, model.eval()(input_ids=ids).logits)
    # another revision is not in the cache: offline it must fail, not silently take "main"
    other = dict(backbone, revision="f" * 40)
    failed = init_backbone(other, tmp_path / "m0-other", env)
    assert failed.returncode != 0 and not (tmp_path / "m0-other").exists()


def test_local_backbone_is_copied_and_loads(tmp_path):
    ckpt, _ = tiny_checkpoint(tmp_path)
    backbone = {"name": "tiny", "source": "local", "path": str(ckpt), "family": "qwen", "params_b": 0.001}
    result = init_backbone(backbone, tmp_path / "m0", dict(os.environ))
    assert result.returncode == 0, result.stderr
    model, tok = load_causal_lm(tmp_path / "m0")
    assert tok.chat_template and model.config.model_type == "qwen3"


def test_the_embedded_tokenizer_learns_the_training_rows_as_the_chat_template_renders_them(tmp_path):
    """The embedded M0's tokenizer is trained on the corpus and on the math rows as prompted: the system prompt's
    words become tokens (13 for the preset's prompt instead of 30), and ``chat_text`` is the chat template's text."""
    from weakdriven.data.embedded import chat_text, training_texts

    make_embedded_data(tmp_path, n_train=90, n_test=2, n_pretrain=60, seed=0)
    corpus, train = tmp_path / "data" / "pretrain.txt", tmp_path / "data" / "math" / "train.jsonl"
    system = "Think inside <think> tags, then answer inside <answer> tags."
    plain = build_tokenizer([corpus, train])
    tok = build_tokenizer([corpus], texts=training_texts(train, system))
    assert len(plain.tokenize(system)) == 30
    assert tok.tokenize(system) == ["Think", "Ġinside", "Ġ", "<think>", "Ġtags", ",", "Ġthen", "Ġanswer", "Ġinside",
                                    "Ġ", "<answer>", "Ġtags", "."]
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "Write the number 417."},
                {"role": "assistant", "content": "<think>The number is 417.</think><answer>417</answer>"}]
    assert chat_text(messages) == tok.apply_chat_template(messages, tokenize=False)
    first = next(training_texts(train, system))
    assert first.startswith(f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n")
    assert tok.tokenize("Write the number 417.") == ["Write", "Ġthe", "Ġnumber", "Ġ", "4", "1", "7", "."]
