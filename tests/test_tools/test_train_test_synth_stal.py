"""tools/train.py and tools/test.py end to end on the synthetic skeleton
STAL task with SKP + BatchMix + L_PG: one guided training iteration, a test
run printing frame-AP / video-AP and writing the detections, and
tools/eval_stal.py agreeing with tools/test.py on them."""
import json
import os.path as osp

import numpy as np
from tool_process import ROOT, run_tool_ok as _run

CONFIG = osp.join(ROOT, 'configs', 'provmm', 'synth_stal_skp_batchmix_pg.py')


def test_guided_training_then_test_and_eval(tmp_path):
    data_root = str(tmp_path / 'synth')
    work_dir = str(tmp_path / 'work')
    dets_dir = str(tmp_path / 'dets')
    # 8 classes x 2 train videos at batch 30 = 1 iteration; 8 val, 16 test
    # videos; a 4-wide network.
    sizes = dict(train=2, val=1, test=2)
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    options = [f'{loader}.dataset.data_root={data_root}' for loader in loaders]
    options += [
        f'{loader}.dataset.generator.num_per_class.{split}={n}'
        for loader in loaders for split, n in sizes.items()
    ]
    # the evaluators read the ground truth of the moved data root
    options += [f'val_evaluator.{i}.gt_file={data_root}/synth_stal_GT_val.pkl'
                for i in (0, 1)]
    options += [f'test_evaluator.{i}.gt_file={data_root}/synth_stal_GT.pkl'
                for i in (0, 1)]
    options += [
        'model.backbone.embed_dims=4',
        'train_cfg.max_epochs=1',
        'param_scheduler.end=1',
    ]
    log = _run([osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
                work_dir, '--cfg-options'] + options, cwd=ROOT)
    assert 'Epoch(train) [1][1/1]' in log
    assert 'loss_pg' in log and 'pg_ratio' in log
    assert 'stal/frame_mAP' in log  # validated on val
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    assert checkpoint.endswith('epoch_1.pth')

    metrics_file = str(tmp_path / 'metrics.json')
    log = _run([osp.join(ROOT, 'tools', 'test.py'), CONFIG, checkpoint,
                '--work-dir', work_dir, '--out', metrics_file,
                '--out-item', 'metrics', '--cfg-options'] + options + [
                    f'test_evaluator.0.out_dir={dets_dir}',
                    f'test_evaluator.1.out_dir={dets_dir}'], cwd=ROOT)
    for key in ('stal/frame_mAP', 'stal/video_mAP', 'accuracy/top1'):
        assert key in log
    with open(metrics_file) as f:
        metrics = json.load(f)
    assert 0 <= metrics['stal/frame_mAP'] <= 1
    assert 0 <= metrics['stal/video_mAP'] <= 1

    # One detection per (valid person, frame, class) of the 16 test videos.
    dets = np.load(osp.join(dets_dir, 'frame_dets.npz'))['frame_dets']
    assert dets.shape[1] == 8 and len(dets) > 0
    assert set(np.unique(dets[:, 0]).astype(int)) == set(range(16))
    assert set(np.unique(dets[:, 2]).astype(int)) == set(range(8))
    assert ((dets[:, 3] > 0) & (dets[:, 3] < 1)).all()  # sigmoid scores
    assert osp.isfile(osp.join(dets_dir, 'tubes.pkl'))

    # The stand-alone evaluator on the written files gives the same APs.
    eval_json = str(tmp_path / 'eval.json')
    _run([osp.join(ROOT, 'tools', 'eval_stal.py'), '--gt',
          osp.join(data_root, 'synth_stal_GT.pkl'), '--frame-dets',
          osp.join(dets_dir, 'frame_dets.npz'), '--tubes',
          osp.join(dets_dir, 'tubes.pkl'), '--out', eval_json], cwd=ROOT)
    with open(eval_json) as f:
        evaluated = json.load(f)
    assert abs(evaluated['frame_ap']['mean'] -
               metrics['stal/frame_mAP']) < 1e-9
    assert abs(evaluated['video_ap']['mean'] -
               metrics['stal/video_mAP']) < 1e-9
