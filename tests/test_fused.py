"""The chunked fused cross-entropy equals the naive computation in value and in all four gradients."""

import pytest
import torch

from weakdriven import fused_mixed_linear_cross_entropy
from weakdriven.fused import fused_linear_cross_entropy
from weakdriven.methods.equations import mixed_logit_loss


def naive(h_w, h_s, w_w, w_s, labels, lam):
    return mixed_logit_loss(h_w @ w_w.T, h_s @ w_s.T, labels, lam)


def leaves(*shapes, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=dtype).requires_grad_() for s in shapes]


@pytest.mark.parametrize("lam", [0.0, 0.42, 1.0])
@pytest.mark.parametrize("chunk", [1, 7, None])
def test_values_and_gradients_equal_naive_fp32(lam, chunk):
    n, d_w, d_s, v = 37, 16, 24, 301  # different hidden sizes: weak and strong need not share an architecture
    h_w, h_s, w_w, w_s = leaves((n, d_w), (n, d_s), (v, d_w), (v, d_s))
    labels = torch.randint(0, v, (n,), generator=torch.Generator().manual_seed(1))
    labels[::5] = -100
    ref = naive(h_w, h_s, w_w, w_s, labels, lam)
    ref_grads = torch.autograd.grad(ref, (h_w, h_s, w_w, w_s))
    got = fused_mixed_linear_cross_entropy(h_w, h_s, w_w, w_s, labels, lam, chunk_size=chunk)
    got_grads = torch.autograd.grad(got, (h_w, h_s, w_w, w_s))
    assert abs(got.item() - ref.item()) <= 1e-5 * abs(ref.item())
    for a, b in zip(got_grads, ref_grads):
        rel = (a - b).norm() / b.norm().clamp(min=1e-30)
        assert rel <= 1e-5 or b.norm() == 0


def test_tied_embeddings_receive_both_contributions():
    n, d, v = 20, 8, 50
    h_w, h_s, w = leaves((n, d), (n, d), (v, d), seed=3)
    labels = torch.randint(0, v, (n,))
    ref = naive(h_w, h_s, w, w, labels, 0.5)
    (g_ref,) = torch.autograd.grad(ref, (w,))
    got = fused_mixed_linear_cross_entropy(h_w, h_s, w, w, labels, 0.5, chunk_size=6)
    (g_got,) = torch.autograd.grad(got, (w,))
    torch.testing.assert_close(g_got, g_ref, rtol=1e-5, atol=1e-7)


def test_sft_variant_equals_cross_entropy_and_upstream_gradient_is_scaled():
    n, d, v = 30, 12, 97
    h, w = leaves((n, d), (v, d), seed=4)
    labels = torch.randint(0, v, (n,))
    labels[:4] = -100
    ref = torch.nn.functional.cross_entropy(h @ w.T, labels, ignore_index=-100)
    got = fused_linear_cross_entropy(h, w, labels, chunk_size=8)
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)
    g_ref = torch.autograd.grad(3.0 * ref, (h, w))
    g_got = torch.autograd.grad(3.0 * got, (h, w))
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_bf16_inputs_get_bf16_gradients_close_to_fp32():
    n, d, v = 16, 8, 64
    h_w, h_s, w_w, w_s = leaves((n, d), (n, d), (v, d), (v, d), seed=5)
    labels = torch.randint(0, v, (n,))
    bf = [t.detach().bfloat16().requires_grad_() for t in (h_w, h_s, w_w, w_s)]
    loss = fused_mixed_linear_cross_entropy(*bf, labels, 0.5, chunk_size=5)
    grads = torch.autograd.grad(loss, bf)
    assert all(g.dtype == torch.bfloat16 for g in grads)
    ref = naive(*[t.detach().float().requires_grad_() for t in bf], labels, 0.5)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)


def test_all_ignored_gives_zero_and_bad_shapes_fail():
    h_w, h_s, w_w, w_s = leaves((4, 3), (4, 3), (9, 3), (9, 3))
    labels = torch.full((4,), -100)
    loss = fused_mixed_linear_cross_entropy(h_w, h_s, w_w, w_s, labels, 0.5)
    assert loss.item() == 0.0
    loss.backward()
    assert h_s.grad.abs().sum() == 0
    with pytest.raises(ValueError, match="labels"):
        fused_mixed_linear_cross_entropy(h_w, h_s, w_w, w_s, torch.zeros(5, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="vocabularies"):
        fused_mixed_linear_cross_entropy(h_w, h_s, w_w[:5], w_s, labels, 0.5)



def test_chunked_entropy_equals_the_full_softmax_entropy():
    from weakdriven.fused import chunked_entropy
    from weakdriven.methods.equations import token_entropy

    h, w = leaves((29, 8), (113, 8), seed=7)
    for chunk in (1, 5, None):
        torch.testing.assert_close(chunked_entropy(h, w, chunk), token_entropy(h @ w.T).detach(), rtol=1e-5,
                                   atol=1e-6)


def test_float64_inputs_give_a_float64_loss_and_pass_gradcheck():
    torch.manual_seed(3)
    n, d, v = 6, 3, 7
    shapes = ((n, d), (n, d), (v, d), (v, d))
    inputs = [torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in shapes]
    labels = torch.tensor([0, 6, -100, 3, 3, 1])
    loss = fused_mixed_linear_cross_entropy(*inputs, labels, 0.3, chunk_size=2)
    assert loss.dtype == torch.float64
    assert torch.autograd.gradcheck(
        lambda hw, hs, ww, ws: fused_mixed_linear_cross_entropy(hw, hs, ww, ws, labels, 0.3, chunk_size=2), inputs)
    assert torch.autograd.gradcheck(lambda h, w: fused_linear_cross_entropy(h, w, labels, chunk_size=4),
                                    inputs[1:4:2])


def test_mixed_logits_are_one_linear_map_of_the_concatenated_inputs():
    """[lam*h_s | (1-lam)*h_w] @ [W_s | W_w]^T = lam*z_s + (1-lam)*z_w: plain CE on the concatenation (what a fused
    linear-CE kernel such as Liger's is fed) gives the mixed loss exactly."""
    torch.manual_seed(4)
    n, d, v, lam = 9, 4, 11, 0.5
    h_w, h_s = torch.randn(n, d, dtype=torch.float64), torch.randn(n, d, dtype=torch.float64)
    w_w, w_s = torch.randn(v, d, dtype=torch.float64), torch.randn(v, d, dtype=torch.float64)
    labels = torch.randint(0, v, (n,))
    cat_h, cat_w = torch.cat([lam * h_s, (1 - lam) * h_w], 1), torch.cat([w_s, w_w], 1)
    torch.testing.assert_close(fused_linear_cross_entropy(cat_h, cat_w, labels),
                               fused_mixed_linear_cross_entropy(h_w, h_s, w_w, w_s, labels, lam))
