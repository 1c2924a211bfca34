"""tools/train.py and tools/test.py end to end on the synthetic WSOL task:
a 2-iteration guided training, a test run that writes score maps in the
wsolevaluation layout, and tools/eval_wsol.py agreeing with tools/test.py."""
import json
import os
import os.path as osp

import numpy as np
from tool_process import ROOT, run_tool_ok as _run

CONFIG = osp.join(ROOT, 'configs', 'provmm', 'synth_wsol_cutmix_pg.py')


def test_two_iterations_of_guided_training_then_test_and_eval(tmp_path):
    data_root = str(tmp_path / 'synth')
    work_dir = str(tmp_path / 'work')
    # 8 classes x 8 train images at batch 32 = 2 iterations; the backbone
    # starts from scratch instead of the (minutes-long) source pre-training.
    sizes = dict(train=8, val=2, test=3)
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    options = [f'{loader}.dataset.data_root={data_root}' for loader in loaders]
    options += [
        f'{loader}.dataset.generator.num_per_class.{split}={n}'
        for loader in loaders for split, n in sizes.items()
    ]
    options += [
        'model.backbone.init_cfg=None',
        'train_cfg.max_epochs=1',
        'param_scheduler.end=1',
    ]
    log = _run([osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
                work_dir, '--cfg-options'] + options, cwd=ROOT)
    assert 'Epoch(train) [1][2/2]' in log
    assert 'loss_pg' in log and 'pg_ratio' in log
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    assert checkpoint.endswith('epoch_1.pth')

    scoremaps = str(tmp_path / 'scoremaps')
    metrics_file = str(tmp_path / 'metrics.json')
    _run([osp.join(ROOT, 'tools', 'test.py'), CONFIG, checkpoint,
          '--work-dir', work_dir, '--scoremap-dir', scoremaps,
          '--show-dir', str(tmp_path / 'overlays'), '--out', metrics_file,
          '--out-item', 'metrics', '--cfg-options'] + options, cwd=ROOT)
    with open(metrics_file) as f:
        metrics = json.load(f)
    key = next(k for k in metrics if k.endswith('MaxBoxAccV2'))
    assert 0 <= metrics[key] <= 100

    # One normalised map per test image, in the reference layout.
    with open(osp.join(data_root, 'metadata', 'test', 'image_ids.txt')) as f:
        image_ids = [line.strip() for line in f if line.strip()]
    assert len(image_ids) == 8 * 3
    for image_id in image_ids:
        scoremap = np.load(osp.join(scoremaps, image_id + '.npy'))
        assert scoremap.ndim == 2
        assert scoremap.min() >= 0 and scoremap.max() <= 1
    assert os.listdir(str(tmp_path / 'overlays'))

    # The stand-alone evaluator on the saved maps gives the same MaxBoxAccV2.
    eval_json = str(tmp_path / 'eval.json')
    _run([osp.join(ROOT, 'tools', 'eval_wsol.py'), '--scoremap-root',
          scoremaps, '--metadata-root',
          osp.join(data_root, 'metadata', 'test'), '--eval-size', '64', '64',
          '--out', eval_json],
         cwd=ROOT)
    with open(eval_json) as f:
        evaluated = json.load(f)
    assert abs(evaluated['MaxBoxAccV2'] - metrics[key]) < 1e-9
