"""Box resizing and the inclusive "+1" IoU of the wsolevaluation protocol."""
import numpy as np
import pytest

from provmm.datasets.wsol_metadata import WSOLMetadata
from provmm.evaluation.functional import box_iou, boxes_to_mask, resize_boxes


def test_resize_boxes_truncates_coord_times_new_over_old():
    # CUB test image 0: 500 x 335, box (60, 27, 385, 331) -> 224 x 224:
    # 60*224/500 = 26.88 -> 26, 27*224/335 = 18.05 -> 18,
    # 385*224/500 = 172.48 -> 172, 331*224/335 = 221.32 -> 221
    got = resize_boxes([[60.0, 27.0, 385.0, 331.0]], (500, 335), (224, 224))
    np.testing.assert_array_equal(got, [[26, 18, 172, 221]])
    assert got.dtype == np.int64


def test_resize_boxes_multiplies_before_dividing_like_the_reference():
    # x = 111 in a 888-wide image: (111 * 224) / 888 = 28 exactly, whereas
    # 111 * (224 / 888) = 27.999999999999996 would truncate to 27
    assert resize_boxes([[111, 0, 111, 0]], (888, 1), (224, 1))[0, 0] == 28


def test_metadata_boxes_resize_like_the_reference():
    meta = WSOLMetadata('root', ['a'], {'a': 0}, {'a': (500, 335)},
                        {'a': [(60.0, 27.0, 385.0, 331.0), (0, 0, 499, 334)]})
    resized = resize_boxes(meta.boxes['a'], meta.image_sizes['a'], (224, 224))
    assert resized.tolist() == [[26, 18, 172, 221], [0, 0, 223, 223]]


@pytest.mark.parametrize('boxes, message', [
    ([[1, 2, 3]], 'shape'),
    ([[-1, 0, 3, 3]], 'non-negative'),
    ([[4, 0, 3, 3]], 'x0 <= x1'),
])
def test_bad_boxes_are_refused(boxes, message):
    with pytest.raises(ValueError, match=message):
        resize_boxes(boxes, (10, 10), (5, 5))


def test_box_iou_counts_pixels_inclusively():
    # (0,0,1,1) covers 4 pixels, (1,1,2,2) covers 4, they share pixel (1,1)
    assert box_iou([[0, 0, 1, 1]], [[1, 1, 2, 2]])[0, 0] == 1 / 7
    # a single pixel equals itself
    assert box_iou([[5, 5, 5, 5]], [[5, 5, 5, 5]])[0, 0] == 1.0
    # touching edges do not overlap: x1 = 1 and x0 = 2
    assert box_iou([[0, 0, 1, 1]], [[2, 0, 3, 1]])[0, 0] == 0.0


def test_box_iou_is_pairwise():
    a = [[0, 0, 9, 9], [0, 0, 4, 9]]
    b = [[0, 0, 9, 9], [5, 0, 9, 9], [0, 0, 4, 4]]
    expected = [[1.0, 50 / 100, 25 / 100],
                [50 / 100, 0.0, 25 / 50]]
    np.testing.assert_array_equal(box_iou(a, b), expected)


def test_boxes_to_mask_covers_inclusive_corners_and_clips():
    mask = boxes_to_mask([[1, 1, 2, 3], [3, 0, 9, 0]], (5, 4))
    expected = np.zeros((4, 5), bool)
    expected[1:4, 1:3] = True
    expected[0, 3:5] = True
    np.testing.assert_array_equal(mask, expected)
