"""Transforms for 2D skeleton sequences (PYSKL / mmaction2 pose layout).

A skeleton sample holds ``keypoint`` ``(M, T, V, 2)`` (x, y in image pixels)
and ``keypoint_score`` ``(M, T, V)`` for M person slots, T frames and V
joints. A slot with score 0 at every joint of a frame is *missing* in that
frame (the pose file pads with zeros where fewer persons were detected).

The packed layout, read by the skeleton models, is a float32 tensor
``(P, T, V, 3)`` with channels (x, y, joint score); see
:class:`PackSkeletonInputs`.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.structures import DataSample

from provmm.registry import TRANSFORMS


def _video(results: dict) -> str:
    return str(results.get('video_name', results.get('frame_dir', '?')))


def _check_pose_arrays(keypoint: np.ndarray, score: np.ndarray,
                       owner: str, video: str) -> None:
    if keypoint.ndim != 4 or keypoint.shape[-1] != 2:
        raise ValueError(f'{owner}: video {video!r}: keypoint must have '
                         f'shape (M, T, V, 2), got {keypoint.shape}')
    if score.shape != keypoint.shape[:3]:
        raise ValueError(f'{owner}: video {video!r}: keypoint_score has '
                         f'shape {score.shape}, expected (M, T, V) = '
                         f'{keypoint.shape[:3]} of keypoint')


def person_valid_mask(keypoint_score: np.ndarray) -> np.ndarray:
    """``(M, T)`` bool: the slot holds a person in that frame (some joint
    has a score above 0)."""
    return (np.asarray(keypoint_score) > 0).any(axis=-1)


def keypoint_boxes(keypoint: np.ndarray,
                   keypoint_score: np.ndarray,
                   img_shape: Tuple[int, int],
                   margin: float = 0.1) -> np.ndarray:
    """Person boxes from keypoint extents.

    The box of a person in a frame is the extent (min and max x, y) of its
    joints with a score above 0, widened by ``margin`` times the extent's
    width on the left and on the right and ``margin`` times its height at
    the top and at the bottom, then clipped to the image's pixel grid
    ``[0, w - 1] x [0, h - 1]`` (pixel indices, as the ACT evaluation's
    "+1" box areas assume).

    Args:
        keypoint: ``(M, T, V, 2)`` x, y in image pixels.
        keypoint_score: ``(M, T, V)``.
        img_shape: ``(h, w)`` of the image the keypoints are in.
        margin: fraction of the box side added on each side.

    Returns:
        float32 ``(M, T, 4)`` x1, y1, x2, y2; NaN where the person is
        missing (no joint with a score above 0).
    """
    keypoint = np.asarray(keypoint, dtype=np.float64)
    valid = np.asarray(keypoint_score) > 0
    h, w = img_shape
    xs = keypoint[..., 0]
    ys = keypoint[..., 1]
    with np.errstate(invalid='ignore'):
        x1 = np.where(valid, xs, np.inf).min(axis=-1)
        x2 = np.where(valid, xs, -np.inf).max(axis=-1)
        y1 = np.where(valid, ys, np.inf).min(axis=-1)
        y2 = np.where(valid, ys, -np.inf).max(axis=-1)
        bw, bh = x2 - x1, y2 - y1
        boxes = np.stack([
            np.clip(x1 - margin * bw, 0, w - 1),
            np.clip(y1 - margin * bh, 0, h - 1),
            np.clip(x2 + margin * bw, 0, w - 1),
            np.clip(y2 + margin * bh, 0, h - 1)
        ], axis=-1)
    boxes[~valid.any(axis=-1)] = np.nan
    return boxes.astype(np.float32)


def select_top_persons(keypoint_score: np.ndarray,
                       num_persons: int) -> np.ndarray:
    """Per frame, the ``num_persons`` slots with the highest mean joint
    score.

    Returns ``(num_persons, T)`` int64 slot indices into the M axis, -1
    where fewer persons are present (padding). Within a frame, the kept
    persons are ordered by their original slot index (present persons
    before missing ones), not by rank: where the pose file keeps a person
    in one slot over time, or the same persons are kept in consecutive
    frames, they stay in the same output slot. Ties in the mean score keep
    the lower slot index.
    """
    score = np.asarray(keypoint_score, dtype=np.float64)
    num_slots, num_frames = score.shape[:2]
    out = np.full((num_persons, num_frames), -1, dtype=np.int64)
    if num_slots == 0 or num_frames == 0:
        return out
    mean = score.mean(axis=-1)  # (M, T)
    present = (score > 0).any(axis=-1)
    keep = min(num_slots, num_persons)
    rank = np.argsort(-mean, axis=0, kind='stable')[:keep]  # (keep, T)
    kept_present = np.take_along_axis(present, rank, axis=0)
    # Order the kept slots by (missing, original index).
    order_key = np.where(kept_present, rank, rank + num_slots)
    rank = np.take_along_axis(rank, np.argsort(order_key, axis=0), axis=0)
    kept_present = np.take_along_axis(present, rank, axis=0)
    out[:keep] = np.where(kept_present, rank, -1)
    return out


def gather_persons(array: np.ndarray, inds: np.ndarray,
                   fill: float = 0) -> np.ndarray:
    """``array`` ``(M, T, ...)`` gathered to ``(P, T, ...)`` by ``inds``
    ``(P, T)`` (-1 gives ``fill``)."""
    array = np.asarray(array)
    num_frames = inds.shape[1]
    out = np.full(inds.shape + array.shape[2:], fill, dtype=array.dtype)
    frames = np.broadcast_to(np.arange(num_frames), inds.shape)
    kept = inds >= 0
    out[kept] = array[inds[kept], frames[kept]]
    return out


@TRANSFORMS.register_module()
class SelectTopPersons(BaseTransform):
    """Keep, in every frame, the ``num_persons`` persons with the highest
    mean joint score; pad with zero-score persons to exactly
    ``num_persons`` slots.

    The selection is made frame by frame (a person may be kept in one frame
    and dropped in the next), which is what a per-frame, per-person scorer
    such as SKP needs: each (person, frame) is one instance. Output slots
    are not person tracks. The kept persons of a frame keep the order of
    their original slots (present ones first), so a person the pose file
    keeps in one slot over time, or the same persons kept in consecutive
    frames, stay in one output slot; ``person_inds`` records the original
    slot of every output slot for linking detections back to the file.

    **Required keys:** ``keypoint`` ``(M, T, V, 2)``, ``keypoint_score``
    ``(M, T, V)``; ``person_boxes`` ``(M, T, 4)`` and ``person_inds``
    ``(M, T)`` (optional, gathered too).

    **Modified keys:** ``keypoint``, ``keypoint_score`` (and
    ``person_boxes``) to ``num_persons`` slots; padded persons have
    coordinates 0, scores 0 (and NaN boxes).

    **Added keys:** ``person_inds`` ``(num_persons, T)`` int64: the
    original slot index, -1 for padding (composed with an existing
    ``person_inds``).

    Args:
        num_persons (int): persons kept per frame. Defaults to 2.
    """

    def __init__(self, num_persons: int = 2):
        if int(num_persons) < 1:
            raise ValueError(f'num_persons must be >= 1, got {num_persons}')
        self.num_persons = int(num_persons)

    def transform(self, results: dict) -> dict:
        keypoint = np.asarray(results['keypoint'])
        score = np.asarray(results['keypoint_score'])
        _check_pose_arrays(keypoint, score, type(self).__name__,
                           _video(results))
        inds = select_top_persons(score, self.num_persons)
        results['keypoint'] = gather_persons(keypoint, inds)
        results['keypoint_score'] = gather_persons(score, inds)
        if 'person_boxes' in results:
            results['person_boxes'] = gather_persons(
                np.asarray(results['person_boxes'], dtype=np.float32), inds,
                fill=np.nan)
        old = results.get('person_inds')
        if old is None:
            results['person_inds'] = inds
        else:
            results['person_inds'] = gather_persons(
                np.asarray(old, dtype=np.int64), inds, fill=-1)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_persons={self.num_persons})'


@TRANSFORMS.register_module()
class SampleClip(BaseTransform):
    """Temporal sampling of a skeleton sequence.

    Training (``test_mode=False``): the T frames are cut into ``clip_len``
    equal segments ``[i T / clip_len, (i + 1) T / clip_len)`` and one frame
    is drawn uniformly from each (numpy's global generator, seeded by the
    runner), so the clip covers the whole video in order. A video shorter
    than ``clip_len`` repeats frames (still in order). ``num_clips`` clips
    are drawn independently and concatenated along T (the model splits them
    by ``num_clips``).

    Test (``test_mode=True``): one clip of every ``stride``-th frame,
    starting with the first (every frame with ``stride=1``); ``clip_len`` is
    not used, so every frame can receive person boxes and scores.

    **Required keys:** ``keypoint`` ``(M, T, V, 2)``, ``keypoint_score``
    ``(M, T, V)``; ``person_boxes`` ``(M, T, 4)``, ``person_inds``
    ``(M, T)``, ``frame_inds`` ``(T,)`` (optional, sampled too).

    **Modified keys:** the keys above, along T.

    **Added keys:** ``frame_inds`` ``(T',)`` int64: the original frame
    number (1-based) of every sampled frame (composed with an existing
    ``frame_inds``); ``clip_len`` (frames per clip) and ``num_clips``.

    Args:
        clip_len (int, optional): frames per training clip. Required when
            ``test_mode=False``.
        num_clips (int): clips drawn for training. Defaults to 1.
        test_mode (bool): sample every ``stride``-th frame instead.
            Defaults to False.
        stride (int): frame step in test mode. Defaults to 1.
    """

    TEMPORAL_KEYS = ('keypoint', 'keypoint_score', 'person_boxes',
                     'person_inds')

    def __init__(self,
                 clip_len: Optional[int] = None,
                 num_clips: int = 1,
                 test_mode: bool = False,
                 stride: int = 1):
        if not test_mode and (clip_len is None or int(clip_len) < 1):
            raise ValueError('SampleClip: clip_len must be a positive int '
                             f'for training, got {clip_len!r}')
        if int(num_clips) < 1:
            raise ValueError(f'SampleClip: num_clips must be >= 1, got '
                             f'{num_clips}')
        if test_mode and int(num_clips) != 1:
            raise ValueError('SampleClip: test_mode takes one clip of every '
                             f'stride-th frame; got num_clips={num_clips}')
        if int(stride) < 1:
            raise ValueError(f'SampleClip: stride must be >= 1, got {stride}')
        self.clip_len = None if clip_len is None else int(clip_len)
        self.num_clips = int(num_clips)
        self.test_mode = bool(test_mode)
        self.stride = int(stride)

    def _train_inds(self, num_frames: int) -> np.ndarray:
        clip_len = self.clip_len
        starts = np.arange(clip_len) * num_frames / clip_len
        clips = []
        for _ in range(self.num_clips):
            offsets = np.random.rand(clip_len) * num_frames / clip_len
            inds = np.floor(starts + offsets).astype(np.int64)
            clips.append(np.clip(inds, 0, num_frames - 1))
        return np.concatenate(clips)

    def transform(self, results: dict) -> dict:
        keypoint = np.asarray(results['keypoint'])
        _check_pose_arrays(keypoint, np.asarray(results['keypoint_score']),
                           type(self).__name__, _video(results))
        num_frames = keypoint.shape[1]
        if num_frames == 0:
            raise ValueError(f'SampleClip: video {_video(results)!r} has no '
                             'frames')
        if self.test_mode:
            inds = np.arange(0, num_frames, self.stride, dtype=np.int64)
            clip_len = len(inds)
        else:
            inds = self._train_inds(num_frames)
            clip_len = self.clip_len
        for key in self.TEMPORAL_KEYS:
            if key in results:
                results[key] = np.asarray(results[key])[:, inds]
        frame_inds = results.get('frame_inds')
        if frame_inds is None:
            frame_inds = np.arange(1, num_frames + 1, dtype=np.int64)
        frame_inds = np.asarray(frame_inds, dtype=np.int64)
        if frame_inds.shape != (num_frames, ):
            raise ValueError(f'SampleClip: video {_video(results)!r}: '
                             f'frame_inds has shape {frame_inds.shape}, '
                             f'expected ({num_frames},)')
        results['frame_inds'] = frame_inds[inds]
        results['clip_len'] = clip_len
        results['num_clips'] = 1 if self.test_mode else self.num_clips
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(clip_len={self.clip_len}, '
                f'num_clips={self.num_clips}, test_mode={self.test_mode}, '
                f'stride={self.stride})')


@TRANSFORMS.register_module()
class NormalizeKeypoints(BaseTransform):
    """Map keypoint coordinates from image pixels to [-1, 1].

    With ``img_shape = (h, w)``: ``x' = 2 x / w - 1`` and ``y' = 2 y / h -
    1``, so the image's left/top edge (0) maps to -1, its centre to 0 and
    its right/bottom edge (w, h) to 1. Joints outside the image map outside
    [-1, 1] (no clipping). Joints with score 0 (missing or padded persons)
    get coordinates 0, so padding carries no position. ``person_boxes``
    stay in pixels.

    **Required keys:** ``keypoint`` ``(M, T, V, 2)`` in pixels,
    ``keypoint_score`` ``(M, T, V)``, ``img_shape`` ``(h, w)``.

    **Modified keys:** ``keypoint`` (float32).

    **Added keys:** ``keypoint_normalized`` (True; a second normalisation
    is refused).
    """

    def transform(self, results: dict) -> dict:
        video = _video(results)
        if results.get('keypoint_normalized'):
            raise ValueError(f'NormalizeKeypoints: video {video!r} is '
                             'already normalised (twice in the pipeline?)')
        keypoint = np.asarray(results['keypoint'], dtype=np.float32)
        score = np.asarray(results['keypoint_score'])
        _check_pose_arrays(keypoint, score, type(self).__name__, video)
        h, w = (int(v) for v in results['img_shape'][:2])
        if h <= 0 or w <= 0:
            raise ValueError(f'NormalizeKeypoints: video {video!r}: '
                             f'img_shape {results["img_shape"]} must be a '
                             'positive (h, w)')
        scale = np.array([2.0 / w, 2.0 / h], dtype=np.float32)
        normalized = keypoint * scale - np.float32(1)
        normalized[score <= 0] = 0
        results['keypoint'] = normalized
        results['keypoint_normalized'] = True
        return results


@TRANSFORMS.register_module()
class PackSkeletonInputs(BaseTransform):
    """Pack a skeleton sample for a skeleton model.

    ``inputs``: float32 tensor ``(P, T, V, 3)``, channels (x, y, joint
    score); padded or missing persons have score 0 at every joint.

    ``data_samples``: an mmpretrain ``DataSample`` with

    - ``gt_label`` (the video's label, when present),
    - ``person_valid`` ``(P, T)`` bool: some joint has a score above 0,
    - ``frame_inds`` ``(T,)`` long: original frame numbers (1-based;
      ``1..T`` when no sampling ran),
    - ``person_boxes`` ``(P, T, 4)`` float32 x1, y1, x2, y2 in original
      pixels, NaN where ``person_valid`` is False, and ``person_inds``
      ``(P, T)`` long (original slot, -1 for padding), when present (the
      test split sets the boxes),
    - metainfo ``meta_keys`` present in ``results`` (``video_name``,
      ``video_index`` (position in the ground truth's split list),
      ``img_shape`` ``(h, w)``, ...).

    **Required keys:** ``keypoint`` ``(P, T, V, 2)``, ``keypoint_score``
    ``(P, T, V)``; ``gt_label``, ``frame_inds``, ``person_boxes``,
    ``person_inds`` and the ``meta_keys`` (optional).

    **Added keys:** ``inputs``, ``data_samples`` (the packed dict only).

    Args:
        meta_keys (Sequence[str]): keys stored as metainfo when present.
    """

    DEFAULT_META_KEYS = ('video_name', 'video_index', 'frame_dir',
                         'img_shape', 'total_frames', 'clip_len', 'num_clips')

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        video = _video(results)
        owner = type(self).__name__
        keypoint = np.asarray(results['keypoint'], dtype=np.float32)
        score = np.asarray(results['keypoint_score'], dtype=np.float32)
        _check_pose_arrays(keypoint, score, owner, video)
        num_persons, num_frames = keypoint.shape[:2]
        inputs = np.concatenate([keypoint, score[..., None]], axis=-1)
        valid = person_valid_mask(score)

        sample = DataSample()
        if 'gt_label' in results:
            sample.set_gt_label(results['gt_label'])
        sample.set_field(torch.from_numpy(valid), 'person_valid')
        frame_inds = results.get('frame_inds')
        if frame_inds is None:
            frame_inds = np.arange(1, num_frames + 1)
        frame_inds = np.asarray(frame_inds, dtype=np.int64)
        if frame_inds.shape != (num_frames, ):
            raise ValueError(f'{owner}: video {video!r}: frame_inds has '
                             f'shape {frame_inds.shape}, expected '
                             f'({num_frames},)')
        sample.set_field(torch.from_numpy(frame_inds), 'frame_inds')
        if 'person_boxes' in results:
            boxes = np.array(results['person_boxes'], dtype=np.float32)
            if boxes.shape != (num_persons, num_frames, 4):
                raise ValueError(
                    f'{owner}: video {video!r}: person_boxes has shape '
                    f'{boxes.shape}, expected (P, T, 4) = '
                    f'{(num_persons, num_frames, 4)}')
            boxes[~valid] = np.nan
            sample.set_field(torch.from_numpy(boxes), 'person_boxes')
        if 'person_inds' in results:
            inds = np.asarray(results['person_inds'], dtype=np.int64)
            if inds.shape != (num_persons, num_frames):
                raise ValueError(
                    f'{owner}: video {video!r}: person_inds has shape '
                    f'{inds.shape}, expected (P, T) = '
                    f'{(num_persons, num_frames)}')
            sample.set_field(torch.from_numpy(inds.copy()), 'person_inds')
        for key in self.meta_keys:
            if key in results:
                value = results[key]
                if key == 'img_shape':
                    value = tuple(int(v) for v in value)
                sample.set_field(value, key, field_type='metainfo')
        return dict(inputs=torch.from_numpy(np.ascontiguousarray(inputs)),
                    data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
