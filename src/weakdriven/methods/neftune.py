"""NEFTune (Jain et al. 2024; App. E.6): SFT with uniform noise on the input embeddings, alpha = 5.

In training mode only, transformers' hook adds U(-a, a) noise to the embedding output, a = alpha / sqrt(L * d) (L the
padded length of the batch, d the hidden size); evaluation and generation see clean embeddings. The Trainer installs
the hook from ``TrainingArguments.neftune_noise_alpha``; nothing here re-implements it.

Start (``methods.neftune.start``, an ambiguity of the paper): App. E.5 trains every method of Table 1 for the same
2-epoch budget, and Table 11 times NEFTune "after the shared SFT warm start" (4h30m, the same as SFT's epoch). The
default ``m1`` continues from M1 for ``training.joint_epochs`` epochs; ``base`` trains M0 for ``training.sft_epochs``
epochs, as the SFT baseline does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import BASE, M1
from .sft import SFT


@dataclass(frozen=True)
class NEFTuneSettings:
    noise_alpha: float = 5.0   # App. E.6: the NEFTune paper's recommended alpha
    start: str = M1            # m1: after the shared warm start (Table 11); base: from M0 like the SFT baseline


class NEFTune(SFT):
    def start_key(self, exp) -> str:
        return BASE if self.settings(exp).start == "base" else M1

    def trainer_arguments(self, exp) -> dict:
        return {"neftune_noise_alpha": self.settings(exp).noise_alpha}


METHOD = NEFTune("neftune", "NEFTune", settings_type=NEFTuneSettings)
