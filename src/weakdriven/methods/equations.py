"""The paper's equations, and those of its baselines' losses, as small pure functions (arXiv:2602.08222v2).

Each function names the equation it implements. Tensors are torch, per-sample scores are numpy. torch is imported
by the tensor functions only: scoring and tables use the numpy ones in containers without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

WDDS_FORMULAS = ("official", "paper_v1", "paper_v2")


def mix_logits(weak_logits: torch.Tensor, strong_logits: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq. (5)/(10): z_mix = lam * z_strong + (1 - lam) * z_weak. lam weights the STRONG model."""
    return lam * strong_logits + (1.0 - lam) * weak_logits


def mixed_logit_loss(
    weak_logits: torch.Tensor,
    strong_logits: torch.Tensor,
    labels: torch.Tensor,
    lam: float,
    ignore_index: int = -100,
) -> torch.Tensor:
    """Eq. (6): mean over non-ignored positions of -log softmax(z_mix)[label].

    Logits are ``[..., V]``, labels ``[...]`` already aligned with the logits (no shift). The softmax is taken in fp32
    (the authors' code upcasts too). Both logit tensors receive gradients. A batch with no supervised position gives 0.
    """
    if weak_logits.shape != strong_logits.shape:
        raise ValueError(f"weak logits {tuple(weak_logits.shape)} and strong logits {tuple(strong_logits.shape)} "
                         "differ")
    if labels.shape != weak_logits.shape[:-1]:
        raise ValueError(f"labels {tuple(labels.shape)} do not match logits {tuple(weak_logits.shape)} "
                         "without the vocab axis")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    import torch.nn.functional as F

    z_mix = mix_logits(weak_logits.float(), strong_logits.float(), lam)
    flat = z_mix.reshape(-1, z_mix.shape[-1])
    flat_labels = labels.reshape(-1)
    total = F.cross_entropy(flat, flat_labels, ignore_index=ignore_index, reduction="sum")
    count = (flat_labels != ignore_index).sum()
    return total / count.clamp(min=1)


UNDIAL_NOISE = ("none", "penalty", "logits")


def undial_noise_std(lengths: torch.Tensor, scale: float) -> torch.Tensor:
    """App. E.6: UNDIAL's noise is sigma * eps / sqrt(L), eps ~ N(0, 1): the standard deviation sigma / sqrt(L) for
    sequences of ``lengths`` L (any shape; L < 1 counts as 1)."""
    return scale / lengths.float().clamp(min=1).sqrt()


def undial_target_logits(
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    strength: float | torch.Tensor,
    logit_noise: torch.Tensor | None = None,
    ignore_index: int = -100,
) -> torch.Tensor:
    """UNDIAL's adjusted teacher logits (Dong et al. 2024, Sec. 3): z_t - gamma * onehot(y), plus ``logit_noise`` on
    every logit if given (App. E.6's noise on every teacher logit). softmax of the result is the soft target.

    ``strength`` gamma is a number or a tensor shaped like ``labels`` (a per-position penalty: App. E.6's noise on
    the penalty, gamma + sigma * eps / sqrt(L)). Logits ``[..., V]``, labels ``[...]`` aligned (no shift); positions
    whose label is ``ignore_index`` are left unadjusted (they carry no loss). Returns fp32 or wider (a new tensor).
    """
    if labels.shape != teacher_logits.shape[:-1]:
        raise ValueError(f"labels {tuple(labels.shape)} do not match logits {tuple(teacher_logits.shape)} "
                         "without the vocab axis")
    import torch

    z = teacher_logits.to(torch.promote_types(teacher_logits.dtype, torch.float32)).clone()
    if logit_noise is not None:
        z += logit_noise
    valid = labels != ignore_index
    gold = torch.where(valid, labels, torch.zeros_like(labels)).unsqueeze(-1)
    penalty = torch.as_tensor(strength, dtype=z.dtype, device=z.device).expand(labels.shape) * valid
    return z.scatter_add_(-1, gold, -penalty.unsqueeze(-1))


def soft_target_cross_entropy(
    student_logits: torch.Tensor,
    target_logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int = -100,
) -> torch.Tensor:
    """UNDIAL's loss: the mean over non-ignored positions of -sum_v q_v log p_v with q = softmax(target_logits) (no
    gradient) and p = softmax(student_logits); equal to KL(q || p) + H(q). A batch with no supervised position gives 0.
    """
    if student_logits.shape != target_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and target logits "
                         f"{tuple(target_logits.shape)} differ")
    import torch

    acc = torch.promote_types(student_logits.dtype, torch.float32)
    q = torch.softmax(target_logits.detach().to(acc), dim=-1)
    per_position = -(q * torch.log_softmax(student_logits.to(acc), dim=-1)).sum(dim=-1)
    valid = labels != ignore_index
    return (per_position * valid).sum() / valid.sum().clamp(min=1)


SSB_TAILS = ("renormalize", "bucket")


def topk_teacher_probs(values: torch.Tensor, temperature: float, tail: str,
                       teacher_lse: torch.Tensor | None = None) -> torch.Tensor:
    """SSB (App. E.6): the teacher distribution at temperature T from its stored top-k logits ``values`` [N, k].

    ``renormalize``: softmax(values / T) over the k stored tokens. ``bucket``: the full-vocabulary probabilities of the
    k tokens, exp(values / T - lse_T), with ``teacher_lse`` [N] = logsumexp(z / T) over the whole vocabulary (stored
    with the logits); a (k + 1)-th column holds the tail mass 1 - sum. Returns [N, k] or [N, k + 1].
    """
    import torch

    scaled = values.float() / temperature
    if tail == "renormalize":
        return torch.softmax(scaled, dim=-1)
    if tail != "bucket":
        raise ValueError(f"unknown SSB top-k tail {tail!r}; expected one of {SSB_TAILS}")
    if teacher_lse is None:
        raise ValueError("the bucket tail needs the teacher's logsumexp over the vocabulary")
    head = torch.exp(scaled - teacher_lse.float()[:, None])
    return torch.cat([head, (1.0 - head.sum(-1, keepdim=True)).clamp_min(0.0)], dim=-1)


def topk_distillation_loss(student_logits: torch.Tensor, ids: torch.Tensor, values: torch.Tensor,
                           temperature: float, tail: str, teacher_lse: torch.Tensor | None = None) -> torch.Tensor:
    """SSB's KD term per position [N]: T^2 * KL(q || p) with q the teacher's top-k distribution
    (:func:`topk_teacher_probs`) and p = softmax(student_logits / T) over the full vocabulary, read at the same k
    tokens (``renormalize``: sum_k q log(q / p), so student mass outside the teacher's k tokens is a loss; ``bucket``:
    the k tokens plus the remaining mass of each side as a (k + 1)-th outcome).
    The T^2 factor keeps gradient scale independent of T (Hinton et al. 2015), as the reference ``ssb_train.py``.
    """
    import torch

    q = topk_teacher_probs(values, temperature, tail, teacher_lse)
    log_p_full = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p = log_p_full.gather(-1, ids.long())
    if tail == "bucket":
        rest = torch.log1p(-log_p.exp().sum(-1, keepdim=True).clamp(max=1.0 - 1e-6))
        log_p = torch.cat([log_p, rest], dim=-1)
    kl = torch.where(q > 0, q * (torch.log(q.clamp_min(1e-30)) - log_p), torch.zeros_like(q)).sum(-1)
    return kl * temperature**2


def ssb_loss(kd: torch.Tensor, ce: torch.Tensor, kd_weight: float) -> torch.Tensor:
    """App. E.6: "an equal mix of KD and CE": kd_weight * KD + (1 - kd_weight) * CE (kd_weight 0.5; 1.0 is the
    reference code's KD only)."""
    return kd_weight * kd + (1.0 - kd_weight) * ce


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Sec. 3.1: H(P) = -sum_v P(v) log P(v) of softmax(logits) over the last axis, in fp32."""
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def sequence_entropy(token_entropies: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. (7): the mean of per-position entropies ``[B, T]`` over the supervised positions ``mask`` (``[B, T]``).

    Returns ``[B]``; a sequence with no supervised position has entropy 0.
    """
    return (token_entropies * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)


def entropy_discrepancy(h_weak: np.ndarray, h_strong: np.ndarray) -> np.ndarray:
    """Eq. (8): Delta H_i = H(strong; x_i) - H(weak; x_i)."""
    return np.asarray(h_strong, dtype=np.float64) - np.asarray(h_weak, dtype=np.float64)


def _positive_part(u: np.ndarray) -> np.ndarray:
    return np.maximum(u, 0.0)


def _normalize(weights: np.ndarray) -> np.ndarray:
    weights = np.clip(weights, 0.0, None)
    total = weights.sum()
    if not np.isfinite(total) or total <= 0.0:
        return np.full(weights.shape, 1.0 / weights.size)
    return weights / total


def wdds_sampling_weights(
    h_weak: np.ndarray,
    h_strong: np.ndarray,
    alpha: float,
    beta: float,
    gamma: float,
    formula: str = "official",
) -> np.ndarray:
    """Sampling probabilities p_i of WD-DS, summing to 1 (uniform when every weight is zero).

    ``formula`` picks one of three texts that disagree (the README: "Settings that resolve paper/code ambiguities"):

    - ``"official"`` (the authors' code, which produced the reported numbers): each term normalised on its own,
      p = alpha*H_weak/sum(H_weak) + beta*[-dH]+/sum([-dH]+) + gamma*[dH]+/sum([dH]+); a zero denominator becomes 1e-12.
    - ``"paper_v1"`` (arXiv v1 and the explainer): p ∝ alpha*H_weak + beta*[-dH]+ + gamma*[dH]+.
    - ``"paper_v2"`` (Eq. (9) of v2): p ∝ alpha*[-dH]+ + beta*H_strong + gamma*[dH]+.
    """
    h_weak = np.asarray(h_weak, dtype=np.float64)
    h_strong = np.asarray(h_strong, dtype=np.float64)
    if h_weak.shape != h_strong.shape or h_weak.ndim != 1 or h_weak.size == 0:
        raise ValueError(f"h_weak {h_weak.shape} and h_strong {h_strong.shape} must be equal, non-empty 1-D arrays")
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if not (np.isfinite(h_weak).all() and np.isfinite(h_strong).all()):
        bad = int(np.flatnonzero(~(np.isfinite(h_weak) & np.isfinite(h_strong)))[0])
        raise ValueError(f"entropy of sample index {bad} is not finite")
    dh = entropy_discrepancy(h_weak, h_strong)
    neg, pos = _positive_part(-dh), _positive_part(dh)
    if formula == "official":
        eps = 1e-12

        def share(x: np.ndarray) -> np.ndarray:
            total = x.sum()
            return x / (total if total != 0 else eps)

        weights = alpha * share(h_weak) + beta * share(neg) + gamma * share(pos)
    elif formula == "paper_v1":
        weights = alpha * h_weak + beta * neg + gamma * pos
    elif formula == "paper_v2":
        weights = alpha * neg + beta * h_strong + gamma * pos
    else:
        raise ValueError(f"unknown WD-DS formula {formula!r}; expected one of {WDDS_FORMULAS}")
    return _normalize(weights)


def wdds_draw(probs: np.ndarray, seed: int, dedup: bool) -> np.ndarray:
    """Sec. 4.2: draw |D| indices with replacement from ``probs`` (numpy default_rng(seed), as the authors' code).

    With ``dedup`` the duplicate indices are removed (paper v2; first occurrence order kept), otherwise kept (code).
    """
    rng = np.random.default_rng(seed)
    draws = rng.choice(probs.size, size=probs.size, replace=True, p=probs)
    if dedup:
        _, first = np.unique(draws, return_index=True)
        draws = draws[np.sort(first)]
    return draws


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021) used in Table 10: 1 - C(n-c, k) / C(n, k)."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def lambda_crossover(centered_norm_strong: float, centered_norm_weak: float) -> float:
    """Eqs. (16)-(17)/(63): lambda_cross = 1 / (1 + sqrt(alpha)), alpha = (||z~_strong|| / ||z~_weak||)^2."""
    alpha = (centered_norm_strong / centered_norm_weak) ** 2
    return 1.0 / (1.0 + float(np.sqrt(alpha)))
