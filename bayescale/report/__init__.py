"""Risk reports: a fitted law turned into a budget recommendation someone can sign.

- :func:`write_report` writes a self-contained HTML page and its Markdown twin;
- :func:`build_report` returns the same content as a
  :class:`~bayescale.report.document.Document` without writing it.

Examples
--------
>>> from bayescale.report import write_report
>>> write_report(fit, "report.html", budgets=[5.76e23], target_loss=2.0)   # doctest: +SKIP
"""

from bayescale.report.document import Document
from bayescale.report.risk import ReportFiles, build_report, write_report

__all__ = ["Document", "ReportFiles", "build_report", "write_report"]
