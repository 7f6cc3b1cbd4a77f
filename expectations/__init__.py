"""Great Expectations data-quality gates (issue 5): suites as code, validated on dataframes read through a
read-only DuckDB connection; results in ops.dq_results, Data Docs under $DATA_DIR/data_docs."""

from expectations.runner import DataQualityFailed, Outcome, Result, validate

__all__ = ["DataQualityFailed", "Outcome", "Result", "validate"]
