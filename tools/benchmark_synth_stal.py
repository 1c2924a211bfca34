"""Run the synthetic skeleton STAL benchmark and write its report (markdown
table and PNG plot); any working directory, ``--help`` lists the flags.

    python tools/benchmark_synth_stal.py                      # full run
    python tools/benchmark_synth_stal.py --quick              # smoke run
    python tools/benchmark_synth_stal.py --variants skp batchmix

See provmm/benchmarks/synth_stal.py.
"""
from provmm.benchmarks.cli import main
from provmm.benchmarks.synth_stal import BENCHMARK

if __name__ == '__main__':
    main(BENCHMARK)
