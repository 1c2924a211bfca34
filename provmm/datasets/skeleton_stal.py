"""UCF101-24 skeletons for weakly supervised spatio-temporal action
localization (STAL): a PYSKL / mmaction2 2D pose pickle read against the
UCF101-24 ground truth (``UCF101v2-GT.pkl``)."""
import os.path as osp
import pickle
from typing import Dict, List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset

from provmm.registry import DATASETS, TRANSFORMS
from .transforms.pose_transforms import (gather_persons, keypoint_boxes,
                                         select_top_persons)

GT_KEYS = ('labels', 'gttubes', 'nframes', 'resolution', 'train_videos',
           'test_videos')
POSE_KEYS = ('frame_dir', 'total_frames', 'img_shape', 'label', 'keypoint',
             'keypoint_score')
DATA_HINT = ('put the skeletons (a PYSKL/mmaction2 2D pose pickle, by '
             'default ucf101_24_hrnet.pkl) and the UCF101-24 ground truth '
             'UCF101v2-GT.pkl into data/ucf101_24/ (or set data_root, '
             'ann_file and gt_file); see docs/datasets/ucf101_24_skeletons.md')


def _load_pickle(path: str, owner: str, what: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{owner}: {what} {path!r} does not exist; '
                                f'{DATA_HINT}.')
    with open(path, 'rb') as f:
        # Python 2 pickles (the UCF101-24 ground truth) store numpy data as
        # byte strings: latin1 maps them back byte for byte.
        return pickle.load(f, encoding='latin1')


def load_ucf101_24_gt(path: str, owner: str = 'UCF101-24') -> Dict:
    """Read and check ``UCF101v2-GT.pkl``.

    Returns the pickled dict: ``labels`` (class names; a label is its
    0-based position), ``gttubes`` ``{video: {label: [array (n, 5) rows
    frame (1-based), x1, y1, x2, y2]}}``, ``nframes`` ``{video: int}``,
    ``resolution`` ``{video: (h, w)}``, ``train_videos`` and
    ``test_videos`` (lists of splits, element 0 is split 1). Errors name the
    file and the key or video.
    """
    gt = _load_pickle(path, owner, 'ground truth file')
    if not isinstance(gt, dict):
        raise ValueError(f'{path}: expected a dict with keys {GT_KEYS}, '
                         f'got {type(gt).__name__}')
    missing = [k for k in GT_KEYS if k not in gt]
    if missing:
        raise ValueError(f'{path}: ground truth lacks key(s) {missing}; '
                         f'expected {list(GT_KEYS)}')
    num_labels = len(gt['labels'])
    for key in ('train_videos', 'test_videos'):
        splits = gt[key]
        if (not isinstance(splits, (list, tuple)) or not splits or
                not all(isinstance(s, (list, tuple)) for s in splits)):
            raise ValueError(f'{path}: {key!r} must be a non-empty list of '
                             'splits (lists of video names)')
    for video, tubes in gt['gttubes'].items():
        if not isinstance(tubes, dict):
            raise ValueError(f'{path}: gttubes[{video!r}] must be a dict '
                             f'{{label: [tubes]}}, got {type(tubes).__name__}')
        for label, label_tubes in tubes.items():
            if not (isinstance(label, (int, np.integer)) and
                    0 <= label < num_labels):
                raise ValueError(
                    f'{path}: gttubes[{video!r}] has label {label!r}, '
                    f'outside the {num_labels} labels (0..{num_labels - 1})')
            for i, tube in enumerate(label_tubes):
                tube = np.asarray(tube)
                if tube.ndim != 2 or tube.shape[1] != 5:
                    raise ValueError(
                        f'{path}: gttubes[{video!r}][{label}][{i}] has shape '
                        f'{tube.shape}, expected (n, 5) rows frame, x1, y1, '
                        'x2, y2')
    return gt


def load_pose_annotations(path: str, owner: str = 'UCF101-24') -> Dict:
    """Read a PYSKL / mmaction2 pose pickle: ``{'split': {name: [frame_dir,
    ...]}, 'annotations': [dict, ...]}``. Only the outer layout is checked
    here."""
    data = _load_pickle(path, owner, 'skeleton file')
    if (not isinstance(data, dict) or 'annotations' not in data or
            not isinstance(data['annotations'], (list, tuple))):
        raise ValueError(f'{path}: expected a dict with a list '
                         "'annotations' (and a dict 'split'), the PYSKL/"
                         'mmaction2 pose format')
    if not isinstance(data.get('split', {}), dict):
        raise ValueError(f"{path}: 'split' must be a dict {{name: "
                         '[frame_dir, ...]}')
    return data


def _check_annotation(ann: Dict, where: str) -> Dict:
    """Check one pose annotation; return its arrays as float32."""
    if not isinstance(ann, dict):
        raise ValueError(f'{where}: expected a dict, got '
                         f'{type(ann).__name__}')
    missing = [k for k in POSE_KEYS if k not in ann]
    if missing:
        raise ValueError(f'{where}: lacks key(s) {missing}; expected '
                         f'{list(POSE_KEYS)}')
    keypoint = np.asarray(ann['keypoint'], dtype=np.float32)
    score = np.asarray(ann['keypoint_score'], dtype=np.float32)
    if keypoint.ndim != 4 or keypoint.shape[-1] != 2:
        raise ValueError(f"{where}: 'keypoint' must have shape (M, T, V, 2), "
                         f'got {keypoint.shape}')
    if score.shape != keypoint.shape[:3]:
        raise ValueError(f"{where}: 'keypoint_score' has shape (M, T, V) = "
                         f"{score.shape}, 'keypoint' has (M, T, V) = "
                         f'{keypoint.shape[:3]}; expected equal')
    num_frames = keypoint.shape[1]
    if int(ann['total_frames']) != num_frames:
        raise ValueError(f"{where}: 'total_frames' is {ann['total_frames']} "
                         f"but 'keypoint' has T = {num_frames} frames; "
                         'expected equal')
    if num_frames == 0:
        raise ValueError(f'{where}: has no frames (T = 0)')
    for key, array in (('keypoint', keypoint), ('keypoint_score', score)):
        bad = ~np.isfinite(array)
        if bad.any():
            m, t, v = np.argwhere(bad)[0][:3]
            raise ValueError(
                f'{where}: {key!r} is not finite (NaN/inf) at person {m}, '
                f'frame {t + 1} (1-based), joint {v}; expected finite values')
    img_shape = tuple(int(s) for s in ann['img_shape'][:2])
    if len(img_shape) != 2 or min(img_shape) <= 0:
        raise ValueError(f"{where}: 'img_shape' must be a positive (h, w), "
                         f"got {ann['img_shape']!r}")
    return dict(keypoint=keypoint, keypoint_score=score, img_shape=img_shape)


@DATASETS.register_module()
class SkeletonSTALDataset(BaseDataset):
    """UCF101-24 2D skeletons for weakly supervised STAL.

    Layout (defaults)::

        data/ucf101_24/ucf101_24_hrnet.pkl   PYSKL/mmaction2 pose pickle
        data/ucf101_24/UCF101v2-GT.pkl       UCF101-24 ground truth

    The videos and their order come from the ground truth's
    ``train_videos[split_index]`` or ``test_videos[split_index]``; each is
    matched to the pose annotation whose ``frame_dir`` equals its name
    (``'Basketball/v_Basketball_g01_c01'``) or the name's last part
    (``'v_Basketball_g01_c01'``). Pose annotations of other videos are
    ignored, except when the pose file's ``split`` dict has a list named
    ``split`` (a file made for this dataset): that list must then hold the
    same videos as the ground truth's split.

    The annotation's ``label`` must be the 0-based index into the ground
    truth's ``labels`` (which become the dataset's ``classes``) and agree
    with the video's ``gttubes`` labels where it has tubes.

    Data info of every video: ``video_name`` (ground truth name),
    ``video_index`` (position in the split list, the index the ACT frame
    detections use), ``frame_dir``, ``total_frames``, ``img_shape``
    ``(h, w)``, ``gt_label``, ``keypoint`` float32 ``(M, T, V, 2)`` in
    pixels and ``keypoint_score`` float32 ``(M, T, V)``.

    - Training (``test_mode=False``): weak supervision, the video label
      only (no boxes). Each frame keeps its ``max_persons`` persons with
      the highest mean joint score (``select_top_persons``), padded with
      zero-score persons, so M = ``max_persons``.
    - Test (``test_mode=True``, the default for ``split='test'``): every
      person of every frame, and ``person_boxes`` float32 ``(M, T, 4)``
      x1, y1, x2, y2: the extent of the joints with a score above 0 widened
      by ``box_margin`` of the box's width/height on each side and clipped
      to the image (``keypoint_boxes``); NaN where the person is missing.
      The annotation's ``total_frames`` and ``img_shape`` must equal the
      ground truth's ``nframes`` and ``resolution`` so that frames and
      boxes line up with the ground truth tubes.

    Args:
        ann_file (str): pose pickle, relative to ``data_root`` unless
            absolute.
        gt_file (str): ``UCF101v2-GT.pkl``, relative to ``data_root`` unless
            absolute.
        split (str): ``'train'`` or ``'test'``.
        split_index (int): which split of the ground truth (0 = split 1).
        data_root (str): dataset folder. Defaults to ``'data/ucf101_24'``.
        pipeline (Sequence): transforms.
        max_persons (int, optional): persons kept per frame for training
            (None keeps all). Defaults to 2.
        box_margin (float): box widening for test. Defaults to 0.1.
        test_mode (bool, optional): defaults to ``split == 'test'``.
        **kwargs: passed to mmpretrain's ``BaseDataset``.
    """

    def __init__(self,
                 ann_file: str = 'ucf101_24_hrnet.pkl',
                 gt_file: str = 'UCF101v2-GT.pkl',
                 split: str = 'train',
                 split_index: int = 0,
                 data_root: str = 'data/ucf101_24',
                 pipeline=(),
                 max_persons: Optional[int] = 2,
                 box_margin: float = 0.1,
                 test_mode: Optional[bool] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        name = type(self).__name__
        if split not in ('train', 'test'):
            raise ValueError(f"{name}: split must be 'train' or 'test', got "
                             f'{split!r}')
        if max_persons is not None and int(max_persons) < 1:
            raise ValueError(f'{name}: max_persons must be >= 1 or None, '
                             f'got {max_persons}')
        if not box_margin >= 0:
            raise ValueError(f'{name}: box_margin must be >= 0, got '
                             f'{box_margin}')
        self.split = split
        self.split_index = int(split_index)
        self.max_persons = None if max_persons is None else int(max_persons)
        self.box_margin = float(box_margin)
        if gt_file and not osp.isabs(gt_file) and data_root:
            gt_file = osp.join(data_root, gt_file)
        self.gt_file = gt_file
        pose_file = ann_file
        if ann_file and not osp.isabs(ann_file) and data_root:
            pose_file = osp.join(data_root, ann_file)
        missing = [p for p in (pose_file, gt_file) if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f'{name}: missing {", ".join(map(repr, missing))}; '
                f'{DATA_HINT}.')
        self.gt = load_ucf101_24_gt(gt_file, name)
        splits = self.gt[f'{split}_videos']
        if not 0 <= self.split_index < len(splits):
            raise ValueError(
                f'{gt_file}: {split}_videos has {len(splits)} split(s); '
                f'split_index {split_index} is out of range')
        metainfo = {'classes': tuple(self.gt['labels']), **(metainfo or {})}
        # provmm's registry (a child of mmpretrain's) finds the pose
        # transforms without a default scope, and mmpretrain's as well.
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t
                    for t in pipeline]
        super().__init__(
            ann_file=ann_file, data_root=data_root, pipeline=pipeline,
            test_mode=(split == 'test') if test_mode is None else test_mode,
            metainfo=metainfo, **kwargs)

    def _match_annotations(self, annotations: List, videos: List[str]
                           ) -> Dict[str, int]:
        """``{gt video: annotation index}`` for the split's videos."""
        by_dir = {}
        for i, ann in enumerate(annotations):
            if not isinstance(ann, dict) or 'frame_dir' not in ann:
                raise ValueError(f"{self.ann_file}: annotations[{i}] lacks "
                                 "key 'frame_dir'")
            frame_dir = str(ann['frame_dir'])
            if frame_dir in by_dir:
                raise ValueError(
                    f'{self.ann_file}: annotations[{i}] and '
                    f'[{by_dir[frame_dir]}] both have frame_dir '
                    f'{frame_dir!r}; expected each video once')
            by_dir[frame_dir] = i
        matched, missing = {}, []
        for video in videos:
            index = by_dir.get(video, by_dir.get(video.split('/')[-1]))
            if index is None:
                missing.append(video)
            else:
                matched[video] = index
        if missing:
            raise ValueError(
                f'{self.gt_file}: {len(missing)} of {len(videos)} videos of '
                f'{self.split}_videos[{self.split_index}] have no skeleton '
                f'annotation (frame_dir equal to the name or its last part) '
                f'in {self.ann_file}, first: {", ".join(missing[:3])}')
        return matched

    def _check_pose_split(self, pose_split: Dict, annotations: List,
                          matched: Dict[str, int]) -> None:
        if self.split not in pose_split:
            return
        listed = set(str(d) for d in pose_split[self.split])
        used = {str(annotations[i]['frame_dir']): v
                for v, i in matched.items()}
        extra = sorted(listed - set(used))
        if extra:
            raise ValueError(
                f"{self.ann_file}: split[{self.split!r}] lists "
                f'{len(extra)} video(s) not in {self.split}_videos'
                f'[{self.split_index}] of {self.gt_file}, first: '
                f'{", ".join(extra[:3])}; expected the same videos')
        absent = [v for d, v in used.items() if d not in listed]
        if absent:
            raise ValueError(
                f'{self.gt_file}: {self.split}_videos[{self.split_index}] '
                f'holds {len(absent)} video(s) that split[{self.split!r}] of '
                f'{self.ann_file} does not list, first: '
                f'{", ".join(absent[:3])}; expected the same videos')

    def _video_label(self, ann: Dict, video: str, where: str) -> int:
        num_labels = len(self.gt['labels'])
        label = ann['label']
        if (isinstance(label, (bool, np.bool_)) or
                not isinstance(label, (int, np.integer)) or
                not 0 <= label < num_labels):
            raise ValueError(
                f'{where}: label {label!r} is outside the {num_labels} '
                f'labels of {self.gt_file} (0..{num_labels - 1}); the label '
                'must be the index into its "labels"')
        tube_labels = sorted(self.gt['gttubes'].get(video, {}))
        if tube_labels and tube_labels != [int(label)]:
            raise ValueError(
                f'{where}: label {int(label)} '
                f'({self.gt["labels"][int(label)]}) but gttubes[{video!r}] '
                f'of {self.gt_file} has label(s) {tube_labels}')
        return int(label)

    def _check_against_gt(self, info: Dict, video: str, where: str) -> None:
        gt = self.gt
        for key in ('nframes', 'resolution'):
            if video not in gt[key]:
                raise ValueError(f'{self.gt_file}: {key!r} has no entry for '
                                 f'video {video!r}')
        if self.split == 'test' and video not in gt['gttubes']:
            raise ValueError(f"{self.gt_file}: 'gttubes' has no entry for "
                             f'test video {video!r}')
        nframes = int(gt['nframes'][video])
        if info['total_frames'] != nframes:
            raise ValueError(
                f'{where}: {info["total_frames"]} frames but nframes of '
                f'{video!r} in {self.gt_file} is {nframes}; expected equal '
                'so that frame numbers match the ground truth tubes')
        resolution = tuple(int(s) for s in gt['resolution'][video])
        if info['img_shape'] != resolution:
            raise ValueError(
                f'{where}: img_shape {info["img_shape"]} but resolution of '
                f'{video!r} in {self.gt_file} is {resolution} (h, w); '
                'expected equal so that boxes are in the ground truth pixels')

    def load_data_list(self) -> List[dict]:
        pose = load_pose_annotations(self.ann_file, type(self).__name__)
        annotations = pose['annotations']
        videos = [str(v) for v in
                  self.gt[f'{self.split}_videos'][self.split_index]]
        matched = self._match_annotations(annotations, videos)
        self._check_pose_split(pose.get('split', {}), annotations, matched)
        data_list, num_joints = [], None
        for video_index, video in enumerate(videos):
            i = matched[video]
            ann = annotations[i]
            where = (f'{self.ann_file}: annotations[{i}] (video '
                     f'{ann["frame_dir"]!r})')
            info = _check_annotation(ann, where)
            info['total_frames'] = info['keypoint'].shape[1]
            if num_joints is None:
                num_joints, first = info['keypoint'].shape[2], where
            elif info['keypoint'].shape[2] != num_joints:
                raise ValueError(
                    f'{where}: {info["keypoint"].shape[2]} joints, but '
                    f'{first} has {num_joints}; expected one skeleton '
                    'layout')
            label = self._video_label(ann, video, where)
            if self.test_mode:
                self._check_against_gt(info, video, where)
                info['person_boxes'] = keypoint_boxes(
                    info['keypoint'], info['keypoint_score'],
                    info['img_shape'], self.box_margin)
            elif self.max_persons is not None:
                inds = select_top_persons(info['keypoint_score'],
                                          self.max_persons)
                info['keypoint'] = gather_persons(info['keypoint'], inds)
                info['keypoint_score'] = gather_persons(
                    info['keypoint_score'], inds)
            info.update(video_name=video, video_index=video_index,
                        frame_dir=str(ann['frame_dir']), gt_label=label)
            data_list.append(info)
        return data_list

    def extra_repr(self) -> List[str]:
        return [f'Split: {self.split} (index {self.split_index})',
                f'Skeletons: {self.ann_file}', f'Ground truth: {self.gt_file}',
                f'Max persons (train): {self.max_persons}',
                f'Box margin (test): {self.box_margin}']
