"""A tiny CutMix classifier config on 8 generated 16 px images, and random
checkpoints of it (for the guidance-figure tests)."""
import os
import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from provmm.registry import MODELS

CONFIG = """
default_scope = 'provmm'
custom_imports = dict(imports=['provmm'], allow_failed_imports=False)
model = dict(
    type='ProvenanceImageClassifier',
    backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=4,
                  base_channels=4, num_stages=2, strides=(1, 2),
                  dilations=(1, 1), out_indices=(1, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=8,
              loss=dict(type='CrossEntropyLoss', use_soft=True)))
data_preprocessor = dict(
    type='ProvenanceMixBatchAugment', num_classes=2, mean=[127.5] * 3,
    std=[64.0] * 3, to_rgb=True,
    augments=[dict(type='ProvenanceCutMix', alpha=1.0)], probs=[1.0])
train_dataloader = dict(
    batch_size=4,
    dataset=dict(type='mmpretrain.CustomDataset', data_root={root!r},
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='PackInputs')]))
"""


def write_tiny_config(folder: str) -> str:
    """Two class folders of 4 random images each, and the config reading
    them; returns the config's path."""
    rng = np.random.default_rng(0)
    root = osp.join(folder, 'images')
    for label in ('left', 'right'):
        os.makedirs(osp.join(root, label))
        for i in range(4):
            image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            assert cv2.imwrite(osp.join(root, label, f'{i}.png'), image)
    path = osp.join(folder, 'tiny_cutmix.py')
    with open(path, 'w') as f:
        f.write(CONFIG.format(root=root))
    return path


def write_tiny_checkpoint(config: str, path: str, seed: int) -> str:
    """A checkpoint of ``config``'s model with PyTorch's random initial
    weights (``seed``)."""
    cfg = Config.fromfile(config)
    init_default_scope('provmm')
    torch.manual_seed(seed)
    model = MODELS.build(dict(cfg.model,
                              data_preprocessor=cfg.data_preprocessor))
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
    return path
