"""The built-in spurious-correlation benchmark: generator, edits, dataset."""
import csv
import hashlib
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from provmm.data_prep.provenance_manifest import load_provenance_manifest
from provmm.synthetic import (BackgroundEditSpec,
                                       SyntheticSpuriousSpec,
                                       ensure_background_edits,
                                       ensure_synthetic_spurious)
from provmm.synthetic.spurious_task import (render_sample,
                                                     split_groups)
from provmm.datasets.synthetic_spurious import (SyntheticSpuriousDataset,
                                                ensure_provenance_masks)
from provmm.provenance.edit_mask import mask_iou, otsu_provenance_mask

TINY = dict(num_images=dict(train=40, val=8, test=8))
NO_RERENDER = dict(jitter=0., blur_sigma=0., noise_std=0.)


def _digest(root):
    """sha1 of every file below ``root`` by relative path."""
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                digests[osp.relpath(path, root)] = hashlib.sha1(
                    f.read()).hexdigest()
    return digests


def _rgb(path):
    return cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]


def test_same_spec_gives_identical_files_and_another_seed_other_images(
        tmp_path):
    spec = SyntheticSpuriousSpec(**TINY)
    for root in ('a', 'b'):
        ensure_synthetic_spurious(str(tmp_path / root), spec)
        ensure_background_edits(str(tmp_path / root), spec,
                                BackgroundEditSpec(fraction=0.25))
    first, second = _digest(tmp_path / 'a'), _digest(tmp_path / 'b')
    assert len(first) == 40 + 8 + 8 + 2 * 10 + 4  # images, edits, csv/json
    assert first == second

    other = SyntheticSpuriousSpec(seed=1, **TINY)
    ensure_synthetic_spurious(str(tmp_path / 'c'), other)
    image = 'images/train/triangle/train_00000.png'
    assert _digest(tmp_path / 'c')[image] != first[image]


def test_train_correlation_is_exact_and_val_test_groups_are_balanced(
        tmp_path):
    spec = SyntheticSpuriousSpec(
        correlation=0.95, num_images=dict(train=200, val=40, test=80))
    root = str(tmp_path / 'task')
    ensure_synthetic_spurious(root, spec)
    with open(osp.join(root, 'metadata.csv')) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ['img_filename', 'y', 'split', 'place']
    for split_code, size in ((0, 200), (1, 40), (2, 80)):
        counts = np.zeros((2, 2), int)
        for row in rows:
            if int(row['split']) == split_code:
                counts[int(row['y']), int(row['place'])] += 1
        assert counts.sum() == size
        if split_code == 0:
            # 95 of each class's 100 images on "its" place, 5 on the other
            np.testing.assert_array_equal(counts, [[95, 5], [5, 95]])
        else:
            assert (counts == size // 4).all()


def test_edit_without_rerendering_differs_exactly_outside_the_foreground(
        tmp_path):
    spec = SyntheticSpuriousSpec(**TINY)
    root = str(tmp_path / 'task')
    ensure_synthetic_spurious(root, spec)
    folder = ensure_background_edits(
        root, spec, BackgroundEditSpec(fraction=0.25, **NO_RERENDER))
    pairs = load_provenance_manifest(osp.join(folder, 'manifest.csv'))
    assert len(pairs) == 10
    for pair in pairs:
        original, edited = _rgb(pair.original), _rgb(pair.edited)
        foreground = cv2.imread(pair.gt_mask, cv2.IMREAD_GRAYSCALE) == 255
        changed = (original != edited).any(axis=2)
        np.testing.assert_array_equal(changed, ~foreground)


def test_rerendering_also_changes_the_foreground_a_little(tmp_path):
    spec = SyntheticSpuriousSpec(**TINY)
    root = str(tmp_path / 'task')
    ensure_synthetic_spurious(root, spec)
    folder = ensure_background_edits(root, spec,
                                     BackgroundEditSpec(fraction=0.25))
    for pair in load_provenance_manifest(osp.join(folder, 'manifest.csv')):
        original = _rgb(pair.original).astype(int)
        edited = _rgb(pair.edited).astype(int)
        foreground = cv2.imread(pair.gt_mask, cv2.IMREAD_GRAYSCALE) == 255
        difference = np.abs(original - edited).mean(axis=2)
        assert difference[foreground].max() > 0  # not a perfect mask
        # but far less than the new background
        assert difference[foreground].mean() < \
            difference[~foreground].mean() / 3


def test_gt_mask_is_the_generators_foreground_and_edit_swaps_the_place(
        tmp_path):
    spec = SyntheticSpuriousSpec(**TINY)
    root = str(tmp_path / 'task')
    ensure_synthetic_spurious(root, spec)
    folder = ensure_background_edits(root, spec,
                                     BackgroundEditSpec(fraction=0.25))
    labels, places = split_groups(spec, 'train')
    for pair in load_provenance_manifest(osp.join(folder, 'manifest.csv')):
        index = int(osp.basename(pair.edited)[len('train_'):-len('.png')])
        sample = render_sample(spec, 'train', index, labels[index],
                               places[index])
        gt_mask = cv2.imread(pair.gt_mask, cv2.IMREAD_GRAYSCALE)
        assert set(np.unique(gt_mask)) <= {0, 255}
        np.testing.assert_array_equal(gt_mask == 255, sample.mask)
        assert pair.label == labels[index]
        assert int(pair.extra['place']) == 1 - places[index]
        assert int(pair.extra['group']) == 2 * pair.label + 1 - places[index]


def test_refined_otsu_masks_reach_iou_0_9_on_edits_without_rerendering(
        tmp_path):
    spec = SyntheticSpuriousSpec(**TINY)
    root = str(tmp_path / 'task')
    ensure_synthetic_spurious(root, spec)
    folder = ensure_background_edits(
        root, spec, BackgroundEditSpec(fraction=0.5, **NO_RERENDER))
    ious = []
    for pair in load_provenance_manifest(osp.join(folder, 'manifest.csv')):
        mask = otsu_provenance_mask(_rgb(pair.original), _rgb(pair.edited),
                                    log_scale=True)
        gt = cv2.imread(pair.gt_mask, cv2.IMREAD_GRAYSCALE)
        ious.append(mask_iou(mask, gt))
    assert np.mean(ious) >= 0.9


def test_cached_task_with_other_settings_is_refused(tmp_path):
    root = str(tmp_path / 'task')
    ensure_synthetic_spurious(root, SyntheticSpuriousSpec(**TINY))
    with pytest.raises(ValueError, match='correlation'):
        ensure_synthetic_spurious(
            root, SyntheticSpuriousSpec(correlation=0.9, **TINY))


@pytest.mark.parametrize('kwargs, message', [
    (dict(classes=('triangle', 'nonagon')), 'classes'),
    (dict(num_images=dict(train=40, val=6, test=8)), 'multiple of 4'),
    (dict(correlation=1.5), 'correlation'),
])
def test_bad_spec_is_refused_with_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticSpuriousSpec(**kwargs)


def test_dataset_adds_edits_with_their_masks_to_train_only(tmp_path):
    root = str(tmp_path / 'task')
    train = SyntheticSpuriousDataset(
        data_root=root, split='train', generator=TINY,
        edits=dict(fraction=0.25), mask_source='gt')
    infos = [train.get_data_info(i) for i in range(len(train))]
    edited = [info for info in infos if info['is_edited']]
    assert len(infos) == 40 + 10 and len(edited) == 10
    assert train.CLASSES == ('triangle', 'star')
    for info in edited:
        assert info['group'] == -1  # edited images carry no real group
        gt = cv2.imread(info['prov_mask_path'], cv2.IMREAD_GRAYSCALE)
        assert gt is not None and set(np.unique(gt)) <= {0, 255}
    assert all(info['prov_mask_path'] is None for info in infos
               if not info['is_edited'])

    test = SyntheticSpuriousDataset(data_root=root, split='test',
                                    generator=TINY)
    groups = [test.get_data_info(i)['group'] for i in range(len(test))]
    assert sorted(groups) == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match='edits are training data'):
        SyntheticSpuriousDataset(data_root=root, split='val', generator=TINY,
                                 edits=dict(fraction=0.25))


def test_otsu_masks_are_made_once_and_listed_in_their_manifest(tmp_path):
    root = str(tmp_path / 'task')
    spec = SyntheticSpuriousSpec(**TINY)
    ensure_synthetic_spurious(root, spec)
    folder = ensure_background_edits(root, spec,
                                     BackgroundEditSpec(fraction=0.25))
    manifest = ensure_provenance_masks(folder, 'otsu', dict(log_scale=True))
    assert manifest.endswith(osp.join('masks', 'otsu_log_scale',
                                      'manifest.csv'))
    pairs = load_provenance_manifest(manifest)
    assert len(pairs) == 10 and all(p.mask for p in pairs)
    stamp = os.path.getmtime(manifest)
    assert ensure_provenance_masks(folder, 'otsu',
                                   dict(log_scale=True)) == manifest
    assert os.path.getmtime(manifest) == stamp  # cached, not rewritten
