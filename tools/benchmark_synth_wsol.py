"""Run the built-in synthetic WSOL benchmark and write a markdown table and a
PNG plot (issue 2, item 5). Run from the repository root.

    python tools/benchmark_synth_wsol.py                      # full run
    python tools/benchmark_synth_wsol.py --quick              # smoke run
    python tools/benchmark_synth_wsol.py --variants cam cutmix pg_logit

alpha of every penalised variant is chosen on the val split (seed = first
seed) from --alphas; test numbers are of the best-val epoch. Finished runs
are cached under <out-dir>/runs and skipped when the command is rerun;
<report>.notes.md, if present, is appended to <report>.md.
"""
import argparse
import os
import os.path as osp

from provmm.benchmarks.synth_wsol import (DEFAULT_ALPHAS, REPORT_INTRO,
                                          VARIANTS, plot_results,
                                          results_table, run_benchmark,
                                          total_run_seconds)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--variants', nargs='+',
                        default=[v.name for v in VARIANTS],
                        choices=[v.name for v in VARIANTS])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--alphas', nargs='+', type=float,
                        default=list(DEFAULT_ALPHAS),
                        help='alpha grid searched on val for penalised '
                        'variants')
    parser.add_argument('--out-dir', default='work_dirs/benchmark_synth_wsol',
                        help='runs and results.json')
    parser.add_argument('--report', default='docs/benchmarks/synth_wsol',
                        help='writes <report>.md and <report>.png')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: 1 epoch, 1 seed, 1 alpha, 128 '
                        'training images')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.quick:
        args.epochs, args.seeds, args.alphas = 1, args.seeds[:1], [1.0]
        args.out_dir = osp.join(args.out_dir, 'quick')
        args.report = osp.join(args.out_dir, 'synth_wsol_quick')
    os.makedirs(args.out_dir, exist_ok=True)
    results = run_benchmark(args.variants, args.seeds, args.epochs,
                            args.out_dir, args.alphas, args.quick)
    table = results_table(results)
    os.makedirs(osp.dirname(args.report) or '.', exist_ok=True)
    plot_results(results, args.report + '.png')
    with open(args.report + '.md', 'w') as f:
        f.write(f'# Synthetic WSOL benchmark\n\nCommand: `python '
                f'tools/benchmark_synth_wsol.py --seeds '
                f'{" ".join(map(str, args.seeds))} --epochs {args.epochs} '
                f'--alphas {" ".join(f"{a:g}" for a in args.alphas)}'
                f'{" --quick" if args.quick else ""}` '
                f'({total_run_seconds(results) / 60:.0f} min of runs)\n\n'
                f'{REPORT_INTRO}\n{table}\n\n'
                f'![plot]({osp.basename(args.report)}.png)\n')
        # Hand-written analysis of the measured numbers, kept across reruns.
        notes = args.report + '.notes.md'
        if osp.isfile(notes):
            with open(notes) as notes_file:
                f.write('\n' + notes_file.read())
    print(table)


if __name__ == '__main__':
    main()
