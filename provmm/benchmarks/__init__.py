"""Benchmark drivers behind the ``tools/benchmark_*.py`` entry points."""
