"""The synthetic skeleton STAL generator: deterministic files in the
PYSKL / UCF101v2-GT layouts, ground truth boxes around the actor on its
segment, a bystander cue that follows the class in train and not in test,
and no OpenMMLab needed."""
import hashlib
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest

from provmm.synthetic import (SyntheticSkeletonSpec,
                              ensure_synthetic_skeleton_stal)
from provmm.synthetic.skeleton_task import (BYSTANDER_PATTERNS, GT_FILE,
                                            GT_VAL_FILE, NUM_JOINTS,
                                            POSE_FILE, SPEC_FILE,
                                            person_boxes, read_spec,
                                            render_split)

TINY = dict(num_classes=4, num_per_class=dict(train=10, val=2, test=4),
            cooccurrence=0.8, num_frames=(16, 24))
FILES = (POSE_FILE, GT_FILE, GT_VAL_FILE, SPEC_FILE)


def _digest(root):
    out = {}
    for name in FILES:
        with open(osp.join(root, name), 'rb') as f:
            out[name] = hashlib.sha1(f.read()).hexdigest()
    return out


def _load(root, name):
    with open(osp.join(root, name), 'rb') as f:
        return pickle.load(f)


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('skeleton') / 'synth')
    return ensure_synthetic_skeleton_stal(root, SyntheticSkeletonSpec(**TINY))


def test_generation_is_bit_identical_per_seed(tmp_path, tiny_root):
    spec = SyntheticSkeletonSpec(**TINY)
    again = _digest(ensure_synthetic_skeleton_stal(str(tmp_path / 'a'), spec))
    assert again == _digest(tiny_root)
    other = SyntheticSkeletonSpec(**dict(TINY, seed=1))
    changed = _digest(ensure_synthetic_skeleton_stal(str(tmp_path / 'b'),
                                                     other))
    assert all(changed[n] != again[n] for n in FILES)
    assert not [n for n in os.listdir(tmp_path / 'a') if 'partial' in n]


def test_generation_is_announced_cached_and_redone_on_a_new_spec(
        tmp_path, capsys):
    root = str(tmp_path / 'synth')
    spec = SyntheticSkeletonSpec(**TINY)
    ensure_synthetic_skeleton_stal(root, spec)
    line, bar, end = capsys.readouterr().out.split('\n')
    assert line == ('Generating the synthetic skeleton STAL benchmark under '
                    f'{root} (first use, 64 videos)...')
    assert '64/64' in bar and end == ''
    ensure_synthetic_skeleton_stal(root, spec)
    assert capsys.readouterr().out == ''

    # A changed spec regenerates in place; the spec file records it.
    other = SyntheticSkeletonSpec(**dict(TINY, cooccurrence=0.5))
    before = _digest(root)
    ensure_synthetic_skeleton_stal(root, other)
    assert capsys.readouterr().out.startswith(
        f'Generating the synthetic skeleton STAL benchmark under {root} '
        '(settings changed, 64 videos)...')
    assert read_spec(root) == other
    assert _digest(root)[POSE_FILE] != before[POSE_FILE]

    # No spec file = an interrupted run: generated again.
    os.remove(osp.join(root, SPEC_FILE))
    ensure_synthetic_skeleton_stal(root, spec)
    assert '(first use, 64 videos)' in capsys.readouterr().out
    assert _digest(root) == before


def test_spec_round_trips_and_rejects_bad_settings():
    spec = SyntheticSkeletonSpec(**TINY)
    record = json.loads(json.dumps(spec.to_json()))
    assert SyntheticSkeletonSpec.from_json(record) == spec
    # Lists from a config are the same cache key as tuples.
    assert SyntheticSkeletonSpec(**dict(TINY, num_frames=[16, 24])) == spec
    with pytest.raises(ValueError, match='num_classes must be in 2..8'):
        SyntheticSkeletonSpec(num_classes=9)
    with pytest.raises(ValueError, match="each of \\['train', 'val', 'test'"):
        SyntheticSkeletonSpec(num_per_class=dict(train=2, test=2))
    with pytest.raises(ValueError, match='cooccurrence must be in'):
        SyntheticSkeletonSpec(cooccurrence=1.5)
    with pytest.raises(ValueError, match='num_persons'):
        SyntheticSkeletonSpec(num_persons=(1, 3))


def test_files_have_the_shapes_and_types_of_the_real_formats(tiny_root):
    spec = SyntheticSkeletonSpec(**TINY)
    pose = _load(tiny_root, POSE_FILE)
    gt = _load(tiny_root, GT_FILE)
    gt_val = _load(tiny_root, GT_VAL_FILE)
    assert gt['labels'] == list(spec.classes)
    sizes = {s: 4 * n for s, n in TINY['num_per_class'].items()}
    for split, size in sizes.items():
        assert len(pose['split'][f'{split}1']) == size
    assert [len(gt[k][0]) for k in ('train_videos', 'val_videos',
                                    'test_videos')] == [40, 8, 16]
    assert gt_val['test_videos'] == gt['val_videos']
    assert gt_val['train_videos'] == gt['train_videos']
    assert len(pose['annotations']) == sum(sizes.values())
    names = {v.split('/')[-1]: v for s in ('train', 'val', 'test')
             for v in gt[f'{s}_videos'][0]}
    for ann in pose['annotations']:
        keypoint, score = ann['keypoint'], ann['keypoint_score']
        m, t = keypoint.shape[:2]
        assert keypoint.dtype == np.float32 and score.dtype == np.float32
        assert keypoint.shape == (m, t, NUM_JOINTS, 2) and m in (2, 3)
        assert score.shape == (m, t, NUM_JOINTS) and 16 <= t <= 24
        assert ann['total_frames'] == t and ann['img_shape'] == (240, 320)
        assert isinstance(ann['label'], int)
        video = names[ann['frame_dir']]
        assert gt['nframes'][video] == t
        assert gt['resolution'][video] == (240, 320)
        assert list(gt['gttubes'][video]) == [ann['label']]
        assert video.split('/')[0] == spec.classes[ann['label']]
        # Scores: 0 (not detected) or a detector's confidence in [0.3, 1].
        detected = score > 0
        assert ((score[detected] >= 0.3) & (score[detected] <= 1)).all()
        assert (keypoint[~detected] == 0).all()
        assert detected.sum(-1).min() >= NUM_JOINTS - 4
        assert (keypoint[..., 0] <= 319).all()
        assert (keypoint[..., 1] <= 239).all() and (keypoint >= 0).all()


def test_gt_boxes_hold_the_actor_on_exactly_its_segment(tiny_root):
    pose = _load(tiny_root, POSE_FILE)
    gt = _load(tiny_root, GT_FILE)
    names = {v.split('/')[-1]: v for v in gt['gttubes']}
    for ann in pose['annotations']:
        info = ann['synthetic']
        start, end = info['segment']
        (tube, ) = gt['gttubes'][names[ann['frame_dir']]][ann['label']]
        assert tube.dtype == np.float32 and tube.shape == (end - start + 1,
                                                           5)
        np.testing.assert_array_equal(tube[:, 0], np.arange(start, end + 1))
        assert 1 <= start <= end <= ann['total_frames']
        actor = info['actor']
        assert info['roles'][actor] == 'actor'
        assert info['roles'][info['bystander']] == 'bystander'
        keypoint = ann['keypoint'][actor, start - 1:end]
        valid = ann['keypoint_score'][actor, start - 1:end] > 0
        for box, joints, ok in zip(tube[:, 1:], keypoint, valid):
            x1, y1, x2, y2 = box
            xs, ys = joints[ok, 0], joints[ok, 1]
            assert x1 <= xs.min() and xs.max() <= x2
            assert y1 <= ys.min() and ys.max() <= y2
            # Tight up to the margin: the box is the extent widened by 10 %.
            width, height = xs.max() - xs.min(), ys.max() - ys.min()
            assert x2 - x1 <= 1.2 * width + 1e-3
            assert y2 - y1 <= 1.2 * height + 1e-3
        np.testing.assert_array_equal(
            tube[:, 1:], person_boxes(keypoint, valid, (240, 320), 0.1))


def _pattern_features(keypoint, score):
    """Robust pose and motion of one person: per-joint median and 10-90 %
    spread of the joints relative to the pelvis, in units of the body
    height."""
    keypoint = keypoint.astype(np.float64)
    valid = score > 0
    hips = np.where(valid[:, 11:13, None], keypoint[:, 11:13], np.nan)
    pelvis = np.nanmean(hips, axis=1)
    ankles = np.where(valid[:, 15:17], keypoint[:, 15:17, 1], np.nan)
    nose = np.where(valid[:, 0], keypoint[:, 0, 1], np.nan)
    height = np.nanmedian(ankles) - np.nanmedian(nose)
    rel = np.where(valid[..., None], (keypoint - pelvis[:, None]) / height,
                   np.nan)
    lo, mid, hi = np.nanpercentile(rel, [10, 50, 90], axis=0)
    return np.nan_to_num(np.concatenate([mid.ravel(), (hi - lo).ravel()]))


def test_bystander_cue_follows_the_class_in_train_only(tiny_root):
    """Measured from the skeletons: a nearest-centroid reader of the
    bystander's motion pattern, fit on train, recovers the recorded pattern;
    that pattern equals the class in train at the cooccurrence rate and at
    chance (1 / K) in test."""
    pose = _load(tiny_root, POSE_FILE)
    by_dir = {ann['frame_dir']: ann for ann in pose['annotations']}

    def read(split):
        anns = [by_dir[d] for d in pose['split'][f'{split}1']]
        feats = np.array([
            _pattern_features(a['keypoint'][a['synthetic']['bystander']],
                              a['keypoint_score'][
                                  a['synthetic']['bystander']])
            for a in anns])
        patterns = np.array([a['synthetic']['bystander_pattern']
                             for a in anns])
        return feats, patterns, np.array([a['label'] for a in anns])

    feats, patterns, labels = read('train')
    assert set(patterns) == {0, 1, 2, 3}
    centroids = np.stack([feats[patterns == p].mean(0) for p in range(4)])
    rates = {}
    for split in ('train', 'val', 'test'):
        feats, patterns, labels = read(split)
        seen = ((feats[:, None] - centroids[None])**2).sum(-1).argmin(1)
        assert (seen == patterns).mean() >= 0.9, split
        rates[split] = (seen == labels).mean()
        # The recorded rate is exact: round(0.8 * 10) of 10 in train; test
        # cycles 4 videos over 4 patterns; val's 2 videos of a class never
        # reach its own pattern (never above chance).
        for c in range(4):
            own = (patterns[labels == c] == c).mean()
            assert own == {'train': 0.8, 'val': 0.0, 'test': 0.25}[split]
    assert rates['train'] >= 0.7 and rates['test'] <= 0.4
    assert rates['train'] - rates['test'] >= 0.4


def test_non_actors_are_bystanders_or_idle_and_the_actor_moves_in_segment():
    spec = SyntheticSkeletonSpec(**dict(TINY, noise_std=0.0, jitter_prob=0.0,
                                        drop_prob=0.0))
    for video in render_split(spec, 'test'):
        s, e = video.segment
        assert sorted(video.roles)[0] == 'actor'
        assert video.roles.count('bystander') == 1
        # The actor's joints move more inside its segment than outside.
        joints = video.keypoint[video.actor].astype(np.float64)
        speed = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1)
        inside = speed[s - 1:e - 1].mean()
        outside = np.concatenate([speed[:max(s - 2, 0)], speed[e:]])
        if len(outside) >= 3:
            assert inside > outside.mean(), video.name
        assert video.bystander_pattern < len(BYSTANDER_PATTERNS)


def test_generator_imports_and_runs_without_openmmlab(tmp_path):
    script = f"""
import importlib.abc
import sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('mmcv', 'mmengine', 'mmpretrain'):
            raise ImportError(f'blocked: {{name}}')

sys.meta_path.insert(0, Block())
import provmm.synthetic.skeleton_task as task
spec = task.SyntheticSkeletonSpec(num_classes=2, num_frames=(8, 8),
    num_per_class=dict(train=1, val=1, test=1))
task.ensure_synthetic_skeleton_stal({str(tmp_path / 'synth')!r}, spec)
loaded = sorted(set(m.split('.')[0] for m in sys.modules) &
                {{'mmcv', 'mmengine', 'mmpretrain'}})
print('loaded', loaded)
"""
    out = subprocess.run([sys.executable, '-c', script],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    # Without mmengine: the announcement line only, no bar.
    assert lines[0].startswith('Generating the synthetic skeleton STAL')
    assert lines[-1] == 'loaded []' and len(lines) == 2
    assert osp.isfile(tmp_path / 'synth' / SPEC_FILE)
