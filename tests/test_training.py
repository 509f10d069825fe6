"""The training engine on a tiny Qwen3: paired WD-JT model, lam = 1 == SFT, frozen weak, M1 saving, entropies."""

import json
import math
import os

import pytest
import torch
from transformers import AutoModelForCausalLM

from weakdriven.data.chat import IGNORE_INDEX, encode_example, load_examples
from weakdriven.data.embedded import build_tiny_model, build_tokenizer, make_embedded_data
from weakdriven.methods.equations import mixed_logit_loss
from weakdriven.training import (
    Collator,
    Keep,
    PairedModel,
    TrainSettings,
    completion_entropies,
    encode_dataset,
    relative_checkpoint_steps,
    shifted_targets,
    train_causal_lm,
    train_joint,
)

ARCH = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            intermediate_size=64)
SYSTEM = "Think, then answer."


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    make_embedded_data(root, n_train=48, n_test=5, n_pretrain=60, seed=3)
    tok = build_tokenizer([root / "data" / "pretrain.txt", root / "data" / "math" / "train.jsonl"], vocab_size=300)
    return root, tok, load_examples(root / "data" / "math" / "train.jsonl")


def settings(epochs=1.0, batch=8, lr=1e-2):
    return TrainSettings(learning_rate=lr, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.0,
                         max_grad_norm=1.0, max_length=96, per_device_batch_size=batch, global_batch_size=batch,
                         epochs=epochs, bf16=False, gradient_checkpointing=False, logging_steps=1, seed=0)


def test_encode_example_masks_the_prompt(world):
    _, tok, examples = world
    enc = encode_example(tok, examples[0], SYSTEM, 512, "completion")
    supervised = [t for t, lab in zip(enc["input_ids"], enc["labels"]) if lab != IGNORE_INDEX]
    assert tok.decode(supervised) == examples[0].completion + "<|im_end|>\n"
    assert sum(enc["completion_mask"]) == len(supervised)
    full = encode_example(tok, examples[0], SYSTEM, 512, "all_tokens")
    assert full["labels"] == full["input_ids"]
    assert len(encode_example(tok, examples[0], SYSTEM, 10, "completion")["input_ids"]) == 10


def test_paired_model_loss_is_the_mixed_loss_of_its_branches(world):
    _, tok, examples = world
    weak, strong = build_tiny_model(tok, ARCH, seed=1), build_tiny_model(tok, ARCH, seed=2)
    batch = Collator(tok.pad_token_id)([encode_example(tok, ex, SYSTEM, 96, "completion") for ex in examples[:4]])
    pair = PairedModel(weak, strong, lam=0.3, freeze_weak=False)
    loss = pair(**batch)["loss"]
    z_w = weak(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    z_s = strong(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    ref = mixed_logit_loss(z_w, z_s, shifted_targets(batch["labels"]), 0.3)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    # lam = 1: the HF causal-LM loss of the strong model alone
    sft = strong(**batch).loss
    assert PairedModel(weak, strong, 1.0, False)(**batch)["loss"].item() == pytest.approx(sft.item(), rel=1e-6)


def test_joint_training_at_lambda_one_equals_sft(world, tmp_path):
    _, tok, examples = world
    data = encode_dataset(tok, examples[:24], SYSTEM, 96, "completion")
    sft_model = build_tiny_model(tok, ARCH, seed=5)
    train_causal_lm(sft_model, tok, data, settings(), tmp_path / "sft")
    weak, strong = build_tiny_model(tok, ARCH, seed=6), build_tiny_model(tok, ARCH, seed=5)
    weak_before = {k: v.clone() for k, v in weak.state_dict().items()}
    train_joint(weak, strong, tok, data, settings(), lam=1.0, freeze_weak=False, out=tmp_path / "joint")
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "sft").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "joint").state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    for key, value in weak.state_dict().items():  # (1 - lam) = 0: no gradient reaches the weak branch
        torch.testing.assert_close(value, weak_before[key])


def test_joint_training_updates_both_or_only_strong_and_extracts_an_hf_checkpoint(world, tmp_path):
    _, tok, examples = world
    data = encode_dataset(tok, examples[:16], SYSTEM, 96, "all_tokens")
    for freeze in (False, True):
        weak, strong = build_tiny_model(tok, ARCH, seed=7), build_tiny_model(tok, ARCH, seed=8)
        w0 = weak.model.embed_tokens.weight.detach().clone()
        s0 = strong.model.embed_tokens.weight.detach().clone()
        out = tmp_path / f"joint-{freeze}"
        summary = train_joint(weak, strong, tok, data, settings(), lam=0.5, freeze_weak=freeze, out=out)
        assert summary["steps"] == 2 and summary["freeze_weak"] is freeze
        assert torch.equal(weak.model.embed_tokens.weight, w0) is freeze
        assert not torch.equal(strong.model.embed_tokens.weight, s0)
        reloaded = AutoModelForCausalLM.from_pretrained(out)
        ids = torch.tensor([data[0]["input_ids"]])
        torch.testing.assert_close(reloaded(input_ids=ids).logits, strong.eval()(input_ids=ids).logits)
        assert (out / "tokenizer.json").is_file() and (out / "generation_config.json").is_file()


def test_sft_keeps_its_epoch1_checkpoint_as_m1(world, tmp_path):
    _, tok, examples = world
    data = encode_dataset(tok, examples[:16], SYSTEM, 96, "completion")
    model = build_tiny_model(tok, ARCH, seed=9)
    summary = train_causal_lm(model, tok, data, settings(epochs=2), tmp_path / "final",
                              keep=Keep(epoch=1, epoch_out=tmp_path / "m1"))
    assert summary["steps"] == 4
    m1 = AutoModelForCausalLM.from_pretrained(tmp_path / "m1").state_dict()
    final = AutoModelForCausalLM.from_pretrained(tmp_path / "final").state_dict()
    assert any(not torch.equal(m1[k], final[k]) for k in m1)
    with pytest.raises(RuntimeError, match="epoch 3"):
        train_causal_lm(build_tiny_model(tok, ARCH, 9), tok, data, settings(epochs=2), tmp_path / "x",
                        keep=Keep(epoch=3, epoch_out=tmp_path / "never"))


def test_completion_entropies_match_a_direct_computation(world):
    _, tok, examples = world
    model = build_tiny_model(tok, ARCH, seed=4).eval()
    rows = completion_entropies(model, tok, examples[:3], None, 96, batch_size=2)
    enc = encode_example(tok, examples[1], None, 96, "completion")
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([enc["input_ids"]])).logits[0]
    positions = [t - 1 for t, m in enumerate(enc["completion_mask"]) if m]  # logits at t-1 predict token t
    p = torch.softmax(logits[positions].double(), -1)
    expected = float(-(p * p.log()).sum(-1).mean())
    assert rows[1]["id"] == examples[1].id and rows[1]["n_tokens"] == len(positions)
    assert rows[1]["entropy"] == pytest.approx(expected, rel=1e-5)
    assert 0 < rows[0]["entropy"] <= math.log(len(tok))


class _Killed(Exception):
    pass


def _kill_after(step):
    from transformers import TrainerCallback

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise _Killed(f"killed after step {step}")

    return Kill()


def _weights(path):
    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_killed_sft_resumes_to_bitwise_identical_weights_and_keeps_m1_and_snapshots(world, tmp_path):
    """Optimizer, scheduler, RNG and data position come back from the last checkpoint; M1 and the relative
    checkpoints kept before the kill survive it."""
    _, tok, examples = world
    data = encode_dataset(tok, examples[:40], SYSTEM, 96, "completion")
    s = TrainSettings(**{**settings(epochs=2, batch=4, lr=5e-3).__dict__, "lr_scheduler": "linear",
                         "warmup_ratio": 0.2, "save_steps": 3})
    steps = {"ck5": 5, "ck16": 16, "ck20": 20, "ck30": 30}  # ck30 lies past the 20-step schedule

    def keep(run):
        return Keep(epoch=1, epoch_out=tmp_path / run / "m1", steps=steps, snapshots_out=tmp_path / run / "snapshots")

    train_causal_lm(build_tiny_model(tok, ARCH, seed=11), tok, data, s, tmp_path / "a" / "final", keep=keep("a"))
    with pytest.raises(_Killed):  # 20 steps in all; killed after step 14 (epoch 2), checkpoints at 9 and 12 kept
        train_causal_lm(build_tiny_model(tok, ARCH, seed=11), tok, data, s, tmp_path / "b" / "final",
                        keep=keep("b"), callbacks=[_kill_after(14)])
    assert not (tmp_path / "b" / "final").exists() and not (tmp_path / "b" / "snapshots").exists()
    summary = train_causal_lm(build_tiny_model(tok, ARCH, seed=99), tok, data, s, tmp_path / "b" / "final",
                              keep=keep("b"))
    assert summary["resumed_from"].endswith("checkpoint-12") and summary["steps"] == 20
    assert not (tmp_path / "b" / "final.work").exists()  # the work directory is removed on success
    for name in ("final", "m1", "snapshots/ck5", "snapshots/ck16", "snapshots/ck20"):
        assert _equal(_weights(tmp_path / "a" / name), _weights(tmp_path / "b" / name)), name
    a = {name: _weights(tmp_path / "a" / name) for name in ("snapshots/ck5", "m1", "snapshots/ck16", "final")}
    assert not _equal(a["snapshots/ck5"], a["m1"]) and not _equal(a["snapshots/ck16"], a["final"])
    assert _equal(_weights(tmp_path / "a" / "snapshots" / "ck20"), a["final"])  # the last step is the final model
    manifest = json.loads((tmp_path / "b" / "snapshots" / "manifest.json").read_text())
    assert manifest["total_steps"] == 20
    assert {k: (v["step"], v["saved"]) for k, v in manifest["snapshots"].items()} == {
        "ck5": (5, True), "ck16": (16, True), "ck20": (20, True), "ck30": (30, False)}
    assert not (tmp_path / "b" / "snapshots" / "ck30").exists()


def test_relative_checkpoint_steps_rescale_the_papers_218_step_epoch():
    labels = ["ck50", "ck100", "ck150", "ck200"]
    # the paper: 111,657 rows at a global batch of 512 -> 218 steps, so the labels are steps
    assert relative_checkpoint_steps(labels, 111_657, 512, 218) == {"ck50": 50, "ck100": 100, "ck150": 150,
                                                                    "ck200": 200}
    # the code's batch of 256 has 436 steps per epoch: same share of the data, twice the steps
    assert relative_checkpoint_steps(labels, 111_657, 256, 218) == {"ck50": 100, "ck100": 200, "ck150": 300,
                                                                    "ck200": 400}
    assert relative_checkpoint_steps(labels, 1500, 16, 218) == {"ck50": 21, "ck100": 43, "ck150": 64, "ck200": 85}
    assert relative_checkpoint_steps(["ck1"], 10, 16, 218) == {"ck1": 1}  # never step 0
    with pytest.raises(ValueError, match="'step50' is not ck<step>"):
        relative_checkpoint_steps(["step50"], 1500, 16, 218)


@pytest.mark.parametrize("freeze", [False, True])
def test_gradient_checkpointing_leaves_loss_and_gradients_unchanged(world, freeze):
    _, tok, examples = world
    batch = Collator(tok.pad_token_id)([encode_example(tok, ex, SYSTEM, 96, "completion") for ex in examples[:4]])
    grads = []
    for checkpointing in (False, True):
        pair = PairedModel(build_tiny_model(tok, ARCH, seed=1), build_tiny_model(tok, ARCH, seed=2), lam=0.4,
                           freeze_weak=freeze)
        pair.train()
        if freeze:
            pair.weak.eval()
        if checkpointing:
            pair.activation_checkpointing_enable()
            assert pair.strong.model.gradient_checkpointing and pair.weak.model.gradient_checkpointing
        loss = pair(**batch)["loss"]
        loss.backward()
        grads.append((loss.detach(), {n: p.grad.clone() for n, p in pair.named_parameters() if p.grad is not None}))
    (loss0, g0), (loss1, g1) = grads
    torch.testing.assert_close(loss1, loss0, rtol=0, atol=0)
    assert g0.keys() == g1.keys() and any(n.startswith("strong.") for n in g0)
    assert any(n.startswith("weak.") for n in g0) != freeze
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], rtol=1e-5, atol=1e-7)


def test_trainer_with_gradient_checkpointing_trains_both_models_like_without(world, tmp_path):
    """training.gradient_checkpointing goes through the Trainer's activation_checkpointing into both sub-models."""
    _, tok, examples = world
    data = encode_dataset(tok, examples[:16], SYSTEM, 96, "completion")
    finals = []
    for checkpointing in (False, True):
        s = TrainSettings(**{**settings(batch=4).__dict__, "gradient_checkpointing": checkpointing})
        out = tmp_path / str(checkpointing)
        summary = train_joint(build_tiny_model(tok, ARCH, seed=1), build_tiny_model(tok, ARCH, seed=2), tok, data, s,
                              lam=0.5, freeze_weak=False, out=out)
        assert summary["steps"] == 4
        finals.append(_weights(out))
    for name in finals[0]:
        torch.testing.assert_close(finals[1][name], finals[0][name], rtol=1e-4, atol=1e-6)


def test_killed_joint_training_resumes_bitwise(world, tmp_path):
    _, tok, examples = world
    data = encode_dataset(tok, examples[:24], SYSTEM, 96, "all_tokens")
    s = TrainSettings(**{**settings(epochs=1, batch=4).__dict__, "save_steps": 2})

    def pair():
        return build_tiny_model(tok, ARCH, seed=21), build_tiny_model(tok, ARCH, seed=22)

    train_joint(*pair(), tok, data, s, lam=0.5, freeze_weak=False, out=tmp_path / "a")
    with pytest.raises(_Killed):
        train_joint(*pair(), tok, data, s, lam=0.5, freeze_weak=False, out=tmp_path / "b", callbacks=[_kill_after(5)])
    summary = train_joint(*pair(), tok, data, s, lam=0.5, freeze_weak=False, out=tmp_path / "b")
    assert summary["resumed_from"].endswith("checkpoint-4")
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "a").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "b").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sharded_entropies_merge_to_the_unsharded_pass(world):
    from weakdriven.methods.wdds import merge_entropy_shards, shard_bounds

    _, tok, examples = world
    model = build_tiny_model(tok, ARCH, seed=4)
    whole = completion_entropies(model, tok, examples[:11], None, 96, batch_size=4)
    shards = {}
    for i in range(3):
        start, end = shard_bounds(11, i, 3)
        shards[f"shard{i}"] = completion_entropies(model, tok, examples[start:end], None, 96, batch_size=2)
    merged = merge_entropy_shards(dict(reversed(list(shards.items()))), [ex.id for ex in examples[:11]])
    assert [r["id"] for r in merged] == [r["id"] for r in whole]
    assert [r["entropy"] for r in merged] == pytest.approx([r["entropy"] for r in whole], rel=1e-5)


def test_shard_bounds_and_merge_errors():
    from weakdriven.methods.wdds import merge_entropy_shards, shard_bounds

    bounds = [shard_bounds(10, i, 4) for i in range(4)]
    assert bounds == [(0, 2), (2, 5), (5, 7), (7, 10)]
    with pytest.raises(ValueError, match="shard 4"):
        shard_bounds(10, 4, 4)
    rows = {"a.jsonl": [{"id": "x"}], "b.jsonl": [{"id": "x"}]}
    with pytest.raises(ValueError, match="in both a.jsonl and b.jsonl"):
        merge_entropy_shards(rows, ["x"])
    with pytest.raises(ValueError, match=r"missing \['y'\]"):
        merge_entropy_shards({"a.jsonl": [{"id": "x"}]}, ["x", "y"])


def test_global_batch_is_split_over_launched_processes(monkeypatch, tmp_path):
    from weakdriven.training import _training_arguments

    s = TrainSettings(**{**settings().__dict__, "per_device_batch_size": 2, "global_batch_size": 16})
    assert _training_arguments(s, tmp_path).gradient_accumulation_steps == 8
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert _training_arguments(s, tmp_path).gradient_accumulation_steps == 2
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="2 x 3 processes"):
        _training_arguments(s, tmp_path)
    # WORLD_SIZE alone (no launcher's MASTER_ADDR) must not start torch.distributed, which would leave RANK and
    # LOCAL_RANK in this process's environment for every later job to inherit
    assert "LOCAL_RANK" not in os.environ and "RANK" not in os.environ


def test_attention_kernel_is_a_setting_and_sdpa_equals_eager(world, tmp_path):
    """training.attn_implementation reaches from_pretrained; sdpa and eager give the same logits (flash_attention_2
    needs a GPU and the flash-attn package of the train container)."""
    from weakdriven.training import load_causal_lm

    _, tok, _ = world
    build_tiny_model(tok, ARCH, seed=4).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    ids = torch.tensor([[3, 7, 11, 5, 2]])
    logits = {}
    for kernel in ("sdpa", "eager"):
        model, _ = load_causal_lm(tmp_path / "m", attn_implementation=kernel)
        assert model.config._attn_implementation == kernel
        logits[kernel] = model.eval()(input_ids=ids).logits
    torch.testing.assert_close(logits["sdpa"], logits["eager"], rtol=1e-5, atol=1e-5)
    assert TrainSettings(**{**settings().__dict__}).attn_implementation == "sdpa"
