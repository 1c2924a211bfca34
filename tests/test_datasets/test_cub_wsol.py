"""CUB-200-2011 WSOL dataset on the real wsolevaluation metadata."""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from provmm.datasets import CUBWSOLDataset
from provmm.datasets.wsol_metadata import load_wsol_metadata

METADATA = osp.join(osp.dirname(__file__), '..', '..', 'metadata', 'wsol',
                    'CUB')


def _fake_images(root, image_ids):
    for image_id in image_ids:
        path = osp.join(root, 'images', image_id)
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, np.zeros((2, 2, 3), np.uint8))


def test_cub_val_split_reads_every_image_with_its_box(tmp_path):
    meta = load_wsol_metadata(osp.join(METADATA, 'val'))
    _fake_images(tmp_path, meta.image_ids)
    ds = CUBWSOLDataset(data_root=str(tmp_path), metadata_root=METADATA,
                        split='val', lazy_init=False)
    assert len(ds) == 1000
    assert len(ds.metainfo['classes']) == 200
    info = ds.get_data_info(0)
    image_id = meta.image_ids[0]
    assert info['img_id'] == image_id
    assert info['gt_label'] == meta.class_labels[image_id]
    np.testing.assert_array_equal(info['gt_bboxes'],
                                  np.asarray(meta.boxes[image_id]))
    w, h = meta.image_sizes[image_id]
    assert info['ori_shape'] == (h, w)


def test_missing_cub_images_say_where_to_put_the_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match='CUB-200-2011'):
        CUBWSOLDataset(data_root=str(tmp_path / 'nowhere'),
                       metadata_root=METADATA, split='test')
    meta = load_wsol_metadata(osp.join(METADATA, 'val'))
    _fake_images(tmp_path, meta.image_ids[3:])
    with pytest.raises(FileNotFoundError) as error:
        CUBWSOLDataset(data_root=str(tmp_path), metadata_root=METADATA,
                       split='val')
    message = str(error.value)
    assert 'CUBWSOLDataset: 3 of 1000 images listed in ' in message
    assert 'val/image_ids.txt are missing, first: ' + ', '.join(
        osp.join(str(tmp_path), 'images', i)
        for i in meta.image_ids[:3]) in message
    assert 'CUB-200-2011' in message and '<data_root>/images/' in message


@pytest.mark.parametrize('split, size', [('train', 5994), ('val', 1000),
                                         ('test', 5794)])
def test_the_shipped_metadata_passes_every_check(split, size):
    # every real box lies in [0, W - 1] x [0, H - 1]; 498 of the 12,788
    # end on W - 1 or H - 1, none on W or H
    meta = load_wsol_metadata(osp.join(METADATA, split))
    assert len(meta.image_ids) == size
    assert all(len(meta.boxes[i]) == 1 for i in meta.image_ids)
    on_edge = sum(b[2] == meta.image_sizes[i][0] - 1
                  or b[3] == meta.image_sizes[i][1] - 1
                  for i in meta.image_ids for b in meta.boxes[i])
    assert on_edge == {'train': 244, 'val': 55, 'test': 199}[split]


def test_image_ids_leaving_the_image_folder_are_refused(tmp_path):
    metadata = tmp_path / 'metadata'
    shutil.copytree(osp.join(METADATA, 'val'), metadata / 'val')
    path = metadata / 'val' / 'image_ids.txt'
    lines = path.read_text().splitlines()
    evil = '../' + lines[1]
    path.write_text('\n'.join([lines[0], evil] + lines[2:]) + '\n')
    os.makedirs(tmp_path / 'images')
    with pytest.raises(ValueError, match=(
            r'image_ids.txt:2: image id \'\.\./.*\' must be a non-empty '
            'relative path inside its root folder')):
        CUBWSOLDataset(data_root=str(tmp_path), metadata_root=str(metadata),
                       split='val')


def test_cub_classification_checks_its_images_at_build_too(tmp_path):
    from fake_classification_data import write_cub

    from provmm.datasets import CUBClassificationDataset
    root = write_cub(str(tmp_path), [(1, 1), (2, 1), (3, 0)])
    os.remove(osp.join(root, 'images', '002.Bird_2', 'Bird_2_2.jpg'))
    with pytest.raises(FileNotFoundError, match=(
            r'CUBClassificationDataset: 1 of 2 images listed in .*images.txt '
            r'are missing, first: .*Bird_2_2.jpg; Download CUB_200_2011')):
        CUBClassificationDataset(root, 'train')


def test_cub_configs_build_the_cub_dataset_or_say_where_it_goes():
    from mmengine.config import Config
    from provmm.registry import DATASETS
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', '..',
                                   'configs', 'provmm', 'wsol_cub_vgg16.py'))
    assert cfg.model.provenance_loss.loss_weight == 0.05
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.train_cfg.max_epochs == 15
    with pytest.raises(FileNotFoundError, match='data/CUB_200_2011'):
        DATASETS.build(cfg.test_dataloader.dataset)
