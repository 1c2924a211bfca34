"""WSOLMetric on hand-built CAMs whose metrics are derived by hand (maps
at the evaluation size, so the bicubic resize is the identity)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.structures import DataSample

from provmm.evaluation.metrics import WSOLMetric
from provmm.registry import METRICS
from test_max_box_accuracy import SIZE, blob_map, ring_map


def _sample(cam, boxes_at_24px, gt, pred, img_id):
    # originals are 24 x 24, so boxes halve when resized to 12 x 12
    return dict(cam=torch.as_tensor(cam, dtype=torch.float32),
                gt_bboxes=np.array(boxes_at_24px, np.float32),
                ori_shape=(24, 24), gt_label=torch.tensor([gt]),
                pred_label=torch.tensor([pred]), img_id=img_id)


def _samples():
    return [
        # ring, GT (3,3,8,8): hole box IoU 36/49, outer box 36/81; class ok
        _sample(ring_map(), [[6, 6, 16, 16]], 1, 1, 'c1/ring.jpg'),
        # blob, GT (2,3,5,6): IoU 16/25 = 0.64; class wrong
        _sample(blob_map(), [[4, 6, 10, 12]], 2, 0, 'c2/blob.jpg'),
        # constant -> zeros -> box (0,0,0,0) vs GT (0,0,1,1): IoU 1/4
        _sample(np.full((SIZE, SIZE), 3.0), [[0, 0, 3, 3]], 3, 3, 'c.jpg'),
        # NaN -> zeros -> box (0,0,0,0) vs GT (0,0,0,0): IoU 1; class ok
        _sample(np.full((SIZE, SIZE), np.nan), [[0, 0, 1, 1]], 4, 4, 'n.jpg'),
    ]


def _metric(**kwargs):
    return WSOLMetric(cam_curve_interval=0.01, eval_size=(SIZE, SIZE),
                      **kwargs)


def test_metrics_match_hand_computed_values():
    metric = _metric()
    metric.process({}, _samples())
    got = metric.compute_metrics(metric.results)
    # correct images per δ at every threshold: 0.3 -> ring, blob, NaN;
    # 0.5 -> ring, blob, NaN; 0.7 -> ring, NaN
    assert got['MaxBoxAccV2@30'] == 75.0
    assert got['MaxBoxAccV2@50'] == 75.0
    assert got['MaxBoxAccV2@70'] == 50.0
    assert got['MaxBoxAccV2'] == pytest.approx(200 / 3)
    assert got['GT-known Loc'] == 75.0
    # Top-1 Loc: the blob's class is wrong -> ring and NaN
    assert got['Top-1 Loc'] == 50.0
    # V1 (largest contour, 0.5): the ring's outer box fails -> blob and NaN
    assert got['MaxBoxAcc'] == 50.0
    assert got['top1'] == 75.0
    # ring: 20 of its 48 pixels inside GT (3..8)^2; blob: all; zeros: 0
    assert got['CAMMassInBox'] == pytest.approx(100 * (20 / 48 + 1) / 4)
    assert got['threshold@50'] == 0.0


def test_single_contour_mode_uses_the_largest_contour_per_iou():
    metric = _metric(multi_contour=False, largest_contour_v1=False)
    metric.process({}, _samples())
    got = metric.compute_metrics(metric.results)
    # the ring now only reaches 0.44: correct at 0.3 only
    assert (got['MaxBoxAccV2@30'], got['MaxBoxAccV2@50'],
            got['MaxBoxAccV2@70']) == (75.0, 50.0, 25.0)
    assert 'MaxBoxAcc' not in got


def test_registered_and_runs_through_mmengine_evaluator_with_prefix():
    evaluator = Evaluator(METRICS.build(
        dict(type='WSOLMetric', cam_curve_interval=0.01,
             eval_size=(SIZE, SIZE))))
    samples = []
    for raw in _samples():
        sample = DataSample().set_gt_label(raw['gt_label'])
        sample.set_pred_label(raw['pred_label'])
        sample.set_field(raw['cam'], 'cam')
        sample.set_metainfo(dict(gt_bboxes=raw['gt_bboxes'],
                                 ori_shape=raw['ori_shape'],
                                 img_id=raw['img_id']))
        samples.append(sample)
    evaluator.process(samples[:2], {})
    evaluator.process(samples[2:], {})
    got = evaluator.evaluate(4)
    assert got['wsol/GT-known Loc'] == 75.0
    assert got['wsol/MaxBoxAccV2'] == pytest.approx(200 / 3)


def test_saves_scoremaps_atomically_in_the_reference_layout(tmp_path):
    metric = _metric(scoremap_dir=str(tmp_path / 'maps'))
    metric.process({}, _samples())
    saved = np.load(tmp_path / 'maps' / 'c1' / 'ring.jpg.npy')
    assert saved.dtype == np.float64
    np.testing.assert_array_equal(saved, ring_map())
    assert not np.load(tmp_path / 'maps' / 'n.jpg.npy').any()
    written = sorted(p.relative_to(tmp_path / 'maps').as_posix()
                     for p in (tmp_path / 'maps').rglob('*') if p.is_file())
    assert written == ['c.jpg.npy', 'c1/ring.jpg.npy', 'c2/blob.jpg.npy',
                       'n.jpg.npy']  # no temporary file left behind


def test_the_metric_draws_nothing():
    # overlays belong to WSOLVisualizationHook / WSOLVisualizer
    with pytest.raises(TypeError, match='overlay_dir'):
        _metric(overlay_dir='show')


def test_eval_size_none_uses_the_input_shape():
    metric = WSOLMetric(cam_curve_interval=0.01, eval_size=None)
    sample = _sample(blob_map(), [[4, 6, 10, 12]], 2, 2, 'b.jpg')
    sample['img_shape'] = (SIZE, SIZE)
    metric.process({}, [sample])
    got = metric.compute_metrics(metric.results)
    assert (got['MaxBoxAccV2@50'], got['MaxBoxAccV2@70']) == (100.0, 0.0)


@pytest.mark.parametrize('missing', ['cam', 'gt_bboxes', 'ori_shape',
                                     'pred_label'])
def test_missing_sample_fields_are_named(missing):
    sample = _samples()[0]
    del sample[missing]
    with pytest.raises(KeyError, match=f'c1/ring.jpg.*{missing}'):
        _metric().process({}, [sample])


def test_image_ids_cannot_escape_the_output_folder(tmp_path):
    sample = _samples()[0]
    sample['img_id'] = '../evil.jpg'
    with pytest.raises(ValueError, match=r"image id '\.\./evil\.jpg' must be "
                       'a non-empty relative path inside its root'):
        _metric(scoremap_dir=str(tmp_path)).process({}, [sample])
    assert not osp.exists(tmp_path.parent / 'evil.jpg.npy')
