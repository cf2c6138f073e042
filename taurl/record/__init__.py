"""Recording: per-process writers of immutable Parquet segments, and a DuckDB store over them."""
