"""CUB-200-2011 WSOL dataset on the real wsolevaluation metadata."""
import os.path as osp

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
        if not osp.isdir(osp.dirname(path)):
            import os
            os.makedirs(osp.dirname(path))
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
    _fake_images(tmp_path, meta.image_ids[1:])
    with pytest.raises(FileNotFoundError,
                       match=r'1 of 1000 images .* missing.*'
                       + meta.image_ids[0].split('/')[1]):
        CUBWSOLDataset(data_root=str(tmp_path), metadata_root=METADATA,
                       split='val')


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
