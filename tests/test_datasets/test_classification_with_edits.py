"""Edited images join the training split with their provenance masks."""
import os.path as osp

import numpy as np
import pytest
import torch
from fake_classification_data import (IMAGE_HEIGHT, IMAGE_WIDTH, data_infos,
                                      edit_mask, write_edit_manifest,
                                      write_waterbirds)

from provmm.datasets import WaterbirdsDataset
from provmm.datasets.classification_with_edits import select_edited_pairs
from provmm.data_prep.provenance_manifest import ProvenancePair


def waterbirds(*args, **kwargs):
    """The dataset, unserialised (serialising runs a slow gc.collect)."""
    return WaterbirdsDataset(*args, serialize_data=False, **kwargs)

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadProvenanceMask'),
    dict(type='ProvenanceResize', scale=(2 * IMAGE_WIDTH, 2 * IMAGE_HEIGHT)),
    dict(type='PackProvenanceInputs'),

]
REAL_ROWS = [('001.A', 0, 0, 0), ('002.B', 1, 0, 1), ('001.A', 0, 1, 0)]


def _pairs(n):
    return [
        ProvenancePair(f'o{i}', f'e{i}', i % 2, mask=f'm{i}', line_no=i + 2)
        for i in range(n)
    ]


@pytest.fixture
def waterbirds_with_edits(tmp_path):
    root = write_waterbirds(str(tmp_path / 'wb'), REAL_ROWS)
    manifest = write_edit_manifest(str(tmp_path / 'alia'), [1, 0, 1, 0])
    return root, manifest


def test_edits_are_appended_with_label_mask_and_no_group(
        waterbirds_with_edits):
    root, manifest = waterbirds_with_edits
    dataset = waterbirds(root, 'train', edited_manifest=manifest,
                                num_edited=3)
    assert len(dataset) == 2 + 3
    real, edited = data_infos(dataset)[:2], data_infos(dataset)[2:]
    assert [d['prov_mask_path'] for d in real] == [None, None]
    assert not any(d['is_edited'] for d in real)
    folder = osp.dirname(manifest)
    assert [d['img_path'] for d in edited] == [
        osp.join(folder, 'edits', f'e{i}.png') for i in range(3)]
    assert [d['prov_mask_path'] for d in edited] == [
        osp.join(folder, 'masks', f'm{i}.png') for i in range(3)]
    assert [d['gt_label'] for d in edited] == [1, 0, 1]
    assert [d['group'] for d in edited] == [-1, -1, -1]


def test_pipeline_gives_real_images_all_ones_and_edits_their_mask(
        waterbirds_with_edits):
    root, manifest = waterbirds_with_edits
    dataset = waterbirds(root, 'train', edited_manifest=manifest,
                                pipeline=PIPELINE)
    real = dataset[0]['data_samples']
    assert real.prov_mask.shape == (2 * IMAGE_HEIGHT, 2 * IMAGE_WIDTH)
    assert bool((real.prov_mask == 1).all())
    assert real.group == 0
    for i in range(4):
        sample = dataset[2 + i]['data_samples']
        expected = np.kron(edit_mask(i) == 255, np.ones((2, 2)))
        torch.testing.assert_close(sample.prov_mask,
                                   torch.from_numpy(expected).float())
        assert sample.group == -1


def test_more_edits_than_the_manifest_lists_is_an_error(
        waterbirds_with_edits):
    root, manifest = waterbirds_with_edits
    with pytest.raises(ValueError, match='num_edited=5.*only 4'):
        waterbirds(root, 'train', edited_manifest=manifest,
                          num_edited=5)


def test_manifest_without_masks_names_the_line(tmp_path):
    root = write_waterbirds(str(tmp_path / 'wb'), REAL_ROWS)
    manifest = write_edit_manifest(str(tmp_path / 'alia'), [1, 0],
                                   with_masks=False)
    with pytest.raises(ValueError, match=r'manifest.csv:2: no provenance '):
        waterbirds(root, 'train', edited_manifest=manifest)


def test_edit_label_outside_the_classes_names_the_line(tmp_path):
    root = write_waterbirds(str(tmp_path / 'wb'), REAL_ROWS)
    manifest = write_edit_manifest(str(tmp_path / 'alia'), [1, 2])
    with pytest.raises(ValueError, match=r'manifest.csv:3: label 2'):
        waterbirds(root, 'train', edited_manifest=manifest)


def test_edits_are_refused_outside_the_training_split(waterbirds_with_edits):
    root, manifest = waterbirds_with_edits
    with pytest.raises(ValueError, match='training data'):
        waterbirds(root, 'val', edited_manifest=manifest)
    with pytest.raises(ValueError, match='needs an edited_manifest'):
        waterbirds(root, 'train', num_edited=3)


def test_first_selection_takes_the_first_rows():
    pairs = _pairs(6)
    assert select_edited_pairs(pairs, 4) == pairs[:4]
    assert select_edited_pairs(pairs, None) == pairs
    assert select_edited_pairs(pairs, 0) == []


def test_random_selection_is_seeded_distinct_and_in_manifest_order():
    pairs = _pairs(50)
    chosen = select_edited_pairs(pairs, 10, 'random', seed=3)
    assert chosen == select_edited_pairs(pairs, 10, 'random', seed=3)
    assert chosen != select_edited_pairs(pairs, 10, 'random', seed=4)
    lines = [p.line_no for p in chosen]
    assert len(set(lines)) == 10 and lines == sorted(lines)


def test_bad_selection_arguments_are_refused():
    with pytest.raises(ValueError, match='edited_selection'):
        select_edited_pairs(_pairs(3), 2, 'last')
    with pytest.raises(ValueError, match='num_edited'):
        select_edited_pairs(_pairs(3), -1)
