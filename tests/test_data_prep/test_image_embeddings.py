import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel

from provmm.data_prep.image_embeddings import ImageEmbedder, pool_features

TINY = dict(
    model=dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=512),
        data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3,
                               to_rgb=True)),
    test_pipeline=[dict(type='LoadImageFromFile'),
                   dict(type='Resize', scale=(32, 32)),
                   dict(type='PackInputs')])


def _images(tmp_path, count=3):
    paths = []
    for k in range(count):
        path = str(tmp_path / f'{k}.png')
        cv2.imwrite(path, np.random.default_rng(k).integers(
            0, 256, (20 + k, 24, 3), dtype=np.uint8))
        paths.append(path)
    return paths


def test_embeddings_equal_the_config_pipeline_and_extract_feat(tmp_path):
    """The config's test pipeline, data preprocessor and ``extract_feat``
    applied by hand give the same embeddings."""
    from mmengine.dataset import pseudo_collate

    from provmm.registry import MODELS, TRANSFORMS
    paths = _images(tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(TINY['model']).eval()
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'w.pth')
    embedder = ImageEmbedder(Config(TINY), str(tmp_path / 'w.pth'))
    got = embedder(paths, batch_size=2, progress=False)

    pipeline = [TRANSFORMS.build(t) for t in TINY['test_pipeline']]
    packed = []
    for path in paths:
        results = dict(img_path=path)
        for transform in pipeline:
            results = transform(results)
        packed.append(results)
    with torch.no_grad():
        inputs = model.data_preprocessor(pseudo_collate(packed),
                                         False)['inputs']
        expected = model.extract_feat(inputs)[-1].numpy()
    assert got.shape == (3, 512) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


class _ToyImageText(BaseModel):
    """Has CLIP's ``extract_feat(images, texts)`` and
    ``extract_image_feat``."""

    def extract_image_feat(self, images):
        return images.float().mean(dim=(2, 3))

    def extract_feat(self, images, texts):
        assert texts is None
        return self.extract_image_feat(images)

    def forward(self, *args, **kwargs):
        raise NotImplementedError


def test_image_text_models_are_called_without_texts(tmp_path):
    from provmm.registry import MODELS
    MODELS.register_module('ToyImageTextForEmbeddingTest', force=True,
                           module=_ToyImageText)
    cfg = Config(dict(TINY, model=dict(type='ToyImageTextForEmbeddingTest')))
    paths = _images(tmp_path, 2)
    got = ImageEmbedder(cfg)(paths, progress=False)
    # (B, C, H, W) images of 32x32, BGR as read: the mean colour per image
    expected = [cv2.resize(cv2.imread(p), (32, 32)).mean(axis=(0, 1))
                for p in paths]
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_pool_features_averages_space_or_tokens():
    tokens = torch.arange(6.).reshape(3, 2)  # (L, C)
    np.testing.assert_allclose(pool_features(tokens), [2, 3])
    np.testing.assert_allclose(pool_features((tokens[0], tokens)), [2, 3])
    spatial = torch.arange(24.).reshape(2, 3, 4)  # (C, H, W)
    np.testing.assert_allclose(pool_features(spatial), [5.5, 17.5])
    np.testing.assert_allclose(pool_features(torch.ones(4)), np.ones(4))
    with pytest.raises(ValueError, match=r'x\.png: cannot turn features '
                       r'of shape \(1, 1, 1, 1\) into an embedding'):
        pool_features(torch.zeros(1, 1, 1, 1), 'x.png')
