"""``FrameAP`` and ``VideoAP``: spatio-temporal action localization metrics
of per-person, per-frame class scores (ACT's frame-AP and video-AP, or
mmaction2's VOC variant; docs/metrics/stal.md)."""
import io
import os.path as osp
import pickle
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from provmm.registry import METRICS
from ..functional.stal import (PROTOCOLS, check_stal_gt, frame_ap,
                               link_tubes, load_stal_gt, video_ap)
from ..scoremap_folder import atomic_write

FRAME_DETS_FILE = 'frame_dets.npz'
TUBES_FILE = 'tubes.pkl'
SAMPLE_KEYS = ('video_name', 'frame_inds', 'pred_boxes', 'pred_scores')


def _numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):  # torch.Tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def sample_detections(sample: dict, topk_classes: Optional[int],
                      owner: str) -> dict:
    """The detections of one data sample dict: every valid person box of
    every frame with its class scores.

    Args:
        sample: with ``video_name`` (str), ``frame_inds`` ``(T,)`` 1-based
            frame numbers, ``pred_boxes`` ``(P, T, 4)`` x1, y1, x2, y2 in
            original pixels (NaN for a missing person), ``pred_scores``
            ``(P, T, K)`` and optionally ``person_valid`` ``(P, T)`` bool.
        topk_classes: keep the ``k`` best classes of each box (None: all).
        owner: the metric's name, for errors.

    Returns:
        dict ``video`` (str), ``frames`` ``(n,)`` int64, ``boxes`` ``(n,
        4)``, ``scores`` ``(n, k)`` and ``classes`` ``(n, k)`` int64 (None
        when all ``K`` classes are kept, in order).
    """
    missing = [k for k in SAMPLE_KEYS if k not in sample]
    if missing:
        raise KeyError(f'{owner}: data sample lacks {missing}; expected '
                       f'{list(SAMPLE_KEYS)} (and optionally person_valid)')
    name = str(sample['video_name'])
    frames = _numpy(sample['frame_inds']).reshape(-1)
    boxes = _numpy(sample['pred_boxes'])
    scores = _numpy(sample['pred_scores'])
    num_frames = len(frames)
    if boxes.ndim != 3 or boxes.shape[1:] != (num_frames, 4):
        raise ValueError(f'{owner}: pred_boxes of {name!r} must be (P, '
                         f'{num_frames}, 4), got {boxes.shape}')
    if scores.ndim != 3 or scores.shape[:2] != boxes.shape[:2]:
        raise ValueError(f'{owner}: pred_scores of {name!r} must be '
                         f'{boxes.shape[:2] + ("K",)}, got {scores.shape}')
    if num_frames and ((frames != np.round(frames)).any() or
                       frames.min() < 1):
        raise ValueError(f'{owner}: frame_inds of {name!r} must be 1-based '
                         f'frame numbers, got {frames[:8].tolist()}')
    valid = np.isfinite(boxes).all(axis=-1)
    if 'person_valid' in sample:
        given = _numpy(sample['person_valid']).astype(bool)
        if given.shape != valid.shape:
            raise ValueError(f'{owner}: person_valid of {name!r} must be '
                             f'{valid.shape}, got {given.shape}')
        valid &= given
    person, t = np.nonzero(valid)
    box = boxes[person, t]
    score = scores[person, t]
    if not np.isfinite(score).all():
        raise ValueError(f'{owner}: pred_scores of {name!r} hold NaN or '
                         'infinite values for a valid person')
    classes = None
    num_classes = scores.shape[2]
    if topk_classes is not None and topk_classes < num_classes:
        classes = np.argsort(-score, axis=1, kind='stable')[:, :topk_classes]
        score = np.take_along_axis(score, classes, axis=1)
    return dict(video=name, frames=frames[t].astype(np.int64), boxes=box,
                scores=score, classes=classes, num_classes=num_classes)


def frame_detections(results: Sequence[dict], videos: Sequence[str],
                     owner: str) -> np.ndarray:
    """ACT's ``(N, 8)`` frame detections (``video_index, frame, label,
    score, x1, y1, x2, y2``, float64) of ``sample_detections`` records;
    ``video_index`` is the position of the video in ``videos``. A
    (video, frame) predicted by two samples is an error."""
    index = {v: i for i, v in enumerate(videos)}
    seen = {}
    parts = []
    for record in results:
        video = record['video']
        if video not in index:
            raise ValueError(f'{owner}: video {video!r} is not in the test '
                             'split of the ground truth')
        frames = np.unique(record['frames'])
        done = seen.setdefault(video, set())
        twice = done.intersection(frames.tolist())
        if twice:
            raise ValueError(f'{owner}: frame {min(twice)} of {video!r} is '
                             'predicted by two data samples; evaluate '
                             'clips that do not overlap')
        done.update(frames.tolist())
        n, k = record['scores'].shape
        if n == 0:
            continue
        rows = np.empty((n, k, 8), np.float64)
        rows[..., 0] = index[video]
        rows[..., 1] = record['frames'][:, None]
        rows[..., 2] = (np.arange(k) if record['classes'] is None else
                        record['classes'])
        rows[..., 3] = record['scores']
        rows[..., 4:8] = record['boxes'][:, None, :]
        parts.append(rows.reshape(-1, 8))
    return np.concatenate(parts) if parts else np.zeros((0, 8))


def save_frame_dets(path: str, frame_dets: np.ndarray) -> None:
    """Write ``frame_dets`` to ``path`` (``.npz``, key ``frame_dets``)
    atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, frame_dets=frame_dets)
    atomic_write(path, buffer.getvalue())


def save_tubes(path: str, tubes: Dict) -> None:
    """Write ``{video: {label: [(tube, score)]}}`` to ``path`` (pickle)
    atomically."""
    atomic_write(path, pickle.dumps(tubes, protocol=4))


class _STALMetric(BaseMetric):
    """Shared by ``FrameAP`` and ``VideoAP``: keeps the detections of each
    data sample and finds the ground truth."""

    def __init__(self,
                 gt_file: Optional[str] = None,
                 iou: float = 0.5,
                 protocol: str = 'act',
                 topk_classes: Optional[int] = None,
                 split_index: int = 0,
                 exclude_labels: Sequence[str] = (),
                 classwise: bool = False,
                 out_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        name = type(self).__name__
        if protocol not in PROTOCOLS:
            raise ValueError(f'{name}: protocol must be one of {PROTOCOLS}, '
                             f'got {protocol!r}')
        if not 0 < iou <= 1:
            raise ValueError(f'{name}: iou must lie in (0, 1], got {iou}')
        if topk_classes is not None and int(topk_classes) < 1:
            raise ValueError(f'{name}: topk_classes must be >= 1 or None, '
                             f'got {topk_classes}')
        self.gt_file = gt_file
        self.iou = float(iou)
        self.protocol = protocol
        self.topk_classes = None if topk_classes is None else \
            int(topk_classes)
        self.split_index = int(split_index)
        self.exclude_labels = tuple(exclude_labels)
        self.classwise = classwise
        self.out_dir = out_dir
        self._gt = None
        self._gt_name = 'ground truth'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append(sample_detections(
                sample, self.topk_classes, type(self).__name__))

    def ground_truth(self) -> Dict:
        """The ACT ground-truth dict: ``gt_file``, else the dataset meta's
        ``stal_gt`` (the dict) or ``gt_file`` (its path)."""
        if self._gt is not None:
            return self._gt
        name = type(self).__name__
        meta = self.dataset_meta or {}
        if self.gt_file is not None:
            gt = load_stal_gt(self.gt_file, self.split_index)
            self._gt_name = self.gt_file
        elif isinstance(meta.get('stal_gt'), dict):
            gt = meta['stal_gt']
            self._gt_name = f"{name}: dataset_meta['stal_gt']"
            check_stal_gt(gt, self._gt_name, self.split_index)
        elif meta.get('gt_file'):
            gt = load_stal_gt(meta['gt_file'], self.split_index)
            self._gt_name = meta['gt_file']
        else:
            raise ValueError(
                f'{name}: no ground truth; pass gt_file (UCF101v2-GT.pkl) '
                "or use a dataset whose metainfo has 'gt_file' or 'stal_gt'")
        classes = meta.get('classes')
        if classes is not None and len(classes) != len(gt['labels']):
            raise ValueError(f'{name}: the dataset has {len(classes)} '
                             f'classes, the ground truth {len(gt["labels"])}'
                             ' labels')
        self._gt = gt
        return gt

    def _frame_dets(self, results: List[dict]):
        gt = self.ground_truth()
        videos = gt['test_videos'][self.split_index]
        name = type(self).__name__
        num_labels = len(gt['labels'])
        for record in results:
            if record['num_classes'] != num_labels:
                raise ValueError(
                    f'{name}: pred_scores of {record["video"]!r} have '
                    f'{record["num_classes"]} classes, the ground truth '
                    f'{num_labels} labels')
        dets = frame_detections(results, videos, name)
        if self.out_dir is not None:
            save_frame_dets(osp.join(self.out_dir, FRAME_DETS_FILE), dets)
        return gt, videos, dets

    def _metrics(self, result: Dict) -> Dict[str, float]:
        # frame_mAP / video_mAP: the two metrics share the 'stal' prefix
        metrics = {f'{self.kind}_mAP': result['mean'],
                   f'{self.kind}_mAP_classes_with_gt':
                   result['mean_over_classes_with_gt']}
        if self.classwise:
            for label, ap in result['per_class'].items():
                if ap is not None:
                    metrics[f'{self.kind}_AP_{label}'] = ap
        return metrics


@METRICS.register_module()
class FrameAP(_STALMetric):
    """Frame-AP of per-person, per-frame class scores (docs/metrics/stal.md):
    ACT's ``frameAP`` (``protocol='act'``) or mmaction2's VOC variant.

    Every data sample (one video or one clip of it; clips of a video must
    not overlap) needs:

    - ``video_name`` (str): the video's name in the ground truth;
    - ``frame_inds`` ``(T,)``: its frames, 1-based frame numbers of the
      video;
    - ``pred_boxes`` ``(P, T, 4)`` float: box ``x1, y1, x2, y2`` in
      original pixels of person ``p`` in frame ``t`` (NaN if absent);
    - ``pred_scores`` ``(P, T, K)`` float: its class scores (K = number of
      ground-truth labels);
    - ``person_valid`` ``(P, T)`` bool (optional): False for padded or
      missing persons (a person counts only where it is True and its box is
      finite).

    ``process`` keeps, per valid (person, frame), the box and the class
    scores (all ``K``, or the ``topk_classes`` best). ``compute_metrics``
    makes one ACT frame detection per (person, frame, kept class):
    ``video_index, frame, label, score, x1, y1, x2, y2``, and returns
    (fractions):

    - ``stal/frame_mAP``: the protocol's mean AP (ACT: over all labels, a
      class without test ground truth counting 0; VOC: over the classes with
      ground truth);
    - ``stal/frame_mAP_classes_with_gt``: the mean over the classes with
      ground truth;
    - ``stal/frame_AP_<label>`` per class when ``classwise``.

    ``SkeletonPointRecognizer.predict`` writes these fields.

    Args:
        gt_file: ACT ground truth (``UCF101v2-GT.pkl``); None: the dataset
            meta's ``stal_gt`` (dict) or ``gt_file`` (path).
        iou: IoU threshold (0.5).
        protocol: ``'act'`` or ``'voc'``.
        topk_classes: classes kept per box (None: all).
        split_index: test split (0 = split 1, the one ACT evaluates).
        exclude_labels: label names left out.
        classwise: also return the AP of every class.
        out_dir: if set, write the frame detections to
            ``<out_dir>/frame_dets.npz`` (key ``frame_dets``, atomically)
            for ``tools/eval_stal.py``.
        collect_device, prefix: as :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix: Optional[str] = 'stal'
    kind = 'frame'

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        gt, _, dets = self._frame_dets(results)
        return self._metrics(frame_ap(
            gt, dets, self.iou, self.protocol, self.split_index,
            self.exclude_labels, name=type(self).__name__,
            gt_name=self._gt_name))


@METRICS.register_module()
class VideoAP(_STALMetric):
    """Video-AP of per-person, per-frame class scores linked into tubes
    (docs/metrics/stal.md): ACT's ``videoAP`` (``protocol='act'``, tube NMS
    at 0.3 first) or mmaction2's VOC variant.

    Reads the data sample fields of :class:`FrameAP` and makes the same
    frame detections, then links them per (video, class) into tubes with
    ACT's online linking for K = 1 (``link_tubes``: per-frame NMS 0.3 with
    10 boxes kept, link IoU 0.2, a tube ends after 5 frames without a box,
    tubes shorter than 15 frames or with mean score < 0.01 dropped; skipped
    frames interpolated) and computes video-AP at 3D IoU ``iou`` — the
    measure reported for weakly supervised STAL on UCF101-24. Returns
    ``stal/video_mAP``, ``stal/video_mAP_classes_with_gt`` and, when
    ``classwise``, ``stal/video_AP_<label>`` (fractions).

    Args:
        link_cfg: keyword arguments of ``link_tubes`` (``nms_iou``,
            ``top_k``, ``link_iou``, ``max_gap``, ``min_score``,
            ``min_length``) replacing ACT's values.
        out_dir: if set, also write the tubes to ``<out_dir>/tubes.pkl``
            (``{video: {label: [(tube, score)]}}``, atomically).
        Others: as :class:`FrameAP`.
    """

    default_prefix: Optional[str] = 'stal'
    kind = 'video'

    def __init__(self, *args, link_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.link_cfg = dict(link_cfg or {})
        allowed = {'nms_iou', 'top_k', 'link_iou', 'max_gap', 'min_score',
                   'min_length'}
        unknown = set(self.link_cfg) - allowed
        if unknown:
            raise ValueError(f'VideoAP: unknown link_cfg key(s) '
                             f'{sorted(unknown)}; expected {sorted(allowed)}')

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        gt, videos, dets = self._frame_dets(results)
        nframes = [gt['nframes'][v] for v in videos]
        tubes = link_tubes(dets, videos, len(gt['labels']),
                           nframes=nframes, name='VideoAP',
                           **self.link_cfg)
        if self.out_dir is not None:
            save_tubes(osp.join(self.out_dir, TUBES_FILE), tubes)
        return self._metrics(video_ap(
            gt, tubes, self.iou, self.protocol, self.split_index,
            self.exclude_labels, name='VideoAP tubes',
            gt_name=self._gt_name))
