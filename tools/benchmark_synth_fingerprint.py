"""Run the built-in synthesis-fingerprint benchmark over fingerprint
strengths and write its report (markdown tables and PNG plot); any working
directory, ``--help`` lists the flags.

    OMP_NUM_THREADS=1 python tools/benchmark_synth_fingerprint.py --seeds 0 1 2
    python tools/benchmark_synth_fingerprint.py --quick          # smoke run

See provmm/benchmarks/synth_fingerprint.py.
"""
from provmm.benchmarks.synth_fingerprint import main

if __name__ == '__main__':
    main()
