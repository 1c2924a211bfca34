"""Skeleton transforms: per-frame person selection, temporal sampling,
normalisation and packing into the (P, T, V, 3) model layout."""
import numpy as np
import pytest
import torch

from provmm.datasets.transforms import (NormalizeKeypoints,
                                        PackSkeletonInputs, SampleClip,
                                        SelectTopPersons)
from provmm.datasets.transforms.pose_transforms import (keypoint_boxes,
                                                        select_top_persons)
from provmm.registry import TRANSFORMS


def _sample(scores, num_joints=3):
    """``scores`` ``(M, T)``: every joint of a person in a frame has that
    score; coordinates say who and when: x = 100 m + v, y = t."""
    scores = np.asarray(scores, np.float32)
    m, t = scores.shape
    keypoint = np.zeros((m, t, num_joints, 2), np.float32)
    keypoint[..., 0] = 100 * np.arange(m)[:, None, None] + np.arange(
        num_joints)
    keypoint[..., 1] = np.arange(t)[None, :, None]
    return dict(video_name='Class/v_x', keypoint=keypoint,
                keypoint_score=np.repeat(scores[..., None], num_joints, -1),
                img_shape=(240, 320), gt_label=3)


def test_all_are_registered():
    for name in ('SelectTopPersons', 'SampleClip', 'NormalizeKeypoints',
                 'PackSkeletonInputs'):
        assert TRANSFORMS.get(name) is not None, name
    assert isinstance(TRANSFORMS.build(dict(type='SampleClip', clip_len=4)),
                      SampleClip)


def test_select_top_persons_per_frame_in_original_order():
    scores = [[0.9, 0.1, 0.5, 0.0],
              [0.2, 0.8, 0.5, 0.0],
              [0.7, 0.9, 0.5, 0.3]]
    results = SelectTopPersons(2)(_sample(scores))
    # Frame 1: 0 and 2; frame 2: 1 and 2; frame 3: a tie, lower slots win;
    # frame 4: only person 2 is present, the second slot is padding.
    expected = np.array([[0, 1, 0, 2], [2, 2, 1, -1]])
    np.testing.assert_array_equal(results['person_inds'], expected)
    np.testing.assert_array_equal(
        results['keypoint_score'][..., 0],
        np.float32([[0.9, 0.8, 0.5, 0.3], [0.7, 0.9, 0.5, 0.0]]))
    np.testing.assert_array_equal(
        results['keypoint'][..., 0, 0],
        np.float32([[0, 100, 0, 200], [200, 200, 100, 0]]))
    np.testing.assert_array_equal(results['keypoint'][..., 0, 1],
                                  np.float32([[0, 1, 2, 3], [0, 1, 2, 0]]))
    assert (results['keypoint'][1, 3] == 0).all()


def test_select_top_persons_pads_and_carries_boxes_and_inds():
    results = _sample([[0.5, 0.0, 0.6]])
    results['person_boxes'] = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    results = SelectTopPersons(num_persons=3)(results)
    assert results['keypoint'].shape == (3, 3, 3, 2)
    np.testing.assert_array_equal(results['person_inds'],
                                  [[0, -1, 0], [-1, -1, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(results['person_boxes'][0, 0], [0, 1, 2, 3])
    assert np.isnan(results['person_boxes'][0, 1]).all()
    assert np.isnan(results['person_boxes'][1:]).all()
    assert (results['keypoint_score'][1:] == 0).all()
    # A second selection composes with the first one's slot indices.
    again = SelectTopPersons(1)(results)
    np.testing.assert_array_equal(again['person_inds'], [[0, -1, 0]])


def test_select_top_persons_function_on_no_persons():
    np.testing.assert_array_equal(
        select_top_persons(np.zeros((0, 2, 17)), 2), [[-1, -1], [-1, -1]])


def test_sample_clip_train_draws_one_frame_per_segment():
    np.random.seed(0)
    results = SampleClip(clip_len=4, num_clips=2)(_sample(np.ones((2, 10))))
    inds = results['frame_inds']
    assert inds.dtype == np.int64 and inds.shape == (8, )
    assert results['keypoint'].shape == (2, 8, 3, 2)
    for clip in inds.reshape(2, 4):
        # Segments of 10 / 4 frames: [0, 2.5), [2.5, 5), [5, 7.5), [7.5, 10)
        for i, frame in enumerate(clip - 1):
            assert 2.5 * i - 1 < frame < 2.5 * (i + 1)
    # The frames kept are the original ones (y = t, 0-based).
    np.testing.assert_array_equal(results['keypoint'][0, :, 0, 1], inds - 1)
    assert results['clip_len'] == 4 and results['num_clips'] == 2


def test_sample_clip_repeats_frames_of_a_short_video_in_order():
    np.random.seed(1)
    results = SampleClip(clip_len=7)(_sample(np.ones((1, 3))))
    inds = results['frame_inds']
    assert len(inds) == 7 and set(inds) == {1, 2, 3}
    assert (np.diff(inds) >= 0).all()


def test_sample_clip_test_mode_takes_every_frame_or_a_stride():
    results = _sample(np.ones((2, 5)))
    results['person_boxes'] = np.zeros((2, 5, 4), np.float32)
    out = SampleClip(test_mode=True)(dict(results))
    np.testing.assert_array_equal(out['frame_inds'], [1, 2, 3, 4, 5])
    out = SampleClip(clip_len=48, test_mode=True, stride=2)(dict(results))
    np.testing.assert_array_equal(out['frame_inds'], [1, 3, 5])
    assert out['person_boxes'].shape == (2, 3, 4)
    assert out['clip_len'] == 3 and out['num_clips'] == 1
    # Composes with earlier frame numbers.
    out = SampleClip(test_mode=True, stride=2)(out)
    np.testing.assert_array_equal(out['frame_inds'], [1, 5])


def test_sample_clip_arguments():
    with pytest.raises(ValueError, match='clip_len must be a positive int'):
        SampleClip()
    with pytest.raises(ValueError, match='test_mode takes one clip'):
        SampleClip(test_mode=True, num_clips=3)


def test_normalize_keypoints_exact_values():
    results = _sample([[1.0, 0.0]], num_joints=3)
    results['keypoint'][0, 0] = [[0, 0], [160, 120], [320, 240]]
    results['keypoint'][0, 1] = [[80, 60], [400, -24], [40, 30]]
    results['keypoint_score'][0, 1, 2] = 0.5
    results = NormalizeKeypoints()(results)
    assert results['keypoint'].dtype == np.float32
    np.testing.assert_array_equal(
        results['keypoint'][0, 0], [[-1, -1], [0, 0], [1, 1]])
    # Frame 2: joints 0 and 1 have score 0 (zeroed); joint 2 is kept.
    np.testing.assert_array_equal(
        results['keypoint'][0, 1],
        [[0, 0], [0, 0], [-0.75, -0.75]])
    with pytest.raises(ValueError, match='already normalised'):
        NormalizeKeypoints()(results)


def test_normalize_outside_the_image_is_not_clipped():
    results = _sample([[1.0]], num_joints=1)
    results['keypoint'][0, 0, 0] = [400, -60]
    out = NormalizeKeypoints()(results)
    np.testing.assert_array_equal(out['keypoint'][0, 0, 0], [1.5, -1.5])


def test_keypoint_boxes_exact_values():
    keypoint = np.float32([[[[10, 20], [50, 80], [300, 0]]]])  # (1, 1, 3, 2)
    score = np.float32([[[0.5, 0.5, 0.0]]])
    np.testing.assert_array_equal(
        keypoint_boxes(keypoint, score, (100, 200), margin=0.1),
        np.float32([[[6, 14, 54, 86]]]))
    # Clipped to [0, w - 1] x [0, h - 1].
    np.testing.assert_array_equal(
        keypoint_boxes(keypoint, score, (60, 52), margin=0.5),
        np.float32([[[0, 0, 51, 59]]]))
    assert np.isnan(keypoint_boxes(keypoint, np.zeros_like(score),
                                   (100, 200))).all()


def test_pack_gives_the_model_layout_and_test_fields():
    results = _sample([[0.9, 0.9, 0.9], [0.4, 0.0, 0.4]])
    results['frame_inds'] = np.array([3, 5, 7])
    results['person_boxes'] = np.ones((2, 3, 4), np.float32)
    results['person_inds'] = np.array([[0, 0, 0], [1, -1, 1]])
    results['video_index'] = 4
    packed = PackSkeletonInputs()(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (2, 3, 3, 3) and inputs.dtype == torch.float32
    torch.testing.assert_close(inputs[..., :2],
                               torch.from_numpy(results['keypoint']))
    torch.testing.assert_close(inputs[..., 2],
                               torch.from_numpy(results['keypoint_score']))
    assert sample.gt_label.tolist() == [3]
    assert sample.frame_inds.dtype == torch.long
    assert sample.frame_inds.tolist() == [3, 5, 7]
    assert sample.person_valid.dtype == torch.bool
    assert sample.person_valid.tolist() == [[True] * 3, [True, False, True]]
    assert sample.person_boxes.dtype == torch.float32
    assert sample.person_boxes.shape == (2, 3, 4)
    assert torch.isnan(sample.person_boxes[1, 1]).all()
    assert (sample.person_boxes[1, 0] == 1).all()
    assert sample.person_inds.dtype == torch.long
    assert sample.video_name == 'Class/v_x' and sample.video_index == 4
    assert sample.img_shape == (240, 320)


def test_pack_training_sample_and_shape_errors():
    results = _sample([[0.9, 0.9]])
    packed = PackSkeletonInputs()(dict(results))
    sample = packed['data_samples']
    assert sample.frame_inds.tolist() == [1, 2]
    assert 'person_boxes' not in sample
    bad = dict(results, keypoint_score=np.ones((1, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"PackSkeletonInputs: video "
                       r"'Class/v_x': keypoint_score has shape \(1, 2, 4\), "
                       r'expected \(M, T, V\) = \(1, 2, 3\)'):
        PackSkeletonInputs()(bad)
    bad = dict(results, person_boxes=np.ones((1, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r'person_boxes has shape'):
        PackSkeletonInputs()(bad)
