"""The built-in spurious-correlation benchmark as data for :mod:`.runner`:
ERM, the ALIA analogue (real + edited images), + hard-label L_PG (Eq. 10)
with plain Otsu, refined Otsu and true masks, the controls of the paper's
Table 6 (random mask, unmasked), DiffCoRe-Mix + L_PG, and the ``target`` /
warm-up comparisons, over several seeds.

Every run trains its config from scratch and is evaluated once at the end
on the balanced val and test splits (``GroupAccuracy``: average = mean
group = top-1 there, worst group). alpha is chosen on val worst-group
accuracy (mean over the seeds) on one variant (``select_on``) and shared by
the penalised variants; those with a loss on another scale search their
own grid. Each trained model is also measured on the edited images: the
true-mask penalty ``|| (1 - M) * grad_x margin_y ||^2`` and the share of
the input-gradient energy outside the foreground. The report adds the mask
quality: IoU of the Otsu masks (plain Eq. 6-7 and refinements) against the
generator's foreground, with and without re-rendering.
"""
import json
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np
import torch
from mmengine.config import Config

from provmm.benchmarks.cached_runs import markdown_table
from provmm.benchmarks.report import Section
from provmm.benchmarks.runner import (Benchmark, Column, Panel, Variant,
                                      build_config)
from provmm.data_prep.provenance_manifest import load_provenance_manifest
from provmm.datasets.synthetic_spurious import ensure_provenance_masks
from provmm.provenance.gradient_loss import provenance_input_gradients
from provmm.synthetic import (BackgroundEditSpec, SyntheticSpuriousSpec,
                              ensure_background_edits,
                              ensure_synthetic_spurious)

DATA_ROOT = 'data/synth_spurious'
QUICK_DATA_ROOT = 'data/synth_spurious_quick'
QUICK_IMAGES = dict(train=200, val=80, test=80)
MASK_SETTINGS = [
    ('plain Eq. 6-7', 'otsu', {}),
    ('refined: Otsu on log(1 + D)', 'otsu', dict(log_scale=True)),
    ('log(1 + D) + median blur 3', 'otsu', dict(log_scale=True, blur=3)),
    ('log(1 + D) + clean-up 3', 'otsu', dict(log_scale=True, clean=3)),
    ('median blur 3 + clean-up 3', 'otsu', dict(blur=3, clean=3)),
]
NO_RERENDER = dict(jitter=0., blur_sigma=0., noise_std=0.)
OWN_GRID = (0.1, 1.0, 10.0)


def _loss(**kwargs) -> Dict:
    return {f'model.provenance_loss.{k}': v for k, v in kwargs.items()}


def _config(name: str) -> str:
    return f'provmm/synth_spurious_{name}.py'


GTMASK, REFINED = _config('edits_pg_gtmask'), _config('edits_pg_refined')
VARIANTS = [
    Variant('erm', 'ERM (real only)', _config('erm')),
    Variant('edits', '+ edits (ALIA analogue)', _config('edits')),
    Variant('edits_pg', '+ edits + L_PG, plain Otsu mask (paper)',
            _config('edits_pg'), penalised=True),
    Variant('edits_pg_refined', '+ edits + L_PG, refined Otsu mask',
            REFINED, penalised=True),
    Variant('edits_pg_dilated',
            '+ edits + L_PG, refined mask dilated to 2x area (Table 7)',
            REFINED,
            {'train_dataloader.dataset.mask_options.area_change': 1.0},
            penalised=True),
    Variant('edits_pg_gtmask', '+ edits + L_PG, true mask', GTMASK,
            penalised=True),
    Variant('gtmask_detached_bn',
            '+ edits + L_PG, true mask, detached BatchNorm statistics',
            GTMASK, _loss(bn_statistics='detached'), penalised=True),
    Variant('gtmask_auto',
            '+ edits + L_PG, true mask, α auto (target ratio 0.2)', GTMASK,
            _loss(loss_weight='auto', target_ratio=0.2,
                  ratio_update_iters=None)),
    Variant('gtmask_auto_held',
            '+ edits + L_PG, true mask, α auto (ratio 0.2, held)',
            GTMASK,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.2,
             'model.provenance_loss.ratio_update_iters': 50}),
    Variant('gtmask_auto_low',
            '+ edits + L_PG, true mask, α auto (ratio 0.03, held)',
            GTMASK,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.03,
             'model.provenance_loss.ratio_update_iters': 50}),
    Variant('edits_pg_random', '+ edits + L_PG, random mask (control)',
            _config('edits_pg_random'), penalised=True),
    Variant('edits_pg_unmasked', '+ edits + L_PG, unmasked (control)',
            _config('edits_pg_unmasked'), penalised=True),
    Variant('gtmask_logit', '+ edits + L_PG, true mask, target logit',
            GTMASK, _loss(target='logit'), True),
    Variant('gtmask_log_softmax',
            '+ edits + L_PG, true mask, target log_softmax', GTMASK,
            _loss(target='log_softmax'), True),
    Variant('gtmask_no_warmup', '+ edits + L_PG, true mask, no warm-up',
            GTMASK, _loss(warmup_iters=0), True),
    Variant('gtmask_share',
            '+ edits + L_PG, true mask, energy share (normalize=True, '
            'not in the paper)', GTMASK, _loss(normalize=True), True,
            own_alphas=OWN_GRID),
    Variant('gtmask_share_shifted',
            '+ edits + L_PG, energy share, true mask shifted by half the '
            'image (control)', GTMASK,
            _loss(normalize=True, mask_mode='shifted'), True,
            own_alphas=OWN_GRID),
    Variant('refined_share',
            '+ edits + L_PG, refined Otsu mask, energy share', REFINED,
            _loss(normalize=True), True, own_alphas=OWN_GRID),
    Variant('diffcore', 'DiffCoRe-Mix (no L_PG)',
            _config('diffcore_pg'), _loss(loss_weight=0.0)),
    Variant('diffcore_pg', 'DiffCoRe-Mix + L_PG (patch provenance)',
            _config('diffcore_pg'), penalised=True),
]


def configure(cfg: Config, seed: int, quick: bool) -> None:
    """``quick``: a tiny generated task."""
    if quick:
        cfg.merge_from_dict({
            f'{loader}_dataloader.dataset.generator.num_images':
            dict(QUICK_IMAGES) for loader in ('train', 'val', 'test')})


def _generator_specs(cfg: Config):
    dataset = cfg.train_dataloader.dataset
    task = SyntheticSpuriousSpec(**(dataset.get('generator') or {}))
    edit = BackgroundEditSpec(**(dataset.get('edits') or {}))
    return dataset.data_root, task, edit


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


def measure(runner, cfg: Config) -> dict:
    """The true-mask penalty of the tested model on the edited images."""
    edits = edited_images(*_generator_specs(cfg))
    return dict(true_mask_penalty=true_mask_penalty(runner.model, *edits))


def summarize_training(recorder, cfg: Config) -> dict:
    """Mean logged ``alpha * L_PG / L_cls`` after the warm-up and the mean
    ``loss_cls`` of the last 10 iterations."""
    warmup = cfg.model.get('provenance_loss', {}).get('warmup_iters', 0)
    ratios = recorder.logs.get('pg_ratio', [])[warmup:]
    return dict(
        pg_ratio=float(np.mean(ratios)) if ratios else None,
        loss_cls_last=(float(np.mean(recorder.logs['loss_cls'][-10:]))
                       if 'loss_cls' in recorder.logs else None))


def mask_quality(quick: bool = False, config_dir=None,
                 data_root: str = DATA_ROOT) -> List[Dict]:
    """IoU of Otsu masks vs. the true foreground, for the benchmark's edits
    (those of ``synth_spurious_edits.py``) and for the same edits without
    re-rendering."""
    edits_variant = BENCHMARK.variants_by_name['edits']
    cfg = build_config(BENCHMARK, edits_variant, 0, 1, '', None, quick,
                       config_dir, data_root)
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


def mask_table(rows: List[Dict]) -> str:
    header = ['Edits', 'Mask', 'mean IoU ± std', 'min IoU',
              'target area (%)', 'degenerate']
    body = [[r['edits'], r['mask'],
             f'{r["iou"]["mean"]:.3f} ± {r["iou"]["std"]:.3f}',
             f'{r["iou"]["min"]:.3f}',
             f'{100 * r["area"]["mean"]:.1f}',
             f'{r["num_degenerate"]} / {r["num_pairs"]}'] for r in rows]
    return markdown_table(header, body)


def mask_section(quick: bool, config_dir, data_root: str) -> Section:
    """The mask-quality table and its plot panel."""
    rows = mask_quality(quick, config_dir, data_root)

    def draw(ax):
        ys = np.arange(len(rows))
        ax.barh(ys, [r['iou']['mean'] for r in rows],
                xerr=[r['iou']['std'] for r in rows], color='tab:orange',
                alpha=0.7)
        ax.set_yticks(ys)
        ax.set_yticklabels([f'{r["mask"]}\n({r["edits"]})' for r in rows],
                           fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title('Otsu mask IoU vs. true foreground')
        ax.grid(axis='x', alpha=0.3)

    return Section('## Otsu masks vs. the true foreground\n\n' +
                   mask_table(rows), draw)


def _get(split, key):
    return lambda run: run[split][key]


BENCHMARK = Benchmark(
    name='synth_spurious',
    title='Built-in spurious-correlation benchmark',
    variants=VARIANTS,
    metric_keys=('mean_group', 'worst_group', 'top1'),
    select_key='worst_group',
    best_epoch=False,
    val_every_epoch=True,
    alpha_on_first_seed=False,
    columns=[
        Column('val worst', _get('val', 'worst_group')),
        Column('test average', _get('test', 'mean_group')),
        Column('test worst', _get('test', 'worst_group')),
        Column('test worst per seed', _get('test', 'worst_group'), digits=0,
               per_seed=True),
        Column('test top-1', _get('test', 'top1')),
        Column('logged α·L_PG/L_cls', lambda r: r['pg_ratio'], digits=3),
        Column('true-mask L_PG of the model',
               lambda r: r['true_mask_penalty']['penalty'], digits=3),
        Column('grad. energy outside fg (%)',
               lambda r: r['true_mask_penalty']['outside_share'], 100, 0),
        Column('wall (s)', lambda r: r['wall_s'], digits=0),
    ],
    panels=[
        Panel('test average acc. (%)', _get('test', 'mean_group'), (0, 100)),
        Panel('test worst-group acc. (%)', _get('test', 'worst_group'),
              (0, 100)),
    ],
    out_dir='bench_synth_spurious',
    epochs=15,
    quick_epochs=2,
    alphas=(0.1, 1.0, 10.0),
    select_on='edits_pg_gtmask',
    data_root=DATA_ROOT,
    quick_data_root=QUICK_DATA_ROOT,
    reference='edits',
    grid_rows=True,
    configure=configure,
    measure=measure,
    summarize_training=summarize_training,
    extra_section=mask_section,
)
