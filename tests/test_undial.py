"""UNDIAL: the adjusted-teacher target and soft-target loss against hand values, the fused loss against the naive
one, the noise of App. E.6, and the method plug-in (teacher frozen, student trained and saved)."""

import math
from dataclasses import replace

import pytest
import torch

from weakdriven.config import ConfigError, Experiment
from weakdriven.fused import fused_soft_target_cross_entropy
from weakdriven.methods import BASE, M1, METHODS, Run, TrainJob
from weakdriven.methods.equations import soft_target_cross_entropy, undial_noise_std, undial_target_logits
from weakdriven.settings import TrainSettings
from weakdriven.training import TeacherTargets, load_causal_lm


def test_the_target_lowers_only_the_gold_logit_of_supervised_positions():
    z = torch.tensor([[1.0, 2.0, 3.0], [0.0, 5.0, 1.0], [4.0, 4.0, 4.0]])
    y = torch.tensor([2, 1, -100])
    out = undial_target_logits(z, y, strength=1.5)
    assert out.tolist() == [[1.0, 2.0, 1.5], [0.0, 3.5, 1.0], [4.0, 4.0, 4.0]]  # the ignored row is unchanged
    assert z.tolist()[0] == [1.0, 2.0, 3.0]  # the teacher's logits are not modified in place
    per_position = undial_target_logits(z, y, strength=torch.tensor([1.0, 2.0, 3.0]))
    assert per_position.tolist() == [[1.0, 2.0, 2.0], [0.0, 3.0, 1.0], [4.0, 4.0, 4.0]]
    noisy = undial_target_logits(z, y, strength=0.0, logit_noise=torch.full((3, 3), 0.5))
    assert noisy.tolist() == [[1.5, 2.5, 3.5], [0.5, 5.5, 1.5], [4.5, 4.5, 4.5]]
    with pytest.raises(ValueError, match="do not match"):
        undial_target_logits(z, y[:2], 1.0)


def test_soft_target_cross_entropy_by_hand():
    # student p = (1/2, 1/2); target logits (0, ln 3) -> q = (1/4, 3/4); -sum q log p = ln 2
    student = torch.tensor([[0.0, 0.0], [3.0, -1.0]])
    target = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    labels = torch.tensor([1, -100])
    assert float(soft_target_cross_entropy(student, target, labels)) == pytest.approx(math.log(2.0))
    # = KL(q || p) + H(q)
    q, p = torch.tensor([0.25, 0.75]), torch.tensor([0.5, 0.5])
    kl, h = float((q * (q / p).log()).sum()), float(-(q * q.log()).sum())
    assert kl + h == pytest.approx(math.log(2.0))
    assert float(soft_target_cross_entropy(student, target, torch.tensor([-100, -100]))) == 0.0


def test_a_self_distilled_model_is_pushed_off_its_gold_token_only_by_the_penalty():
    """UNDIAL's fixed point: with gamma = 0 a student equal to its teacher gets no gradient; with gamma > 0 the
    gradient raises the loss along the gold logit (p_y - q_y > 0), i.e. descent lowers the gold token's logit."""
    z = torch.tensor([[0.5, 2.0, -1.0, 0.3]], requires_grad=True)
    y = torch.tensor([1])
    (g0,) = torch.autograd.grad(soft_target_cross_entropy(z, undial_target_logits(z.detach(), y, 0.0), y), z)
    assert g0.abs().max() < 1e-7
    (g,) = torch.autograd.grad(soft_target_cross_entropy(z, undial_target_logits(z.detach(), y, 3.0), y), z)
    assert g[0, 1] > 0 and (g[0, [0, 2, 3]] < 0).all() and float(g.sum()) == pytest.approx(0.0, abs=1e-7)


def test_noise_std_is_sigma_over_root_length():
    assert undial_noise_std(torch.tensor([4, 0, 16]), 2.0).tolist() == [1.0, 2.0, 0.5]  # L < 1 counts as 1


@pytest.fixture
def problem():
    torch.manual_seed(0)
    n, d, d_t, v = 9, 5, 4, 13
    h = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    w = torch.randn(v, d, dtype=torch.float64, requires_grad=True)
    h_t, w_t = torch.randn(n, d_t, dtype=torch.float64), torch.randn(v, d_t, dtype=torch.float64)
    y = torch.randint(0, v, (n,))
    y[[2, 7]] = -100
    penalty = 1.5 + 0.2 * torch.randn(n, dtype=torch.float64)
    return h, w, h_t, w_t, y, penalty


@pytest.mark.parametrize("chunk", [None, 1, 4])
def test_the_fused_loss_equals_the_naive_one_with_its_gradients(problem, chunk):
    h, w, h_t, w_t, y, penalty = problem
    fused = fused_soft_target_cross_entropy(h, w, h_t, w_t, y, penalty, chunk_size=chunk)
    naive = soft_target_cross_entropy(h @ w.T, undial_target_logits(h_t @ w_t.T, y, penalty), y)
    assert float(fused) == pytest.approx(float(naive), rel=1e-12)
    for a, b in zip(torch.autograd.grad(fused, (h, w)), torch.autograd.grad(naive, (h, w)), strict=True):
        assert torch.allclose(a, b, atol=1e-12)


def test_the_fused_loss_passes_gradcheck_and_leaves_the_teacher_alone(problem):
    h, w, h_t, w_t, y, penalty = problem
    h_t.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: fused_soft_target_cross_entropy(a, b, h_t, w_t, y, penalty, chunk_size=2), (h, w))
    fused_soft_target_cross_entropy(h, w, h_t, w_t, y, penalty).backward()
    assert h_t.grad is None


def test_logit_noise_is_drawn_from_the_given_generator(problem):
    h, w, h_t, w_t, y, penalty = problem
    std = torch.full((h.shape[0],), 0.7, dtype=torch.float64)
    fused = fused_soft_target_cross_entropy(h, w, h_t, w_t, y, penalty, std, torch.Generator().manual_seed(5))
    noise = torch.randn((h.shape[0], w.shape[0]), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    naive = soft_target_cross_entropy(h @ w.T, undial_target_logits(h_t @ w_t.T, y, penalty, noise * 0.7), y)
    assert float(fused) == pytest.approx(float(naive), rel=1e-12)
    clean = fused_soft_target_cross_entropy(h, w, h_t, w_t, y, penalty)
    assert abs(float(fused) - float(clean)) > 1e-6
    with pytest.raises(ValueError, match="penalty"):
        fused_soft_target_cross_entropy(h, w, h_t, w_t, y, penalty[:3])


def test_undial_declares_its_start_teacher_and_cost(embedded_raw):
    exp = Experiment.from_dict(embedded_raw)
    undial, run = METHODS["undial"], Run.parse("undial")
    assert list(METHODS)[:3] == ["sft", "undial", "neftune"]  # the paper's row order in Table 1
    assert undial.models(run, exp) == {"strong": M1} and undial.epochs(exp) == exp.training.joint_epochs
    settings = exp.methods["undial"]
    assert undial.options(exp) == {"strength": 1.0, "noise": "penalty", "noise_scale": 1.0, "noise_length": "tokens",
                                   "teacher": "start", "start": "m1", "loss_mask": "completion"}
    with_m0 = replace(exp, methods={**exp.methods, "undial": replace(settings, teacher="base")})
    assert undial.models(run, with_m0) == {"strong": M1, "weak": BASE}
    from_base = replace(exp, methods={**exp.methods, "undial": replace(settings, teacher="base", start="base")})
    assert undial.models(run, from_base) == {"strong": BASE} and undial.epochs(from_base) == 2
    assert undial.cost_factor(exp, "math") == pytest.approx(271 / 270)  # Table 11: 4h31m vs SFT's 4h30m


@pytest.mark.parametrize(("key", "value"), [("noise", "gaussian"), ("teacher", "m1"), ("strength", -1.0),
                                            ("loss_mask", "prompt")])
def test_a_bad_undial_setting_is_named(embedded_raw, key, value):
    raw = {**embedded_raw, "methods": {**embedded_raw["methods"],
                                       "undial": {**embedded_raw["methods"]["undial"], key: value}}}
    with pytest.raises(ConfigError, match=f"methods.undial.{key}"):
        Experiment.from_dict(raw)


@pytest.fixture
def tiny(tiny_training_inputs):
    return load_causal_lm(tiny_training_inputs / "base")


def _batch():
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]])
    labels = torch.tensor([[-100, -100, 7, 8, 9, 10], [-100, 12, 13, 14, -100, -100]])
    return ids, (ids > 0).long(), labels


def test_the_teacher_stays_frozen_and_in_eval_mode(tiny, tiny_training_inputs):
    student, _ = tiny
    teacher, _ = load_causal_lm(tiny_training_inputs / "base")
    module = TeacherTargets(student, teacher, strength=1.0, noise="none", noise_scale=1.0, noise_length="tokens")
    module.train()
    assert student.training and not teacher.training
    ids, mask, labels = _batch()
    module(input_ids=ids, attention_mask=mask, labels=labels)["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert module.retained[1] is student
    with pytest.raises(ValueError, match="unknown UNDIAL noise"):
        TeacherTargets(student, teacher, 1.0, "uniform", 1.0, "tokens")


def test_noise_modes_change_the_loss_reproducibly(tiny, tiny_training_inputs):
    student, _ = tiny
    teacher, _ = load_causal_lm(tiny_training_inputs / "base")
    ids, mask, labels = _batch()

    def loss(noise, length="tokens", seed=0, scale=1.0):
        torch.manual_seed(seed)
        module = TeacherTargets(student, teacher, 1.0, noise, scale, length)
        with torch.no_grad():
            return float(module(input_ids=ids, attention_mask=mask, labels=labels)["loss"])

    clean = loss("none")
    assert loss("none", seed=1) == clean
    for mode in ("penalty", "logits"):
        assert loss(mode) == loss(mode) != clean
        assert loss(mode, seed=1) != loss(mode)
        assert loss(mode, scale=0.0) == pytest.approx(clean, abs=1e-6)
    assert loss("penalty", "supervised") != loss("penalty", "tokens")  # sqrt(4), sqrt(3) vs sqrt(6), sqrt(4)


def test_the_undial_run_trains_the_student_and_keeps_the_teacher(tiny_training_inputs, tmp_path, monkeypatch):
    import weakdriven.training as training
    from weakdriven.data.chat import load_examples

    loaded = []
    real = training.load_causal_lm
    monkeypatch.setattr(training, "load_causal_lm", lambda path, **kw: loaded.append(str(path)) or real(path, **kw))
    examples = load_examples(tiny_training_inputs / "data" / "math" / "train.jsonl")[:16]
    settings = TrainSettings(learning_rate=1e-3, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.0,
                             max_grad_norm=1.0, max_length=64, per_device_batch_size=8, global_batch_size=8,
                             epochs=1, bf16=False, gradient_checkpointing=False, logging_steps=1, seed=0)
    run = Run.parse("undial")
    start = str(tiny_training_inputs / "base")
    options = {"strength": 1.0, "noise": "penalty", "noise_scale": 1.0, "noise_length": "tokens",
               "teacher": "start", "start": "m1", "loss_mask": "completion"}
    summary = run.method.train(TrainJob(run=run, strong=start, weak=None, examples=examples, system_prompt="Answer.",
                                        settings=settings, out=str(tmp_path / "undial"), keep=None, options=options))
    assert loaded == [start, start]  # the student and its frozen teacher, both from the start model
    assert summary["steps"] == 2 and summary["method"] == "undial" and summary["teacher"] == start
    assert (summary["strength"], summary["noise"], summary["noise_length"]) == (1.0, "penalty", "tokens")
    trained, _ = real(tmp_path / "undial")
    before, _ = real(start)
    moved = [n for (n, a), (_, b) in zip(trained.named_parameters(), before.named_parameters(), strict=True)
             if not torch.equal(a, b)]
    assert moved  # the saved model is the trained student, an ordinary checkpoint
    with pytest.raises(ValueError, match="pass M0 as --weak"):
        run.method.train(TrainJob(run=run, strong=start, weak=None, examples=examples, system_prompt="Answer.",
                                  settings=settings, out=str(tmp_path / "u2"), keep=None,
                                  options={**options, "teacher": "base"}))
