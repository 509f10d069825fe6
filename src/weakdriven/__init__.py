"""weakdriven: the reproduction harness for Weak-Driven Learning (WMSS, arXiv:2602.08222v2).

Public API (see the README):
    mixed_logit_loss        Eq. (6): CE of z_mix = lam * z_strong + (1 - lam) * z_weak
    wdds_sampling_weights   Eq. (9) and its variants: WD-DS sampling probabilities
    pass_at_k               the unbiased pass@k estimator (Table 10)
    reported_numbers        the paper's reported values of a table, one per row
    fused_mixed_linear_cross_entropy   Eq. (6) from hidden states, chunked: no [N, V] logits held
    run_sandboxed           a Python program in the code-execution sandbox (limits, no network, read-only view)
    score_answer            whether a completion answers the gold answer of a math or logic benchmark
"""

from .eval.grading import score_answer
from .eval.sandbox import run_sandboxed
from .fused import fused_mixed_linear_cross_entropy
from .methods.equations import lambda_crossover, mixed_logit_loss, pass_at_k, wdds_sampling_weights
from .tables import reported_numbers

__all__ = [
    "fused_mixed_linear_cross_entropy",
    "lambda_crossover",
    "mixed_logit_loss",
    "pass_at_k",
    "reported_numbers",
    "run_sandboxed",
    "score_answer",
    "wdds_sampling_weights",
]
