"""The built-in synthesis-fingerprint benchmark as data for :mod:`.runner`,
and its sweep over the fingerprint strength.

Variants: ERM on the real images, + edits (no guidance), + edits + L_PG
(Eq. 10, the edit's exact mask) and three controls that differ only in
``mask_mode`` (random per-pixel, unmasked, shifted by half the image). Every
penalised variant chooses its alpha on validation accuracy from its own
grid. The runner has no strength axis: :func:`run_sweep` runs one benchmark
per strength (out dirs ``<out>/s<strength>``), ERM once (it sees no edits),
and :func:`write_sweep_report` writes one table per strength and a plot of
each metric against the strength.

Each tested model is also probed (:func:`fingerprint_probe`) on the real test
images with a fingerprint inserted into their background at
``PROBE_STRENGTH`` (the same probe for every training strength): the share
of the input-gradient energy of ``margin_y`` on the background (where the
fingerprint is) with the own class's fingerprint, and the accuracy drop when
the *next* class's fingerprint is inserted instead ("swap drop").
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
from functools import partial
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config

from provmm.benchmarks.cached_runs import markdown_table, mean_std
from provmm.benchmarks.cli import resolve_run_args
from provmm.benchmarks.paths import config_dir as resolve_config_dir
from provmm.benchmarks.paths import REPO_ROOT
from provmm.benchmarks.environment import environment_section
from provmm.benchmarks.report import alpha_note, read_part, results_table
from provmm.benchmarks.runner import (Benchmark, Column, Panel, Variant,
                                      distinct_runs, run_benchmark)
from provmm.provenance.gradient_loss import provenance_input_gradients
from provmm.synthetic.fingerprint_task import (FingerprintEditSpec,
                                               FingerprintTaskSpec,
                                               insert_fingerprint, iter_split)

DATA_ROOT = 'data/synth_fingerprint'
QUICK_DATA_ROOT = 'data/synth_fingerprint_quick'
QUICK_IMAGES = dict(train=80, val=40, test=40)
STRENGTHS = (0.0, 0.25, 0.5, 1.0)
PROBE_STRENGTH = 1.0
PROBE_SEED = 12345


def _config(name: str) -> str:
    return f'provmm/synth_fingerprint_{name}.py'


def _mask_mode(mode: str) -> Dict:
    return {'model.provenance_loss.mask_mode': mode}


PG = _config('edits_pg')
VARIANTS = [
    Variant('erm', 'ERM (real only)', _config('erm')),
    Variant('edits', '+ edits (no guidance)', _config('edits')),
    Variant('edits_pg', '+ edits + L_PG, provenance mask (paper)', PG,
            _mask_mode('provenance'), penalised=True),
    Variant('random_mask', '+ edits + L_PG, random mask (control)', PG,
            _mask_mode('random'), penalised=True),
    Variant('unmasked', '+ edits + L_PG, unmasked (control)', PG,
            _mask_mode('unmasked'), penalised=True),
    Variant('shifted_mask', '+ edits + L_PG, mask shifted by half the image '
            '(control)', PG, _mask_mode('shifted'), penalised=True),
    # cheaper and self-tuning guidance (docs/method.md)
    Variant('edits_pg_auto', '+ edits + L_PG, alpha auto (target ratio 0.2)',
            PG, {'model.provenance_loss.loss_weight': 'auto',
                 'model.provenance_loss.target_ratio': 0.2,
                 'model.provenance_loss.ratio_update_iters': None}),
    Variant('edits_pg_auto_held',
            '+ edits + L_PG, α auto (ratio 0.2, held)', PG,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.2,
             'model.provenance_loss.ratio_update_iters': 50}),
    Variant('edits_pg_auto_low',
            '+ edits + L_PG, α auto (ratio 0.03, held)', PG,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.03,
             'model.provenance_loss.ratio_update_iters': 50}),
    Variant('edits_pg_every4',
            '+ edits + L_PG every 4th iteration, α scaled by 4', PG,
            {'model.provenance_loss.every_n_iters': 4,
             'model.provenance_loss.scale_by_interval': True},
            penalised=True),
    Variant('edits_pg_every4_unscaled',
            '+ edits + L_PG every 4th iteration, α not scaled by 4', PG,
            {'model.provenance_loss.every_n_iters': 4,
             'model.provenance_loss.scale_by_interval': False},
            penalised=True),
    Variant('edits_pg_every2',
            '+ edits + L_PG every 2nd iteration, α scaled by 2', PG,
            {'model.provenance_loss.every_n_iters': 2,
             'model.provenance_loss.scale_by_interval': True},
            penalised=True),
    Variant('edits_pg_detached_bn',
            '+ edits + L_PG, detached BatchNorm statistics', PG,
            {'model.provenance_loss.bn_statistics': 'detached'},
            penalised=True),
]


def configure(cfg: Config, seed: int, quick: bool,
              strength: Optional[float] = None) -> None:
    """``strength``: the fingerprint of the edits; ``quick``: a tiny
    generated task."""
    dataset = cfg.train_dataloader.dataset
    if strength is not None and dataset.get('edits') is not None:
        dataset.edits.strength = strength
    if quick:
        cfg.merge_from_dict({
            f'{loader}_dataloader.dataset.generator.num_images':
            dict(QUICK_IMAGES) for loader in ('train', 'val', 'test')})


def probe_images(task: FingerprintTaskSpec, period: float,
                 strength: float = PROBE_STRENGTH, split: str = 'test'):
    """The real images of ``split`` with fingerprints inserted in their
    background: ``(clean, own, swapped, labels, keep)``, images uint8
    ``(N, 3, H, W)`` BGR as the pipeline loads them, ``keep`` float
    ``(N, H, W)`` (1 = object). ``own`` carries the label's fingerprint,
    ``swapped`` the next class's; one random phase per image."""
    num_classes = len(task.classes)
    rng = np.random.default_rng(PROBE_SEED)
    clean, own, swapped, labels, keep = [], [], [], [], []
    for sample in iter_split(task, split):
        phase = rng.uniform(0, 2 * np.pi)
        clean.append(sample.image)
        for out, label in ((own, sample.label),
                           (swapped, (sample.label + 1) % num_classes)):
            out.append(insert_fingerprint(sample.image, sample.mask, label,
                                          num_classes, strength, period,
                                          phase))
        labels.append(sample.label)
        keep.append(sample.mask)

    def tensor(images):
        return torch.from_numpy(np.stack(images)[..., ::-1].copy()).permute(
            0, 3, 1, 2)

    return (tensor(clean), tensor(own), tensor(swapped),
            torch.tensor(labels), torch.from_numpy(np.stack(keep)).float())


@torch.no_grad()
def _accuracy(model, images: torch.Tensor, labels: torch.Tensor,
              batch: int = 256) -> float:
    correct = 0
    for start in range(0, len(images), batch):
        data = model.data_preprocessor(
            dict(inputs=images[start:start + batch]), False)
        logits = model(data['inputs'].float(), mode='tensor')
        correct += int((logits.argmax(1) ==
                        labels[start:start + batch]).sum())
    return 100. * correct / len(images)


def background_energy_share(model, images: torch.Tensor,
                            labels: torch.Tensor, keep: torch.Tensor,
                            batch: int = 256) -> float:
    """Share of ``|| grad_x margin_y ||^2`` on the background (``keep == 0``)
    over all images, in eval mode."""
    outside = total = 0.
    for start in range(0, len(images), batch):
        data = model.data_preprocessor(
            dict(inputs=images[start:start + batch]), False)
        inputs = data['inputs'].float().requires_grad_(True)
        logits = model(inputs, mode='tensor')
        grad, _ = provenance_input_gradients(
            inputs, logits, labels[start:start + batch], None, 'margin',
            create_graph=False)
        energy = grad.detach().pow(2).sum(1)
        outside += float(((1 - keep[start:start + batch]) * energy).sum())
        total += float(energy.sum())
    return outside / max(total, 1e-30)


def fingerprint_probe(model, task: FingerprintTaskSpec,
                      period: float) -> Dict:
    """Accuracies (%) on the clean, own-fingerprint and swapped-fingerprint
    test images, ``swap_drop = clean - swapped`` and the background share
    of the gradient energy on the own-fingerprint images."""
    model.eval()
    clean, own, swapped, labels, keep = probe_images(task, period)
    result = dict(clean=_accuracy(model, clean, labels),
                  own=_accuracy(model, own, labels),
                  swapped=_accuracy(model, swapped, labels),
                  background_share=background_energy_share(model, own,
                                                           labels, keep))
    result['swap_drop'] = result['clean'] - result['swapped']
    result['swap_gap'] = result['own'] - result['swapped']
    return result


def measure(runner, cfg: Config) -> dict:
    dataset = cfg.test_dataloader.dataset
    edits = cfg.train_dataloader.dataset.get('edits') or {}
    period = FingerprintEditSpec(**edits).period
    task = FingerprintTaskSpec(**(dataset.get('generator') or {}))
    return dict(probe=fingerprint_probe(runner.model, task, period))


def summarize_training(recorder, cfg: Config) -> dict:
    """Mean logged ``alpha * L_PG / L_cls`` after the warm-up."""
    warmup = cfg.model.get('provenance_loss', {}).get('warmup_iters', 0)
    ratios = recorder.logs.get('pg_ratio', [])[warmup:]
    return dict(pg_ratio=float(np.mean(ratios)) if ratios else None)


def _test(key):
    return lambda run: run['test'][key]


def _probe(key):
    return lambda run: run['probe'][key]


BENCHMARK = Benchmark(
    name='synth_fingerprint',
    title='Built-in synthesis-fingerprint benchmark',
    variants=VARIANTS,
    metric_keys=('top1', 'worst_group'),
    select_key='top1',
    best_epoch=False,
    val_every_epoch=True,
    alpha_on_first_seed=True,
    columns=[
        Column('val acc.', lambda r: r['val']['top1']),
        Column('test acc. (real)', _test('top1')),
        Column('Δ test acc. vs edits', _test('top1'), paired=True),
        Column('test acc. per seed', _test('top1'), digits=0,
               per_seed=True),
        Column('grad. energy on fingerprint region (%)',
               _probe('background_share'), 100, 0),
        Column('Δ energy share vs edits (pts)', _probe('background_share'),
               100, 1, paired=True),
        Column('swap drop (pts)', _probe('swap_drop')),
        Column('Δ swap drop vs edits', _probe('swap_drop'), paired=True),
        Column('logged α·L_PG/L_cls', lambda r: r['pg_ratio'], digits=3),
        Column('wall (s)', lambda r: r['wall_s'], digits=0),
    ],
    panels=[
        Panel('test accuracy, real images (%)', _test('top1')),
        Panel('swap drop (points)', _probe('swap_drop')),
    ],
    out_dir='bench_synth_fingerprint',
    epochs=12,
    quick_epochs=1,
    alphas=(0.1, 1.0, 10.0),
    select_on=None,
    data_root=DATA_ROOT,
    quick_data_root=QUICK_DATA_ROOT,
    reference='edits',
    grid_rows=True,
    configure=configure,
    measure=measure,
    summarize_training=summarize_training,
)


def strength_benchmark(strength: float) -> Benchmark:
    """The benchmark with edits of the given fingerprint strength."""
    return dataclasses.replace(
        BENCHMARK, configure=partial(configure, strength=strength))


def run_sweep(strengths: Sequence[float], variants: Sequence[str],
              seeds: Sequence[int], epochs: int, out_dir: str,
              alphas: Sequence[float], quick: bool = False,
              config_dir: Optional[str] = None,
              data_root: Optional[str] = None, log=print,
              reuse_stale: bool = False) -> Dict:
    """``{strength: results of run_benchmark}``; ERM (no edits) runs once
    under ``<out_dir>/real_only`` and joins every strength's results.
    ``reuse_stale``: read cached runs whose key differs (see
    :func:`~provmm.benchmarks.runner.run_once`), e.g. the first seed's alpha
    search when seeds are added after a code change."""
    shared = [v for v in variants if v == 'erm']
    edited = [v for v in variants if v != 'erm']
    erm = (run_benchmark(BENCHMARK, shared, seeds, epochs,
                         osp.join(out_dir, 'real_only'), alphas, None, quick,
                         config_dir, data_root, log, reuse_stale=reuse_stale)
           if shared else None)
    sweep = {}
    for strength in strengths:
        log(f'fingerprint strength {strength:g}')
        results = run_benchmark(
            strength_benchmark(strength), edited, seeds, epochs,
            osp.join(out_dir, f's{strength:g}'), alphas, None, quick,
            config_dir, data_root, log, reuse_stale=reuse_stale)
        if erm is not None:
            results['variants'] = dict(erm['variants'],
                                       **results['variants'])
        sweep[strength] = results
    return sweep


def load_sweep(strengths: Sequence[float], out_dir: str) -> Dict:
    """The sweep as the last :func:`run_sweep` calls left it in their
    ``results.json`` files (runs of several calls, e.g. more seeds at one
    strength, are combined without training anything)."""
    def read(folder):
        path = osp.join(out_dir, folder, 'results.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} not found: run the sweep first')
        with open(path) as f:
            return json.load(f)

    erm = (read('real_only')
           if osp.isdir(osp.join(out_dir, 'real_only')) else None)
    sweep = {}
    for strength in strengths:
        results = read(f's{strength:g}')
        if erm is not None:
            seeds = set(results['seeds'])
            results['variants'] = dict(
                erm=[r for r in erm['variants']['erm']
                     if r['seed'] in seeds], **results['variants'])
        sweep[strength] = results
    return sweep


SWEEP_METRICS = (
    ('test accuracy, real images (%)', _test('top1'), 1.),
    ('grad. energy on fingerprint region (%)', _probe('background_share'),
     100.),
    ('swap drop (points)', _probe('swap_drop'), 1.),
)


def summary_table(sweep: Dict) -> str:
    """One row per variant, one column per (metric, strength): mean ± std
    over the seeds."""
    strengths = sorted(sweep)
    names = list(sweep[strengths[0]]['variants'])
    header = ['Variant'] + [f'{title.split(" (")[0]}, s = {s:g}'
                            for title, _, _ in SWEEP_METRICS
                            for s in strengths]
    rows = [[BENCHMARK.variants_by_name[n].label] +
            [mean_std([value(r) for r in sweep[s]['variants'][n]
                      if not r.get('diverged')], scale)
             for _, value, scale in SWEEP_METRICS for s in strengths]
            for n in names]
    return markdown_table(header, rows)


def plot_sweep(sweep: Dict, path: str) -> None:
    """Each metric against the strength, one line per variant (mean ± std
    over the seeds)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    strengths = sorted(sweep)
    names = list(sweep[strengths[0]]['variants'])
    fig, axes = plt.subplots(1, len(SWEEP_METRICS),
                             figsize=(5 * len(SWEEP_METRICS), 4.2))
    for ax, (title, value, scale) in zip(axes, SWEEP_METRICS):
        for i, name in enumerate(names):
            values = [[scale * value(r) for r in sweep[s]['variants'][name]
                       if not r.get('diverged')]
                      for s in strengths]
            offset = (i - len(names) / 2) * 0.006  # keep error bars apart
            ax.errorbar(np.array(strengths) + offset,
                        [np.mean(v) for v in values],
                        yerr=[np.std(v) for v in values], marker='o',
                        capsize=3,
                        label=BENCHMARK.variants_by_name[name].label)
        ax.set_xlabel('fingerprint strength of the edits')
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def stale_summary(runs: Sequence[dict]) -> str:
    """One line on the reused stale runs (``--reuse-stale``) and their
    distinct reasons, counted (the per-run list would fill the report)."""
    reasons: Dict[str, int] = {}
    for run in runs:
        if run.get('stale'):
            reasons[run['stale']] = reasons.get(run['stale'], 0) + 1
    if not reasons:
        return ''
    listed = '; '.join(f'{count} × {reason}'
                       for reason, count in sorted(reasons.items(),
                                                   key=lambda kv: -kv[1]))
    return (f'† {sum(reasons.values())} of {len(runs)} runs were read from '
            'the cache although their key differs from the one of the '
            f'checkout that assembled them (`--reuse-stale`): {listed}.')


def write_sweep_report(sweep: Dict, report: str, command: str) -> str:
    """``<report>.md`` (intro, summary over strengths, one full table per
    strength, notes) and ``<report>.png``; returns the summary table."""
    os.makedirs(osp.dirname(report) or '.', exist_ok=True)
    plot_sweep(sweep, report + '.png')
    summary = summary_table(sweep)
    seeds = ', '.join(f'{len(sweep[s]["seeds"])} at strength {s:g}'
                      for s in sorted(sweep))
    parts = [f'# {BENCHMARK.title}\n\n`{command}` — seeds: {seeds}; '
             f'{sweep[min(sweep)]["epochs"]} epochs per run, 1 CPU thread '
             'per run.\n\n',
             read_part(osp.join(REPO_ROOT, 'docs', 'benchmarks',
                            f'{BENCHMARK.name}.intro.md')),
             '## Summary over the strengths\n\n' + summary + '\n\n',
             f'![{BENCHMARK.name}]({osp.basename(report)}.png)\n\n']
    for strength in sorted(sweep):
        bench = strength_benchmark(strength)
        stale = stale_summary(distinct_runs(sweep[strength]))
        parts.append(f'## Strength {strength:g}\n\n' +
                     alpha_note(bench, sweep[strength]) + '\n\n' +
                     results_table(bench, sweep[strength]) + '\n\n' +
                     (stale + '\n\n' if stale else ''))
    parts.append(read_part(report + '.notes.md'))
    parts.append(environment_section(
        [run for s in sorted(sweep) for run in distinct_runs(sweep[s])]))
    with open(report + '.md', 'w') as f:
        f.write(''.join(parts).rstrip() + '\n')
    return summary


def main(argv: Optional[Sequence[str]] = None) -> None:
    names = [v.name for v in VARIANTS]
    parser = argparse.ArgumentParser(
        description='Run the synthesis-fingerprint benchmark at several '
        'fingerprint strengths and write its report. Finished runs are '
        'cached under <out-dir> and read again when rerun.')
    parser.add_argument('--strengths', nargs='+', type=float,
                        default=list(STRENGTHS))
    parser.add_argument('--variants', nargs='+', default=names,
                        choices=names)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=None)
    parser.add_argument('--alphas', nargs='+', type=float,
                        default=list(BENCHMARK.alphas),
                        help='alpha grid of every penalised variant, '
                        'searched on the first seed\'s val accuracy')
    parser.add_argument('--out-dir', default=osp.join('work_dirs',
                                                      BENCHMARK.out_dir))
    parser.add_argument('--report', default=None,
                        help='writes <report>.md and .png (default: '
                        'docs/benchmarks/synth_fingerprint; --quick: inside '
                        '--out-dir)')
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--config-dir', default=None)
    parser.add_argument('--reuse-stale', action='store_true',
                        help='read cached runs made with another config or '
                        'code (marked stale in the report) instead of '
                        'training them again')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: combine the results.json files '
                        'the earlier calls left under --out-dir')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: first seed, alpha 1, '
                        f'{BENCHMARK.quick_epochs} epoch, a tiny task')
    args = parser.parse_args(argv)
    epochs, seeds, alphas, out_dir, report, data_root = resolve_run_args(
        BENCHMARK, args)
    if args.report_only:
        sweep = load_sweep(args.strengths, out_dir)
    else:
        sweep = run_sweep(args.strengths, args.variants, seeds, epochs,
                          out_dir, alphas, args.quick,
                          resolve_config_dir(args.config_dir), data_root,
                          reuse_stale=args.reuse_stale)
    words = ['python tools/benchmark_synth_fingerprint.py', '--strengths']
    words += [f'{s:g}' for s in args.strengths]
    if list(args.variants) != names:
        words += ['--variants'] + list(args.variants)
    if args.out_dir != parser.get_default('out_dir'):
        words += ['--out-dir', args.out_dir]
    if args.report is not None:
        words += ['--report', args.report]
    if args.report_only:
        words.append('--report-only')
    else:
        words += ['--seeds'] + [str(s) for s in seeds]
        words += ['--epochs', str(epochs), '--alphas']
        words += [f'{a:g}' for a in alphas]
        words += ['--quick'] if args.quick else []
        words += ['--reuse-stale'] if args.reuse_stale else []
    command = ' '.join(words)
    if os.environ.get('OMP_NUM_THREADS'):
        command = f'OMP_NUM_THREADS={os.environ["OMP_NUM_THREADS"]} ' + command
    print(write_sweep_report(sweep, report, command))
    print(f'wrote {report}.md and {report}.png')
