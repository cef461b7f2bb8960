"""Datasets: sample data, folder preparation, parquet shards and the Ray Data pipeline."""
