"""Benchmarks: each prints a table beside a raw baseline measured in the same run. See bench/README.md."""
