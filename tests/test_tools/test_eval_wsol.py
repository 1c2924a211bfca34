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


def _expected(maps, interval, multi_contour, eval_size=224):
    thresholds = cam_thresholds(interval)
    boxes = [resize_boxes(b, size, (eval_size, eval_size))
             for _, _, size, b in IMAGES]
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
    ('shape', r'expected shape \(H, W\) = \(224, 224\) \(the shape of the '
     r'first map of the split, .*a_1\.jpg\.npy; .*\), got \(100, 224\)'),
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


def _main(tmp_path, *extra):
    return eval_wsol.main(['--scoremap-root', str(tmp_path / 'maps'),
                           '--metadata-root', str(tmp_path / 'meta' / 'test'),
                           '--cam-curve-interval', '0.05', *extra])


def test_map_size_is_read_from_the_maps(tmp_path, capsys):
    # the synthetic benchmark's 64 x 64 maps need no --eval-size
    _write_split(tmp_path / 'meta' / 'test')
    maps = _write_maps(tmp_path / 'maps', 64)
    result = _main(tmp_path)
    assert result['eval_size'] == [64, 64]
    assert result['MaxBoxAcc'] == _expected(maps, 0.05, True, eval_size=64)
    assert '4 score maps of 64x64 (W x H)' in capsys.readouterr().out
    assert _main(tmp_path, '--eval-size', '64', '64') == result


def test_an_explicit_size_the_maps_do_not_have_is_an_error(split):
    tmp_path, _ = split
    with pytest.raises(ValueError, match=(
            r'a_1\.jpg\.npy: expected shape \(H, W\) = \(64, 64\) \(set by '
            r'eval_size / --eval-size W H = 64 64; leave it out to use the '
            r"maps' own size\), got \(224, 224\)")):
        _main(tmp_path, '--eval-size', '64', '64')


def _edit(path, line_no, text):
    """Replace line ``line_no`` (1-based; one past the end appends)."""
    lines = path.read_text().splitlines()
    lines[line_no - 1:line_no] = [text]
    path.write_text('\n'.join(lines) + '\n')


# IMAGES[1] is 320 x 480 with a box ending on x1 = 319 = W - 1, y1 = 479 =
# H - 1: inclusive corners, accepted (the CUB metadata never reaches W or H)
@pytest.mark.parametrize('file, line_no, text, message', [
    ('localization.txt', 2, '001.A/a_2.jpg,10,20,320,300',
     r'localization.txt:2: box \[.*\] of \'001.A/a_2.jpg\' must lie inside '
     r'\[0, 319\] x \[0, 479\] \(inclusive pixel corners of its W=320, '
     r'H=480 image, .*image_sizes.txt:2\)'),
    ('localization.txt', 4, '002.B/b_1.jpg,-1,0,63,63',
     r'localization.txt:4: box .* must lie inside \[0, 63\] x \[0, 63\]'),
    ('localization.txt', 1, '001.A/a_1.jpg,60,27,nan,331',
     r"localization.txt:1: expected finite coordinates, got 'nan'"),
    ('localization.txt', 1, '001.A/a_1.jpg,60,inf,385,331',
     r"localization.txt:1: expected finite coordinates, got 'inf'"),
    ('localization.txt', 1, '001.A/a_1.jpg,385,27,60,331',
     r'localization.txt:1: box must satisfy x0 <= x1 and y0 <= y1'),
    ('localization.txt', 6, '003.C/c.jpg,1,1,2,2',
     r"localization.txt:6: image id '003.C/c.jpg' is not listed in "
     'image_ids.txt'),
    ('image_sizes.txt', 5, '001.A/a_1.jpg,500,336',
     r"image_sizes.txt:5: second line for image id '001.A/a_1.jpg', "
     r'conflicting with .*image_sizes.txt:1 \(\(500, 335\) there, '
     r'\(500, 336\) here\); expected one line per image id'),
    ('image_sizes.txt', 5, '001.A/a_1.jpg,500,335',
     r"image_sizes.txt:5: second line for image id '001.A/a_1.jpg', an "
     r'exact duplicate of .*image_sizes.txt:1; expected one line per image'),
    ('image_sizes.txt', 3, '002.B/b_1.jpg,0,64',
     r'image_sizes.txt:3: expected positive integer sizes W, H, got W=0'),
    ('image_sizes.txt', 3, '002.B/b_1.jpg,64.5,64',
     r"image_sizes.txt:3: expected a positive integer size, got '64.5'"),
    ('image_sizes.txt', 3, '003.C/c.jpg,64,64',
     r"image_sizes.txt:3: image id '003.C/c.jpg' is not listed"),
    ('class_labels.txt', 5, '002.B/b_2.jpg,0',
     r"class_labels.txt:5: second line for image id '002.B/b_2.jpg', "
     r'conflicting with .*class_labels.txt:4 \(1 there, 0 here\)'),
    ('class_labels.txt', 5, '002.B/b_2.jpg,1',
     r'class_labels.txt:5: .* an exact duplicate of .*class_labels.txt:4'),
    ('class_labels.txt', 2, '001.A/a_2.jpg,-1',
     r'class_labels.txt:2: expected an integer class label >= 0, got -1'),
    ('image_ids.txt', 5, '../../etc/passwd',
     r"image_ids.txt:5: image id '../../etc/passwd' must be a non-empty "
     r'relative path inside its root folder'),
    ('image_ids.txt', 5, '/abs/x.jpg',
     r"image_ids.txt:5: image id '/abs/x.jpg' must be a non-empty relative"),
    ('image_ids.txt', 5, '003.C/c.jpg',
     r"class_labels.txt: no line for 1 image id\(s\) of image_ids.txt, "
     r"first '003.C/c.jpg' \(image_ids.txt:5\); expected a line for every"),
])
def test_bad_metadata_stops_naming_file_line_and_expectation(
        split, file, line_no, text, message):
    tmp_path, _ = split
    _edit(tmp_path / 'meta' / 'test' / file, line_no, text)
    with pytest.raises(ValueError, match=message):
        _main(tmp_path)


@pytest.mark.parametrize('file', ['image_sizes.txt', 'localization.txt'])
def test_an_image_without_its_line_is_named(split, file):
    tmp_path, _ = split
    path = tmp_path / 'meta' / 'test' / file
    lines = [line for line in path.read_text().splitlines()
             if not line.startswith('002.B/b_1.jpg')]
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(ValueError, match=(
            file + r": no line for 1 image id\(s\) of image_ids.txt, first "
            r"'002.B/b_1.jpg' \(image_ids.txt:3\)")):
        _main(tmp_path)
