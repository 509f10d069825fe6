"""Gemma-3-4B-PT handling (App. E.4) on a tiny multimodal Gemma-3 made here: text-only training checkpoint, the
fallback chat template, tag-free data, and the vLLM wrap (re-keyed weights + the base's vision tower)."""

import json

import pytest
import torch
from transformers import (
    AutoTokenizer,
    Gemma3Config,
    Gemma3ForCausalLM,
    Gemma3ForConditionalGeneration,
    Gemma3TextConfig,
    SiglipVisionConfig,
)

from weakdriven.data.embedded import build_tokenizer
from weakdriven.data.gemma import FALLBACK_CHAT_TEMPLATE, GEMMA_PROMPTS, strip_tags, text_only_checkpoint, wrap_for_vllm


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("gemma")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(f"<start_of_turn>user\nwhat is {i} plus {i}?<end_of_turn>" for i in range(200)))
    tok = build_tokenizer([corpus], vocab_size=300)
    tok.chat_template = None  # Gemma-3-4B-PT ships without one
    text = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=8)
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=28, patch_size=14)
    config = Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4,
                          image_token_index=len(tok) - 1, boi_token_index=len(tok) - 3, eoi_token_index=len(tok) - 2)
    torch.manual_seed(0)
    model = Gemma3ForConditionalGeneration(config).eval()
    model.save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    processor = {"image_processor_type": "Gemma3ImageProcessor"}
    (root / "base" / "preprocessor_config.json").write_text(json.dumps(processor))
    return root, model, tok


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_text_only_checkpoint_keeps_the_language_model_exactly(base, tmp_path):
    root, multimodal, tok = base
    text_only_checkpoint(root / "base", tmp_path / "m0")
    model, info = Gemma3ForCausalLM.from_pretrained(tmp_path / "m0", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids = torch.tensor([tok("what is 3 plus 4?")["input_ids"]])
    torch.testing.assert_close(logits(model.eval(), ids), logits(multimodal, ids), rtol=0, atol=0)
    assert json.loads((tmp_path / "m0" / "config.json").read_text())["architectures"] == ["Gemma3ForCausalLM"]
    with pytest.raises(FileExistsError):
        text_only_checkpoint(root / "base", tmp_path / "m0")  # never overwrites


def test_fallback_chat_template_folds_the_system_prompt_into_the_first_user_turn(base, tmp_path):
    root, _, _ = base
    text_only_checkpoint(root / "base", tmp_path / "m0")
    tok = AutoTokenizer.from_pretrained(tmp_path / "m0")
    assert tok.chat_template == FALLBACK_CHAT_TEMPLATE
    messages = [{"role": "system", "content": GEMMA_PROMPTS["math"]}, {"role": "user", "content": "1+1?"},
                {"role": "assistant", "content": "2"}, {"role": "user", "content": "2+2?"}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (f"{tok.bos_token or ''}<start_of_turn>user\n{GEMMA_PROMPTS['math']}\n\n1+1?<end_of_turn>\n"
                    "<start_of_turn>model\n2<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n"
                    "<start_of_turn>model\n")


def test_vllm_wrap_is_the_trained_model_plus_the_base_vision_tower(base, tmp_path):
    root, multimodal, tok = base
    text_only_checkpoint(root / "base", tmp_path / "m0")
    trained = Gemma3ForCausalLM.from_pretrained(tmp_path / "m0").eval()
    with torch.no_grad():  # stands in for training: every text weight moves
        for p in trained.parameters():
            p.add_(0.01 * torch.randn_like(p))
    trained.save_pretrained(tmp_path / "trained")
    AutoTokenizer.from_pretrained(tmp_path / "m0").save_pretrained(tmp_path / "trained")
    counts = wrap_for_vllm(tmp_path / "trained", root / "base", tmp_path / "wrapped")
    wrapped, info = Gemma3ForConditionalGeneration.from_pretrained(tmp_path / "wrapped", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids = torch.tensor([tok("what is 5 plus 5?")["input_ids"]])
    torch.testing.assert_close(logits(wrapped.eval(), ids), logits(trained, ids), rtol=0, atol=0)
    assert not torch.equal(logits(wrapped, ids), logits(multimodal, ids))
    base_vision = dict(multimodal.named_parameters())
    for name, value in wrapped.named_parameters():
        if "vision_tower" in name or "multi_modal_projector" in name:
            assert torch.equal(value, base_vision[name]), name
    assert counts["vision"] > 0 and (tmp_path / "wrapped" / "preprocessor_config.json").is_file()
    assert AutoTokenizer.from_pretrained(tmp_path / "wrapped").chat_template == FALLBACK_CHAT_TEMPLATE
    with pytest.raises(ValueError, match="must be a Gemma3ForCausalLM checkpoint"):
        wrap_for_vllm(root / "base", root / "base", tmp_path / "again")


def test_tag_free_completions_keep_the_reasoning_and_the_answer():
    tagged = "<think>\n2 and 2 make 4.\n</think>\n<answer>\nThe sum is \\boxed{4}.\n</answer>"
    assert strip_tags(tagged) == "2 and 2 make 4.\nThe sum is \\boxed{4}."
    assert strip_tags("no tags \\boxed{1}") == "no tags \\boxed{1}"


def test_init_backbone_turns_a_multimodal_gemma_into_its_text_only_m0(base, tmp_path):
    from weakdriven.cli import main
    from weakdriven.stages import BackboneStage

    root, multimodal, tok = base
    backbone = {"name": "gemma-tiny", "source": "local", "path": str(root / "base"), "family": "gemma",
                "params_b": 0.001}
    main(["init-backbone", "--settings", BackboneStage(backbone).to_json(), "--out", str(tmp_path / "m0")])
    model = Gemma3ForCausalLM.from_pretrained(tmp_path / "m0").eval()
    ids = torch.tensor([tok("what is 1 plus 1?")["input_ids"]])
    torch.testing.assert_close(logits(model, ids), logits(multimodal, ids), rtol=0, atol=0)
    assert (tmp_path / "m0" / "multimodal" / "preprocessor_config.json").is_file()  # kept for the vLLM wrap


def test_training_records_of_a_gemma_backbone_lose_their_tags(tmp_path):
    from weakdriven.data.gemma import training_examples

    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"id": "a", "question": "1+1?", "completion": "<think>add</think> <answer>\\boxed{2}"
                                "</answer>", "answer": "2"}) + "\n")
    assert training_examples(str(data), "gemma")[0].completion == "add\n\\boxed{2}"
    assert training_examples(str(data), "qwen")[0].completion.startswith("<think>")
