"""Run the built-in spurious-correlation benchmark and write its report
(markdown table and PNG plot); any working directory, ``--help`` lists the
flags.

    OMP_NUM_THREADS=1 python tools/benchmark_synth_spurious.py --seeds 0 1 2
    python tools/benchmark_synth_spurious.py --quick          # smoke run

See provmm/benchmarks/synth_spurious.py.
"""
from provmm.benchmarks.cli import main
from provmm.benchmarks.synth_spurious import BENCHMARK

if __name__ == '__main__':
    main(BENCHMARK)
