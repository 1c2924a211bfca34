"""Generator of the built-in synthetic skeleton STAL benchmark (numpy only).

A UCF101-24-like task for weakly supervised spatio-temporal action
localization on 2D skeletons: videos of 2-3 stick-figure persons with the
17 COCO joints and detector-like noise. One person, the *actor*, performs
the video's action (a parametric joint motion per class) over a temporal
segment ``[s, e]`` and idles elsewhere; the ground truth tube is the actor's
box on exactly those frames.

The error that localization from video labels makes is built in: another
person, the *bystander*, performs one of a set of motion patterns of its
own (head nodding, hands on hips, ...) for the whole video. In train,
``cooccurrence`` of the videos of class ``c`` have bystander pattern ``c``
(the rest cycle over the other patterns); in test (and val, unless
``val_cooccurrence`` is set) every class cycles over all patterns. A model
that learned "bystander pattern ``c`` means class ``c``" from video labels
puts class score on non-actors at test time, which costs frame-AP. A third
person, when present, idles or drifts slowly.

Everything is written in the layouts the real data come in, so
``SkeletonSTALDataset`` reads it like UCF101-24 skeletons::

    <root>/synth_stal_skeletons.pkl   PYSKL pose pickle, all splits
                                      (split: train1, val1, test1)
    <root>/synth_stal_GT.pkl          UCF101v2-GT layout: train_videos,
                                      test_videos (+ val_videos)
    <root>/synth_stal_GT_val.pkl      the same with the val videos as
                                      test_videos, so test-split tools
                                      (frame-AP, video-AP) evaluate val
    <root>/synthetic_skeleton_stal.json   the spec; written last = complete

Each pose annotation also carries ``synthetic``: ``actor`` and
``bystander`` (person slots), ``segment`` ``(s, e)`` (1-based, inclusive),
``bystander_pattern`` (index into ``BYSTANDER_PATTERNS``) and ``roles``
(per slot); the dataset ignores it. Generation is deterministic: one spec
gives the same bytes.

The pose file's split lists are named as in PYSKL's UCF101 pickle
(``'train1'``, ...), not ``'train'``/``'test'``: ``SkeletonSTALDataset``
then takes the videos from the ground truth file alone, so the same pose
file serves the val ground truth, whose test slot holds the val videos.
"""
import dataclasses
import json
import os
import os.path as osp
import pickle
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .progress import announce

SPEC_FILE = 'synthetic_skeleton_stal.json'
POSE_FILE = 'synth_stal_skeletons.pkl'
GT_FILE = 'synth_stal_GT.pkl'
GT_VAL_FILE = 'synth_stal_GT_val.pkl'
FORMAT_VERSION = 1
SPLITS = ('train', 'val', 'test')
_SPLIT_IDS = {'train': 0, 'val': 1, 'test': 2}
# Fixed pickle protocol: the bytes must not change with the Python version.
PICKLE_PROTOCOL = 4

COCO_JOINTS = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
               'left_shoulder', 'right_shoulder', 'left_elbow',
               'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
               'right_hip', 'left_knee', 'right_knee', 'left_ankle',
               'right_ankle')
NUM_JOINTS = len(COCO_JOINTS)

# Class names and their motion frequency (cycles per frame, ~25 fps).
ACTIONS = {
    'WaveArm': 0.08,
    'ArmsUpDown': 0.04,
    'Jump': 0.06,
    'Squat': 0.03,
    'Kick': 0.05,
    'Clap': 0.10,
    'Walk': 0.05,
    'Bend': 0.025,
}
# Bystander motion patterns (none is an action) and their frequency.
BYSTANDER_PATTERNS = {
    'HeadNod': 0.06,
    'HandsOnHips': 0.02,
    'ArmsCrossed': 0.02,
    'PointLeft': 0.02,
    'SwaySide': 0.03,
    'StepInPlace': 0.04,
    'ScratchHead': 0.15,
    'Lean': 0.02,
}

# Body model, in units of the person's height, origin at the pelvis, y
# down; a person faces the camera, so its left side is at +x.
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.15, 0.13, 0.25, 0.25
_HIP_HALF, _SHOULDER = 0.06, (0.11, -0.30)
_HEAD = np.array([[0.0, -0.40], [0.025, -0.42], [-0.025, -0.42],
                  [0.05, -0.41], [-0.05, -0.41]])
# Rest angles from straight down (positive = away from the body).
_REST = dict(la_up=0.12, la_lo=0.05, ra_up=0.12, ra_lo=0.05, ll_up=0.05,
             ll_lo=0.0, rl_up=0.05, rl_lo=0.0, l_lift=0.0, r_lift=0.0,
             bend=0.0, tilt=0.0, head_dy=0.0, dx=0.0, dy=0.0)


@dataclass(frozen=True)
class SyntheticSkeletonSpec:
    """Everything that determines a generated task (the cache key).

    Args:
        seed: generator seed; the same spec gives the same bytes.
        num_classes: actions used, the first ``num_classes`` of
            ``ACTIONS`` (2 to 8); bystander pattern ``c`` goes with class
            ``c``.
        num_per_class: videos per class for ``'train'``, ``'val'`` and
            ``'test'`` (each >= 1).
        cooccurrence: fraction of the train videos of class ``c`` whose
            bystander does pattern ``c`` (exactly ``round(cooccurrence *
            n_c)``); the rest cycle over the other patterns. Test always
            cycles every class over all patterns (no correlation).
        val_cooccurrence: the same for val; ``None`` makes val like test.
        num_frames: range of T per video (inclusive).
        image_size: ``(h, w)`` in pixels.
        num_persons: range of persons per video (inclusive, >= 2: the
            actor and the bystander).
        segment_fraction: range of the action segment's length as a
            fraction of T.
        person_height: range of a person's height in pixels.
        noise_std: std (pixels) of the Gaussian jitter on every joint.
        jitter_prob: probability that a joint is badly localised: it gets
            ``jitter_std`` more jitter and a score in [0.3, 0.6] instead of
            [0.7, 1.0].
        jitter_std: std (pixels) of that extra jitter.
        drop_prob: probability that a joint is not detected (score 0,
            coordinates 0); at most 4 joints of a person per frame.
        box_margin: widening of the ground truth boxes, as the dataset's
            ``box_margin`` (its default 0.1): the actor's test-time person
            box equals its ground truth box.
    """
    seed: int = 0
    num_classes: int = 8
    num_per_class: Dict[str, int] = field(
        default_factory=lambda: dict(train=40, val=10, test=20))
    cooccurrence: float = 0.9
    val_cooccurrence: Optional[float] = None
    num_frames: Tuple[int, int] = (40, 64)
    image_size: Tuple[int, int] = (240, 320)
    num_persons: Tuple[int, int] = (2, 3)
    segment_fraction: Tuple[float, float] = (0.5, 0.85)
    person_height: Tuple[float, float] = (85.0, 120.0)
    noise_std: float = 1.5
    jitter_prob: float = 0.1
    jitter_std: float = 6.0
    drop_prob: float = 0.03
    box_margin: float = 0.1

    def __post_init__(self):
        # Configs and JSON give lists; the cache key compares tuples.
        for name in ('num_frames', 'image_size', 'num_persons',
                     'segment_fraction', 'person_height'):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, 'num_per_class', dict(self.num_per_class))
        if not 2 <= self.num_classes <= len(ACTIONS):
            raise ValueError(f'num_classes must be in 2..{len(ACTIONS)}, got '
                             f'{self.num_classes}')
        if set(self.num_per_class) != set(SPLITS) or min(
                self.num_per_class.values()) < 1:
            raise ValueError(f'num_per_class must give >= 1 video for each '
                             f'of {list(SPLITS)}, got {self.num_per_class}')
        for name in ('cooccurrence', 'val_cooccurrence'):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value}')
        lo, hi = self.num_frames
        if not 8 <= lo <= hi:
            raise ValueError(f'num_frames {self.num_frames} must satisfy '
                             '8 <= min <= max')
        lo, hi = self.num_persons
        if not 2 <= lo <= hi <= 3:
            raise ValueError(f'num_persons {self.num_persons} must satisfy '
                             '2 <= min <= max <= 3')
        lo, hi = self.segment_fraction
        if not 0.1 <= lo <= hi <= 1.0:
            raise ValueError(f'segment_fraction {self.segment_fraction} must '
                             'satisfy 0.1 <= min <= max <= 1')
        h, w = self.image_size
        lo, hi = self.person_height
        if not 20 <= lo <= hi <= 0.6 * h or w < 1.6 * hi:
            raise ValueError(
                f'person_height {self.person_height} must satisfy 20 <= min '
                f'<= max <= 0.6 * h with image_size (h, w) = '
                f'{self.image_size}, and w >= 1.6 * max')
        for name in ('noise_std', 'jitter_std', 'box_margin'):
            if not getattr(self, name) >= 0:
                raise ValueError(f'{name} must be >= 0, got '
                                 f'{getattr(self, name)}')
        for name in ('jitter_prob', 'drop_prob'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got '
                                 f'{getattr(self, name)}')

    @property
    def classes(self) -> Tuple[str, ...]:
        return tuple(ACTIONS)[:self.num_classes]

    def to_json(self) -> dict:
        return dict(format_version=FORMAT_VERSION,
                    spec=json.loads(json.dumps(dataclasses.asdict(self))))

    @classmethod
    def from_json(cls, record: dict) -> 'SyntheticSkeletonSpec':
        return cls(**record['spec'])


@dataclass
class SkeletonVideo:
    """One generated video.

    Attributes:
        name: ground truth name ``'<class>/v_<class>_<split>_<index>'``.
        frame_dir: the name's last part, as in PYSKL's UCF101 pickle.
        label: class index.
        keypoint: float32 ``(M, T, V, 2)`` x, y in pixels (0 where dropped).
        keypoint_score: float32 ``(M, T, V)``; 0 = not detected.
        img_shape: ``(h, w)``.
        segment: ``(s, e)`` 1-based inclusive frames of the action.
        actor: person slot of the actor; bystander: slot of the bystander.
        bystander_pattern: index into ``BYSTANDER_PATTERNS``.
        roles: per slot ``'actor'``, ``'bystander'`` or ``'idle'``.
        tube: float32 ``(e - s + 1, 5)`` rows frame (1-based), x1, y1, x2,
            y2: the actor's box on its segment.
    """
    name: str
    frame_dir: str
    label: int
    keypoint: np.ndarray
    keypoint_score: np.ndarray
    img_shape: Tuple[int, int]
    segment: Tuple[int, int]
    actor: int
    bystander: int
    bystander_pattern: int
    roles: Tuple[str, ...]
    tube: np.ndarray


def skeleton(params: Dict[str, np.ndarray]) -> np.ndarray:
    """COCO joints ``(T, 17, 2)`` in body units (height ~1, pelvis at the
    origin before ``dx``/``dy``, y down) from per-frame ``(T,)`` limb
    angles (radians from straight down, positive away from the body),
    knee lifts, forward ``bend``, sideways ``tilt``, ``head_dy`` and the
    pelvis offset ``dx``, ``dy``; missing keys take their ``_REST``
    value."""
    p = {k: np.asarray(params.get(k, v), dtype=np.float64)
         for k, v in _REST.items()}
    num_frames = max(np.size(v) for v in p.values())
    p = {k: np.broadcast_to(v, (num_frames,)) for k, v in p.items()}
    out = np.zeros((num_frames, NUM_JOINTS, 2))
    # Upper body: foreshortened by the forward bend, rotated by the tilt.
    upper = np.zeros((num_frames, 7, 2))
    upper[:, :5] = _HEAD
    upper[:, :5, 1] += p['head_dy'][:, None]
    upper[:, 5] = (_SHOULDER[0], _SHOULDER[1])
    upper[:, 6] = (-_SHOULDER[0], _SHOULDER[1])
    upper[..., 1] *= np.cos(p['bend'])[:, None]
    cos, sin = np.cos(p['tilt'])[:, None], np.sin(p['tilt'])[:, None]
    x, y = upper[..., 0], upper[..., 1]
    upper = np.stack([x * cos - y * sin, x * sin + y * cos], -1)
    pelvis = np.stack([p['dx'], p['dy']], -1)
    out[:, :7] = upper + pelvis[:, None]

    def limb(start, side, a, b, len_a, len_b):
        mid = start + len_a * np.stack([side * np.sin(a), np.cos(a)], -1)
        return mid, mid + len_b * np.stack([side * np.sin(b), np.cos(b)], -1)

    for side, s, arm, leg in ((1, 'l', (5, 7, 9), (11, 13, 15)),
                              (-1, 'r', (6, 8, 10), (12, 14, 16))):
        out[:, arm[1]], out[:, arm[2]] = limb(
            out[:, arm[0]], side, p[f'{s}a_up'], p[f'{s}a_lo'], _UPPER_ARM,
            _FOREARM)
        out[:, leg[0]] = pelvis + (side * _HIP_HALF, 0.0)
        knee, ankle = limb(out[:, leg[0]], side, p[f'{s}l_up'],
                           p[f'{s}l_lo'], _THIGH, _SHIN)
        # A lifted knee (seen from the front) shortens the leg upwards.
        lift = p[f'{s}_lift'][:, None] * np.array([0.0, 1.0])
        out[:, leg[1]], out[:, leg[2]] = knee - 0.6 * lift, ankle - lift
    return out


def _rise(phase):
    """0 -> 1 -> 0 once per cycle."""
    return (1 - np.cos(phase)) / 2


def action_motion(action: str, phase: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-frame parameters of ``skeleton`` for an action at ``phase``
    ``(T,)`` (radians); the walk's translation is added by the caller."""
    k = _rise(phase)
    if action == 'WaveArm':
        return dict(ra_up=2.3 + 0.1 * np.sin(phase),
                    ra_lo=3.0 + 0.5 * np.sin(phase))
    if action == 'ArmsUpDown':
        angle = 0.12 + 2.8 * k
        return dict(la_up=angle, la_lo=angle, ra_up=angle, ra_lo=angle)
    if action == 'Jump':
        air = np.maximum(0.0, np.sin(phase))
        return dict(dy=-0.15 * air, ll_up=0.05 + 0.1 * air,
                    rl_up=0.05 + 0.1 * air, la_up=0.12 + 0.5 * air,
                    ra_up=0.12 + 0.5 * air)
    if action == 'Squat':
        # Knees out, ankles back under the hips: the feet stay planted.
        theta = 1.0 * k
        return dict(ll_up=theta, ll_lo=-theta, rl_up=theta, rl_lo=-theta,
                    dy=2 * _THIGH * (1 - np.cos(theta)), la_up=0.12 + 1.2 * k,
                    ra_up=0.12 + 1.2 * k)
    if action == 'Kick':
        kick = 1.1 * np.maximum(0.0, np.sin(phase))
        return dict(rl_up=kick, rl_lo=kick, tilt=0.1 * kick / 1.1)
    if action == 'Clap':
        return dict(la_up=0.35 * (1 - k), la_lo=-0.6 - 0.97 * k,
                    ra_up=0.35 * (1 - k), ra_lo=-0.6 - 0.97 * k)
    if action == 'Walk':
        swing = np.sin(phase)
        return dict(ll_up=0.05 + 0.25 * swing, rl_up=0.05 - 0.25 * swing,
                    l_lift=0.06 * np.maximum(0.0, swing),
                    r_lift=0.06 * np.maximum(0.0, -swing),
                    la_up=0.12 - 0.3 * swing, ra_up=0.12 + 0.3 * swing)
    if action == 'Bend':
        return dict(bend=1.3 * k, la_up=0.12 + 0.4 * k,
                    ra_up=0.12 + 0.4 * k)
    raise ValueError(f'unknown action {action!r}; expected one of '
                     f'{list(ACTIONS)}')


def bystander_motion(pattern: str,
                     phase: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-frame parameters of ``skeleton`` for a bystander pattern."""
    s = np.sin(phase)
    if pattern == 'HeadNod':
        return dict(head_dy=0.035 * s)
    if pattern == 'HandsOnHips':
        return dict(la_up=0.7, la_lo=-0.9, ra_up=0.7, ra_lo=-0.9)
    if pattern == 'ArmsCrossed':
        return dict(la_up=-0.15, la_lo=-1.5, ra_up=-0.15, ra_lo=-1.5)
    if pattern == 'PointLeft':
        return dict(la_up=np.pi / 2 + 0.05 * s, la_lo=np.pi / 2)
    if pattern == 'SwaySide':
        return dict(tilt=0.12 * s, dx=0.03 * s)
    if pattern == 'StepInPlace':
        return dict(l_lift=0.08 * np.maximum(0.0, s),
                    r_lift=0.08 * np.maximum(0.0, -s))
    if pattern == 'ScratchHead':
        return dict(ra_up=2.6, ra_lo=-np.pi / 2 + 0.15 * s)
    if pattern == 'Lean':
        return dict(tilt=0.22 + 0.02 * s)
    raise ValueError(f'unknown bystander pattern {pattern!r}; expected one '
                     f'of {list(BYSTANDER_PATTERNS)}')


def person_boxes(keypoint: np.ndarray, keypoint_score: np.ndarray,
                 img_shape: Tuple[int, int], margin: float) -> np.ndarray:
    """float32 ``(..., 4)`` x1, y1, x2, y2 from ``keypoint`` ``(..., V, 2)``
    and ``keypoint_score`` ``(..., V)``: the extent of the joints with a
    score above 0 widened by ``margin`` of its width/height on each side,
    clipped to ``[0, w - 1] x [0, h - 1]``. The same arithmetic as the
    dataset's test-time person boxes, so the two agree bit for bit; every
    frame must have a valid joint."""
    keypoint = np.asarray(keypoint, dtype=np.float64)
    valid = np.asarray(keypoint_score) > 0
    if not valid.any(axis=-1).all():
        raise ValueError('person_boxes: a frame has no joint with a score '
                         'above 0; expected at least one')
    h, w = img_shape
    xs, ys = keypoint[..., 0], keypoint[..., 1]
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
    return boxes.astype(np.float32)


def split_labels(spec: SyntheticSkeletonSpec, split: str) -> np.ndarray:
    """Class of every video of ``split``, classes interleaved."""
    k = spec.num_classes
    return np.arange(spec.num_per_class[split] * k) % k


def assign_patterns(labels: np.ndarray, num_patterns: int,
                    cooccurrence: Optional[float],
                    rng: np.random.Generator) -> np.ndarray:
    """Bystander pattern of every video.

    With ``cooccurrence`` r, exactly ``round(r * n_c)`` videos of class
    ``c`` get pattern ``c``; the rest cycle over the other patterns. With
    ``None`` every class cycles over all patterns, starting after its own
    (no correlation when ``n_c`` is a multiple of ``num_patterns``, never
    more than chance otherwise). Order is shuffled.
    """
    patterns = np.empty_like(labels)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if cooccurrence is None:
            cells = (c + 1 + np.arange(len(idx))) % num_patterns
        else:
            n_own = int(round(cooccurrence * len(idx)))
            others = np.array([p for p in range(num_patterns) if p != c])
            cells = np.concatenate([
                np.full(n_own, c), others[np.arange(len(idx) - n_own) %
                                          len(others)]
            ])
        patterns[idx] = rng.permutation(cells.astype(labels.dtype))
    return patterns


def _split_patterns(spec, split):
    labels = split_labels(spec, split)
    rng = np.random.default_rng([spec.seed, _SPLIT_IDS[split], 1])
    rate = dict(train=spec.cooccurrence, val=spec.val_cooccurrence,
                test=None)[split]
    return labels, assign_patterns(labels, spec.num_classes, rate, rng)


def _observe(spec, joints, rng):
    """Detector noise on ``(T, V, 2)`` pixel joints: jitter, lower scores
    for badly localised joints, dropped joints (score 0, coordinates 0)."""
    h, w = spec.image_size
    num_frames = joints.shape[0]
    noisy = joints + rng.normal(0, spec.noise_std, joints.shape)
    bad = rng.random((num_frames, NUM_JOINTS)) < spec.jitter_prob
    noisy += bad[..., None] * rng.normal(0, spec.jitter_std, joints.shape)
    score = np.where(bad, rng.uniform(0.3, 0.6, bad.shape),
                     rng.uniform(0.7, 1.0, bad.shape))
    dropped = rng.random((num_frames, NUM_JOINTS)) < spec.drop_prob
    # A person stays detected: at most 4 joints of a frame go missing.
    dropped &= np.cumsum(dropped, axis=1) <= 4
    noisy = np.clip(noisy, 0, [w - 1, h - 1])
    noisy[dropped] = 0
    score[dropped] = 0
    return noisy.astype(np.float32), score.astype(np.float32)


def render_video(spec: SyntheticSkeletonSpec, split: str, index: int,
                 label: int, pattern: int) -> SkeletonVideo:
    """Video ``index`` of ``split`` with class ``label`` and bystander
    ``pattern``; depends only on the spec's seed, the split and index."""
    rng = np.random.default_rng([spec.seed, _SPLIT_IDS[split], 0, index])
    h, w = spec.image_size
    num_frames = int(rng.integers(spec.num_frames[0], spec.num_frames[1] + 1))
    num_persons = int(rng.integers(spec.num_persons[0],
                                   spec.num_persons[1] + 1))
    length = int(round(rng.uniform(*spec.segment_fraction) * num_frames))
    length = min(max(length, 2), num_frames)
    start = int(rng.integers(0, num_frames - length + 1))  # 0-based
    end = start + length - 1
    t = np.arange(num_frames, dtype=np.float64)

    # Slots are shuffled so that the actor is not always person 0.
    slots = rng.permutation(num_persons)
    roles = ['idle'] * num_persons
    roles[slots[0]], roles[slots[1]] = 'actor', 'bystander'
    # Persons stand side by side, spaced evenly with some jitter.
    centres = w * (np.arange(num_persons) + 1) / (num_persons + 1)
    centres = centres + rng.uniform(-0.04, 0.04, num_persons) * w
    keypoint = np.zeros((num_persons, num_frames, NUM_JOINTS, 2), np.float32)
    score = np.zeros((num_persons, num_frames, NUM_JOINTS), np.float32)
    action = spec.classes[label]
    for slot in range(num_persons):
        height = rng.uniform(*spec.person_height)
        feet = rng.uniform(0.8, 0.9) * h
        # Idle: a slow sway, a small nod, arms a little off the rest pose.
        sway = 2 * np.pi * rng.uniform(0.01, 0.02) * t + rng.uniform(0, 7)
        params = dict(_REST, tilt=0.02 * np.sin(sway),
                      head_dy=0.005 * np.sin(1.7 * sway))
        for key in ('la_up', 'ra_up', 'la_lo', 'ra_lo'):
            params[key] = _REST[key] + rng.uniform(-0.08, 0.08)
        # Per-person tempo (+-15 %) and phase of its motion.
        tempo = 2 * np.pi * rng.uniform(0.85, 1.15) * t
        offset = rng.uniform(0, 2 * np.pi)
        if roles[slot] == 'actor':
            # Full motion on [s, e], eased in and out over 3 frames.
            envelope = np.clip(np.minimum(t - start + 1, end - t + 1) / 3,
                               0, 1)
            motion = action_motion(action,
                                   ACTIONS[action] * tempo + offset)
            for key, value in motion.items():
                params[key] = params[key] + envelope * (value - _REST[key])
            if action == 'Walk':
                # Away from the nearest person, so the two rarely overlap.
                others = np.delete(centres, slot)
                away = np.sign(centres[slot] -
                               others[np.abs(others - centres[slot]).argmin()])
                progress = np.clip((t - start) / max(end - start, 1), 0, 1)
                params['dx'] = params['dx'] + (away or 1.0) * \
                    rng.uniform(0.25, 0.4) * progress
        elif roles[slot] == 'bystander':
            name = tuple(BYSTANDER_PATTERNS)[pattern]
            motion = bystander_motion(
                name, BYSTANDER_PATTERNS[name] * tempo + offset)
            for key, value in motion.items():
                params[key] = params[key] + (value - _REST[key])
        elif rng.random() < 0.5:
            # Some idle persons drift slowly across the scene.
            params['dx'] = rng.choice([-1, 1]) * 0.004 * t
        joints = skeleton(params) * height + (centres[slot],
                                              feet - 0.5 * height)
        keypoint[slot], score[slot] = _observe(spec, joints, rng)

    actor = int(slots[0])
    boxes = person_boxes(keypoint[actor, start:end + 1],
                         score[actor, start:end + 1], (h, w),
                         spec.box_margin)
    frames = np.arange(start + 1, end + 2, dtype=np.float32)[:, None]
    frame_dir = f'v_{action}_{split}_{index:04d}'
    return SkeletonVideo(
        name=f'{action}/{frame_dir}', frame_dir=frame_dir, label=int(label),
        keypoint=keypoint, keypoint_score=score, img_shape=(h, w),
        segment=(start + 1, end + 1), actor=actor,
        bystander=int(slots[1]), bystander_pattern=int(pattern),
        roles=tuple(roles), tube=np.concatenate([frames, boxes], axis=1))


def render_split(spec: SyntheticSkeletonSpec,
                 split: str) -> Iterator[SkeletonVideo]:
    """Yield every video of ``split`` in order."""
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    labels, patterns = _split_patterns(spec, split)
    for index, (label, pattern) in enumerate(zip(labels, patterns)):
        yield render_video(spec, split, index, int(label), int(pattern))


def _annotation(video: SkeletonVideo) -> dict:
    return dict(
        frame_dir=video.frame_dir, label=video.label,
        img_shape=video.img_shape, original_shape=video.img_shape,
        total_frames=video.keypoint.shape[1], keypoint=video.keypoint,
        keypoint_score=video.keypoint_score,
        synthetic=dict(actor=video.actor, bystander=video.bystander,
                       segment=video.segment,
                       bystander_pattern=video.bystander_pattern,
                       roles=video.roles))


def build_task(spec: SyntheticSkeletonSpec, progress=None
               ) -> Tuple[dict, dict, dict]:
    """The pose pickle, the ground truth and the val ground truth (dicts
    in the PYSKL and UCF101v2-GT layouts); ``progress.update()`` per
    video."""
    annotations: List[dict] = []
    pose_split: Dict[str, List[str]] = {}
    videos: Dict[str, List[str]] = {}
    gttubes, nframes, resolution = {}, {}, {}
    for split in SPLITS:
        frame_dirs = pose_split[f'{split}1'] = []
        videos[split] = []
        for video in render_split(spec, split):
            annotations.append(_annotation(video))
            frame_dirs.append(video.frame_dir)
            videos[split].append(video.name)
            gttubes[video.name] = {video.label: [video.tube]}
            nframes[video.name] = int(video.keypoint.shape[1])
            resolution[video.name] = video.img_shape
            if progress is not None:
                progress.update()
    gt = dict(labels=list(spec.classes), gttubes=gttubes, nframes=nframes,
              resolution=resolution, train_videos=[videos['train']],
              test_videos=[videos['test']], val_videos=[videos['val']])
    gt_val = dict(gt, test_videos=[videos['val']])
    del gt_val['val_videos']
    return dict(split=pose_split, annotations=annotations), gt, gt_val


def _write_atomic(path: str, data: bytes) -> None:
    """Write under a temporary name, then rename: readers never see a
    half-written file."""
    tmp = f'{path}.partial-{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def read_spec(root: str) -> Optional[SyntheticSkeletonSpec]:
    """The spec a complete task under ``root`` was generated with; ``None``
    when there is none or it was written by another format version."""
    path = osp.join(root, SPEC_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    if record.get('format_version') != FORMAT_VERSION:
        return None
    return SyntheticSkeletonSpec.from_json(record)


def ensure_synthetic_skeleton_stal(root: str,
                                   spec: SyntheticSkeletonSpec) -> str:
    """Generate the task under ``root`` unless it is cached there with the
    same spec; a cache of another spec (or format version) is regenerated.

    Every file is written under a temporary name and renamed into place,
    the spec file last: a task whose spec file is present is complete, and
    an interrupted run is redone next time. Generation is announced in one
    line with a progress bar.
    """
    files = [osp.join(root, name) for name in (POSE_FILE, GT_FILE,
                                               GT_VAL_FILE)]
    cached = read_spec(root)
    if cached == spec and all(osp.isfile(f) for f in files):
        return root
    spec_path = osp.join(root, SPEC_FILE)
    reason = 'first use' if not osp.exists(spec_path) else 'settings changed'
    os.makedirs(root, exist_ok=True)
    if osp.exists(spec_path):
        # No spec while the files are being replaced: an interrupted run
        # must not look complete.
        os.remove(spec_path)
    total = sum(spec.num_per_class.values()) * spec.num_classes
    with announce(f'Generating the synthetic skeleton STAL benchmark under '
                  f'{root} ({reason}, {total:,} videos)...',
                  total) as progress:
        pose, gt, gt_val = build_task(spec, progress)
    for path, data in zip(files, (pose, gt, gt_val)):
        _write_atomic(path, pickle.dumps(data, protocol=PICKLE_PROTOCOL))
    _write_atomic(spec_path, json.dumps(spec.to_json(), indent=2,
                                        sort_keys=True).encode())
    return root
