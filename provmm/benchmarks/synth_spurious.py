"""The built-in spurious-correlation benchmark (issue 3, item 6): ERM, the
ALIA analogue (real + edited images), + hard-label L_PG (Eq. 10) with plain
Otsu, refined Otsu and true masks, the Table 6 controls (random mask,
unmasked), DiffCoRe-Mix + L_PG, and the ``target`` / warm-up comparisons,
over several seeds.

Protocol:

- every run trains the experiment config from scratch for ``epochs`` and is
  evaluated once at the end on the balanced val and test splits
  (``GroupAccuracy``: average = mean group = top-1 there, worst group);
- alpha is chosen on *validation* worst-group accuracy (mean over the
  seeds) from a grid on one variant (``select_on``); every other penalised
  variant reuses it, so masks and controls are compared at the same alpha
  (as Table 6). The grid's rows are reported too, with the logged
  ``alpha * L_PG / L_cls`` of each;
- for every trained model, the true-mask penalty ``|| (1 - M) * grad_x
  margin_y ||^2`` on the edited images (eval mode) and the share of the
  input-gradient energy outside the foreground are measured: they show what
  L_PG asks of a model that reads the background vs. one that reads the
  shape;
- mask quality: mean IoU of the Otsu masks (plain Eq. 6-7 and refinements)
  against the generator's foreground, for the benchmark's edits (mild
  re-rendering) and for edits without re-rendering.

Runs are cached as JSON under ``<out_dir>/runs``; a rerun skips them.
"""
import json
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from provmm.benchmarks.cached_runs import (load_cached_result, markdown_table,
                                          mean_std, run_dir, save_result,
                                          strip_prefix)
from provmm.data_prep.provenance_manifest import load_provenance_manifest
from provmm.synthetic import (BackgroundEditSpec,
                                       SyntheticSpuriousSpec,
                                       ensure_background_edits,
                                       ensure_synthetic_spurious)
from provmm.datasets.synthetic_spurious import ensure_provenance_masks
from provmm.provenance.gradient_loss import provenance_input_gradients
from provmm.utils.setup_env import register_all_modules

CONFIG_DIR = 'configs/provmm'
DATA_ROOT = 'data/synth_spurious'
QUICK_DATA_ROOT = 'data/synth_spurious_quick'
QUICK_IMAGES = dict(train=200, val=80, test=80)
DEFAULT_ALPHAS = (0.1, 1.0, 10.0)
DEFAULT_SELECT_ON = 'edits_pg_gtmask'
REFINED_MASK = dict(log_scale=True)  # configs/provmm/*_pg_refined.py
MASK_SETTINGS = [
    ('plain Eq. 6-7', 'otsu', {}),
    ('refined: Otsu on log(1 + D)', 'otsu', dict(log_scale=True)),
    ('log(1 + D) + median blur 3', 'otsu', dict(log_scale=True, blur=3)),
    ('log(1 + D) + clean-up 3', 'otsu', dict(log_scale=True, clean=3)),
    ('median blur 3 + clean-up 3', 'otsu', dict(blur=3, clean=3)),
]
NO_RERENDER = dict(jitter=0., blur_sigma=0., noise_std=0.)


@dataclass
class Variant:
    """One row of the table: a config plus ``--cfg-options``-style edits."""
    name: str
    label: str
    config: str
    options: Dict = field(default_factory=dict)
    penalised: bool = False  # has an alpha (chosen on val)
    # its own alpha grid, searched on its own val worst-group accuracy, for a
    # loss on another scale than the selector's (None: the shared alpha)
    own_alphas: Optional[Tuple[float, ...]] = None


def _loss(**kwargs) -> Dict:
    return {f'model.provenance_loss.{k}': v for k, v in kwargs.items()}


VARIANTS = [
    Variant('erm', 'ERM (real only)', 'synth_spurious_erm.py'),
    Variant('edits', '+ edits (ALIA analogue)', 'synth_spurious_edits.py'),
    Variant('edits_pg', '+ edits + L_PG, plain Otsu mask (paper)',
            'synth_spurious_edits_pg.py', penalised=True),
    Variant('edits_pg_refined', '+ edits + L_PG, refined Otsu mask',
            'synth_spurious_edits_pg_refined.py', penalised=True),
    Variant('edits_pg_dilated',
            '+ edits + L_PG, refined mask dilated to 2x area (Table 7)',
            'synth_spurious_edits_pg_refined.py',
            {'train_dataloader.dataset.mask_options.area_change': 1.0},
            penalised=True),
    Variant('edits_pg_gtmask', '+ edits + L_PG, true mask',
            'synth_spurious_edits_pg_gtmask.py', penalised=True),
    Variant('edits_pg_random', '+ edits + L_PG, random mask (control)',
            'synth_spurious_edits_pg_random.py', penalised=True),
    Variant('edits_pg_unmasked', '+ edits + L_PG, unmasked (control)',
            'synth_spurious_edits_pg_unmasked.py', penalised=True),
    Variant('gtmask_logit', '+ edits + L_PG, true mask, target logit',
            'synth_spurious_edits_pg_gtmask.py', _loss(target='logit'),
            True),
    Variant('gtmask_log_softmax',
            '+ edits + L_PG, true mask, target log_softmax',
            'synth_spurious_edits_pg_gtmask.py', _loss(target='log_softmax'),
            True),
    Variant('gtmask_no_warmup', '+ edits + L_PG, true mask, no warm-up',
            'synth_spurious_edits_pg_gtmask.py', _loss(warmup_iters=0), True),
    Variant('gtmask_share',
            '+ edits + L_PG, true mask, energy share (normalize=True, '
            'not in the paper)',
            'synth_spurious_edits_pg_gtmask.py', _loss(normalize=True), True,
            own_alphas=(0.1, 1.0, 10.0)),
    Variant('gtmask_share_shifted',
            '+ edits + L_PG, energy share, true mask shifted by half the '
            'image (control)',
            'synth_spurious_edits_pg_gtmask.py',
            _loss(normalize=True, mask_mode='shifted'), True,
            own_alphas=(0.1, 1.0, 10.0)),
    Variant('refined_share',
            '+ edits + L_PG, refined Otsu mask, energy share',
            'synth_spurious_edits_pg_refined.py', _loss(normalize=True), True,
            own_alphas=(0.1, 1.0, 10.0)),
    Variant('diffcore', 'DiffCoRe-Mix (no L_PG)',
            'synth_spurious_diffcore_pg.py', _loss(loss_weight=0.0)),
    Variant('diffcore_pg', 'DiffCoRe-Mix + L_PG (patch provenance)',
            'synth_spurious_diffcore_pg.py', penalised=True),
]
VARIANTS_BY_NAME = {v.name: v for v in VARIANTS}


class _RunRecorder(Hook):
    """Keeps the logged ``pg_*`` values and losses of every iteration and
    the last validation metrics."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.logs: Dict[str, List[float]] = {}
        self.val: Dict[str, float] = {}

    def after_val_epoch(self, runner, metrics=None):
        self.val = strip_prefix(metrics or {})

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        for key, value in (outputs or {}).items():
            if key.startswith('pg_') or key.startswith('loss'):
                self.logs.setdefault(key, []).append(float(value))


def _data_options(data_root: str, quick: bool) -> Dict:
    options = {}
    for loader in ('train', 'val', 'test'):
        options[f'{loader}_dataloader.dataset.data_root'] = data_root
        if quick:
            options[f'{loader}_dataloader.dataset.generator.num_images'] = (
                dict(QUICK_IMAGES))
    return options


def build_config(variant: Variant, seed: int, epochs: int, work_dir: str,
                 alpha: Optional[float] = None, quick: bool = False,
                 data_root: str = DATA_ROOT,
                 config_dir: str = CONFIG_DIR) -> Config:
    """The config of one run: the experiment config, the variant's edits,
    alpha, seed, epochs and (``quick``) a tiny generated task."""
    cfg = Config.fromfile(osp.join(config_dir, variant.config))
    options = dict(variant.options)
    options.update(_data_options(data_root, quick))
    if alpha is not None:
        options['model.provenance_loss.loss_weight'] = alpha
    cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.param_scheduler.end = epochs
    cfg.default_hooks.checkpoint = None  # nothing is reloaded
    cfg.default_hooks.logger.interval = 25
    if quick and cfg.model.get('provenance_loss'):
        cfg.model.provenance_loss.warmup_iters = 0  # a few iterations only
    return cfg


def edited_images(data_root: str, task: SyntheticSpuriousSpec,
                  edit: BackgroundEditSpec):
    """``(images uint8 (N, 3, H, W) BGR, labels (N,), true masks (N, H, W))``
    of the edits, as the data pipeline loads them."""
    folder = ensure_background_edits(data_root, task, edit)
    pairs = load_provenance_manifest(ensure_provenance_masks(folder, 'gt'))
    images = np.stack([cv2.imread(p.edited, cv2.IMREAD_COLOR) for p in pairs])
    masks = np.stack([cv2.imread(p.mask, cv2.IMREAD_GRAYSCALE) == 255
                      for p in pairs])
    return (torch.from_numpy(images).permute(0, 3, 1, 2),
            torch.tensor([p.label for p in pairs]),
            torch.from_numpy(masks).float())


def true_mask_penalty(model, images: torch.Tensor, labels: torch.Tensor,
                      masks: torch.Tensor, target: str = 'margin') -> Dict:
    """What Eq. 10 with the true mask asks of a trained model.

    Returns the mean over the edited images of ``|| (1 - M) * grad_x f_y
    ||^2`` (``penalty``) and of ``|| M * grad_x f_y ||^2`` (``inside``), and
    the share of the gradient energy outside the foreground, for ``f`` the
    chosen ``target``, in eval mode (no batch coupling through BN).
    """
    model.eval()
    data = model.data_preprocessor(dict(inputs=images), False)
    inputs = data['inputs'].float().requires_grad_(True)
    logits = model(inputs, mode='tensor')
    grad, _ = provenance_input_gradients(inputs, logits, labels, None, target,
                                         create_graph=False)
    energy = grad.detach().pow(2).sum(1)
    outside = ((1 - masks) * energy).flatten(1).sum(1)
    inside = (masks * energy).flatten(1).sum(1)
    return dict(penalty=float(outside.mean()), inside=float(inside.mean()),
                outside_share=float(outside.sum() /
                                    (outside + inside).sum().clamp(min=1e-30)))


def _generator_specs(cfg: Config):
    dataset = cfg.train_dataloader.dataset
    task = SyntheticSpuriousSpec(**(dataset.get('generator') or {}))
    edit = BackgroundEditSpec(**(dataset.get('edits') or {}))
    return dataset.data_root, task, edit


def run_once(variant: Variant, seed: int, epochs: int, out_dir: str,
             alpha: Optional[float] = None, quick: bool = False,
             data_root: str = DATA_ROOT,
             config_dir: str = CONFIG_DIR) -> dict:
    """Train, validate and test one run; cached as JSON."""
    work_dir = run_dir(out_dir, variant.name, alpha, seed)
    cached = load_cached_result(work_dir, epochs)
    if cached is not None:
        return cached
    cfg = build_config(variant, seed, epochs, work_dir, alpha, quick,
                       data_root, config_dir)
    register_all_modules(init_default_scope=False)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    recorder = _RunRecorder()
    runner.register_hook(recorder)
    runner.train()
    train_s = time.time() - start
    test = strip_prefix(runner.test())
    edits = edited_images(*_generator_specs(cfg))
    penalty = true_mask_penalty(runner.model, *edits)
    warmup = cfg.model.get('provenance_loss', {}).get('warmup_iters', 0)
    ratios = recorder.logs.get('pg_ratio', [])[warmup:]
    result = dict(
        variant=variant.name, seed=seed, alpha=alpha, epochs=epochs,
        val=recorder.val, test=test, true_mask_penalty=penalty,
        pg_ratio=float(np.mean(ratios)) if ratios else None,
        loss_cls_last=(float(np.mean(recorder.logs['loss_cls'][-10:]))
                       if 'loss_cls' in recorder.logs else None),
        train_s=train_s, wall_s=time.time() - start)
    save_result(work_dir, result)
    return result


def select_alpha(runs_by_alpha: Dict[float, List[dict]]) -> float:
    """The alpha with the best mean *val* worst-group accuracy (ties: the
    smaller alpha)."""
    def score(alpha):
        return np.mean([r['val']['worst_group'] for r in runs_by_alpha[alpha]])
    return max(sorted(runs_by_alpha), key=score)


def run_benchmark(variants: Sequence[str], seeds: Sequence[int], epochs: int,
                  out_dir: str, alphas: Sequence[float] = DEFAULT_ALPHAS,
                  select_on: str = DEFAULT_SELECT_ON, quick: bool = False,
                  data_root: str = DATA_ROOT, config_dir: str = CONFIG_DIR,
                  log=print) -> Dict:
    """Every run; returns ``{'alpha', 'select_on', 'alpha_search',
    'variants': {name: [runs]}}``."""
    unknown = [v for v in list(variants) + [select_on]
               if v not in VARIANTS_BY_NAME]
    if unknown:
        raise ValueError(f'unknown variant(s) {unknown}; choose from '
                         f'{list(VARIANTS_BY_NAME)}')
    if not VARIANTS_BY_NAME[select_on].penalised:
        raise ValueError(f'select_on={select_on!r} has no alpha')
    os.makedirs(out_dir, exist_ok=True)
    results = dict(select_on=select_on, alpha=None, alpha_search={},
                   variant_alpha={}, variant_alpha_search={}, variants={},
                   epochs=epochs, seeds=list(seeds))

    def run(variant, seed, alpha=None):
        result = run_once(variant, seed, epochs, out_dir, alpha, quick,
                          data_root, config_dir)
        log(f'{variant.name} alpha={alpha} seed={seed}: val worst '
            f'{result["val"]["worst_group"]:.1f}, test avg '
            f'{result["test"]["mean_group"]:.1f} worst '
            f'{result["test"]["worst_group"]:.1f}, ratio '
            f'{result["pg_ratio"]}, {result["wall_s"]:.0f} s')
        return result

    def run_variant(name):
        variant = VARIANTS_BY_NAME[name]
        if variant.own_alphas:
            search = {a: [run(variant, s, a) for s in seeds]
                      for a in variant.own_alphas}
            alpha = select_alpha(search)
            results['variant_alpha'][name] = alpha
            results['variant_alpha_search'][name] = {
                f'{a:g}': runs for a, runs in search.items()}
            results['variants'][name] = search[alpha]
            log(f'alpha of {name} chosen on its val worst-group accuracy: '
                f'{alpha:g}')
        else:
            alpha = results['alpha'] if variant.penalised else None
            results['variants'][name] = [run(variant, s, alpha)
                                         for s in seeds]
        with open(osp.join(out_dir, 'results.json'), 'w') as f:
            json.dump(results, f, indent=2)

    unpenalised = [v for v in variants if not VARIANTS_BY_NAME[v].penalised]
    for name in unpenalised:
        run_variant(name)
    if any(VARIANTS_BY_NAME[v].penalised and not VARIANTS_BY_NAME[v].own_alphas
           for v in variants):
        selector = VARIANTS_BY_NAME[select_on]
        search = {a: [run(selector, s, a) for s in seeds] for a in alphas}
        results['alpha'] = select_alpha(search)
        results['alpha_search'] = {f'{a:g}': runs for a, runs in
                                   search.items()}
        log(f'alpha chosen on val worst-group accuracy of {select_on}: '
            f'{results["alpha"]:g}')
    for name in variants:
        if name not in unpenalised:
            run_variant(name)
    results['variants'] = {name: results['variants'][name]
                           for name in variants}  # the asked order
    return results


def mask_quality(quick: bool = False, data_root: str = DATA_ROOT,
                 config_dir: str = CONFIG_DIR) -> List[Dict]:
    """IoU of Otsu masks vs. the true foreground, for the benchmark's edits
    (those of ``synth_spurious_edits.py``) and for the same edits without
    re-rendering."""
    cfg = build_config(VARIANTS_BY_NAME['edits'], 0, 1, '', None, quick,
                       data_root, config_dir)
    data_root, task, edit = _generator_specs(cfg)
    ensure_synthetic_spurious(data_root, task)
    clean = BackgroundEditSpec(**dict(
        {k: getattr(edit, k) for k in edit.__dataclass_fields__},
        **NO_RERENDER))
    rows = []
    for edits_label, spec in (('mild re-rendering (benchmark)', edit),
                              ('no re-rendering', clean)):
        folder = ensure_background_edits(data_root, task, spec)
        for label, source, options in MASK_SETTINGS:
            manifest = ensure_provenance_masks(folder, source, options)
            with open(osp.join(osp.dirname(manifest),
                               'mask_report.json')) as f:
                report = json.load(f)
            rows.append(dict(edits=edits_label, mask=label, options=options,
                             iou=report['iou'],
                             area=report['area_fraction'],
                             num_pairs=report['num_pairs'],
                             num_degenerate=report['num_degenerate']))
    return rows


# ---------------------------------------------------------------- reporting
def total_run_seconds(results: Dict) -> float:
    """Sum of the wall time of every distinct run."""
    runs = [r for runs in results['alpha_search'].values() for r in runs]
    runs += [r for runs in results['variants'].values() for r in runs]
    distinct = {(r['variant'], r['alpha'], r['seed']): r['wall_s']
                for r in runs}
    return float(sum(distinct.values()))


def _row(label: str, alpha: Optional[float], runs: List[dict]) -> List[str]:
    get = lambda split, key: [r[split][key] for r in runs]  # noqa: E731
    return [
        label, '–' if alpha is None else f'{alpha:g}',
        mean_std(get('val', 'worst_group')),
        mean_std(get('test', 'mean_group')),
        mean_std(get('test', 'worst_group')),
        ' / '.join(f'{v:.0f}' for v in get('test', 'worst_group')),
        mean_std(get('test', 'top1')),
        mean_std([r['pg_ratio'] for r in runs], digits=3),
        mean_std([r['true_mask_penalty']['penalty'] for r in runs],
                 digits=3),
        mean_std([r['true_mask_penalty']['outside_share'] for r in runs],
                 100, digits=0),
        mean_std([r['wall_s'] for r in runs], digits=0),
    ]


TABLE_HEADER = [
    'Variant', 'α', 'val worst', 'test average', 'test worst',
    'test worst per seed', 'test top-1',
    'logged α·L_PG/L_cls', 'true-mask L_PG of the model',
    'grad. energy outside fg (%)', 'wall (s)'
]


def results_table(results: Dict) -> str:
    """Markdown: the variants at the chosen alpha, then the alpha grid."""
    own_alpha = results.get('variant_alpha', {})
    rows = [_row(VARIANTS_BY_NAME[name].label,
                 own_alpha.get(name, results['alpha'])
                 if VARIANTS_BY_NAME[name].penalised else None, runs)
            for name, runs in results['variants'].items()]
    selector = VARIANTS_BY_NAME[results['select_on']].label
    for alpha, runs in results['alpha_search'].items():
        rows.append(_row(f'α grid: {selector}', float(alpha), runs))
    for name, search in results.get('variant_alpha_search', {}).items():
        for alpha, runs in search.items():
            rows.append(_row(f'α grid: {VARIANTS_BY_NAME[name].label}',
                             float(alpha), runs))
    return markdown_table(TABLE_HEADER, rows)


def mask_table(rows: List[Dict]) -> str:
    header = ['Edits', 'Mask', 'mean IoU ± std', 'min IoU',
              'target area (%)', 'degenerate']
    body = [[r['edits'], r['mask'],
             f'{r["iou"]["mean"]:.3f} ± {r["iou"]["std"]:.3f}',
             f'{r["iou"]["min"]:.3f}',
             f'{100 * r["area"]["mean"]:.1f}',
             f'{r["num_degenerate"]} / {r["num_pairs"]}'] for r in rows]
    return markdown_table(header, body)


def plot_results(results: Dict, masks: List[Dict], path: str) -> None:
    """Test average / worst-group accuracy per variant (mean ± std, seeds as
    dots) and the mask IoUs."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(results['variants'])
    labels = [VARIANTS_BY_NAME[n].label for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(17, 0.45 * len(names) + 2.2),
                             gridspec_kw=dict(width_ratios=[1, 1, 1.1]))
    ys = np.arange(len(names))
    for ax, key, title in ((axes[0], 'mean_group', 'test average acc. (%)'),
                           (axes[1], 'worst_group',
                            'test worst-group acc. (%)')):
        values = [[r['test'][key] for r in results['variants'][n]]
                  for n in names]
        ax.barh(ys, [np.mean(v) for v in values],
                xerr=[np.std(v) for v in values], color='tab:blue',
                alpha=0.7)
        for y, v in zip(ys, values):
            ax.plot(v, [y] * len(v), 'k.', ms=5)
        ax.set_xlim(0, 100)
        ax.set_title(title)
        ax.grid(axis='x', alpha=0.3)
        ax.set_yticks(ys)
        ax.set_yticklabels(labels if ax is axes[0] else [])
        ax.invert_yaxis()
    mask_labels = [f'{r["mask"]}\n({r["edits"]})' for r in masks]
    ym = np.arange(len(masks))
    axes[2].barh(ym, [r['iou']['mean'] for r in masks],
                 xerr=[r['iou']['std'] for r in masks], color='tab:orange',
                 alpha=0.7)
    axes[2].set_yticks(ym)
    axes[2].set_yticklabels(mask_labels, fontsize=7)
    axes[2].invert_yaxis()
    axes[2].set_xlim(0, 1)
    axes[2].set_title('Otsu mask IoU vs. true foreground')
    axes[2].grid(axis='x', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
