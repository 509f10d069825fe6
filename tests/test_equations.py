"""The paper's equations against hand-computed values, independent references, and its theorems."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from weakdriven import lambda_crossover, mixed_logit_loss, pass_at_k, wdds_sampling_weights
from weakdriven.methods.equations import mix_logits, sequence_entropy, token_entropy, wdds_draw


def reference_mixed_loss(weak, strong, labels, lam, ignore_index=-100):
    """Float64 loop over positions: -log(exp(z_mix[y]) / sum_v exp(z_mix[v]))."""
    weak, strong = weak.double().reshape(-1, weak.shape[-1]), strong.double().reshape(-1, strong.shape[-1])
    total, count = 0.0, 0
    for zw, zs, y in zip(weak, strong, labels.reshape(-1).tolist()):
        if y == ignore_index:
            continue
        z = lam * zs + (1 - lam) * zw
        total = total - (z[y] - torch.logsumexp(z, 0))
        count += 1
    return total / max(count, 1)


def test_mixed_loss_hand_computed():
    # z_mix = 0.5*[2, 0] + 0.5*[0, 0] = [1, 0]; -log(e / (e + 1)) = log(1 + e^-1)
    loss = mixed_logit_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), torch.tensor([0]), 0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-7)


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 1.0])
def test_mixed_loss_matches_reference_values_and_gradients(lam):
    g = torch.Generator().manual_seed(0)
    weak = torch.randn(3, 5, 11, generator=g, dtype=torch.float64, requires_grad=True)
    strong = torch.randn(3, 5, 11, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 11, (3, 5), generator=g)
    labels[0, :2] = -100
    ours = mixed_logit_loss(weak, strong, labels, lam)
    ours_grads = torch.autograd.grad(ours, (weak, strong))
    ref = reference_mixed_loss(weak, strong, labels, lam)
    ref_grads = torch.autograd.grad(ref, (weak, strong))
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    for a, b in zip(ours_grads, ref_grads):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-7)


def test_lambda_one_is_sft_exactly():
    g = torch.Generator().manual_seed(1)
    weak, strong = torch.randn(4, 7, generator=g), torch.randn(4, 7, generator=g)
    labels = torch.tensor([1, 2, -100, 6])
    sft = torch.nn.functional.cross_entropy(strong, labels, ignore_index=-100)
    assert mixed_logit_loss(weak, strong, labels, 1.0).item() == sft.item()


def test_proposition3_branch_gradients_are_scaled_residual():
    """Eq. (22)/(41): d L / d z_weak = (1 - lam) g, d L / d z_strong = lam g, g = P_mix - e_y."""
    lam = 0.3
    weak = torch.tensor([[0.5, -1.0, 2.0, 0.0]], requires_grad=True)
    strong = torch.tensor([[3.0, 0.1, -0.4, 1.0]], requires_grad=True)
    y = torch.tensor([0])
    gw, gs = torch.autograd.grad(mixed_logit_loss(weak, strong, y, lam), (weak, strong))
    g = torch.softmax(mix_logits(weak, strong, lam), -1) - torch.nn.functional.one_hot(y, 4)
    torch.testing.assert_close(gw, (1 - lam) * g.detach())
    torch.testing.assert_close(gs, lam * g.detach())


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="lam"):
        mixed_logit_loss(torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([0]), 1.5)
    with pytest.raises(ValueError, match="differ"):
        mixed_logit_loss(torch.zeros(1, 3), torch.zeros(1, 4), torch.tensor([0]), 0.5)


logits = arrays(np.float64, st.integers(2, 12), elements=st.floats(-20, 20))


@settings(max_examples=300, deadline=None)
@given(strong=logits, data=st.data(), lam=st.floats(0, 1))
def test_theorem1_uniform_margin_shrinkage_never_raises_target_probability(strong, data, lam):
    """Theorem 1: m_k(z_weak) <= m_k(z_strong) for all k != y  =>  P_mix(y) <= P_strong(y)."""
    y = data.draw(st.integers(0, strong.size - 1))
    shrink = data.draw(arrays(np.float64, strong.size, elements=st.floats(0, 30)))
    shrink[y] = 0.0
    shift = data.draw(st.floats(-10, 10))  # margins are shift-invariant
    weak = strong + shrink + shift        # weak[k] - weak[y] >= strong[k] - strong[y]
    zs, zw = torch.tensor(strong), torch.tensor(weak)
    p_mix = torch.softmax(mix_logits(zw, zs, lam), 0)[y].item()
    p_strong = torch.softmax(zs, 0)[y].item()
    assert p_mix <= p_strong + 1e-12
    assert 1 - p_mix >= 1 - p_strong - 1e-12  # total negative mass does not shrink


@settings(max_examples=200, deadline=None)
@given(strong=logits, weak_noise=st.data(), lam=st.floats(0, 1))
def test_corollary2_log_odds_identity(strong, weak_noise, lam):
    """Eq. (32): P_mix(k)/P_strong(k) = P_mix(y)/P_strong(y) * exp((1 - lam) * dm_k), hence Corollary 2."""
    weak = strong + weak_noise.draw(arrays(np.float64, strong.size, elements=st.floats(-5, 5)))
    y = 0
    zs, zw = torch.tensor(strong), torch.tensor(weak)
    p_mix, p_s = torch.softmax(mix_logits(zw, zs, lam), 0), torch.softmax(zs, 0)
    dm = (zs[y] - zs) - (zw[y] - zw)
    for k in range(1, strong.size):
        lhs = torch.log(p_mix[k]) - torch.log(p_s[k])
        rhs = torch.log(p_mix[y]) - torch.log(p_s[y]) + (1 - lam) * dm[k]
        assert lhs.item() == pytest.approx(rhs.item(), abs=1e-8)
        if dm[k] > 0 and p_mix[y] / p_s[y] >= torch.exp(-(1 - lam) * dm[k]):
            assert p_mix[k] >= p_s[k] * (1 - 1e-12)


def test_entropy_hand_computed():
    uniform = torch.zeros(1, 2, 4)
    assert token_entropy(uniform)[0, 0].item() == pytest.approx(math.log(4))
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # mean of log 4 and ~0 over the two supervised positions
    assert sequence_entropy(token_entropy(logits), mask).item() == pytest.approx(math.log(4) / 2, abs=1e-6)


def test_wdds_weights_hand_computed():
    h_weak, h_strong = np.array([1.0, 2.0, 1.0]), np.array([0.5, 2.5, 1.0])  # dH = [-0.5, 0.5, 0]
    # official: 0.1*H_w/4 + 0.8*[-dH]+/0.5 + 0.1*[dH]+/0.5 = [0.825, 0.15, 0.025]
    np.testing.assert_allclose(wdds_sampling_weights(h_weak, h_strong, 0.1, 0.8, 0.1), [0.825, 0.15, 0.025])
    # paper_v1: 0.1*H_w + 0.8*[-dH]+ + 0.1*[dH]+ = [0.5, 0.25, 0.1] / 0.85
    np.testing.assert_allclose(wdds_sampling_weights(h_weak, h_strong, 0.1, 0.8, 0.1, "paper_v1"),
                               np.array([0.5, 0.25, 0.1]) / 0.85)
    # paper_v2 (Eq. 9): 0.1*[-dH]+ + 0.8*H_s + 0.1*[dH]+ = [0.45, 2.05, 0.8] / 3.3
    np.testing.assert_allclose(wdds_sampling_weights(h_weak, h_strong, 0.1, 0.8, 0.1, "paper_v2"),
                               np.array([0.45, 2.05, 0.8]) / 3.3)


def reference_official(hw, hs, a, b, c):
    dh = hs - hw
    terms = []
    for coef, x in ((a, hw), (b, np.maximum(-dh, 0)), (c, np.maximum(dh, 0))):
        s = x.sum()
        terms.append(coef * (x / (s if s != 0 else 1e-12)))
    w = np.clip(sum(terms), 0, None)
    return w / w.sum() if w.sum() > 0 else np.full(hw.size, 1 / hw.size)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), coefs=st.tuples(*[st.floats(0, 1)] * 3))
def test_wdds_official_matches_reference(data, coefs):
    n = data.draw(st.integers(1, 30))
    hw = data.draw(arrays(np.float64, n, elements=st.floats(0, 10, allow_subnormal=False)))
    hs = data.draw(arrays(np.float64, n, elements=st.floats(0, 10, allow_subnormal=False)))
    p = wdds_sampling_weights(hw, hs, *coefs)
    assert p.sum() == pytest.approx(1.0) and (p >= 0).all()
    np.testing.assert_allclose(p, reference_official(hw, hs, *coefs), rtol=1e-9, atol=1e-12)


def test_wdds_edge_cases_and_errors():
    np.testing.assert_allclose(wdds_sampling_weights(np.zeros(4), np.zeros(4), 0.1, 0.8, 0.1), np.full(4, 0.25))
    with pytest.raises(ValueError, match="alpha"):
        wdds_sampling_weights(np.ones(2), np.ones(2), -0.1, 0.8, 0.1)
    with pytest.raises(ValueError, match="sample index 1"):
        wdds_sampling_weights(np.array([1.0, np.nan]), np.ones(2), 0.1, 0.8, 0.1)
    with pytest.raises(ValueError, match="unknown WD-DS formula"):
        wdds_sampling_weights(np.ones(2), np.ones(2), 0.1, 0.8, 0.1, "v3")


def test_wdds_draw_with_and_without_dedup():
    p = np.array([0.7, 0.1, 0.1, 0.1, 0.0])
    kept = wdds_draw(p, seed=42, dedup=False)
    assert kept.size == 5 and 4 not in kept
    np.testing.assert_array_equal(kept, wdds_draw(p, seed=42, dedup=False))  # deterministic
    deduped = wdds_draw(p, seed=42, dedup=True)
    assert sorted(deduped.tolist()) == sorted(set(kept.tolist()))
    assert len(deduped) == len(set(deduped.tolist()))


@pytest.mark.parametrize("n,c,k", [(64, 0, 1), (64, 64, 64), (10, 3, 1), (10, 3, 4), (64, 5, 32), (5, 2, 5)])
def test_pass_at_k_matches_combinatorial_definition(n, c, k):
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_1_is_the_mean_and_bad_arguments_fail():
    assert pass_at_k(64, 16, 1) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_lambda_crossover_reproduces_eq17():
    # App. B.8: centered norms 1240.10 (strong) and 1191.33 (weak) give alpha ~ 1.08 and lambda_cross ~ 0.490
    assert lambda_crossover(1240.10, 1191.33) == pytest.approx(0.490, abs=5e-4)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), coefs=st.tuples(*[st.floats(0.01, 1)] * 3))
def test_wdds_paper_formulas_match_reference(data, coefs):
    a, b, c = coefs
    n = data.draw(st.integers(1, 20))
    hw = data.draw(arrays(np.float64, n, elements=st.floats(0.01, 10)))
    hs = data.draw(arrays(np.float64, n, elements=st.floats(0.01, 10)))
    dh = hs - hw
    v1 = a * hw + b * np.maximum(-dh, 0) + c * np.maximum(dh, 0)
    v2 = a * np.maximum(-dh, 0) + b * hs + c * np.maximum(dh, 0)
    np.testing.assert_allclose(wdds_sampling_weights(hw, hs, a, b, c, "paper_v1"), v1 / v1.sum(), rtol=1e-9)
    np.testing.assert_allclose(wdds_sampling_weights(hw, hs, a, b, c, "paper_v2"), v2 / v2.sum(), rtol=1e-9)


def test_select_active_draws_pool_size_and_checks_ids():
    from weakdriven.methods.wdds import resolve_active, select_active

    weak = {f"s{i}": 1.0 + i for i in range(50)}
    strong = {f"s{i}": 1.0 + (i % 7) for i in range(50)}
    kept = select_active(weak, strong, 0.1, 0.8, 0.1, "official", dedup=False, seed=42)
    deduped = select_active(weak, strong, 0.1, 0.8, 0.1, "official", dedup=True, seed=42)
    assert kept["n_active"] == 50 and kept["n_draws"] == 50
    assert deduped["n_active"] == kept["n_unique"] == len(set(kept["ids"])) < 50
    assert deduped["active_fraction"] == pytest.approx(deduped["n_active"] / 50)
    with pytest.raises(ValueError, match="different sample ids"):
        select_active(weak, {"s0": 1.0}, 0.1, 0.8, 0.1, "official", False, 42)
    with pytest.raises(ValueError, match="ids not in the training set"):
        resolve_active([], ["s0"], "active.json")


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 200), data=st.data())
def test_pass_at_k_matches_combinatorics_on_random_inputs(n, data):
    c, k = data.draw(st.integers(0, n)), data.draw(st.integers(1, n))
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), abs=1e-9)
