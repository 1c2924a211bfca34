"""Framework-free WSOL and STAL evaluation maths (numpy/OpenCV/numba)."""
from .boxes import box_iou, boxes_to_mask, resize_boxes
from .contour_sweep import correct_per_level, correct_per_level_batch
from .max_box_accuracy import (best_contour_box, cam_thresholds,
                               contour_boxes, count_correct_per_threshold,
                               iou_fractions,
                               largest_contour_correct_per_level,
                               max_box_accuracy, threshold_levels)
from .scoremap import (cam_to_scoremap, check_scoremap, normalize_scoremap,
                       quantize_scoremap, scoremap_mass_in_mask)
from .stal import (frame_ap, iou2d, iou3dt, link_tubes, nms3dt, pr_to_ap,
                      video_ap)

__all__ = [
    'box_iou', 'boxes_to_mask', 'resize_boxes', 'correct_per_level',
    'correct_per_level_batch', 'best_contour_box', 'cam_thresholds',
    'contour_boxes', 'count_correct_per_threshold', 'iou_fractions',
    'largest_contour_correct_per_level', 'max_box_accuracy',
    'threshold_levels', 'cam_to_scoremap', 'check_scoremap',
    'normalize_scoremap', 'quantize_scoremap', 'scoremap_mass_in_mask',
    'frame_ap', 'video_ap', 'iou2d', 'iou3dt', 'nms3dt', 'pr_to_ap',
    'link_tubes'
]
