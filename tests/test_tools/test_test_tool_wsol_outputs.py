"""tools/test.py --scoremap-dir/--show-dir on the synthetic WSOL task with an
untrained checkpoint: the score maps in the wsolevaluation layout, one
viewable CAM overlay per image, and one line each saying where they went."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import torch
from mmengine.config import Config

from provmm.evaluation.scoremap_folder import evaluate_scoremap_folder
from provmm.registry import MODELS

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'provmm', 'synth_wsol_cam.py')


def _checkpoint(path):
    """An mmengine-style checkpoint of the config's model, untrained."""
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def test_scoremaps_and_overlays_are_written_and_reported(tmp_path):
    data_root = str(tmp_path / 'synth')
    scoremaps, overlays = tmp_path / 'scoremaps', tmp_path / 'overlays'
    options = [f'test_dataloader.dataset.data_root={data_root}',
               'model.backbone.init_cfg=None',
               'test_evaluator.largest_contour_v1=False',
               'test_evaluator.cam_curve_interval=0.01']
    options += [f'test_dataloader.dataset.generator.num_per_class.{split}=1'
                for split in ('train', 'val', 'test')]
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), CONFIG,
         _checkpoint(str(tmp_path / 'untrained.pth')),
         '--work-dir', str(tmp_path / 'work'),
         '--scoremap-dir', str(scoremaps), '--show-dir', str(overlays),
         '--cfg-options'] + options,
        cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS='1'),
        capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.splitlines()[-2:] == [
        f'Score maps written to {scoremaps}',
        f'CAM overlays written to {overlays}']

    split = osp.join(data_root, 'metadata', 'test')
    with open(osp.join(split, 'image_ids.txt')) as f:
        image_ids = f.read().split()
    assert len(image_ids) == 8  # one per class
    npy = sorted(str(p.relative_to(scoremaps)) for p in scoremaps.rglob('*')
                 if p.is_file())
    assert npy == sorted(i + '.npy' for i in image_ids)  # nothing else
    png = sorted(str(p.relative_to(overlays)) for p in overlays.rglob('*')
                 if p.is_file())
    assert png == sorted(osp.splitext(i)[0] + '.png' for i in image_ids)
    for image_id in image_ids:
        scoremap = np.load(scoremaps / (image_id + '.npy'))
        assert scoremap.shape == (64, 64) and scoremap.dtype == np.float64
        overlay = cv2.imread(str(overlays / (osp.splitext(image_id)[0] +
                                             '.png')))
        # 64 px frame enlarged 7 x to 448 px, caption band below
        assert overlay.shape[1] == 448 and overlay.shape[0] > 448

    # tools/eval_wsol.py reads the 64 x 64 size from the maps themselves
    result = evaluate_scoremap_folder(str(scoremaps), split,
                                      cam_curve_interval=0.01,
                                      progress=False)
    assert result['eval_size'] == [64, 64] and result['num_images'] == 8
