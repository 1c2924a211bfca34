"""The synthetic skeleton STAL benchmark as a dataset: generated on first
use, read by ``SkeletonSTALDataset`` like the real UCF101-24 skeletons,
with the actor's test-time person box equal to its ground truth box."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from provmm.datasets import SkeletonSTALDataset, SyntheticSkeletonSTALDataset
from provmm.registry import DATASETS
from provmm.synthetic.skeleton_task import (GT_FILE, GT_VAL_FILE, POSE_FILE,
                                            SyntheticSkeletonSpec)

TINY = dict(num_classes=3, num_per_class=dict(train=2, val=1, test=2),
            num_frames=(12, 16))


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('stal') / 'synth')
    SyntheticSkeletonSTALDataset(data_root=root, generator=TINY)
    return root


def _pose(root):
    with open(osp.join(root, POSE_FILE), 'rb') as f:
        return {a['frame_dir']: a for a in pickle.load(f)['annotations']}


def test_generated_files_load_through_the_real_dataset(root):
    sizes = {}
    for split, gt_file, parent_split in (('train', GT_FILE, 'train'),
                                         ('val', GT_VAL_FILE, 'test'),
                                         ('test', GT_FILE, 'test')):
        dataset = SkeletonSTALDataset(ann_file=POSE_FILE, gt_file=gt_file,
                                      split=parent_split, data_root=root)
        assert dataset.metainfo['classes'] == ('WaveArm', 'ArmsUpDown',
                                               'Jump')
        names = [dataset.get_data_info(i)['video_name']
                 for i in range(len(dataset))]
        assert all(f'_{split}_' in n for n in names)
        sizes[split] = len(dataset)
    assert sizes == dict(train=6, val=3, test=6)


@pytest.mark.parametrize('split', ['val', 'test'])
def test_actor_person_box_is_its_gt_box_on_its_segment(root, split):
    dataset = DATASETS.build(dict(type='SyntheticSkeletonSTALDataset',
                                  data_root=root, split=split,
                                  generator=TINY))
    assert dataset.test_mode and dataset.synthetic_split == split
    gt_file = GT_VAL_FILE if split == 'val' else GT_FILE
    assert dataset.gt_file == osp.join(root, gt_file)
    pose = _pose(root)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        meta = pose[info['frame_dir']]['synthetic']
        start, end = meta['segment']
        (tube, ) = dataset.gt['gttubes'][info['video_name']][
            info['gt_label']]
        np.testing.assert_array_equal(tube[:, 0], np.arange(start, end + 1))
        # Test mode keeps every person in its slot: the actor's boxes on the
        # segment frames are the ground truth boxes, bit for bit.
        boxes = info['person_boxes'][meta['actor'], start - 1:end]
        np.testing.assert_array_equal(boxes, tube[:, 1:])
        assert info['keypoint'].shape[0] == len(meta['roles'])


def test_train_split_is_weakly_labelled_and_packs(root):
    dataset = SyntheticSkeletonSTALDataset(
        data_root=root, split='train', generator=TINY,
        pipeline=[dict(type='SampleClip', clip_len=8),
                  dict(type='NormalizeKeypoints'),
                  dict(type='PackSkeletonInputs')])
    assert not dataset.test_mode and len(dataset) == 6
    info = dataset.get_data_info(0)
    assert 'person_boxes' not in info
    assert info['keypoint'].shape[0] == 2  # max_persons
    assert info['keypoint'].dtype == np.float32
    sample = dataset[0]
    assert sample['inputs'].shape == (2, 8, 17, 3)
    assert sample['inputs'].dtype == torch.float32
    assert int(sample['data_samples'].gt_label) == info['gt_label']
    assert 'Synthetic split: train' in repr(dataset)


def test_dataset_argument_errors(root):
    with pytest.raises(ValueError, match="split must be one of"):
        SyntheticSkeletonSTALDataset(data_root=root, split='valid',
                                     generator=TINY)
    with pytest.raises(ValueError, match='reads the files it generates'):
        SyntheticSkeletonSTALDataset(data_root=root, generator=TINY,
                                     gt_file='other.pkl')


def test_changed_generator_settings_regenerate(tmp_path, capsys):
    root = str(tmp_path / 'synth')
    SyntheticSkeletonSTALDataset(data_root=root, split='test',
                                 generator=TINY)
    assert 'first use, 15 videos' in capsys.readouterr().out
    SyntheticSkeletonSTALDataset(data_root=root, split='val', generator=TINY)
    assert capsys.readouterr().out == ''
    other = dict(TINY, seed=5)
    dataset = SyntheticSkeletonSTALDataset(data_root=root, split='test',
                                           generator=other)
    assert 'settings changed, 15 videos' in capsys.readouterr().out
    assert dataset.spec == SyntheticSkeletonSpec(**other)
