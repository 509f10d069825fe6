"""Table 6 (App. B.4): logit statistics of SFT vs WMSS."""

from .diagnostics import DiagnosticsTable

TABLE = DiagnosticsTable("table6", "logit statistics: SFT vs WMSS")
