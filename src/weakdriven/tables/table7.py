"""Table 7 (App. B.4): logit statistics of M0, M1 and WMSS (the weak model's logits against the strong one's)."""

from .diagnostics import DiagnosticsTable

TABLE = DiagnosticsTable("table7", "logit statistics: weak, strong before and after")
