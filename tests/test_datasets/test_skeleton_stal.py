"""UCF101-24 skeleton STAL dataset on small files in the real formats: a
PYSKL/mmaction2 pose pickle and a Python-2-style ``UCF101v2-GT.pkl``."""
import os.path as osp
import pickle
import struct

import numpy as np
import pytest
import torch

from provmm.datasets import SkeletonSTALDataset
from provmm.datasets.skeleton_stal import load_ucf101_24_gt
from provmm.registry import DATASETS

V = 17
LABELS = ['Basketball', 'Biking', 'Diving']
V0 = 'Basketball/v_Basketball_g01_c01'  # train, 3 persons, 6 frames
V1 = 'Biking/v_Biking_g01_c01'  # train, 1 person, 5 frames
V2 = 'Diving/v_Diving_g01_c01'  # test, 3 persons, 4 frames
RESOLUTION = (240, 320)

# Per-frame scores of the three persons of V0 (the same at every joint).
V0_SCORES = np.array([[0.9, 0.2, 0.9, 0.0, 0.5, 0.5],
                      [0.5, 0.8, 0.0, 0.0, 0.5, 0.1],
                      [0.7, 0.9, 0.6, 0.4, 0.5, 0.9]], np.float32)
# Top-2 per frame, kept persons in their original order, -1 = padding.
V0_TOP2 = np.array([[0, 1, 0, 2, 0, 0],
                    [2, 2, 2, -1, 1, 2]])


class Py2Pickler(pickle._Pickler):
    """Writes ``bytes`` and ``str`` as Python 2 ``str`` (BINSTRING), as a
    Python 2 pickle of numpy arrays does: loading it needs
    ``encoding='latin1'``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj, data):
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(data)) +
                       data)
        self.memoize(obj)

    def save_bytes(self, obj):
        self._save_py2_str(obj, obj)

    def save_str(self, obj):
        self._save_py2_str(obj, obj.encode('latin1'))

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def _person(x0, y0, t_count, score):
    """``(T, V, 2)`` joints on a 5 x 4 grid: x in [x0, x0 + 40], y in
    [y0, y0 + 60]; ``(T, V)`` scores."""
    v = np.arange(V)
    joints = np.stack([x0 + 10.0 * (v % 5), y0 + 20.0 * (v // 5)], -1)
    return (np.repeat(joints[None], t_count, 0).astype(np.float32),
            np.full((t_count, V), score, np.float32))


def _v2_arrays():
    """Test video: person 0 inside the image (joint 16 of frame 2 has score
    0 and lies at (0, 0)), person 1 at the bottom-right corner, person 2
    only in frames 1 and 2."""
    k0, s0 = _person(100, 50, 4, 0.9)
    k0[1, 16] = 0
    s0[1, 16] = 0
    k1, s1 = _person(300, 200, 4, 0.8)
    k2, s2 = _person(10, 10, 4, 0.3)
    k2[2:] = 0
    s2[2:] = 0
    return np.stack([k0, k1, k2]), np.stack([s0, s1, s2])


def _annotation(frame_dir, label, keypoint, score):
    return dict(frame_dir=frame_dir, label=label, img_shape=RESOLUTION,
                original_shape=RESOLUTION, total_frames=keypoint.shape[1],
                keypoint=keypoint, keypoint_score=score)


def make_pose():
    m, t = V0_SCORES.shape
    # Coordinates say which person and joint they are: x = 10 m + v.
    k0 = np.zeros((m, t, V, 2), np.float32)
    k0[..., 0] = 10 * np.arange(m)[:, None, None] + np.arange(V)
    k0[..., 1] = np.arange(t)[None, :, None]
    s0 = np.repeat(V0_SCORES[..., None], V, -1)
    k1, s1 = _person(20, 20, 5, 0.7)
    k2, s2 = _v2_arrays()
    extra_k, extra_s = _person(0, 0, 2, 0.5)
    return dict(
        split=dict(train1=['v_Basketball_g01_c01', V1, 'v_Extra_g01_c01'],
                   test1=['v_Diving_g01_c01']),
        annotations=[
            # Matched by the last part of the ground truth name.
            _annotation('v_Basketball_g01_c01', 0, k0, s0),
            # Matched by the full name.
            _annotation(V1, 1, k1[None], s1[None]),
            _annotation('v_Diving_g01_c01', 2, k2, s2),
            # Not in the ground truth: ignored.
            _annotation('v_Extra_g01_c01', 0, extra_k[None], extra_s[None]),
        ])


def _tube(first, last, box):
    frames = np.arange(first, last + 1, dtype=np.float64)
    return np.concatenate(
        [frames[:, None], np.tile(np.asarray(box, np.float64),
                                  (len(frames), 1))], 1)


def make_gt():
    return dict(
        labels=list(LABELS),
        gttubes={V0: {0: [_tube(1, 6, [1, 2, 30, 40])]},
                 V1: {1: [_tube(2, 5, [5, 5, 50, 60])]},
                 V2: {2: [_tube(1, 4, [96, 44, 144, 116])]}},
        nframes={V0: 6, V1: 5, V2: 4},
        resolution={V0: RESOLUTION, V1: RESOLUTION, V2: RESOLUTION},
        train_videos=[[V0, V1]],
        test_videos=[[V2]])


def write_files(root, pose=None, gt=None):
    pose = make_pose() if pose is None else pose
    gt = make_gt() if gt is None else gt
    with open(osp.join(root, 'ucf101_24_hrnet.pkl'), 'wb') as f:
        pickle.dump(pose, f)
    with open(osp.join(root, 'UCF101v2-GT.pkl'), 'wb') as f:
        Py2Pickler(f, protocol=2).dump(gt)
    return str(root)


def build(root, **kwargs):
    """The dataset, unserialised (serialising runs a slow gc.collect)."""
    return SkeletonSTALDataset(data_root=str(root), serialize_data=False,
                               **kwargs)


def test_ground_truth_written_as_python2_loads_with_latin1(tmp_path):
    write_files(tmp_path)
    path = str(tmp_path / 'UCF101v2-GT.pkl')
    with open(path, 'rb') as f:
        assert f.read(2) == b'\x80\x02'  # protocol 2
    with open(path, 'rb') as f, pytest.raises(UnicodeDecodeError):
        pickle.load(f)  # numpy data as Python 2 str: not ASCII
    gt = load_ucf101_24_gt(path)
    assert gt['labels'] == LABELS
    assert gt['test_videos'] == [[V2]]
    np.testing.assert_array_equal(gt['gttubes'][V2][2][0],
                                  _tube(1, 4, [96, 44, 144, 116]))
    assert tuple(gt['resolution'][V0]) == RESOLUTION


def test_train_split_has_video_labels_and_the_top_two_persons(tmp_path):
    ds = DATASETS.build(dict(type='SkeletonSTALDataset',
                             data_root=write_files(tmp_path), split='train',
                             serialize_data=False))
    assert not ds.test_mode
    assert ds.metainfo['classes'] == tuple(LABELS)
    assert len(ds) == 2
    assert list(ds.get_gt_labels()) == [0, 1]
    info = ds.get_data_info(0)
    assert info['video_name'] == V0 and info['video_index'] == 0
    assert info['frame_dir'] == 'v_Basketball_g01_c01'
    assert info['total_frames'] == 6 and info['img_shape'] == RESOLUTION
    assert 'person_boxes' not in info and 'gt_bboxes' not in info
    # Per frame: the two persons with the highest mean joint score.
    assert info['keypoint'].shape == (2, 6, V, 2)
    assert info['keypoint'].dtype == np.float32
    kept = V0_TOP2 >= 0
    frames = np.broadcast_to(np.arange(6), V0_TOP2.shape)
    expected_score = np.where(kept, V0_SCORES[np.maximum(V0_TOP2, 0),
                                              frames], 0)
    np.testing.assert_array_equal(info['keypoint_score'][..., 0],
                                  expected_score)
    np.testing.assert_array_equal(
        info['keypoint'][..., 0, 0], np.where(kept, 10 * V0_TOP2, 0))
    # One person: padded with a zero-score person.
    one = ds.get_data_info(1)
    assert one['video_name'] == V1 and one['gt_label'] == 1
    assert one['keypoint'].shape == (2, 5, V, 2)
    assert (one['keypoint_score'][1] == 0).all()
    assert (one['keypoint'][1] == 0).all()


def test_max_persons_none_keeps_every_person(tmp_path):
    ds = build(write_files(tmp_path), split='train', max_persons=None)
    assert ds.get_data_info(0)['keypoint'].shape == (3, 6, V, 2)


def test_test_split_keeps_every_person_with_keypoint_extent_boxes(tmp_path):
    ds = build(write_files(tmp_path), split='test')
    assert ds.test_mode and len(ds) == 1
    info = ds.get_data_info(0)
    assert info['video_name'] == V2 and info['gt_label'] == 2
    assert info['keypoint'].shape == (3, 4, V, 2)
    boxes = info['person_boxes']
    assert boxes.shape == (3, 4, 4) and boxes.dtype == np.float32
    # Extent 40 x 60 plus 10 % of each side each way; the joint with score
    # 0 at (0, 0) in frame 2 does not count.
    np.testing.assert_array_equal(
        boxes[0], np.tile(np.float32([96, 44, 144, 116]), (4, 1)))
    # Clipped to the pixel grid [0, 319] x [0, 239].
    np.testing.assert_array_equal(
        boxes[1], np.tile(np.float32([296, 194, 319, 239]), (4, 1)))
    np.testing.assert_array_equal(
        boxes[2, :2], np.tile(np.float32([6, 4, 54, 76]), (2, 1)))
    assert np.isnan(boxes[2, 2:]).all()


def test_box_margin_is_an_argument(tmp_path):
    ds = build(write_files(tmp_path), split='test', box_margin=0.0)
    np.testing.assert_array_equal(ds.get_data_info(0)['person_boxes'][0, 0],
                                  np.float32([100, 50, 140, 110]))


def test_pipelines_pack_the_model_layout(tmp_path):
    root = write_files(tmp_path)
    train = build(root, split='train', pipeline=[
        dict(type='SelectTopPersons', num_persons=2),
        dict(type='SampleClip', clip_len=4),
        dict(type='NormalizeKeypoints'),
        dict(type='PackSkeletonInputs')])
    packed = train[0]
    assert packed['inputs'].shape == (2, 4, V, 3)
    assert packed['inputs'].dtype == torch.float32
    sample = packed['data_samples']
    assert sample.gt_label.tolist() == [0]
    assert sample.frame_inds.shape == (4, )
    assert not hasattr(sample, 'person_boxes')

    test = build(root, split='test', pipeline=[
        dict(type='SampleClip', test_mode=True),
        dict(type='NormalizeKeypoints'),
        dict(type='PackSkeletonInputs')])
    packed = test[0]
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (3, 4, V, 3) and inputs.dtype == torch.float32
    assert sample.video_name == V2 and sample.video_index == 0
    assert sample.img_shape == RESOLUTION
    assert sample.gt_label.tolist() == [2]
    assert sample.frame_inds.dtype == torch.long
    assert sample.frame_inds.tolist() == [1, 2, 3, 4]
    assert sample.person_boxes.shape == (3, 4, 4)
    assert sample.person_boxes.dtype == torch.float32
    assert sample.person_valid.dtype == torch.bool
    assert sample.person_valid.tolist() == [[True] * 4, [True] * 4,
                                            [True, True, False, False]]
    assert torch.isnan(sample.person_boxes[2, 2:]).all()
    assert sample.person_boxes[0, 0].tolist() == [96, 44, 144, 116]
    # Scores in channel 2; padded/missing persons score 0.
    assert (inputs[2, 2:, :, 2] == 0).all()
    assert inputs[0, 0, 0].tolist() == pytest.approx(
        [100 / 160 - 1, 50 / 120 - 1, 0.9])


def _pose_with(**changes):
    """The pose file with annotation fields changed: ``{index: {key:
    value}}``."""
    pose = make_pose()
    for index, fields in changes.items():
        pose['annotations'][int(index[1:])].update(fields)
    return pose


def _nan_at_person1_frame3_joint5():
    keypoint = make_pose()['annotations'][0]['keypoint'].copy()
    keypoint[1, 2, 5, 1] = np.nan
    return keypoint


@pytest.mark.parametrize('change, message', [
    (dict(a0=dict(keypoint_score=np.ones((3, 6, 16), np.float32))),
     r"annotations\[0\] \(video 'v_Basketball_g01_c01'\): 'keypoint_score' "
     r"has shape \(M, T, V\) = \(3, 6, 16\), 'keypoint' has \(M, T, V\) = "
     r'\(3, 6, 17\); expected equal'),
    (dict(a0=dict(keypoint_score=np.ones((2, 6, 17), np.float32))),
     r"'keypoint_score' has shape \(M, T, V\) = \(2, 6, 17\)"),
    (dict(a1=dict(total_frames=7)),
     r"annotations\[1\] \(video 'Biking/v_Biking_g01_c01'\): 'total_frames' "
     r"is 7 but 'keypoint' has T = 5 frames; expected equal"),
    (dict(a0=dict(keypoint=_nan_at_person1_frame3_joint5())),
     r"video 'v_Basketball_g01_c01'\): 'keypoint' is not finite \(NaN/inf\) "
     r'at person 1, frame 3 \(1-based\), joint 5'),
    (dict(a0=dict(label=3)),
     r"video 'v_Basketball_g01_c01'\): label 3 is outside the 3 labels of "
     r'.*UCF101v2-GT.pkl \(0..2\)'),
    (dict(a1=dict(label=0)),
     r"video 'Biking/v_Biking_g01_c01'\): label 0 \(Basketball\) but "
     r"gttubes\['Biking/v_Biking_g01_c01'\] of .*UCF101v2-GT.pkl has "
     r'label\(s\) \[1\]'),
    (dict(a0=dict(frame_dir='v_Basketball_g02_c01')),
     r'UCF101v2-GT.pkl: 1 of 2 videos of train_videos\[0\] have no skeleton '
     r'annotation .* in .*ucf101_24_hrnet.pkl, first: '
     r'Basketball/v_Basketball_g01_c01'),
    (dict(a1=dict(frame_dir='v_Basketball_g01_c01')),
     r"annotations\[1\] and \[0\] both have frame_dir "
     r"'v_Basketball_g01_c01'"),
    (dict(a0=dict(keypoint_score=None)),
     r"annotations\[0\] \(video 'v_Basketball_g01_c01'\): 'keypoint_score' "
     r'has shape'),
])
def test_malformed_skeletons_name_the_video_and_key(tmp_path, change,
                                                    message):
    pose = _pose_with(**change)
    with pytest.raises(ValueError, match=message):
        build(write_files(tmp_path, pose=pose), split='train')


def test_missing_key_is_named(tmp_path):
    pose = make_pose()
    del pose['annotations'][1]['keypoint_score']
    with pytest.raises(ValueError, match=r"annotations\[1\] \(video "
                       r"'Biking/v_Biking_g01_c01'\): lacks key\(s\) "
                       r"\['keypoint_score'\]"):
        build(write_files(tmp_path, pose=pose), split='train')


def test_infinite_score_is_named(tmp_path):
    pose = make_pose()
    pose['annotations'][2]['keypoint_score'][2, 3, 4] = np.inf
    with pytest.raises(ValueError, match=r"'keypoint_score' is not finite "
                       r'\(NaN/inf\) at person 2, frame 4 \(1-based\), '
                       'joint 4'):
        build(write_files(tmp_path, pose=pose), split='test')


def test_test_split_needs_frames_and_shape_of_the_ground_truth(tmp_path):
    gt = make_gt()
    gt['nframes'][V2] = 5
    with pytest.raises(ValueError, match=r"video 'v_Diving_g01_c01'\): 4 "
                       r"frames but nframes of 'Diving/v_Diving_g01_c01' in "
                       r'.*UCF101v2-GT.pkl is 5; expected equal'):
        build(write_files(tmp_path, gt=gt), split='test')
    gt = make_gt()
    gt['resolution'][V2] = (480, 640)
    with pytest.raises(ValueError, match=r'img_shape \(240, 320\) but '
                       r"resolution of 'Diving/v_Diving_g01_c01' in "
                       r'.*UCF101v2-GT.pkl is \(480, 640\)'):
        build(write_files(tmp_path, gt=gt), split='test')
    gt = make_gt()
    del gt['gttubes'][V2]
    with pytest.raises(ValueError, match=r"'gttubes' has no entry for test "
                       r"video 'Diving/v_Diving_g01_c01'"):
        build(write_files(tmp_path, gt=gt), split='test')
    # Training does not need them.
    gt = make_gt()
    gt['nframes'][V0] = 99
    assert len(build(write_files(tmp_path, gt=gt), split='train')) == 2


def test_a_split_in_the_pose_file_must_match_the_ground_truth(tmp_path):
    pose = make_pose()
    pose['split']['train'] = ['v_Basketball_g01_c01', V1, 'v_Extra_g01_c01']
    with pytest.raises(ValueError, match=r"ucf101_24_hrnet.pkl: "
                       r"split\['train'\] lists 1 video\(s\) not in "
                       r'train_videos\[0\] of .*UCF101v2-GT.pkl, first: '
                       'v_Extra_g01_c01'):
        build(write_files(tmp_path, pose=pose), split='train')
    pose['split']['train'] = ['v_Basketball_g01_c01']
    with pytest.raises(ValueError, match=r'train_videos\[0\] holds 1 '
                       r"video\(s\) that split\['train'\] of "
                       r'.*ucf101_24_hrnet.pkl does not list, first: '
                       'Biking/v_Biking_g01_c01'):
        build(write_files(tmp_path, pose=pose), split='train')
    pose['split']['train'] = ['v_Basketball_g01_c01', V1]
    assert len(build(write_files(tmp_path, pose=pose), split='train')) == 2


def test_missing_files_say_where_the_data_go(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        build(tmp_path / 'nowhere', split='train')
    message = str(error.value)
    assert 'ucf101_24_hrnet.pkl' in message and 'UCF101v2-GT.pkl' in message
    assert 'data/ucf101_24/' in message
    assert 'docs/datasets/ucf101_24_skeletons.md' in message
    write_files(tmp_path)
    (tmp_path / 'UCF101v2-GT.pkl').unlink()
    with pytest.raises(FileNotFoundError, match=r"missing '.*UCF101v2-GT"
                       r".pkl'; put the skeletons"):
        build(tmp_path, split='train')


def test_bad_ground_truth_and_arguments_are_named(tmp_path):
    gt = make_gt()
    del gt['resolution']
    with pytest.raises(ValueError, match=r"UCF101v2-GT.pkl: ground truth "
                       r"lacks key\(s\) \['resolution'\]"):
        build(write_files(tmp_path, gt=gt), split='train')
    gt = make_gt()
    gt['gttubes'][V1] = {5: []}
    with pytest.raises(ValueError, match=r"gttubes\['Biking/v_Biking_g01_"
                       r"c01'\] has label 5, outside the 3 labels"):
        build(write_files(tmp_path, gt=gt), split='train')
    root = write_files(tmp_path)
    with pytest.raises(ValueError, match=r'test_videos has 1 split\(s\); '
                       'split_index 1 is out of range'):
        build(root, split='test', split_index=1)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        build(root, split='val')
