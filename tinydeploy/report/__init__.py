"""Benchmark reports: a stable JSON schema, Markdown and self-contained HTML with plots."""

from tinydeploy.report.render import compare_markdown, write_report
from tinydeploy.report.schema import SCHEMA, LayerRow, Report, Variant, load_report

__all__ = ["SCHEMA", "LayerRow", "Report", "Variant", "compare_markdown", "load_report",
           "write_report"]
