"""Checks and loaders of the STAL inputs: ground truth, frame detections, tubes."""
import os.path as osp
import pickle
from typing import Dict, List, Optional, Sequence

import numpy as np

from .iou import TubeSet, as_tube

FRAME_DET_COLUMNS = ('video_index', 'frame', 'label', 'score', 'x1', 'y1',
                     'x2', 'y2')
GT_KEYS = ('labels', 'gttubes', 'nframes', 'test_videos')
# the labels mmaction2's port leaves out of MultiSports by name
MULTISPORTS_EXCLUDED_LABELS = ('aerobic kick jump', 'aerobic off axis jump',
                               'aerobic butterfly jump',
                               'aerobic balance turn', 'basketball save',
                               'basketball jump ball')


def check_stal_gt(gt, name: str = 'ground truth',
                  split_index: int = 0) -> List[str]:
    """Check the keys of an ACT ground-truth dict that the evaluation reads;
    returns the split's video list. Errors name ``name`` and the key."""
    if not isinstance(gt, dict):
        raise ValueError(f'{name}: expected a dict with keys {GT_KEYS}, got '
                         f'{type(gt).__name__}')
    missing = [k for k in GT_KEYS if k not in gt]
    if missing:
        raise ValueError(f'{name}: lacks key(s) {missing}; expected '
                         f'{list(GT_KEYS)}')
    splits = gt['test_videos']
    if not isinstance(splits, (list, tuple)) or not (
            0 <= split_index < len(splits)):
        raise ValueError(f"{name}: 'test_videos' must be a list of splits "
                         f'with an element {split_index}')
    videos = list(splits[split_index])
    if len(set(videos)) != len(videos):
        raise ValueError(f"{name}: test_videos[{split_index}] lists a video "
                         'twice')
    for key in ('gttubes', 'nframes'):
        if not isinstance(gt[key], dict):
            raise ValueError(f'{name}: {key!r} must be a dict by video')
        absent = [v for v in videos if v not in gt[key]]
        if absent:
            raise ValueError(f'{name}: {key!r} has no entry for {len(absent)}'
                             f' video(s) of test_videos[{split_index}], '
                             f'first {absent[0]!r}')
    return videos


class GroundTruth:
    """The split's ground truth, flat: one row per (tube, frame)."""

    def __init__(self, gt, split_index: int, name: str):
        self.videos = check_stal_gt(gt, name, split_index)
        self.name = name
        self.labels = [str(x) for x in gt['labels']]
        num_labels = len(self.labels)
        self.nframes = np.zeros(len(self.videos), np.int64)
        video, label, arrays, where = [], [], [], []
        for v, vname in enumerate(self.videos):
            nframes = gt['nframes'][vname]
            if not (isinstance(nframes, (int, np.integer)) and nframes >= 1):
                raise ValueError(f'{name}: nframes[{vname!r}] must be a '
                                 f'positive integer, got {nframes!r}')
            self.nframes[v] = nframes
            tubes = gt['gttubes'][vname]
            if not isinstance(tubes, dict):
                raise ValueError(f'{name}: gttubes[{vname!r}] must be a dict '
                                 '{label: [tubes]}')
            for c in sorted(tubes):
                if not (isinstance(c, (int, np.integer)) and
                        0 <= c < num_labels):
                    raise ValueError(
                        f'{name}: gttubes[{vname!r}] has label {c!r}; '
                        f'expected 0..{num_labels - 1}')
                for i, tube in enumerate(tubes[c]):
                    arr = np.asarray(tube, np.float64)
                    what = f'{name}: gttubes[{vname!r}][{c}][{i}]'
                    if arr.ndim != 2 or arr.shape[1] < 5:
                        raise ValueError(f'{what} has shape {arr.shape}; '
                                         'expected (n, 5) rows frame, x1, '
                                         'y1, x2, y2')
                    if not np.isfinite(arr[:, :5]).all():
                        raise ValueError(f'{what} holds NaN or infinite '
                                         'values')
                    video.append(v)
                    label.append(int(c))
                    arrays.append(arr[:, :5])
                    where.append(what)
        self.tube_video = np.array(video, np.int64)
        self.tube_label = np.array(label, np.int64)
        self.tube_arrays = arrays
        self.tube_where = where
        self.tube_rows = np.array([len(a) for a in arrays], np.int64)
        rows = (np.concatenate(arrays) if arrays else np.zeros((0, 5)))
        # ACT keys a box by int(frame): truncation
        self.row_frame = np.trunc(rows[:, 0]).astype(np.int64)
        self.row_boxes = rows[:, 1:5]
        self.row_video = np.repeat(self.tube_video, self.tube_rows)
        self.row_label = np.repeat(self.tube_label, self.tube_rows)

    def tubes(self) -> TubeSet:
        """The tubes, after checking that iou3dt can read them."""
        for arr, what in zip(self.tube_arrays, self.tube_where):
            as_tube(arr, what)
        starts = [a[0, 0] for a in self.tube_arrays]
        return TubeSet(starts, self.tube_rows, self.row_boxes)


def first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_frame_dets(frame_dets, videos: Sequence[str],
                     nframes: Optional[np.ndarray], num_labels: int,
                     name: str = 'frame detections'):
    """Check ``(N, 8)`` frame detections and split their columns.

    Args:
        frame_dets: rows ``video_index, frame, label, score, x1, y1, x2,
            y2``.
        videos: the split's video names (``video_index`` indexes them).
        nframes: ``(len(videos),)`` frame counts; frames must lie in
            ``1..nframes`` (``None``: frames >= 1).
        num_labels: labels must lie in ``0..num_labels - 1``.
        name: what to call the array in errors (file and key).

    Returns:
        ``video``, ``frame``, ``label`` (int64), ``score`` (float64) and
        ``boxes`` ``(N, 4)`` (the input's float type).
    """
    dets = np.asarray(frame_dets)
    if dets.ndim != 2 or dets.shape[1] != 8:
        raise ValueError(f'{name}: expected shape (N, 8) with columns '
                         f'{FRAME_DET_COLUMNS}, got {dets.shape}')
    if not np.issubdtype(dets.dtype, np.number):
        raise ValueError(f'{name}: expected a numeric array, got '
                         f'{dets.dtype}')
    if not np.issubdtype(dets.dtype, np.floating):
        dets = dets.astype(np.float64)
    finite = np.isfinite(dets).all(axis=1)
    if not finite.all():
        row = first_bad(~finite)
        raise ValueError(f'{name}: row {row} holds NaN or infinite values: '
                         f'{dets[row].tolist()}')
    cols = {}
    for col, upper in ((0, len(videos) - 1), (2, num_labels - 1)):
        values = dets[:, col]
        bad = (values != np.round(values)) | (values < 0) | (values > upper)
        if bad.any():
            row = first_bad(bad)
            what = ('an index into the split\'s video list' if col == 0 else
                    'a label')
            raise ValueError(
                f'{name}: column {col} ({FRAME_DET_COLUMNS[col]}) of row '
                f'{row} is {float(values[row]):g}; expected {what}, an '
                f'integer in '
                f'0..{upper}')
        cols[col] = values.astype(np.int64)
    frame = dets[:, 1]
    bad = (frame != np.round(frame)) | (frame < 1)
    if nframes is not None and len(dets):
        bad |= frame > np.asarray(nframes)[cols[0]]
    if bad.any():
        row = first_bad(bad)
        video = int(cols[0][row])
        limit = ('' if nframes is None else
                 f'..{int(nframes[video])} (nframes of {videos[video]!r})')
        raise ValueError(f'{name}: column 1 (frame) of row {row} is '
                         f'{float(frame[row]):g}; expected an integer in '
                         f'1{limit}')
    return (cols[0], frame.astype(np.int64), cols[2],
            dets[:, 3].astype(np.float64), dets[:, 4:8])


def evaluated_labels(labels: Sequence[str], exclude_labels) -> np.ndarray:
    excluded = set(exclude_labels)
    return np.array([name not in excluded for name in labels], bool)


def _load_pickle(path: str, what: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist')
    with open(path, 'rb') as f:
        try:
            # Python 2 pickles (ACT's) store numpy data as byte strings:
            # latin1 maps them back byte for byte.
            return pickle.load(f, encoding='latin1')
        except Exception as error:  # noqa: BLE001 - name the file
            raise ValueError(f'{path}: cannot read the {what} pickle: '
                             f'{error}') from error


def load_stal_gt(path: str, split_index: int = 0) -> Dict:
    """Read and check an ACT ground-truth pickle (``UCF101v2-GT.pkl``)."""
    gt = _load_pickle(path, 'ground truth')
    check_stal_gt(gt, path, split_index)
    return gt


def load_frame_dets(path: str, key: str = 'frame_dets') -> np.ndarray:
    """The ``(N, 8)`` array ``key`` of an ``.npz`` file (checked later
    against the ground truth by ``check_frame_dets``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'frame detections {path!r} do not exist')
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            dets = data[key] if key in files else None
    except (OSError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f'{path}: not a readable .npz file of numeric '
                         f'arrays: {error}') from error
    if dets is None:
        raise ValueError(f'{path}: no array {key!r}; it holds '
                         f'{sorted(files)}')
    if dets.ndim != 2 or dets.shape[1] != 8:
        raise ValueError(f'{path}[{key!r}]: expected shape (N, 8) with '
                         f'columns {FRAME_DET_COLUMNS}, got {dets.shape}')
    return dets


def load_tubes(path: str) -> Dict:
    """A tubes pickle ``{video: {label: [(tube, score)]}}`` (checked by
    ``video_ap``)."""
    return _load_pickle(path, 'tubes')
