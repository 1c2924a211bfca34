"""CAM overlays: ``WSOLVisualizer`` draws, ``WSOLVisualizationHook`` feeds it
the test samples and the threshold the metric selected."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.visualization import Visualizer
from mmpretrain.structures import DataSample

from provmm.engine.hooks import WSOLVisualizationHook
from provmm.evaluation.functional import best_contour_box
from provmm.evaluation.metrics import WSOLMetric
from provmm.evaluation.metrics.wsol_metric import sample_scoremap
from provmm.visualization import WSOLVisualizer
from test_max_box_accuracy import SIZE
from test_wsol_metric import _samples


def _visualizer(name):
    visualizer = WSOLVisualizer.get_instance(name)
    visualizer.dataset_meta = dict(classes=['a', 'b', 'c', 'd', 'e'])
    return visualizer


def _data_samples(tmp_path):
    """The metric tests' samples as model outputs, with 24 x 24 images."""
    samples = []
    for i, raw in enumerate(_samples()):
        img_path = str(tmp_path / 'images' / f'{i}.png')
        assert cv2.imwrite(img_path, np.full((24, 24, 3), 40 * i, np.uint8))
        sample = DataSample().set_gt_label(raw['gt_label'])
        sample.set_pred_label(raw['pred_label'])
        sample.set_pred_score(torch.softmax(torch.arange(5.), 0))
        sample.set_field(raw['cam'], 'cam')
        sample.set_metainfo(dict(gt_bboxes=raw['gt_bboxes'], img_id=raw[
            'img_id'], ori_shape=raw['ori_shape'], img_path=img_path))
        samples.append(sample)
    return samples


def _run_hook(hook, samples, metrics):
    runner = SimpleNamespace(
        test_dataloader=SimpleNamespace(dataset=samples),
        logger=MMLogger.get_instance('test_wsol_visualization'))
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0, {}, samples[:2])
    hook.after_test_iter(runner, 1, {}, samples[2:])
    hook.after_test_epoch(runner, metrics)


@pytest.fixture
def samples(tmp_path):
    (tmp_path / 'images').mkdir()
    return _data_samples(tmp_path)


def test_hook_draws_one_viewable_overlay_per_sample(tmp_path, samples):
    _visualizer('wsol_vis_draw')
    hook = WSOLVisualizationHook(out_dir=str(tmp_path / 'show'),
                                 eval_size=(SIZE, SIZE))
    _run_hook(hook, samples, {'wsol/threshold@50': 0.5, 'wsol/top1': 75.})
    written = sorted(p.relative_to(tmp_path / 'show').as_posix()
                     for p in (tmp_path / 'show').rglob('*.png'))
    assert written == ['c.png', 'c1/ring.png', 'c2/blob.png', 'n.png']
    overlay = cv2.imread(str(tmp_path / 'show' / 'c2' / 'blob.png'))
    # 12 x 12 frame enlarged to 448 x 448, caption band below
    assert overlay.shape[1] == 448 and overlay.shape[0] > 448
    scale = 448 / SIZE
    # GT (2,3,5,6) in the 12 px frame: right edge x = 6 -> 224 px, green
    b, g, r = overlay[int(5 * scale), round(6 * scale)].astype(int)
    assert g > 200 and r < 100 and b < 100
    # predicted box (2,3,6,7): right edge x = 7 -> 261 px, dashed red
    edge = overlay[int(4 * scale):int(7 * scale), round(7 * scale)]
    assert ((edge[:, 2] > 200) & (edge[:, 1] < 100)).mean() > 0.3


def test_predicted_boxes_at_the_metric_threshold_give_gt_known_loc(samples):
    # the drawn box is the one MaxBoxAccV2@50 credits at threshold@50
    metric = WSOLMetric(cam_curve_interval=0.01, eval_size=(SIZE, SIZE))
    dicts = [s.to_dict() for s in samples]
    metric.process({}, dicts)
    metrics = metric.compute_metrics(metric.results)
    hits = [best_contour_box(*sample_scoremap(d, (SIZE, SIZE), 'x'),
                             metrics['threshold@50'])[1] >= 0.5
            for d in dicts]
    assert 100. * sum(hits) / len(hits) == metrics['GT-known Loc'] == 75.


def test_hook_says_what_it_needs(tmp_path, samples):
    Visualizer.get_instance('plain_visualizer')
    with pytest.raises(TypeError, match="visualizer=dict\\(type='WSOL"
                       "Visualizer', ...\\) in the config, got Visualizer"):
        WSOLVisualizationHook()
    _visualizer('wsol_vis_needs')
    hook = WSOLVisualizationHook(out_dir=str(tmp_path), eval_size=(SIZE, SIZE))
    with pytest.raises(KeyError, match="no 'threshold@50' among the test "
                       "metrics \\['wsol/top1'\\]; use a WSOLMetric whose "
                       'iou_thresholds include 50, or set threshold='):
        _run_hook(hook, samples, {'wsol/top1': 75.})
    samples[1].set_metainfo(dict(img_id='../escape.jpg'))
    with pytest.raises(ValueError, match='inside its root'):
        _run_hook(WSOLVisualizationHook(out_dir=str(tmp_path / 'x'),
                                        eval_size=(SIZE, SIZE),
                                        threshold=0.5), samples, {})
    assert not (tmp_path / 'escape.png').exists()
