"""NEFTune as a method plug-in: transformers' embedding noise, in training mode only, with the paper's alpha."""

import math
from dataclasses import replace

import pytest
import torch
from transformers.integrations.neftune import activate_neftune

from weakdriven.config import Experiment
from weakdriven.methods import BASE, M1, METHODS, Run, TrainJob
from weakdriven.settings import TrainSettings
from weakdriven.training import FusedCausalLM, load_causal_lm


def test_neftune_declares_its_start_budget_and_trainer_argument(embedded_raw):
    exp = Experiment.from_dict(embedded_raw)
    neftune, run = METHODS["neftune"], Run.parse("neftune")
    assert neftune.label == "NEFTune" and neftune.loss == "sft" and neftune.data == "full"
    assert neftune.trainer_arguments(exp) == {"neftune_noise_alpha": 5.0}
    # default: one epoch after the shared warm start, like every method of Table 11
    assert neftune.models(run, exp) == {"strong": M1} and neftune.epochs(exp) == exp.training.joint_epochs
    from_base = replace(exp, methods={"neftune": replace(exp.methods["neftune"], start="base")})
    assert neftune.models(run, from_base) == {"strong": BASE} and neftune.epochs(from_base) == 2
    assert METHODS["sft"].trainer_arguments(exp) == {}


def _noise(model, tokenizer, alpha: float | None, train: bool) -> tuple[torch.Tensor, float]:
    """(layer-0 input - embedding output) of one forward of a padded batch through the loss module."""
    module = FusedCausalLM(model)
    seen = {}
    embed = model.get_input_embeddings()  # hooks run in order: this one sees the output before the noise
    h1 = embed.register_forward_hook(lambda m, a, out: seen.__setitem__("clean", out.detach().clone()))
    neftune = activate_neftune(module, alpha) if alpha is not None else None  # as the Trainer does
    h2 = model.model.layers[0].register_forward_pre_hook(
        lambda m, args, kwargs: seen.__setitem__("mixed", (args[0] if args else kwargs["hidden_states"]).detach()),
        with_kwargs=True)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]])
    module.train(train)
    with torch.no_grad():
        module(input_ids=ids, attention_mask=(ids > 0).long(), labels=ids)
    for hook in (h1, h2, neftune):
        if hook is not None:
            hook.remove()
    bound = (alpha or 0.0) / math.sqrt(ids.shape[1] * model.config.hidden_size)
    return seen["mixed"] - seen["clean"], bound


@pytest.fixture
def tiny(tiny_training_inputs):
    return load_causal_lm(tiny_training_inputs / "base")


def test_noise_is_uniform_within_transformers_bound_in_training_mode_only(tiny):
    model, tok = tiny
    noise, bound = _noise(model, tok, alpha=5.0, train=True)
    assert bound == pytest.approx(5.0 / math.sqrt(6 * 32))  # a = alpha / sqrt(L * d)
    assert noise.abs().max() <= bound + 1e-6
    assert noise.abs().max() > 0.9 * bound                 # 384 uniform draws reach the edge of [-a, a]
    assert noise.abs().mean() == pytest.approx(bound / 2, rel=0.2)  # E|U(-a, a)| = a / 2
    clean, _ = _noise(model, tok, alpha=5.0, train=False)
    assert clean.abs().max() == 0.0
    off, _ = _noise(model, tok, alpha=None, train=True)
    assert off.abs().max() == 0.0


def test_the_neftune_run_trains_with_noisy_embeddings_and_saves_a_clean_model(tiny_training_inputs, monkeypatch,
                                                                             tmp_path):
    import weakdriven.training as training
    from weakdriven.data.chat import load_examples

    seen = []
    loaded = training.load_causal_lm

    def load_and_watch(*args, **kwargs):
        model, tok = loaded(*args, **kwargs)
        clean = {}
        model.get_input_embeddings().register_forward_hook(lambda m, a, out: clean.__setitem__("x", out.detach()))
        model.model.layers[0].register_forward_pre_hook(
            lambda m, args, kw: seen.append(((args[0] if args else kw["hidden_states"]).detach() - clean["x"],
                                             m.training)), with_kwargs=True)
        return model, tok

    monkeypatch.setattr(training, "load_causal_lm", load_and_watch)
    examples = load_examples(tiny_training_inputs / "data" / "math" / "train.jsonl")[:16]
    settings = TrainSettings(learning_rate=1e-3, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.0,
                             max_grad_norm=1.0, max_length=64, per_device_batch_size=8, global_batch_size=8,
                             epochs=1, bf16=False, gradient_checkpointing=False, logging_steps=1, seed=0,
                             trainer_arguments={"neftune_noise_alpha": 5.0})
    run = Run.parse("neftune")
    summary = run.method.train(TrainJob(run=run, strong=str(tiny_training_inputs / "base"), weak=None,
                                        examples=examples, system_prompt="Answer.", settings=settings,
                                        out=str(tmp_path / "neftune"), keep=None, options={}))
    assert summary["steps"] == 2 and summary["method"] == "neftune"
    assert len(seen) == 2 and all(training_mode for _, training_mode in seen)
    for noise, _ in seen:
        bound = 5.0 / math.sqrt(noise.shape[1] * noise.shape[2])
        assert 0.9 * bound < noise.abs().max() <= bound + 1e-6
    # the saved model is an ordinary checkpoint: its forward adds no noise
    model, _ = loaded(tmp_path / "neftune")
    noise, _ = _noise(model, None, alpha=None, train=True)
    assert noise.abs().max() == 0.0


def test_unknown_trainer_arguments_are_refused(tmp_path):
    from weakdriven.training import _training_arguments

    settings = TrainSettings(learning_rate=1e-3, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.0,
                             max_grad_norm=1.0, max_length=64, per_device_batch_size=8, global_batch_size=8,
                             epochs=1, bf16=False, gradient_checkpointing=False, logging_steps=1, seed=0,
                             trainer_arguments={"neftune_alpha": 5.0})
    with pytest.raises(ValueError, match=r"\['neftune_alpha'\] are not fields of transformers.TrainingArguments"):
        _training_arguments(settings, tmp_path)
    ok = replace(settings, trainer_arguments={"neftune_noise_alpha": 5.0})
    assert _training_arguments(ok, tmp_path).neftune_noise_alpha == 5.0
