"""MaxBoxAcc on hand-built maps whose contours, boxes and IoUs are derived
by hand below (docs/metrics/wsol.md: box = (x, y, x + w, y + h) clipped to
W - 1, H - 1, inclusive "+1" IoU, every contour including holes)."""
import numpy as np
import pytest

from provmm.evaluation.functional import (best_contour_box, cam_thresholds,
                                          cam_to_scoremap, check_scoremap,
                                          correct_per_level,
                                          count_correct_per_threshold,
                                          iou_fractions,
                                          largest_contour_correct_per_level,
                                          max_box_accuracy,
                                          normalize_scoremap,
                                          threshold_levels)
from provmm.evaluation.functional.wsol_reference import reference_best_ious

IOUS = [30, 50, 70]
SIZE = 12


def _blank():
    return np.zeros((SIZE, SIZE))


def blob_map():
    """4x4 blob at x 2..5, y 3..6: its contour box is (2, 3, 6, 7)."""
    m = _blank()
    m[3:7, 2:6] = 1.0
    return m


def ring_map():
    """Ring x, y in 2..9 around a 4x4 hole at x, y in 4..7.

    Outer contour: box (2, 2, 10, 10). Hole contour: hole bbox grown by one,
    rect (3, 3, 6, 6), box (3, 3, 9, 9).
    """
    m = _blank()
    m[2:10, 2:10] = 1.0
    m[4:8, 4:8] = 0.0
    return m


def _evaluate(maps, boxes, interval=0.01, largest=False):
    thresholds = cam_thresholds(interval)
    fractions = iou_fractions(IOUS)
    levels, tables = [], []
    for scoremap, gt in zip(maps, boxes):
        if largest:
            level, table = largest_contour_correct_per_level(
                scoremap, gt, fractions, thresholds)
        else:
            level, table = correct_per_level(scoremap, gt, fractions)
        levels.append(level)
        tables.append(table)
    counts = count_correct_per_threshold(levels, np.stack(tables),
                                         thresholds)
    accuracy, best = max_box_accuracy(counts, len(maps), thresholds)
    return counts, accuracy, best


def test_blob_box_is_one_pixel_too_large_so_iou_is_16_over_25():
    # box (2,3,6,7) covers 5x5 = 25 pixels, GT (2,3,5,6) 16, overlap 16:
    # IoU 0.64 -> correct at 0.3 and 0.5, not 0.7, at every threshold
    counts, accuracy, _ = _evaluate([blob_map()], [[[2, 3, 5, 6]]])
    np.testing.assert_array_equal(accuracy, [100.0, 100.0, 0.0])
    assert (counts[:, 0] == 1).all() and (counts[:, 2] == 0).all()


def test_hole_contours_count_in_all_contour_mode():
    # GT (3,3,8,8) (36 px): hole box (3,3,9,9) (49 px) -> IoU 36/49 = 0.73;
    # outer box (2,2,10,10) (81 px) -> 36/81 = 0.44
    _, accuracy, _ = _evaluate([ring_map()], [[[3, 3, 8, 8]]])
    np.testing.assert_array_equal(accuracy, [100.0, 100.0, 100.0])


def test_largest_contour_uses_the_outer_ring_not_the_hole():
    # contourArea: outer polygon (2,2)-(9,9) = 49 > hole polygon
    # (3,3)-(8,8) = 25, so V1 sees only IoU 36/81 = 0.44
    _, accuracy, _ = _evaluate([ring_map()], [[[3, 3, 8, 8]]], largest=True)
    np.testing.assert_array_equal(accuracy, [100.0, 0.0, 0.0])


def test_boxes_touching_the_border_are_clipped():
    # blob x 6..11, y 8..11: rect (6, 8, 6, 4) -> x + w = 12 clipped to 11,
    # y + h = 12 clipped to 11, so the box equals the GT: IoU 1
    m = _blank()
    m[8:12, 6:12] = 1.0
    _, accuracy, _ = _evaluate([m], [[[6, 8, 11, 11]]])
    np.testing.assert_array_equal(accuracy, [100.0, 100.0, 100.0])


@pytest.mark.parametrize('raw', [np.full((SIZE, SIZE), 0.4),
                                 np.where(np.eye(SIZE) > 0, np.nan, 0.5)])
def test_constant_and_nan_maps_give_the_box_0000(raw):
    # normalised to zeros: no contour at any level -> box (0,0,0,0), one
    # pixel; IoU 1 with GT (0,0,0,0) and 1/4 with GT (0,0,1,1)
    scoremap = normalize_scoremap(raw)
    _, hit, _ = _evaluate([scoremap], [[[0, 0, 0, 0]]])
    _, miss, _ = _evaluate([scoremap], [[[0, 0, 1, 1]]])
    np.testing.assert_array_equal(hit, [100.0, 100.0, 100.0])
    np.testing.assert_array_equal(miss, [0.0, 0.0, 0.0])


def test_best_iou_is_taken_over_several_gt_boxes():
    _, accuracy, _ = _evaluate([blob_map()],
                               [[[8, 8, 11, 11], [2, 3, 5, 6]]])
    np.testing.assert_array_equal(accuracy, [100.0, 100.0, 0.0])


def test_threshold_maps_to_level_int_t_times_uint8_max():
    # blob A = 1.0 (level 255), blob B = 0.5 (level 127). B is in the binary
    # map q > int(t * 255) iff int(t * 255) < 127, i.e. t <= 0.49 on the
    # 0.01 grid (0.49 * 255 = 124.95, 0.50 * 255 = 127.5 -> 127)
    m = _blank()
    m[0:3, 0:3] = 1.0
    m[7:11, 7:11] = 0.5
    counts, _, _ = _evaluate([m], [[[7, 7, 10, 10]]])  # GT on B: IoU 0.64
    np.testing.assert_array_equal(counts[:, 1], [1] * 50 + [0] * 50)
    np.testing.assert_array_equal(threshold_levels([0.49, 0.5], 255),
                                  [124, 127])


def test_one_threshold_for_the_whole_split():
    # image 1 correct (δ 0.5) at every t, image 2 only for t <= 0.49, image 3
    # never: the best threshold (first of the max) is 0 with 2 of 3 correct
    two_level = _blank()
    two_level[0:3, 0:3] = 1.0
    two_level[7:11, 7:11] = 0.5
    _, accuracy, best = _evaluate(
        [blob_map(), two_level, normalize_scoremap(_blank())],
        [[[2, 3, 5, 6]], [[7, 7, 10, 10]], [[0, 0, 1, 1]]])
    assert accuracy[1] == 2 * 100. / 3
    assert best[1] == 0.0


@pytest.mark.parametrize('name, run', [
    ('largest_contour_correct_per_level', lambda m, gt: (
        largest_contour_correct_per_level(m, gt, iou_fractions(IOUS),
                                          cam_thresholds(0.1)))),
    ('correct_per_level', lambda m, gt: correct_per_level(
        m, gt, iou_fractions(IOUS))),
    ('check_scoremap', lambda m, gt: check_scoremap(m, name='score map')),
])
@pytest.mark.parametrize('bad, message', [
    (np.nan, 'score map contains NaN'),
    (1.5, r'score map values must lie in \[0, 1\]'),
])
def test_every_evaluator_refuses_a_bad_map_with_one_message(name, run, bad,
                                                            message):
    # a NaN map used to pass largest_contour_correct_per_level unnoticed
    scoremap = blob_map()
    scoremap[0, 0] = bad
    with pytest.raises(ValueError, match=r'^score map( 0)?: ' + message):
        run(scoremap, [[2, 3, 5, 6]])


def test_best_contour_box_is_the_box_the_reference_credits():
    # ring, GT (3,3,8,8): the hole box (3,3,9,9) beats the outer box
    box, iou = best_contour_box(ring_map(), [[3, 3, 8, 8]], 0.5)
    assert box.tolist() == [3, 3, 9, 9] and iou == pytest.approx(36 / 49)
    # above the maximum there is no contour: the reference's (0, 0, 0, 0)
    box, iou = best_contour_box(np.zeros((SIZE, SIZE)), [[0, 0, 1, 1]], 0.5)
    assert box.tolist() == [0, 0, 0, 0] and iou == 0.25
    rng = np.random.default_rng(0)
    for _ in range(5):
        scoremap = cam_to_scoremap(rng.standard_normal((4, 4)), (SIZE, SIZE))
        gt = [[1, 2, 7, 9], [6, 0, 11, 4]]
        for t in (0.0, 0.3, 0.77):
            _, iou = best_contour_box(scoremap, gt, t)
            assert iou == reference_best_ious(scoremap, gt, [t])[0]
