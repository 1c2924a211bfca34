import numpy as np
import pytest

from provmm.provenance.edit_mask import (DegenerateEditError,
                                         change_target_area, clean_target_mask,
                                         difference_image, mask_iou,
                                         otsu_provenance_mask)

H, W = 48, 64


def _original(seed=0, high=100):
    return np.random.default_rng(seed).integers(0, high, (H, W, 3),
                                                dtype=np.uint8)


def _edited_region():
    """Edited region: a rectangle and a disk (1 = edited)."""
    region = np.zeros((H, W), bool)
    region[5:20, 30:60] = True
    yy, xx = np.mgrid[:H, :W]
    region |= (yy - 34) ** 2 + (xx - 15) ** 2 <= 9 ** 2
    return region


def _edit(original, region, change=120):
    """Brighten the region by ``change`` grey levels (D = change there)."""
    edited = original.copy()
    edited[region] = original[region] + change
    return edited


def test_difference_image_is_channel_mean_of_absolute_difference():
    original, edited = _original(0, 256), _original(1, 256)
    expected = np.abs(edited.astype(np.int64) - original).mean(axis=2)
    np.testing.assert_allclose(difference_image(original, edited), expected,
                               atol=1e-4)


def test_otsu_mask_is_exact_on_a_known_edited_region():
    original = _original()
    region = _edited_region()
    mask = otsu_provenance_mask(original, _edit(original, region))
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, ~region)


def test_otsu_mask_is_exact_under_small_global_noise():
    original = _original()
    region = _edited_region()
    noise = np.random.default_rng(2).integers(-3, 4, (H, W, 3))
    edited = (_edit(original, region).astype(np.int64) + 3 + noise)
    mask = otsu_provenance_mask(original, edited.astype(np.uint8))
    np.testing.assert_array_equal(mask, ~region)
    log_mask = otsu_provenance_mask(original, edited.astype(np.uint8),
                                    log_scale=True)
    np.testing.assert_array_equal(log_mask, ~region)


def test_otsu_mask_of_float_images_in_unit_range():
    original = _original()
    region = _edited_region()
    edited = _edit(original, region)
    mask = otsu_provenance_mask(original / 255., edited / 255.)
    np.testing.assert_array_equal(mask, ~region)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        otsu_provenance_mask(original * 2., edited * 2.)


def _half_plane_pair():
    """Left half edited, except one unchanged pixel; one changed pixel in
    the right half."""
    original = _original()
    region = np.zeros((H, W), bool)
    region[:, :W // 2] = True
    edited = _edit(original, region)
    edited[20, 10] = original[20, 10]  # speck of target in the edit
    edited[30, 50] = original[30, 50] + 120  # speck of edit in the target
    return original, edited, region


def test_plain_mask_keeps_specks_that_blur_and_clean_remove():
    original, edited, region = _half_plane_pair()
    plain = otsu_provenance_mask(original, edited)
    assert plain[20, 10] == 1 and plain[30, 50] == 0
    for options in (dict(blur=3), dict(blur=5), dict(clean=3),
                    dict(blur=3, clean=3, log_scale=True)):
        refined = otsu_provenance_mask(original, edited, **options)
        np.testing.assert_array_equal(refined, ~region, err_msg=str(options))


def test_clean_target_mask_opens_then_closes():
    mask = np.zeros((H, W), np.uint8)
    mask[10:40, 10:40] = 1
    mask[20, 20] = 0  # hole: closed
    mask[5, 55] = 1  # speck: opened away
    expected = np.zeros((H, W), np.uint8)
    expected[10:40, 10:40] = 1
    # the 3x3 ellipse is a cross: opening also cuts the square's corners
    expected[[10, 10, 39, 39], [10, 39, 10, 39]] = 0
    np.testing.assert_array_equal(clean_target_mask(mask, 3), expected)


def _square(side, size=120):
    mask = np.zeros((size, size), np.uint8)
    start = (size - side) // 2
    mask[start:start + side, start:start + side] = 1
    return mask


@pytest.mark.parametrize('fraction', [0.1, -0.1, 0.3, -0.3])
def test_area_change_of_a_square_picks_the_closest_ring(fraction):
    side = 40
    goal = side ** 2 * (1 + fraction)
    # one 3x3 dilation/erosion turns a k x k square into (k +- 2) x (k +- 2)
    sides = np.arange(2, 120, 2) if side % 2 == 0 else np.arange(1, 120, 2)
    expected_side = int(sides[np.argmin(np.abs(sides ** 2 - goal))])
    changed = change_target_area(_square(side), fraction)
    np.testing.assert_array_equal(changed, _square(expected_side))


@pytest.mark.parametrize('fraction', [0.1, -0.1, 0.3, -0.3])
def test_area_change_of_a_blob_is_within_one_pixel_ring(fraction):
    yy, xx = np.mgrid[:120, :120]
    blob = (((yy - 60) / 30.) ** 2 + ((xx - 55) / 18.) ** 2 <= 1)
    blob |= (yy - 35) ** 2 + (xx - 70) ** 2 <= 12 ** 2
    blob = blob.astype(np.uint8)
    area = blob.sum()
    changed = change_target_area(blob, fraction)
    # one ring of the result: its boundary pixels (8-neighbourhood)
    padded = np.pad(changed, 1)
    neighbours_min = np.min([padded[1 + dy:1 + dy + 120, 1 + dx:1 + dx + 120]
                             for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
                            axis=0)
    boundary = int(((changed == 1) & (neighbours_min == 0)).sum())
    ring = boundary + 8  # the next outer ring is at most 8 pixels longer
    assert abs(int(changed.sum()) - area * (1 + fraction)) <= ring
    if fraction > 0:
        assert np.all(changed >= blob)
    else:
        assert np.all(changed <= blob)


def test_identical_images_are_degenerate():
    original = _original()
    with pytest.raises(DegenerateEditError, match='no change'):
        otsu_provenance_mask(original, original.copy())


def test_uniform_change_is_degenerate():
    original = _original()
    with pytest.raises(DegenerateEditError, match='uniform change'):
        otsu_provenance_mask(original, original + np.uint8(10))


def test_refinement_that_removes_the_whole_target_is_degenerate():
    original = _original()
    edited = original + np.uint8(120)
    edited[10, 10] = original[10, 10]  # the only unchanged pixel
    np.testing.assert_array_equal(
        otsu_provenance_mask(original, edited).nonzero(), ([10], [10]))
    with pytest.raises(DegenerateEditError, match='everything changed'):
        otsu_provenance_mask(original, edited, clean=3)


def test_impossible_area_changes_are_degenerate():
    with pytest.raises(DegenerateEditError, match='cannot dilate'):
        change_target_area(_square(110), 0.3)
    single = np.zeros((9, 9), np.uint8)
    single[4, 4] = 1
    with pytest.raises(DegenerateEditError, match='empty'):
        change_target_area(single, -0.9)


def test_size_and_channel_mismatch_is_refused_naming_both_shapes():
    original = _original()
    with pytest.raises(ValueError, match=r'\(48, 64, 3\).*\(24, 32, 3\)'):
        otsu_provenance_mask(original, original[::2, ::2].copy())
    with pytest.raises(ValueError, match=r'\(48, 64, 3\).*\(48, 64\)'):
        otsu_provenance_mask(original, original[..., 0].copy())
    with pytest.raises(ValueError, match='dtype'):
        otsu_provenance_mask(original, original.astype(np.float32))
    with pytest.raises(ValueError, match='aspect ratio'):
        otsu_provenance_mask(original, original[:, :32].copy(),
                             size=(32, 48))


def test_size_resizes_both_images_to_a_common_size():
    # a 2x2-block original halves exactly with area interpolation
    small = _original()[:24, :32]
    original = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    region = np.zeros((24, 32), bool)
    region[:, 20:] = True
    mask = otsu_provenance_mask(original, _edit(small, region),
                                size=(32, 24))
    np.testing.assert_array_equal(mask, ~region)


def test_mask_iou_of_overlapping_targets():
    a = np.zeros((4, 4), np.uint8)
    b = np.zeros((4, 4), np.uint8)
    a[:2] = 1  # 8 pixels
    b[1:3] = 255  # 8 pixels, 4 shared
    assert mask_iou(a, b) == pytest.approx(4 / 12)


def test_single_channel_images_with_and_without_channel_axis_match():
    original = _original()[..., 0]
    region = _edited_region()
    edited = _edit(original, region)[..., None]
    np.testing.assert_array_equal(otsu_provenance_mask(original, edited),
                                  ~region)
