"""The synthetic skeleton STAL benchmark as data for :mod:`.runner`: SKP,
SKP + Skeleton BatchMix and SKP + BatchMix + L_PG beside the controls of the
paper's Table 6 (random mask, unmasked; ``provenance_loss.mask_mode``), over
several seeds.

Every run trains its config from scratch, validates every epoch on the val
split (frame-AP) and tests the best epoch: frame-AP and video-AP at IoU 0.5
(ACT protocol), video top-1 and the share of the video class's score mass
on non-actor skeletons (:func:`non_actor_mass`). alpha of every penalised
variant is chosen on the first seed's val frame-AP.
"""
import os.path as osp
import pickle
from typing import Dict

import numpy as np
import torch

from provmm.benchmarks.runner import Benchmark, Column, Panel, Variant

# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------

DATA_ROOT = 'data/synth_stal'
QUICK_DATA_ROOT = 'data/synth_stal_quick'
# Per class: 16 train videos at batch 30 = 1 iteration per class pair.
QUICK_VIDEOS = dict(train=4, val=2, test=2)
LOADERS = ('train', 'val', 'test')


def _config(name: str) -> str:
    return f'provmm/synth_stal_{name}.py'


def _mask(mode: str) -> dict:
    return {'model.provenance_loss.mask_mode': mode}


PG = _config('skp_batchmix_pg')
VARIANTS = [
    Variant('skp', 'SKP', _config('skp')),
    Variant('batchmix', 'SKP + BatchMix', _config('skp_batchmix')),
    Variant('batchmix_pg', 'SKP + BatchMix + L_PG (paper)', PG,
            _mask('provenance'), True),
    Variant('batchmix_pg_auto',
            'SKP + BatchMix + L_PG, α auto (target ratio 0.2)', PG,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.2,
             'model.provenance_loss.ratio_update_iters': None}),
    Variant('batchmix_pg_auto_held',
            'SKP + BatchMix + L_PG, α auto (ratio 0.2, held)', PG,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.2,
             'model.provenance_loss.ratio_update_iters': 50}),
    Variant('batchmix_pg_auto_low',
            'SKP + BatchMix + L_PG, α auto (ratio 0.03, held)', PG,
            {'model.provenance_loss.loss_weight': 'auto',
             'model.provenance_loss.target_ratio': 0.03,
             'model.provenance_loss.ratio_update_iters': 50}),
    Variant('random_mask', 'BatchMix + random-mask penalty (control)', PG,
            _mask('random'), True),
    Variant('unmasked', 'BatchMix + unmasked penalty (control)', PG,
            _mask('unmasked'), True),
]


def configure(cfg, seed: int, quick: bool) -> None:
    """Point the evaluators at the ground truth of the loaders' data root
    (val: ``synth_stal_GT_val.pkl``, test: ``synth_stal_GT.pkl``);
    ``quick``: a few videos per class (one generator spec for every
    loader, so the task is generated once)."""
    from provmm.synthetic.skeleton_task import GT_FILE, GT_VAL_FILE
    for loader, gt in (('val', GT_VAL_FILE), ('test', GT_FILE)):
        root = cfg[f'{loader}_dataloader'].dataset.data_root
        for evaluator in cfg[f'{loader}_evaluator']:
            if 'gt_file' in evaluator:
                evaluator['gt_file'] = osp.join(root, gt)
    if quick:
        for loader in LOADERS:
            generator = cfg[f'{loader}_dataloader'].dataset.generator
            generator['num_per_class'] = dict(QUICK_VIDEOS)


def actor_slots(data_root: str) -> Dict[str, int]:
    """``{frame_dir: actor's person slot}`` from the generated pose file's
    ``synthetic`` records."""
    from provmm.synthetic.skeleton_task import POSE_FILE
    with open(osp.join(data_root, POSE_FILE), 'rb') as f:
        pose = pickle.load(f)
    return {ann['frame_dir']: int(ann['synthetic']['actor'])
            for ann in pose['annotations']}


def non_actor_mass_sums(probs, valid, label: int, actor: int,
                        person_inds=None) -> np.ndarray:
    """``[non-actor, all]`` sums of the class-``label`` scores ``probs``
    ``(P, T, K)`` over the valid instances ``(P, T)`` of one video; a
    person's slot is ``person_inds`` ``(P, T)`` (original slots, -1 for
    padding) or else its row ``p``."""
    probs, valid = np.asarray(probs), np.asarray(valid, bool)
    num_persons, num_frames = valid.shape
    slots = (np.asarray(person_inds) if person_inds is not None else
             np.broadcast_to(np.arange(num_persons)[:, None], valid.shape))
    mass = np.where(valid, probs[..., label], 0.)
    return np.array([mass[slots != actor].sum(), mass.sum()])


def non_actor_mass(model, dataloader, data_root: str) -> float:
    """Share of the video class's score mass on non-actor skeletons.

    For every test video of label ``c``: the sum of the class-``c`` scores
    (``pred_scores``, as the detections are scored) of the
    skeletons that are not the actor, over that sum on every skeleton,
    pooled over the videos. Scores spread evenly give the share of
    non-actor skeletons (about 0.56 here: 2-3 persons, the actor in every
    frame); 0 means only the actor carries its class.
    """
    actors = actor_slots(data_root)
    model.eval()
    sums = np.zeros(2)
    with torch.no_grad():
        for data in dataloader:
            for sample in model.test_step(data):
                frame_dir = str(sample.video_name).split('/')[-1]
                inds = sample.get('person_inds')
                sums += non_actor_mass_sums(
                    sample.pred_scores.cpu().numpy(),
                    sample.person_valid.cpu().numpy(),
                    int(sample.gt_label[0]), actors[frame_dir],
                    None if inds is None else inds.cpu().numpy())
    return float(sums[0] / max(sums[1], np.finfo(np.float64).tiny))


def measure(runner, cfg) -> dict:
    """The non-actor score mass of the tested model on the test split."""
    return dict(non_actor_mass=non_actor_mass(
        runner.model, runner.test_dataloader,
        cfg.test_dataloader.dataset.data_root))


def summarize_training(recorder, cfg) -> dict:
    """The per-epoch means of the logged losses and ``pg_*`` values."""
    return dict(train=recorder.train_epochs)


def _test(key, scale=1.0):
    def value(run):
        v = run['test'].get(key)
        return None if v is None else scale * v
    return value


def last_pg_ratio(run):
    """alpha*L_PG/L_cls: the mean over the last training epoch."""
    values = [e['pg_ratio'] for e in run['train'] if 'pg_ratio' in e]
    return values[-1] if values else None


def _mass(run):
    v = run.get('non_actor_mass')
    return None if v is None else 100 * v


BENCHMARK = Benchmark(
    name='synth_stal',
    title='Synthetic skeleton STAL benchmark',
    variants=VARIANTS,
    metric_keys=('frame_mAP', 'video_mAP', 'top1'),
    select_key='frame_mAP',
    best_epoch=True,
    alpha_on_first_seed=True,
    columns=[
        Column('frame-AP@0.5', _test('frame_mAP'), 100),
        Column('per seed', _test('frame_mAP'), 100, per_seed=True),
        Column('Δ vs BatchMix, same seed', _test('frame_mAP'), 100,
               paired=True),
        Column('video-AP@0.5', _test('video_mAP'), 100),
        Column('top-1', _test('top1')),
        Column('class score on non-actors (%)', _mass),
        Column('α·L_PG/L_cls', last_pg_ratio, 1, 3),
        Column('val frame-AP', lambda r: r['val']['frame_mAP'], 100),
        Column('epochs to best', lambda r: r['best_epoch']),
        Column('wall (s)', lambda r: r['wall_s'], 1, 0),
    ],
    panels=[
        Panel('frame-AP@0.5', _test('frame_mAP', 100)),
        Panel('video-AP@0.5', _test('video_mAP', 100)),
        Panel('top-1', _test('top1')),
        Panel('class score on non-actors (%)', _mass),
    ],
    out_dir='benchmark_synth_stal',
    epochs=30,
    quick_epochs=1,
    alphas=(1.0, 3.0, 10.0, 30.0),
    select_on='batchmix_pg',
    data_root=DATA_ROOT,
    quick_data_root=QUICK_DATA_ROOT,
    reference='batchmix',
    configure=configure,
    measure=measure,
    summarize_training=summarize_training,
)
