"""tools/eval_wsol.py end to end on a tiny metadata split written here,
against the literal OpenCV port of the reference definition."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from provmm.evaluation.functional import (cam_thresholds, cam_to_scoremap,
                                          resize_boxes)
from provmm.evaluation.functional import wsol_reference as reference

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


eval_wsol = _load(osp.join(REPO, 'tools', 'eval_wsol.py'), 'eval_wsol')

# id, class, (W, H), boxes in original pixels
IMAGES = [
    ('001.A/a_1.jpg', 0, (500, 335), [(60.0, 27.0, 385.0, 331.0)]),
    ('001.A/a_2.jpg', 0, (320, 480), [(10.0, 20.0, 200.0, 300.0),
                                      (150.0, 250.0, 319.0, 479.0)]),
    ('002.B/b_1.jpg', 1, (64, 64), [(0.0, 0.0, 63.0, 63.0)]),
    ('002.B/b_2.jpg', 1, (100, 80), [(30.0, 10.0, 70.0, 50.0)]),
]


def _write_split(root):
    root.mkdir(parents=True)
    (root / 'image_ids.txt').write_text(
        ''.join(f'{i}\n' for i, *_ in IMAGES))
    (root / 'class_labels.txt').write_text(
        ''.join(f'{i},{c}\n' for i, c, *_ in IMAGES))
    (root / 'image_sizes.txt').write_text(
        ''.join(f'{i},{w},{h}\n' for i, _, (w, h), _ in IMAGES))
    (root / 'localization.txt').write_text(''.join(
        f'{i},{x0},{y0},{x1},{y1}\n' for i, _, _, boxes in IMAGES
        for x0, y0, x1, y1 in boxes))


def _write_maps(root, size):
    rng = np.random.default_rng(0)
    maps = {}
    for image_id, *_ in IMAGES:
        scoremap = cam_to_scoremap(rng.standard_normal((7, 7)), (size, size))
        path = root / (image_id + '.npy')
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, scoremap)
        maps[image_id] = scoremap
    return maps


@pytest.fixture
def split(tmp_path):
    _write_split(tmp_path / 'meta' / 'test')
    maps = _write_maps(tmp_path / 'maps', 224)
    return tmp_path, maps


def _expected(maps, interval, multi_contour):
    thresholds = cam_thresholds(interval)
    boxes = [resize_boxes(b, size, (224, 224)) for _, _, size, b in IMAGES]
    counts = reference.reference_counts([maps[i] for i, *_ in IMAGES], boxes,
                                        thresholds, [30, 50, 70],
                                        multi_contour=multi_contour)
    return {str(t): float(a) for t, a in
            zip([30, 50, 70], counts.max(0) * 100. / len(IMAGES))}


def test_json_matches_the_reference_definition(split):
    tmp_path, maps = split
    out = tmp_path / 'result.json'
    eval_wsol.main(['--scoremap-root', str(tmp_path / 'maps'),
                    '--metadata-root', str(tmp_path / 'meta' / 'test'),
                    '--cam-curve-interval', '0.01', '--out', str(out)])
    result = json.loads(out.read_text())
    expected = _expected(maps, 0.01, multi_contour=True)
    assert result['MaxBoxAcc'] == expected
    assert result['MaxBoxAccV2'] == pytest.approx(
        np.mean(list(expected.values())))
    assert result['contours'] == 'all' and result['num_images'] == 4


def test_largest_contour_flag_reports_v1_per_iou(split):
    tmp_path, maps = split
    result = eval_wsol.main([
        '--scoremap-root', str(tmp_path / 'maps'), '--metadata-root',
        str(tmp_path / 'meta' / 'test'), '--cam-curve-interval', '0.02',
        '--largest-contour', '--workers', '1'
    ])
    assert result['MaxBoxAcc'] == _expected(maps, 0.02, multi_contour=False)
    v2 = _expected(maps, 0.02, multi_contour=True)
    assert result['MaxBoxAccV2'] == pytest.approx(np.mean(list(v2.values())))
    assert result['contours'] == 'largest'


def test_command_line_writes_json(split):
    tmp_path, _ = split
    out = tmp_path / 'cli.json'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    subprocess.run([
        sys.executable, osp.join(REPO, 'tools', 'eval_wsol.py'),
        '--scoremap-root', str(tmp_path / 'maps'), '--metadata-root',
        str(tmp_path / 'meta' / 'test'), '--cam-curve-interval', '0.1',
        '--iou-thresholds', '50', '--out', str(out)
    ], check=True, cwd=REPO, env=env, capture_output=True)
    result = json.loads(out.read_text())
    assert set(result['MaxBoxAcc']) == {'50'}
    assert result['MaxBoxAccV2'] == result['MaxBoxAcc']['50']


@pytest.mark.parametrize('damage, message', [
    ('missing', 'not found'),
    ('shape', r'expected shape \(H, W\) = \(224, 224\)'),
    ('nan', 'NaN'),
    ('range', r'\[0, 1\]'),
])
def test_bad_score_maps_are_refused_naming_the_file(split, damage, message):
    tmp_path, maps = split
    path = tmp_path / 'maps' / '002.B' / 'b_1.jpg.npy'
    scoremap = maps['002.B/b_1.jpg'].copy()
    if damage == 'missing':
        path.unlink()
    else:
        if damage == 'shape':
            scoremap = scoremap[:100]
        elif damage == 'nan':
            scoremap[5, 5] = np.nan
        else:
            scoremap[5, 5] = 1.2
        np.save(path, scoremap)
    with pytest.raises((FileNotFoundError, ValueError),
                       match=message) as error:
        eval_wsol.main(['--scoremap-root', str(tmp_path / 'maps'),
                        '--metadata-root', str(tmp_path / 'meta' / 'test')])
    assert 'b_1.jpg.npy' in str(error.value)
