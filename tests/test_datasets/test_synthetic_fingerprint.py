"""The synthesis-fingerprint task as a registered dataset with the
provenance pipeline's masks."""
import cv2
import numpy as np
import pytest

from provmm.datasets import SyntheticFingerprintDataset
from provmm.synthetic.fingerprint_task import render_edit
from provmm.synthetic import FingerprintTaskSpec, FingerprintEditSpec

GENERATOR = dict(num_images=dict(train=8, val=4, test=6))
TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProvenanceMask'),
    dict(type='PackProvenanceInputs'),
]


def test_train_adds_the_edits_with_their_exact_masks(tmp_path):
    root = str(tmp_path / 'fp')
    train = SyntheticFingerprintDataset(
        data_root=root, split='train', generator=GENERATOR,
        edits=dict(strength=1.), pipeline=TRAIN_PIPELINE)
    infos = [train.get_data_info(i) for i in range(len(train))]
    assert len(train) == 16 and train.metainfo['classes'] == ('triangle',
                                                              'plus')
    assert [i['is_edited'] for i in infos] == [False] * 8 + [True] * 8
    assert [i['group'] for i in infos[:8]] == [0, 1] * 4  # group = class
    task = FingerprintTaskSpec(**GENERATOR)
    for info in infos[8:]:
        index = int(info['img_path'][-9:-4])
        _, keep, label = render_edit(task, FingerprintEditSpec(), index)
        mask = cv2.imread(info['prov_mask_path'], cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(mask == 255, keep)
        assert info['gt_label'] == label and info['group'] == -1

    real, edited = train[0], train[8]
    assert real['inputs'].shape == (3, 32, 32)
    for sample in (real, edited):
        mask = sample['data_samples'].prov_mask
        assert tuple(mask.shape[-2:]) == (32, 32)
    assert real['data_samples'].prov_mask.min() == 1  # real: no penalty
    assert edited['data_samples'].prov_mask.min() == 0


def test_otsu_masks_come_from_the_shared_pipeline(tmp_path):
    train = SyntheticFingerprintDataset(
        data_root=str(tmp_path / 'fp'), split='train', generator=GENERATOR,
        edits=dict(strength=1.), mask_source='otsu',
        mask_options=dict(log_scale=True))
    info = train.get_data_info(8)
    assert '/masks/otsu_log_scale/' in info['prov_mask_path']


def test_val_and_test_are_real_only(tmp_path):
    root = str(tmp_path / 'fp')
    test = SyntheticFingerprintDataset(data_root=root, split='test',
                                       generator=GENERATOR)
    assert len(test) == 6
    assert not any(test.get_data_info(i)['is_edited'] for i in range(6))
    with pytest.raises(ValueError, match='edits are training data'):
        SyntheticFingerprintDataset(data_root=root, split='val',
                                    generator=GENERATOR, edits={})
