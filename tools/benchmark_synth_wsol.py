"""Run the synthetic WSOL benchmark and write its report (markdown table and
PNG plot); any working directory, ``--help`` lists the flags.

    python tools/benchmark_synth_wsol.py                      # full run
    python tools/benchmark_synth_wsol.py --quick              # smoke run
    python tools/benchmark_synth_wsol.py --variants cam cutmix pg_logit

It first pre-trains the missing per-seed source-task backbones (announced),
then fine-tunes every variant; see provmm/benchmarks/synth_wsol.py.
"""
from provmm.benchmarks.cli import main
from provmm.benchmarks.synth_wsol import BENCHMARK

if __name__ == '__main__':
    main(BENCHMARK)
