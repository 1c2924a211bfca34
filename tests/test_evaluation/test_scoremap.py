"""CAM -> score map: bicubic resize, then min-max (docs/metrics/wsol.md)."""
import cv2
import numpy as np
import pytest
import torch

from provmm.evaluation.functional import (cam_to_scoremap, check_scoremap,
                                          normalize_scoremap,
                                          quantize_scoremap,
                                          scoremap_mass_in_mask)


def test_normalize_maps_min_to_zero_and_max_to_one():
    cam = np.array([[-2.0, 0.0], [2.0, 6.0]])
    np.testing.assert_array_equal(normalize_scoremap(cam),
                                  [[0.0, 0.25], [0.5, 1.0]])
    assert cam[0, 0] == -2.0  # input untouched


@pytest.mark.parametrize('cam', [np.full((3, 4), 7.5),
                                 np.array([[1.0, np.nan], [0.0, 2.0]])])
def test_constant_or_nan_maps_become_zeros(cam):
    out = normalize_scoremap(cam)
    assert out.shape == cam.shape and out.dtype == np.float64
    assert not out.any()


def test_cam_to_scoremap_resizes_bicubically_then_normalises():
    cam = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    resized = cv2.resize(np.array([[0.0, 1.0], [2.0, 3.0]]), (6, 4),
                         interpolation=cv2.INTER_CUBIC)
    expected = (resized - resized.min()) / (resized.max() - resized.min())
    out = cam_to_scoremap(cam, (6, 4))
    assert out.shape == (4, 6)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)
    assert out.min() == 0.0 and out.max() == 1.0


def test_quantize_floors_like_astype_uint8():
    scoremap = np.array([[0.0, 0.5, 1.0, 1 / 255 - 1e-12]])
    np.testing.assert_array_equal(quantize_scoremap(scoremap),
                                  [[0, 127, 255, 0]])


@pytest.mark.parametrize('scoremap, message', [
    ([[0.5]], 'numpy array'),
    (np.zeros((2, 2), np.int64), 'float'),
    (np.zeros((2, 2, 1)), '2-D'),
    (np.zeros((3, 2)), r'expected shape \(H, W\) = \(2, 2\)'),
    (np.array([[0.0, np.nan], [0, 0]]), 'NaN'),
    (np.array([[0.0, 1.5], [0, 0]]), r'\[0, 1\]'),
    (np.array([[0.0, -0.5], [0, 0]]), r'\[0, 1\]'),
])
def test_check_scoremap_names_the_map_and_the_problem(scoremap, message):
    with pytest.raises((TypeError, ValueError), match=message) as error:
        check_scoremap(scoremap, (2, 2), name='maps/a.npy')
    assert 'maps/a.npy' in str(error.value)


def test_mass_in_mask_is_the_share_of_the_sum():
    scoremap = np.array([[1.0, 3.0], [0.0, 0.0]])
    mask = np.array([[False, True], [True, True]])
    assert scoremap_mass_in_mask(scoremap, mask) == 0.75
    assert scoremap_mass_in_mask(np.zeros((2, 2)), mask) == 0.0
