import hashlib
import os
import os.path as osp
from collections import Counter

import cv2
import numpy as np
import pytest

from provmm.datasets import SyntheticWSOLDataset, WSOLDataset
from provmm.synthetic import (DOMAIN_NAMES, SyntheticWSOLSpec,
                                       ensure_synthetic_wsol, render_split)
from provmm.datasets.wsol_metadata import load_wsol_metadata

TINY = dict(train=2, val=1, test=8)


def _tree_digest(root):
    digest = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                digest[osp.relpath(path, root)] = hashlib.sha1(
                    f.read()).hexdigest()
    return digest


def _read_backgrounds(root, split):
    with open(osp.join(root, 'metadata', split, 'backgrounds.txt')) as f:
        return dict((row.split(',')[0], int(row.split(',')[1]))
                    for row in f.read().split())


def test_generator_is_deterministic_given_its_seed(tmp_path):
    spec = SyntheticWSOLSpec(seed=3, num_per_class=dict(train=2, val=1))
    a = _tree_digest(ensure_synthetic_wsol(str(tmp_path / 'a'), spec))
    b = _tree_digest(ensure_synthetic_wsol(str(tmp_path / 'b'), spec))
    assert a == b and len(a) == 8 * 2 + 8 * 1 + 2 * 5 + 1
    other = SyntheticWSOLSpec(seed=4, num_per_class=dict(train=2, val=1))
    c = _tree_digest(ensure_synthetic_wsol(str(tmp_path / 'c'), other))
    assert a.keys() == c.keys() and a != c


def test_boxes_are_the_tight_box_of_the_pasted_object_pixels(tmp_path):
    spec = SyntheticWSOLSpec(num_per_class=dict(train=2))
    root = ensure_synthetic_wsol(str(tmp_path / 'synth'), spec)
    meta = load_wsol_metadata(osp.join(root, 'metadata', 'train'))
    for image_id, sample in render_split(spec, 'train'):
        # The image is the background with exactly the mask pixels replaced.
        expected = np.where(sample.mask[..., None], sample.object_rgb,
                            sample.background)
        np.testing.assert_array_equal(sample.image, expected)
        saved = cv2.cvtColor(cv2.imread(osp.join(root, 'images', image_id)),
                             cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(saved, sample.image)
        rows, cols = np.any(sample.mask, axis=1), np.any(sample.mask, axis=0)
        x0, x1 = np.flatnonzero(cols)[[0, -1]]
        y0, y1 = np.flatnonzero(rows)[[0, -1]]
        assert meta.boxes[image_id] == [(x0, y0, x1, y1)]
        # The object lies fully inside the image.
        assert 0 < x0 and 0 < y0 and x1 < 63 and y1 < 63


def test_metadata_round_trips_through_load_wsol_metadata(tmp_path):
    spec = SyntheticWSOLSpec(num_per_class=TINY)
    root = ensure_synthetic_wsol(str(tmp_path / 'synth'), spec)
    for split in TINY:
        meta = load_wsol_metadata(osp.join(root, 'metadata', split))
        rendered = list(render_split(spec, split))
        assert meta.image_ids == [image_id for image_id, _ in rendered]
        for image_id, sample in rendered:
            assert meta.class_labels[image_id] == sample.label
            assert meta.image_sizes[image_id] == (64, 64)
            assert meta.boxes[image_id] == [sample.box]
            assert image_id.split('/')[1] == spec.classes[sample.label]
        assert Counter(meta.class_labels.values()) == {
            c: TINY[split]
            for c in range(8)
        }


@pytest.mark.parametrize('bias', [0.75, 0.5])
def test_background_correlation_is_the_configured_rate_in_train_and_absent_in_test(  # noqa: E501
        tmp_path, bias):
    spec = SyntheticWSOLSpec(background_bias=bias,
                             num_per_class=dict(train=8, test=8))
    root = ensure_synthetic_wsol(str(tmp_path / 'synth'), spec)
    train = load_wsol_metadata(osp.join(root, 'metadata', 'train'))
    domains = _read_backgrounds(root, 'train')
    own = [domains[i] == train.class_labels[i] for i in train.image_ids]
    assert np.mean(own) == bias
    # The other domains are spread evenly: P(domain | class) has no
    # preferred off-class domain.
    off = Counter((train.class_labels[i], domains[i])
                  for i in train.image_ids
                  if domains[i] != train.class_labels[i])
    assert max(off.values()) - min(off.values()) <= 1

    test = load_wsol_metadata(osp.join(root, 'metadata', 'test'))
    domains = _read_backgrounds(root, 'test')
    cells = Counter((test.class_labels[i], domains[i]) for i in test.image_ids)
    assert set(cells.values()) == {1} and len(cells) == 8 * len(DOMAIN_NAMES)


def test_source_task_has_other_classes_and_no_background_correlation(
        tmp_path):
    spec = SyntheticWSOLSpec(task='source', num_per_class=dict(train=8))
    root = ensure_synthetic_wsol(str(tmp_path / 'source'), spec)
    assert not set(spec.classes) & set(SyntheticWSOLSpec().classes)
    meta = load_wsol_metadata(osp.join(root, 'metadata', 'train'))
    domains = _read_backgrounds(root, 'train')
    cells = Counter((meta.class_labels[i], domains[i]) for i in meta.image_ids)
    assert set(cells.values()) == {1} and len(cells) == 12 * 8


def _pipeline():
    return [
        dict(type='LoadImageFromFile'),
        dict(type='PackInputs',
             meta_keys=('img_path', 'img_id', 'ori_shape', 'gt_bboxes'))
    ]


def test_dataset_generates_on_first_use_and_carries_boxes(tmp_path):
    root = str(tmp_path / 'synth')
    generator = dict(seed=1, num_per_class=TINY)
    dataset = SyntheticWSOLDataset(root, 'test', generator=generator,
                                   pipeline=_pipeline())
    meta = load_wsol_metadata(osp.join(root, 'metadata', 'test'))
    assert len(dataset) == 8 * TINY['test'] and dataset.CLASSES[0] == 'disk'
    sample = dataset[5]['data_samples']
    image_id = meta.image_ids[5]
    assert sample.img_id == image_id
    assert sample.gt_label.item() == meta.class_labels[image_id]
    np.testing.assert_array_equal(sample.gt_bboxes, [meta.boxes[image_id][0]])
    # float64 so that int(coord * 224 / W) matches the reference exactly.
    assert sample.gt_bboxes.dtype == np.float64
    assert sample.ori_shape == (64, 64)
    # A second use reads the cache; other settings are refused, not reused.
    SyntheticWSOLDataset(root, 'val', generator=generator)
    with pytest.raises(ValueError, match='other settings.*seed'):
        SyntheticWSOLDataset(root, 'val', generator=dict(generator, seed=2))


def test_wsol_dataset_names_the_missing_image_folder(tmp_path):
    root = ensure_synthetic_wsol(
        str(tmp_path / 'synth'),
        SyntheticWSOLSpec(num_per_class=dict(test=8)))
    with pytest.raises(FileNotFoundError, match='no_such_dir'):
        WSOLDataset(root, 'test', image_dir='no_such_dir')
    with pytest.raises(FileNotFoundError, match="split 'val'"):
        WSOLDataset(root, 'val')
    os.remove(osp.join(root, 'images', 'test', 'disk', 'test_00000.png'))
    with pytest.raises(FileNotFoundError, match='1 of 64 images'):
        WSOLDataset(root, 'test')
