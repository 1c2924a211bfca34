"""The provenance mask follows every geometric transform of the image.

The image encodes each pixel's source coordinates (channel 0 = x, channel 1 =
y) and the mask is a function of those coordinates. With nearest
interpolation for the image too, a transformed pixel holds the coordinates
it came from, so the transformed mask must equal the mask function applied to
the transformed image, pixel for pixel.
"""
import numpy as np
import pytest
from mmcv.transforms import CenterCrop, RandomFlip, Resize
from mmpretrain.datasets.transforms import (RandomCrop, RandomResizedCrop,
                                            ResizeEdge)

from provmm.datasets.transforms.provenance_geometry import resize_mask_nearest
from provmm.datasets.transforms import (ProvenanceCenterCrop,
                                        ProvenanceFixedCrop,
                                        ProvenanceRandomCrop,
                                        ProvenanceRandomFlip,
                                        ProvenanceRandomResizedCrop,
                                        ProvenanceResize,
                                        ProvenanceResizeEdge)

HEIGHT, WIDTH = 60, 80


def mask_of_coordinates(x, y):
    """An irregular 0/1 pattern of the source coordinates."""
    return (((x // 7) + (y // 5) + (x * y) % 3) % 2).astype(np.float32)


def coordinate_results():
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    img = np.stack([x, y, (x + y) % 256], axis=-1).astype(np.uint8)
    return dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                prov_mask=mask_of_coordinates(x, y))


def derived_mask(img):
    return mask_of_coordinates(img[..., 0].astype(np.int64),
                               img[..., 1].astype(np.int64))


def assert_mask_follows_image(results):
    assert results['prov_mask'].shape == results['img'].shape[:2]
    np.testing.assert_array_equal(results['prov_mask'],
                                  derived_mask(results['img']))


NEAREST_TRANSFORMS = [
    ProvenanceResize(scale=(50, 37), interpolation='nearest'),
    ProvenanceResize(scale=(173, 131), interpolation='nearest'),
    ProvenanceResize(scale=(50, 37), interpolation='nearest',
                     backend='pillow'),
    ProvenanceResize(scale=(64, 64), keep_ratio=True,
                     interpolation='nearest'),
    ProvenanceResizeEdge(scale=48, interpolation='nearest'),
    ProvenanceRandomResizedCrop(scale=32, interpolation='nearest'),
    ProvenanceRandomResizedCrop(scale=(40, 24), crop_ratio_range=(0.3, 0.6),
                                interpolation='nearest'),
    ProvenanceRandomCrop(crop_size=(31, 47)),
    ProvenanceCenterCrop(crop_size=(41, 29)),
    ProvenanceFixedCrop(top=10, left=3, height=40, width=70),
    ProvenanceRandomFlip(prob=1.0, direction='horizontal'),
    ProvenanceRandomFlip(prob=1.0, direction='vertical'),
    ProvenanceRandomFlip(prob=1.0, direction='diagonal'),
]


@pytest.mark.parametrize('transform', NEAREST_TRANSFORMS, ids=repr)
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_mask_follows_each_transform_exactly(transform, seed):
    np.random.seed(seed)
    results = transform(coordinate_results())
    assert_mask_follows_image(results)
    # the geometry was not the identity
    assert results['img'].shape[:2] != (HEIGHT, WIDTH) or not np.array_equal(
        results['img'], coordinate_results()['img'])


@pytest.mark.parametrize('seed', range(5))
def test_mask_follows_a_chain_of_random_transforms(seed):
    pipeline = [
        ProvenanceResizeEdge(scale=70, interpolation='nearest'),
        ProvenanceRandomResizedCrop(scale=48, interpolation='nearest'),
        ProvenanceRandomFlip(prob=0.5, direction=['horizontal', 'vertical']),
        ProvenanceCenterCrop(crop_size=40),
        ProvenanceResize(scale=(24, 24), interpolation='nearest'),
    ]
    np.random.seed(seed)
    results = coordinate_results()
    for transform in pipeline:
        results = transform(results)
    assert_mask_follows_image(results)


@pytest.mark.parametrize('ours, theirs', [
    (ProvenanceRandomResizedCrop(scale=32), RandomResizedCrop(scale=32)),
    (ProvenanceRandomCrop(crop_size=30), RandomCrop(crop_size=30)),
    (ProvenanceRandomFlip(prob=0.5), RandomFlip(prob=0.5)),
    (ProvenanceResize(scale=(50, 37)), Resize(scale=(50, 37))),
    (ProvenanceResizeEdge(scale=48), ResizeEdge(scale=48)),
    (ProvenanceCenterCrop(crop_size=33), CenterCrop(crop_size=33)),
], ids=lambda t: type(t).__name__)
def test_image_is_transformed_exactly_as_by_the_parent_transform(ours, theirs):
    for seed in range(4):
        np.random.seed(seed)
        expected = theirs(coordinate_results())
        np.random.seed(seed)
        results = ours(coordinate_results())
        np.testing.assert_array_equal(results['img'], expected['img'])
        assert results['img_shape'] == expected['img_shape']


def test_bilinear_image_keeps_a_binary_mask_at_the_image_size():
    np.random.seed(0)
    results = ProvenanceRandomResizedCrop(scale=57)(coordinate_results())
    results = ProvenanceResize(scale=(100, 90))(results)
    assert results['prov_mask'].shape == results['img'].shape[:2] == (90, 100)
    assert set(np.unique(results['prov_mask'])) <= {0.0, 1.0}


def test_flip_mirrors_the_mask():
    results = ProvenanceRandomFlip(prob=1.0)(coordinate_results())
    np.testing.assert_array_equal(
        results['prov_mask'], coordinate_results()['prov_mask'][:, ::-1])
    assert results['flip_direction'] == 'horizontal'


def test_transforms_without_a_mask_leave_results_without_one():
    results = coordinate_results()
    del results['prov_mask']
    results = ProvenanceRandomFlip(prob=1.0)(
        ProvenanceResize(scale=(20, 20))(results))
    assert 'prov_mask' not in results
    assert results['img'].shape[:2] == (20, 20)


def test_padding_is_refused_because_padded_pixels_have_no_provenance():
    with pytest.raises(ValueError, match='pad'):
        ProvenanceRandomCrop(crop_size=10, padding=2)
    with pytest.raises(ValueError, match='pad'):
        ProvenanceCenterCrop(crop_size=10, auto_pad=True)


def test_fixed_crop_outside_the_image_names_the_sizes():
    results = coordinate_results()
    results['img_path'] = 'x.jpg'
    with pytest.raises(ValueError, match='80x60'):
        ProvenanceFixedCrop(top=30, left=0, height=40, width=10)(results)


def test_fixed_crop_matches_torchvision_crop_arguments():
    results = ProvenanceFixedCrop(top=10, left=3, height=40, width=70)(
        coordinate_results())
    img = results['img']
    assert img.shape[:2] == (40, 70)
    assert (img[0, 0, 0], img[0, 0, 1]) == (3, 10)
    assert (img[-1, -1, 0], img[-1, -1, 1]) == (72, 49)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_nearest_mask_resize_keeps_soft_values(backend):
    mask = np.array([[0.0, 0.5], [1.0, 0.25]], np.float32)
    resized = resize_mask_nearest(mask, (4, 4), backend)
    assert resized.dtype == np.float32
    np.testing.assert_array_equal(resized, np.kron(mask, np.ones((2, 2))))
