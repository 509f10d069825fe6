"""Table 4 (App. B.2): Table 1's comparison on another model family, Gemma-3-4B-PT: six math sets (no AIME2025) and
the four code sets, pass@1 (%) under greedy decoding, the same six method rows. The paper states the gains over SFT
in the text only (Math Avg. +4.4, Code Avg. +3.9); the table's Δ columns are computed as Table 1's."""

from __future__ import annotations

from .table1 import Table1

TABLE = Table1("table4", "results on Gemma-3-4B-PT (pass@1, %)")
