"""Frame-AP and video-AP of spatio-temporal action localization (STAL),
identical to the ACT detector's evaluation (Kalogeiton et al., ICCV 2017;
``protocol='act'``) or to mmaction2's MultiSports port (``protocol='voc'``),
and ACT's online linking of per-frame detections into tubes (K = 1).
Definitions: docs/metrics/stal.md; the literal ports they are tested against:
``act_reference.py`` and ``multisports_reference.py``.

Modules: ``iou`` (box and tube IoUs), ``ranking`` (sorting, tube NMS,
greedy matching, AP from the PR curve), ``inputs`` (checks and loaders),
``ap`` (frame-AP, video-AP), ``linking`` (ACT's online linking).

Formats (ACT's):

- ground truth: the ``UCF101v2-GT.pkl`` dict: ``labels`` (names; a label is
  its 0-based position), ``gttubes`` ``{video: {label: [array (n, 5) rows
  frame (1-based), x1, y1, x2, y2]}}``, ``nframes`` ``{video: int}``,
  ``test_videos`` (a list of splits; element 0 is split 1);
- frame detections: ``(N, 8)`` rows ``video_index, frame, label, score, x1,
  y1, x2, y2`` (``video_index`` into the split's video list, frames 1-based,
  labels 0-based);
- tubes: ``{video: {label: [(tube, score)]}}``, ``tube`` ``(n, >=5)`` rows
  ``frame, x1, y1, x2, y2`` on consecutive frames.

Both protocols sort detections by decreasing score with a STABLE sort (ties
keep the input order: row order of the frame detections; for tubes the split
order of the videos, then the label, then the list order). ACT and mmaction2
use numpy's default quicksort, which is not stable: where a true and a false
positive tie in score their AP depends on the platform, and equality with
them holds for tie-free inputs. Everything is vectorised with numpy; the
only Python loops run over classes, over ranks inside a frame / video, and
over frames (linking).
"""
from .ap import frame_ap, video_ap
from .inputs import (FRAME_DET_COLUMNS, GT_KEYS, MULTISPORTS_EXCLUDED_LABELS,
                     check_frame_dets, check_stal_gt, load_frame_dets,
                     load_stal_gt, load_tubes)
from .iou import PROTOCOLS, iou2d, iou3dt
from .linking import link_tubes
from .ranking import ACT_TUBE_NMS, nms3dt, pr_to_ap

__all__ = [
    'frame_ap', 'video_ap', 'link_tubes', 'iou2d', 'iou3dt', 'nms3dt',
    'pr_to_ap', 'check_stal_gt', 'check_frame_dets', 'load_stal_gt',
    'load_frame_dets', 'load_tubes', 'PROTOCOLS', 'FRAME_DET_COLUMNS',
    'GT_KEYS', 'MULTISPORTS_EXCLUDED_LABELS', 'ACT_TUBE_NMS'
]
