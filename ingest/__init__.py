"""Extraction and loading: vendor APIs and finance inputs into the DuckDB raw layer."""
