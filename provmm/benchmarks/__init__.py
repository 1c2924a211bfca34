"""Benchmark drivers behind the ``tools/benchmark_*.py`` entry points: one
runner (:mod:`.runner`, :mod:`.report`, :mod:`.cli`) with each training
benchmark as data (:mod:`.synth_wsol`, :mod:`.synth_spurious`)."""
