"""The command line shared by the benchmark entry points
(``tools/benchmark_synth_*.py``): flags -> runs -> report."""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from provmm.benchmarks.environment import set_num_threads
from provmm.benchmarks.paths import config_dir as resolve_config_dir
from provmm.benchmarks.paths import docs_dir
from provmm.benchmarks.report import write_report
from provmm.benchmarks.runner import Benchmark, run_benchmark


def parse_args(bench: Benchmark, argv: Optional[Sequence[str]] = None):
    names = [v.name for v in bench.variants]
    penalised = [v.name for v in bench.variants if v.penalised]
    parser = argparse.ArgumentParser(
        description=f'Run the {bench.title} and write its report (markdown '
        'table and PNG plot). Finished runs are cached under <out-dir>/runs '
        'with the hash of their resolved config and of the provmm sources '
        'and config files, and read again when the command is rerun with '
        'the same hash; a run of another hash is trained again.')
    parser.add_argument('--variants', nargs='+', default=names,
                        choices=names)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=None,
                        help=f'epochs per run (default {bench.epochs}, '
                        f'--quick: {bench.quick_epochs})')
    parser.add_argument('--alphas', nargs='+', type=float,
                        default=list(bench.alphas),
                        help='alpha grid searched on val')
    parser.add_argument('--select-on', default=bench.select_on,
                        type=lambda name: None if name == 'none' else name,
                        choices=list(penalised) + [None],
                        metavar='{' + ','.join(list(penalised) + ['none'])
                        + '}',
                        help=f'variant whose val {bench.select_key} chooses '
                        'the alpha every penalised variant shares (default: '
                        '%(default)s; none: each searches its own)')
    parser.add_argument('--out-dir', default=osp.join('work_dirs',
                                                      bench.out_dir),
                        help='runs and results.json (default: %(default)s)')
    parser.add_argument('--report', default=None,
                        help='writes <report>.md and <report>.png (default: '
                        f'docs/benchmarks/{bench.name} of the repository; '
                        '--quick: inside --out-dir)')
    if bench.data_root is not None:
        parser.add_argument('--data-root', default=None,
                            help=f'generated task (default '
                            f'{bench.data_root}, --quick: '
                            f'{bench.quick_data_root})')
    parser.add_argument('--config-dir', default=None,
                        help='the configs folder (default: the '
                        "repository's, next to the provmm package)")
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads of torch (torch.set_num_threads) '
                        'and of child processes (OMP_NUM_THREADS, '
                        'MKL_NUM_THREADS); results can differ with the '
                        'thread count (default: OMP_NUM_THREADS if set, '
                        "else torch's default)")
    parser.add_argument('--reuse-stale', action='store_true',
                        help='reuse cached runs whose config or code hash '
                        'differs (same epochs) instead of training them '
                        'again; the report marks them stale')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: first seed, alpha 1, '
                        f'{bench.quick_epochs} epoch(s) on a small task, '
                        'in <out-dir>/quick')
    return parser.parse_args(argv)


def command_line(bench: Benchmark, variants: List[str], seeds: List[int],
                 epochs: int, alphas: List[float], select_on: Optional[str],
                 quick: bool, threads: Optional[int] = None,
                 reuse_stale: bool = False) -> str:
    """The command that reproduces a report."""
    words = [f'python tools/benchmark_{bench.name}.py']
    if threads is None and os.environ.get('OMP_NUM_THREADS'):
        words.insert(0, f'OMP_NUM_THREADS={os.environ["OMP_NUM_THREADS"]}')
    if variants != [v.name for v in bench.variants]:
        words += ['--variants'] + variants
    words += ['--seeds'] + [str(s) for s in seeds]
    words += ['--epochs', str(epochs), '--alphas'] + [f'{a:g}' for a in alphas]
    if select_on is not None or bench.select_on is not None:
        words += ['--select-on', select_on or 'none']
    if threads is not None:
        words += ['--threads', str(threads)]
    words += ['--reuse-stale'] if reuse_stale else []
    return ' '.join(words + (['--quick'] if quick else []))


def resolve_run_args(bench: Benchmark, args) -> Tuple:
    """``(epochs, seeds, alphas, out_dir, report, data_root)`` of parsed
    arguments: the benchmark's defaults where a flag is not given, and
    ``--quick``'s first seed, alpha 1 and folder."""
    epochs = args.epochs or (bench.quick_epochs if args.quick
                             else bench.epochs)
    seeds, alphas, out_dir = args.seeds, args.alphas, args.out_dir
    if args.quick:
        seeds, alphas = seeds[:1], [1.0]
        out_dir = osp.join(out_dir, 'quick')
    report = args.report or (
        osp.join(out_dir, f'{bench.name}_quick') if args.quick else
        osp.join(docs_dir(), bench.name))
    data_root = getattr(args, 'data_root', None) or (
        bench.quick_data_root if args.quick else bench.data_root)
    return epochs, seeds, alphas, out_dir, report, data_root


def main(bench: Benchmark, argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(bench, argv)
    if args.threads is not None:
        set_num_threads(args.threads)
    config_dir = resolve_config_dir(args.config_dir)
    epochs, seeds, alphas, out_dir, report, data_root = resolve_run_args(
        bench, args)
    results = run_benchmark(bench, args.variants, seeds, epochs, out_dir,
                            alphas, args.select_on, args.quick, config_dir,
                            data_root, reuse_stale=args.reuse_stale)
    section = (bench.extra_section(args.quick, config_dir, data_root)
               if bench.extra_section is not None else None)
    command = command_line(bench, args.variants, seeds, epochs, alphas,
                           args.select_on, args.quick, args.threads,
                           args.reuse_stale)
    print(write_report(bench, results, report, command, section))
    print(f'wrote {report}.md and {report}.png')
