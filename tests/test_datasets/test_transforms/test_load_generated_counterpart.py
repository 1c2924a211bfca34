import csv

import cv2
import mmcv
import numpy as np
import pytest
import torch

from provmm.registry import TRANSFORMS


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    shapes = {'real/a.png': (16, 16), 'real/b.png': (16, 16),
              'gen/a-0.png': (24, 20), 'gen/a-1.png': (24, 20)}
    for name, (h, w) in shapes.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / name),
                    rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    with open(tmp_path / 'kept.csv', 'w', newline='') as f:
        csv.writer(f).writerows([['original', 'generated', 'label'],
                                 ['real/a.png', 'gen/a-0.png', 1],
                                 ['real/a.png', 'gen/a-1.png', 1],
                                 ['real/b.png', '', 0]])
    return tmp_path


def _load(path, label, size=(12, 10)):
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=size)]
    results = dict(img_path=str(path), gt_label=label)
    for cfg in pipeline:
        results = TRANSFORMS.build(cfg)(results)
    return results


def test_counterpart_from_the_manifest_is_resized_to_the_image(images):
    transform = TRANSFORMS.build(
        dict(type='LoadGeneratedCounterpart',
             manifest=str(images / 'kept.csv')))
    chosen = set()
    for _ in range(20):
        results = transform(_load(images / 'real' / 'a.png', 1))
        gen = results['gen_img']
        assert gen.dtype == torch.uint8 and gen.shape == (3, 10, 12)
        expected = mmcv.imresize(mmcv.imread(results['gen_img_path']),
                                 (12, 10))
        assert torch.equal(gen, torch.from_numpy(expected).permute(2, 0, 1))
        chosen.add(results['gen_img_path'])
    assert chosen == {str(images / 'gen' / 'a-0.png'),
                      str(images / 'gen' / 'a-1.png')}


def test_real_image_without_counterpart_gets_no_gen_img(images):
    transform = TRANSFORMS.build(
        dict(type='LoadGeneratedCounterpart',
             manifest=str(images / 'kept.csv')))
    assert 'gen_img' not in transform(_load(images / 'real' / 'b.png', 0))


def test_own_transforms_apply_to_the_counterpart_only(images):
    transform = TRANSFORMS.build(
        dict(type='LoadGeneratedCounterpart',
             transforms=[dict(type='RandomFlip', prob=1.,
                              direction='horizontal')]))
    results = _load(images / 'real' / 'a.png', 1)
    image = results['img'].copy()
    results['gen_img_path'] = str(images / 'gen' / 'a-0.png')
    results = transform(results)
    flipped = mmcv.imresize(mmcv.imread(images / 'gen' / 'a-0.png')[:, ::-1],
                            (12, 10))
    assert torch.equal(results['gen_img'],
                       torch.from_numpy(flipped).permute(2, 0, 1))
    assert np.array_equal(results['img'], image)


def test_label_disagreeing_with_the_manifest_is_an_error(images):
    transform = TRANSFORMS.build(
        dict(type='LoadGeneratedCounterpart',
             manifest=str(images / 'kept.csv')))
    with pytest.raises(ValueError, match='listed with label 1.*label 0'):
        transform(_load(images / 'real' / 'a.png', 0))


def test_packed_counterpart_reaches_the_data_sample(images):
    results = TRANSFORMS.build(
        dict(type='LoadGeneratedCounterpart',
             manifest=str(images / 'kept.csv')))(
                 _load(images / 'real' / 'a.png', 1))
    packed = TRANSFORMS.build(
        dict(type='PackInputs', algorithm_keys=('gen_img', )))(results)
    assert torch.equal(packed['data_samples'].gen_img, results['gen_img'])


@pytest.mark.parametrize('direction', ['horizontal', 'vertical'])
def test_aligned_counterpart_follows_the_image_flip(tmp_path, direction):
    # An edit of the image: the same pixels, so after both are flipped the
    # counterpart must equal the flipped image.
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'real.png'), image)
    cv2.imwrite(str(tmp_path / 'edit.png'), image)
    flip = TRANSFORMS.build(dict(type='ProvenanceRandomFlip', prob=1.0,
                                 direction=direction))
    results = flip(TRANSFORMS.build(dict(type='LoadImageFromFile'))(
        dict(img_path=str(tmp_path / 'real.png'),
             gen_img_path=str(tmp_path / 'edit.png'))))
    followed = TRANSFORMS.build(
        dict(type='LoadGeneratedCounterpart', follow_flip=True))(
            dict(results))
    flipped = torch.from_numpy(np.ascontiguousarray(
        mmcv.imflip(image, direction))).permute(2, 0, 1)
    assert torch.equal(followed['gen_img'], flipped)
    # Without follow_flip the counterpart keeps its own orientation.
    unfollowed = TRANSFORMS.build(dict(type='LoadGeneratedCounterpart'))(
        dict(results))
    assert torch.equal(unfollowed['gen_img'],
                       torch.from_numpy(image).permute(2, 0, 1))


def test_follow_flip_leaves_an_unflipped_image_alone(tmp_path):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'edit.png'), image)
    results = dict(img=image.copy(), flip=False,
                   gen_img_path=str(tmp_path / 'edit.png'))
    out = TRANSFORMS.build(
        dict(type='LoadGeneratedCounterpart', follow_flip=True))(results)
    assert torch.equal(out['gen_img'], torch.from_numpy(image).permute(2, 0, 1))
