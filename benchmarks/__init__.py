"""Benchmarks: each `bench_*.py` module is a script ending with one JSON result line."""
