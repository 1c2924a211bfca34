"""The synthetic WSOL benchmark as data for :mod:`.runner`: CAM, CutMix and
CutMix + L_PG (each ``target``) beside the controls of the paper's Table 6
(random mask, unmasked) and two data controls, over several seeds.

Every run fine-tunes the backbone pre-trained with its seed (made first by
:mod:`.pretrain`) and tests the epoch with the best val MaxBoxAccV2; alpha
of every penalised variant is chosen on the first seed's val. Besides the
WSOL metric, two input-gradient shares are measured on the test images of
every model: inside a CutMix box pasted from another test image (less
gradient on foreign pixels = provenance rather than smoothing) and inside
the GT box.
"""
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from torch.utils.data import DataLoader

from provmm.benchmarks.cached_runs import save_result
from provmm.benchmarks.pretrain import pretrain_backbones, seed_checkpoint
from provmm.models.utils.synthetic_source_pretrained import \
    PRETRAIN_CONFIG as PRETRAIN_CONFIG_PATH
from provmm.benchmarks.runner import (Benchmark, Column, Panel, Variant,
                                      build_config)
from provmm.provenance.cutmix import cutmix_box, paste_box
from provmm.provenance.gradient_loss import (outside_provenance_share,
                                             selected_outputs)
from provmm.registry import DATASETS, MODELS
from provmm.utils.setup_env import register_all_modules

DECORRELATED_ROOT = 'data/synth_wsol_decorrelated'
# The pre-training config's init (PyTorch's default conv init).
SCRATCH_INIT = dict(_delete_=True, type='Kaiming', layer='Conv2d',
                    a=5**0.5, mode='fan_in', nonlinearity='leaky_relu',
                    distribution='uniform')
PRETRAINED_INIT = 'SyntheticSourcePretrained'


def _pg(target='logit', mask_mode='provenance', normalize=False):
    return {
        'model.provenance_loss.target': target,
        'model.provenance_loss.mask_mode': mask_mode,
        'model.provenance_loss.normalize': normalize
    }


def _decorrelated():
    options = {}
    for loader in ('train', 'val', 'test'):
        key = f'{loader}_dataloader.dataset'
        options[f'{key}.data_root'] = DECORRELATED_ROOT
        options[f'{key}.generator.background_bias'] = None
    return options


CAM, CUTMIX, PG, PUZZLEMIX, PUZZLEMIX_PG, SAT, SAT_CUTMIX, SAT_PG = (
    f'provmm/synth_wsol_{n}.py'
    for n in ('cam', 'cutmix', 'cutmix_pg', 'puzzlemix', 'puzzlemix_pg',
              'sat', 'sat_cutmix', 'sat_cutmix_pg'))
# AdvCAM's defaults (27 iterations: the original's evaluation setting).
ADVCAM = {'model.localization.type': 'AdvCAM'}
AUTO_ALPHA = {'model.provenance_loss.loss_weight': 'auto',
              'model.provenance_loss.target_ratio': 0.2,
              'model.provenance_loss.ratio_update_iters': None}
VARIANTS = [
    Variant('cam', 'CAM', CAM),
    Variant('cutmix', 'CutMix', CUTMIX),
    Variant('pg_logit', 'CutMix + L_PG (logit, paper)', PG, _pg('logit'),
            True),
    Variant('pg_log_softmax', 'CutMix + L_PG (log_softmax)', PG,
            _pg('log_softmax'), True),
    Variant('pg_margin', 'CutMix + L_PG (margin)', PG, _pg('margin'), True),
    Variant('random_mask', 'CutMix + random-mask penalty (control)', PG,
            _pg('logit', 'random'), True),
    Variant('unmasked', 'CutMix + unmasked penalty (control)', PG,
            _pg('logit', 'unmasked'), True),
    Variant('pg_share', 'CutMix + L_PG (logit, energy share, not in paper)',
            PG, _pg('logit', normalize=True), True),
    Variant('pg_share_shifted',
            'CutMix + L_PG (energy share, shifted-mask control)', PG,
            _pg('logit', 'shifted', True), True),
    Variant('pg_auto', 'CutMix + L_PG (logit, α auto: ratio 0.2)',
            PG, AUTO_ALPHA),
    Variant('pg_auto_held',
            'CutMix + L_PG (logit, α auto: ratio 0.2, held)', PG,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.2,
             'model.provenance_loss.ratio_update_iters': 50}),
    Variant('pg_auto_low',
            'CutMix + L_PG (logit, α auto: ratio 0.03, held)', PG,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.03,
             'model.provenance_loss.ratio_update_iters': 50}),
    Variant('pg_every8', 'CutMix + L_PG (logit) every 8th iteration', PG,
            {'model.provenance_loss.every_n_iters': 8,
             'model.provenance_loss.scale_by_interval': False}, True),
    Variant('pg_detached_bn',
            'CutMix + L_PG (logit), detached BatchNorm statistics', PG,
            dict(_pg('logit'), **{
                'model.provenance_loss.bn_statistics': 'detached'}), True),
    Variant('puzzlemix', 'PuzzleMix', PUZZLEMIX),
    Variant('puzzlemix_pg', 'PuzzleMix + L_PG (logit, soft M)',
            PUZZLEMIX_PG, penalised=True),
    Variant('puzzlemix_random_mask',
            'PuzzleMix + random-mask penalty (control)', PUZZLEMIX_PG,
            {'model.provenance_loss.mask_mode': 'random'}, True),
    Variant('sat', 'SAT (tiny ViT)', SAT),
    Variant('sat_cutmix', 'SAT + CutMix', SAT_CUTMIX),
    Variant('sat_cutmix_pg', 'SAT + CutMix + L_PG (logit)', SAT_PG,
            penalised=True),
    Variant('sat_random_mask', 'SAT + CutMix + random-mask penalty '
            '(control)', SAT_PG,
            {'model.provenance_loss.mask_mode': 'random'}, True),
    Variant('cam_advcam', 'CAM, AdvCAM maps', CAM, ADVCAM,
            retest_of='cam'),
    Variant('cutmix_advcam', 'CutMix, AdvCAM maps', CUTMIX, ADVCAM,
            retest_of='cutmix'),
    Variant('pg_advcam', 'CutMix + L_PG (logit, paper), AdvCAM maps', PG,
            ADVCAM, retest_of='pg_logit'),
    Variant('cam_scratch', 'CAM, no pre-training (control)', CAM,
            {'model.backbone.init_cfg': SCRATCH_INIT}),
    Variant('cam_decorrelated', 'CAM, de-correlated train (oracle)', CAM,
            _decorrelated()),
]


def pretrain_config(init_cfg) -> Optional[str]:
    """The pre-training config (relative to the configs folder) of a
    backbone ``init_cfg``; None if it does not load a source backbone."""
    if not isinstance(init_cfg, dict) or \
            init_cfg.get('type') != PRETRAINED_INIT:
        return None
    path = init_cfg.get('pretrain_config', PRETRAIN_CONFIG_PATH)
    return osp.relpath(path, 'configs') if path.startswith(
        'configs' + osp.sep) else path


def configure(cfg, seed: int, quick: bool) -> None:
    """Seed k loads the backbone its pre-training config trained with seed
    k; ``quick``: small subsets and a coarse test grid."""
    init = cfg.model.backbone.get('init_cfg')
    config = pretrain_config(init)
    if config is not None:
        init['checkpoint'] = seed_checkpoint(seed, config)
    if quick:
        cfg.train_dataloader.dataset.indices = 128
        cfg.val_dataloader.dataset.indices = 64
        cfg.test_dataloader.dataset.indices = 64
        cfg.test_evaluator.cam_curve_interval = 0.01


def prepare(variants, seeds, config_dir, log=print) -> None:
    """Pre-train the per-seed backbones the variants load (if missing)."""
    from mmengine.config import Config

    from provmm.benchmarks.paths import config_dir as resolve_config_dir
    root = resolve_config_dir(config_dir)
    configs = {v.config for v in variants
               if 'model.backbone.init_cfg' not in v.options}
    pretrain_configs = {pretrain_config(Config.fromfile(
        osp.join(root, c)).model.backbone.get('init_cfg'))
                        for c in sorted(configs)} - {None}
    for config in sorted(pretrain_configs):
        pretrain_backbones(seeds, root, log, config)


def input_gradient_outside_share(model, data_preprocessor, dataloader,
                                 max_images: int = 256,
                                 seed: int = 0) -> float:
    """Share of ``|grad_x f_A|^2`` inside a box pasted from another image.

    Test images ``i`` are CutMix-ed with image ``i + 1`` of the batch (the
    next class) in a Beta(1, 1) box drawn from a fixed seed; ``f_A`` is the
    own-class logit of the model in eval mode. A map spread evenly gives
    ``1 - mean(M)``; 0 means the own class ignores the foreign pixels.
    """
    rng = np.random.RandomState(seed)
    model.eval()
    shares, weights, seen = [], [], 0
    for data in dataloader:
        data = data_preprocessor(data, False)
        inputs = data['inputs'].float()
        labels = torch.cat([s.gt_label for s in data['data_samples']])
        partner = torch.roll(torch.arange(len(inputs)), -1)
        box = cutmix_box(tuple(inputs.shape[-2:]), rng.beta(1.0, 1.0),
                         rng=rng)
        mixed = paste_box(inputs, box, partner)
        x = mixed.inputs.detach().requires_grad_(True)
        logits = model(x, mode='tensor')
        (grad, ) = torch.autograd.grad(
            selected_outputs(logits, labels, 'logit').sum(), x)
        shares.append(float(outside_provenance_share(grad, mixed.mask)))
        weights.append(len(inputs))
        seen += len(inputs)
        if seen >= max_images:
            break
    return float(np.average(shares, weights=weights))


def input_gradient_box_share(model, data_preprocessor,
                             dataloader) -> float:
    """Share of ``|grad_x f_y|^2`` inside the GT box on clean test images.

    ``f_y`` is the GT-class logit of the model in eval mode; boxes are
    inclusive pixel indices in the input frame (the synthetic test images
    are not resized). GT boxes cover 12.4 % of a test image on average, so a
    gradient spread evenly gives about that; 100 % means only the object
    matters.
    """
    model.eval()
    inside = total = 0.0
    for data in dataloader:
        data = data_preprocessor(data, False)
        x = data['inputs'].float().detach().requires_grad_(True)
        labels = torch.cat([s.gt_label for s in data['data_samples']])
        logits = model(x, mode='tensor')
        (grad, ) = torch.autograd.grad(
            selected_outputs(logits, labels, 'logit').sum(), x)
        energy = grad.pow(2).sum(1)  # (B, H, W)
        box_mask = torch.zeros_like(energy)
        for i, sample in enumerate(data['data_samples']):
            for x0, y0, x1, y1 in np.asarray(sample.gt_bboxes).astype(int):
                box_mask[i, y0:y1 + 1, x0:x1 + 1] = 1
        inside += float((energy * box_mask).sum())
        total += float(energy.sum())
    return inside / max(total, np.finfo(np.float32).tiny)


def measure(runner, cfg) -> dict:
    """Both input-gradient shares of the tested model."""
    model, loader = runner.model, runner.test_dataloader
    return dict(
        grad_outside_share=input_gradient_outside_share(
            model, model.data_preprocessor, loader),
        grad_in_gt_box=input_gradient_box_share(
            model, model.data_preprocessor, loader))


def summarize_training(recorder, cfg) -> dict:
    """The per-epoch means of the logged losses and ``pg_*`` values."""
    return dict(train=recorder.train_epochs)


def add_box_share(result: dict, variant: Variant, work_dir: str,
                  config_dir) -> dict:
    """``grad_in_gt_box`` of an older cached run, from its saved weights."""
    state_file = osp.join(work_dir, 'best_state.pth')
    if 'grad_in_gt_box' in result or not osp.isfile(state_file):
        return result
    register_all_modules(init_default_scope=False)
    cfg = build_config(BENCHMARK, variant, result['seed'], result['epochs'],
                       work_dir, result['alpha'], config_dir=config_dir)
    cfg.model.data_preprocessor = cfg.data_preprocessor
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('provmm'):
        model = MODELS.build(cfg.model)
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
    model.load_state_dict(torch.load(state_file, map_location='cpu'))
    loader = DataLoader(dataset, batch_size=64, collate_fn=pseudo_collate)
    result['grad_in_gt_box'] = input_gradient_box_share(
        model, model.data_preprocessor, loader)
    save_result(work_dir, result)
    return result


def _test(key):
    return lambda run: run['test'].get(key)


def _last_pg_ratio(run):
    values = [e['pg_ratio'] for e in run['train'] if 'pg_ratio' in e]
    return values[-1] if values else None


def _percent(key):
    return lambda run: (100 * run[key]) if run.get(key) is not None else None


BENCHMARK = Benchmark(
    name='synth_wsol',
    title='Synthetic WSOL benchmark',
    variants=VARIANTS,
    metric_keys=('MaxBoxAccV2', 'MaxBoxAccV2@50', 'top1', 'CAMMassInBox'),
    select_key='MaxBoxAccV2',
    best_epoch=True,
    alpha_on_first_seed=True,
    columns=[
        Column('MaxBoxAccV2', _test('MaxBoxAccV2')),
        Column('per seed', _test('MaxBoxAccV2'), per_seed=True),
        Column('Δ vs CutMix, same seed', _test('MaxBoxAccV2'), paired=True),
        Column('MaxBoxAcc δ0.5', _test('MaxBoxAccV2@50')),
        Column('top-1', _test('top1')),
        Column('CAM mass in box', _test('CAMMassInBox')),
        Column('grad. in foreign box (%)', lambda r: r['grad_outside_share'],
               100),
        Column('grad. in GT box (%)', lambda r: r.get('grad_in_gt_box'),
               100),
        Column('α·L_PG/L_cls', _last_pg_ratio, 1, 2),
        Column('val MaxBoxAccV2', lambda r: r['val']['MaxBoxAccV2']),
        Column('epochs to best', lambda r: r['best_epoch']),
        Column('wall (s)', lambda r: r['wall_s'], 1, 0),
    ],
    panels=[
        Panel('MaxBoxAccV2', _test('MaxBoxAccV2')),
        Panel('top-1', _test('top1')),
        Panel('CAM mass in box (%)', _test('CAMMassInBox')),
        Panel('grad. in foreign box (%)', _percent('grad_outside_share')),
        Panel('grad. in GT box (%)', _percent('grad_in_gt_box')),
    ],
    out_dir='benchmark_synth_wsol',
    epochs=6,
    quick_epochs=1,
    alphas=(0.1, 0.3, 1.0, 3.0, 10.0),
    reference='cutmix',
    configure=configure,
    prepare=prepare,
    measure=measure,
    summarize_training=summarize_training,
    complete_cached=add_box_share,
)
