import pytest
import torch
from mmpretrain.structures import DataSample

from provmm.evaluation.metrics import GroupAccuracy


def _confusion_samples():
    """A hand-made confusion (Waterbirds-like groups, 10 samples):

    group 0: 4 samples, 4 right -> 100 %
    group 1: 2 samples, 1 right ->  50 %
    group 2: 3 samples, 1 right -> 33.3 %
    group 3: 1 sample,  1 right -> 100 %
    top-1 = 7 / 10; mean-group = (100 + 50 + 100/3 + 100) / 4;
    worst-group = 100/3.
    """
    gt = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    pred = [0, 0, 0, 0, 0, 1, 1, 0, 0, 1]
    group = [0, 0, 0, 0, 1, 1, 2, 2, 2, 3]
    return pred, gt, group


def test_worst_and_mean_group_accuracy_of_a_hand_made_confusion():
    metrics = GroupAccuracy.calculate(*_confusion_samples())
    assert metrics['top1'] == pytest.approx(70.0)
    assert metrics['group_0'] == pytest.approx(100.0)
    assert metrics['group_1'] == pytest.approx(50.0)
    assert metrics['group_2'] == pytest.approx(100.0 / 3)
    assert metrics['group_3'] == pytest.approx(100.0)
    assert metrics['mean_group'] == pytest.approx(
        (100 + 50 + 100 / 3 + 100) / 4)
    assert metrics['worst_group'] == pytest.approx(100.0 / 3)
    # class 0: 5 of 6 right, class 1: 2 of 4 right
    assert metrics['mean_class'] == pytest.approx((500 / 6 + 50) / 2)


def test_mean_group_averages_only_groups_present_and_skips_no_group():
    metrics = GroupAccuracy.calculate([1, 0, 1, 1], [1, 1, 1, 0],
                                      [5, 5, -1, 9])
    assert set(k for k in metrics if k.startswith('group_')) == {
        'group_5', 'group_9'}
    assert metrics['mean_group'] == pytest.approx((50 + 0) / 2)
    assert metrics['worst_group'] == 0.0
    assert metrics['top1'] == pytest.approx(50.0)  # -1 still counts here


def test_metric_reads_group_from_data_samples():
    pred, gt, group = _confusion_samples()
    samples = []
    for p, y, g in zip(pred, gt, group):
        sample = DataSample(metainfo=dict(group=g)).set_gt_label(y)
        score = torch.zeros(2)
        score[p] = 1.0
        samples.append(sample.set_pred_score(score).to_dict())
    metric = GroupAccuracy()
    metric.process(None, samples[:6])
    metric.process(None, samples[6:])
    metrics = metric.evaluate(len(samples))
    assert metrics['group_accuracy/worst_group'] == pytest.approx(100 / 3)
    assert metrics['group_accuracy/top1'] == pytest.approx(70.0)


def test_sample_without_group_is_refused():
    sample = DataSample().set_gt_label(0).set_pred_label(0).to_dict()
    with pytest.raises(KeyError, match='PackProvenanceInputs'):
        GroupAccuracy().process(None, [sample])


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match='equally many'):
        GroupAccuracy.calculate([0, 1], [0], [0, 0])
    with pytest.raises(ValueError, match='equally many'):
        GroupAccuracy.calculate([], [], [])
