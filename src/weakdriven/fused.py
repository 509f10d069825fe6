"""Memory-efficient (fused linear + mixed-logit) cross-entropy for WD-JT and SFT, and UNDIAL's soft-target loss.

The naive path materialises ``[N, V]`` logits for each model (at T = 4096, V = 151,936 that is 1.2 GB per model and
sequence in bf16, 2.5 GB in fp32) and keeps them for the backward pass. Here the loss is computed over chunks of
positions straight from the final hidden states and the output embeddings; each chunk's logits live only inside the
loop, and the gradients of all four inputs are accumulated there (the backward pass only scales them). Peak extra
memory is O(chunk x V) instead of O(N x V).

Math per chunk (Eqs. 5-6, 22): z = lam*(h_s W_s^T) + (1-lam)*(h_w W_w^T), loss = sum_valid lse(z) - z[y],
g = (softmax(z) - e_y) / n_valid;  dh_s = lam g W_s,  dW_s += lam g^T h_s,
                                   dh_w = (1-lam) g W_w,  dW_w += (1-lam) g^T h_w.
"""

from __future__ import annotations

import torch

DEFAULT_CHUNK_ELEMENTS = 1 << 25  # ~32M fp32 logits per chunk (128 MB); chunk = max(1, this // V) positions


def _chunk_rows(n_rows: int, vocab: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return chunk_size
    return max(1, min(n_rows, DEFAULT_CHUNK_ELEMENTS // vocab))


class _FusedMixedLinearCE(torch.autograd.Function):
    """One buffer of ``chunk x V`` logits, reused in place: logits, then exp, then the scaled softmax gradient.

    Inputs in fp64 are computed in fp64 (so ``torch.autograd.gradcheck`` applies); anything narrower in fp32.
    """

    @staticmethod
    def forward(ctx, h_w, h_s, w_w, w_s, labels, lam, ignore_index, chunk_size, has_weak, normalizer):
        n, vocab = h_s.shape[0], w_s.shape[0]
        acc = torch.promote_types(h_s.dtype, torch.float32)
        valid = labels != ignore_index
        denom = float(normalizer) if normalizer is not None else max(int(valid.sum()), 1)
        need_grad = any(ctx.needs_input_grad[:4])
        a_s, a_w = (lam, 1.0 - lam) if has_weak else (1.0, 0.0)
        ws = w_s.to(acc)
        ww = w_w.to(acc) if has_weak else None
        grads = None
        if need_grad:
            grads = [torch.zeros_like(h_w, dtype=acc) if has_weak else None, torch.zeros_like(h_s, dtype=acc),
                     torch.zeros_like(w_w, dtype=acc) if has_weak else None, torch.zeros_like(w_s, dtype=acc)]
        total = torch.zeros((), dtype=acc, device=h_s.device)
        rows = _chunk_rows(n, vocab, chunk_size)
        for start in range(0, n, rows):
            sl = slice(start, min(start + rows, n))
            ok = valid[sl]
            if not bool(ok.any()):
                continue
            y = torch.where(ok, labels[sl], torch.zeros_like(labels[sl]))[:, None]
            hs = h_s[sl].to(acc)
            z = torch.mm(hs * a_s if a_s != 1.0 else hs, ws.T)  # z = lam * z_s ...
            if has_weak:
                hw = h_w[sl].to(acc)
                z.addmm_(hw * a_w, ww.T)                        # ... + (1 - lam) * z_w, in place
            target = z.gather(1, y).squeeze(1)
            m = z.amax(dim=1, keepdim=True)
            z.sub_(m).exp_()                                    # z now holds exp(z - max)
            sums = z.sum(dim=1, keepdim=True)
            weight = ok.to(acc)
            total += ((m.squeeze(1) + sums.log().squeeze(1) - target) * weight).sum()
            if need_grad:
                scale = (weight / denom)[:, None]
                z.mul_(scale / sums)                            # softmax(z) * weight / denom
                z.scatter_add_(1, y, -scale)                    # ... - e_y * weight / denom: g
                torch.mm(z, ws, out=grads[1][sl]).mul_(a_s)     # dh_s = lam * g W_s
                grads[3].addmm_(z.T, hs, alpha=a_s)             # dW_s += lam * g^T h_s
                if has_weak:
                    torch.mm(z, ww, out=grads[0][sl]).mul_(a_w)
                    grads[2].addmm_(z.T, hw, alpha=a_w)
            del z
        if need_grad:
            ctx.save_for_backward(*[gr if gr is not None else torch.empty(0) for gr in grads])
            ctx.has_weak = has_weak
            ctx.dtypes = (h_w.dtype, h_s.dtype, w_w.dtype, w_s.dtype)
        return (total / denom).to(acc)

    @staticmethod
    def backward(ctx, grad_out):
        gh_w, gh_s, gw_w, gw_s = ctx.saved_tensors
        dt = ctx.dtypes
        out = [None, (gh_s * grad_out).to(dt[1]), None, (gw_s * grad_out).to(dt[3])]
        if ctx.has_weak:
            out[0] = (gh_w * grad_out).to(dt[0])
            out[2] = (gw_w * grad_out).to(dt[2])
        return (*out, None, None, None, None, None, None)


def fused_mixed_linear_cross_entropy(hidden_weak: torch.Tensor, hidden_strong: torch.Tensor,
                                     weight_weak: torch.Tensor, weight_strong: torch.Tensor, labels: torch.Tensor,
                                     lam: float, ignore_index: int = -100, chunk_size: int | None = None,
                                     normalizer: float | None = None) -> torch.Tensor:
    """Eq. (6) from hidden states: mean over non-ignored positions of -log softmax(lam*z_s + (1-lam)*z_w)[label].

    ``hidden_*`` are ``[N, d]`` final hidden states, ``weight_*`` the ``[V, d]`` output embeddings (tied or untied),
    ``labels`` ``[N]`` already aligned. Differentiable w.r.t. all four tensors; never holds more than
    ``chunk_size`` x V logits (default: about 32M logits per chunk). ``normalizer`` replaces the count of
    non-ignored positions as the divisor (the Trainer's token count across gradient-accumulation steps).
    """
    _check(hidden_strong, weight_strong, labels, "strong")
    _check(hidden_weak, weight_weak, labels, "weak")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    if weight_weak.shape[0] != weight_strong.shape[0]:
        raise ValueError(f"vocabularies differ: weak {weight_weak.shape[0]}, strong {weight_strong.shape[0]}")
    return _FusedMixedLinearCE.apply(hidden_weak, hidden_strong, weight_weak, weight_strong, labels, float(lam),
                                     ignore_index, chunk_size, True, normalizer)


def fused_linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                               ignore_index: int = -100, chunk_size: int | None = None,
                               normalizer: float | None = None) -> torch.Tensor:
    """Plain SFT cross-entropy (Eq. 1) from hidden states, chunked the same way (so SFT is not handicapped)."""
    _check(hidden, weight, labels, "model")
    return _FusedMixedLinearCE.apply(hidden, hidden, weight, weight, labels, 1.0, ignore_index, chunk_size, False,
                                     normalizer)


class _FusedSoftTargetCE(torch.autograd.Function):
    """UNDIAL's loss from hidden states: two ``chunk x V`` buffers, the student's logits and the teacher's (which
    become the soft target q in place). loss_i = lse(z_s) - sum_v q_v z_s,v; the gradient of the logits is
    (softmax(z_s) - q) / n_valid. The teacher gets no gradient."""

    @staticmethod
    def forward(ctx, h, w, h_t, w_t, labels, penalty, noise_std, generator, ignore_index, chunk_size, normalizer):
        n, vocab = h.shape[0], w.shape[0]
        acc = torch.promote_types(h.dtype, torch.float32)
        valid = labels != ignore_index
        denom = float(normalizer) if normalizer is not None else max(int(valid.sum()), 1)
        need_grad = any(ctx.needs_input_grad[:2])
        ws, wt = w.to(acc), w_t.to(acc)
        grads = [torch.zeros_like(h, dtype=acc), torch.zeros_like(w, dtype=acc)] if need_grad else None
        total = torch.zeros((), dtype=acc, device=h.device)
        rows = _chunk_rows(n, vocab, chunk_size)
        for start in range(0, n, rows):
            sl = slice(start, min(start + rows, n))
            ok = valid[sl]
            if not bool(ok.any()):
                continue
            weight = ok.to(acc)
            y = torch.where(ok, labels[sl], torch.zeros_like(labels[sl]))[:, None]
            hs = h[sl].to(acc)
            with torch.no_grad():
                q = torch.mm(h_t[sl].to(acc), wt.T)
                if noise_std is not None:  # App. E.6's noise on every teacher logit
                    q.add_(torch.randn(q.shape, generator=generator, device=q.device, dtype=acc)
                           * noise_std[sl].to(acc)[:, None])
                q.scatter_add_(1, y, -(penalty[sl].to(acc) * weight)[:, None])  # z_t - gamma * e_y
                q.sub_(q.amax(dim=1, keepdim=True)).exp_()
                q.div_(q.sum(dim=1, keepdim=True))                               # q = softmax(adjusted z_t)
            z = torch.mm(hs, ws.T)
            cross = (q * z).sum(dim=1)
            m = z.amax(dim=1, keepdim=True)
            z.sub_(m).exp_()
            sums = z.sum(dim=1, keepdim=True)
            total += ((m.squeeze(1) + sums.log().squeeze(1) - cross) * weight).sum()
            if need_grad:
                z.div_(sums).sub_(q).mul_((weight / denom)[:, None])             # (p - q) * weight / denom
                torch.mm(z, ws, out=grads[0][sl])
                grads[1].addmm_(z.T, hs)
            del z, q
        if need_grad:
            ctx.save_for_backward(*grads)
            ctx.dtypes = (h.dtype, w.dtype)
        return (total / denom).to(acc)

    @staticmethod
    def backward(ctx, grad_out):
        gh, gw = ctx.saved_tensors
        return ((gh * grad_out).to(ctx.dtypes[0]), (gw * grad_out).to(ctx.dtypes[1]), *([None] * 9))


def fused_soft_target_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, teacher_hidden: torch.Tensor,
                                    teacher_weight: torch.Tensor, labels: torch.Tensor, penalty: torch.Tensor,
                                    noise_std: torch.Tensor | None = None, generator: torch.Generator | None = None,
                                    ignore_index: int = -100, chunk_size: int | None = None,
                                    normalizer: float | None = None) -> torch.Tensor:
    """UNDIAL's loss from hidden states: the mean over non-ignored positions of -sum_v q_v log softmax(h W^T)_v with
    q = softmax(h_t W_t^T - penalty * e_y [+ noise_std * eps]), eps ~ N(0, I) drawn from ``generator``.

    ``hidden``/``teacher_hidden`` are ``[N, d]`` / ``[N, d_t]``, ``weight``/``teacher_weight`` the ``[V, d]`` /
    ``[V, d_t]`` output embeddings, ``labels``, ``penalty`` (gamma, or gamma plus the penalty noise) and ``noise_std``
    ``[N]``. Differentiable w.r.t. ``hidden`` and ``weight`` only; never holds more than two ``chunk_size x V`` blocks
    of logits. ``normalizer`` replaces the count of non-ignored positions as the divisor.
    """
    _check(hidden, weight, labels, "student")
    _check(teacher_hidden, teacher_weight, labels, "teacher")
    if weight.shape[0] != teacher_weight.shape[0]:
        raise ValueError(f"vocabularies differ: student {weight.shape[0]}, teacher {teacher_weight.shape[0]}")
    for name, value in (("penalty", penalty), ("noise_std", noise_std)):
        if value is not None and value.shape != labels.shape:
            raise ValueError(f"{name} {tuple(value.shape)} must be [N] like labels {tuple(labels.shape)}")
    return _FusedSoftTargetCE.apply(hidden, weight, teacher_hidden.detach(), teacher_weight.detach(), labels,
                                    penalty.detach(), None if noise_std is None else noise_std.detach(), generator,
                                    ignore_index, chunk_size, normalizer)


def _check(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, name: str) -> None:
    if hidden.ndim != 2 or weight.ndim != 2 or hidden.shape[1] != weight.shape[1]:
        raise ValueError(f"{name}: hidden {tuple(hidden.shape)} and weight {tuple(weight.shape)} "
                         "must be [N, d] and [V, d]")
    if labels.shape != (hidden.shape[0],):
        raise ValueError(f"{name}: labels {tuple(labels.shape)} must be [N] with N = {hidden.shape[0]}")


@torch.no_grad()
def chunked_entropy(hidden: torch.Tensor, weight: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Per-position predictive entropy H(softmax(h W^T)) (Sec. 3.1) of ``[N, d]`` hidden states, in fp32, computed
    chunk by chunk so that the ``[N, V]`` softmax of a long sequence is never held at once (WD-DS, Eq. 7)."""
    if hidden.ndim != 2 or weight.ndim != 2 or hidden.shape[1] != weight.shape[1]:
        raise ValueError(f"hidden {tuple(hidden.shape)} and weight {tuple(weight.shape)} must be [N, d], [V, d]")
    rows = _chunk_rows(hidden.shape[0], weight.shape[0], chunk_size)
    w = weight.float()
    out = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
    for start in range(0, hidden.shape[0], rows):
        logp = torch.log_softmax(hidden[start:start + rows].float() @ w.T, dim=-1)
        out[start:start + rows] = -(logp.exp() * logp).sum(-1)
    return out


__all__ = ["chunked_entropy", "fused_linear_cross_entropy", "fused_mixed_linear_cross_entropy",
           "fused_soft_target_cross_entropy"]
