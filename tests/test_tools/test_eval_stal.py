"""tools/eval_stal.py end to end on a small ground truth written here,
against the literal ports of ACT's and mmaction2's evaluation."""
import importlib.util
import json
import os.path as osp
import pickle
import runpy
import sys

import numpy as np
import pytest

from provmm.evaluation.functional.stal import act_reference as act
from provmm.evaluation.functional.stal import multisports_reference as voc
from provmm.evaluation.functional.stal import link_tubes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


eval_stal = _load(osp.join(REPO, 'tools', 'eval_stal.py'), 'eval_stal')
LABELS = ['Basketball', 'Biking', 'Diving']


def _tube(first, last, box, rng=None):
    frames = np.arange(first, last + 1, dtype=np.float64)
    boxes = np.tile(np.asarray(box, np.float64), (len(frames), 1))
    if rng is not None:
        boxes += rng.normal(0, 3, boxes.shape)
    return np.concatenate([frames[:, None], boxes], axis=1)


def _files(tmp_path, seed=0):
    """GT pickle, frame detections and tubes: every class has ground truth
    (else ACT's port divides by zero); tie-free random scores."""
    rng = np.random.default_rng(seed)
    videos = [f'{LABELS[i % 3]}/v_{LABELS[i % 3]}_g0{i}_c01'
              for i in range(5)]
    nframes = {v: 30 + 5 * i for i, v in enumerate(videos)}
    gttubes = {v: {i % 3: [_tube(3, nframes[v] - 4, (40 + 10 * i, 30, 100,
                                                      150))]}
               for i, v in enumerate(videos[:4])}
    gttubes[videos[4]] = {}
    gt = dict(labels=LABELS, gttubes=gttubes, nframes=nframes,
              resolution={v: (240, 320) for v in videos},
              train_videos=[[]], test_videos=[videos])
    rows, tubes = [], {}
    for iv, v in enumerate(videos):
        tubes[v] = {}
        for c in range(3):
            truth = gttubes[v].get(c, [_tube(1, nframes[v], (150, 100, 200,
                                                             200))])[0]
            noisy = _tube(int(truth[0, 0]), int(truth[-1, 0]),
                          truth[0, 1:5], rng)
            tubes[v][c] = [(noisy, rng.random()),
                           (_tube(1, nframes[v], (0, 0, 30, 30), rng),
                            rng.random())]
            for frame_row in noisy:
                rows.append([iv, frame_row[0], c, rng.random(),
                             *frame_row[1:5]])
            for f in range(1, nframes[v] + 1):
                rows.append([iv, f, c, rng.random() / 2, 200, 10, 260, 80])
    paths = dict(gt=tmp_path / 'UCF101v2-GT.pkl',
                 dets=tmp_path / 'frame_dets.npz',
                 tubes=tmp_path / 'tubes.pkl')
    paths['gt'].write_bytes(pickle.dumps(gt, protocol=2))
    np.savez(paths['dets'], frame_dets=np.array(rows))
    paths['tubes'].write_bytes(pickle.dumps(tubes))
    return gt, np.array(rows), tubes, {k: str(p) for k, p in paths.items()}


def _run(paths, out, *extra):
    argv = ['--gt', paths['gt'], '--frame-dets', paths['dets'], '--out',
            str(out), *extra]
    eval_stal.main(argv)
    with open(out) as f:
        return json.load(f)


def test_act_protocol_matches_the_literal_port(tmp_path):
    gt, dets, tubes, paths = _files(tmp_path)
    result = _run(paths, tmp_path / 'out.json', '--tubes', paths['tubes'])
    _, frame_ref = act.frame_ap(gt, dets, 0.5)
    _, video_ref = act.video_ap(gt, tubes, 0.5)
    assert result['protocol'] == 'act' and result['iou'] == 0.5
    assert [result['frame_ap']['per_class'][n] for n in LABELS] == \
        frame_ref.tolist()
    np.testing.assert_allclose(
        [result['video_ap']['per_class'][n] for n in LABELS], video_ref,
        atol=1e-7)
    assert result['frame_ap']['mean'] == pytest.approx(np.mean(frame_ref),
                                                       abs=1e-7)
    assert result['video_ap']['tubes'] == paths['tubes']
    assert result['video_ap']['num_tubes'] == 30
    assert 0 < result['frame_ap']['mean'] < 1
    assert 0 < result['video_ap']['mean'] < 1


def test_voc_protocol_and_iou(tmp_path):
    gt, dets, tubes, paths = _files(tmp_path, seed=1)
    result = _run(paths, tmp_path / 'out.json', '--tubes', paths['tubes'],
                  '--protocol', 'voc', '--iou', '0.3')
    classes, mean = voc.frame_ap(gt, dets, 0.3)
    assert result['frame_ap']['per_class'] == pytest.approx(classes)
    assert result['frame_ap']['mean'] == pytest.approx(mean)
    classes, mean = voc.video_ap(gt, tubes, 0.3)
    assert result['video_ap']['per_class'] == pytest.approx(classes)
    assert result['video_ap']['mean_over_classes_with_gt'] == \
        pytest.approx(mean)


def test_without_tubes_links_the_frame_detections(tmp_path):
    gt, dets, _, paths = _files(tmp_path)
    result = _run(paths, tmp_path / 'out.json')
    assert result['video_ap']['tubes'] == 'linked (ACT online linking, K=1)'
    linked = link_tubes(dets, gt['test_videos'][0], 3)
    _, ref = act.video_ap(gt, linked, 0.5)
    np.testing.assert_allclose(
        [result['video_ap']['per_class'][n] for n in LABELS], ref, atol=1e-7)
    assert result['video_ap']['num_tubes'] == sum(
        len(t) for per in linked.values() for t in per.values())


@pytest.mark.parametrize('change,message', [
    (dict(key='dets'), r"frame_dets\.npz: no array 'frame_dets'; it holds "
                       r"\['dets'\]"),
    (dict(columns=7), r'expected shape \(N, 8\).* got \(\d+, 7\)'),
    (dict(cell=(5, 0, 5)), r"frame_dets\.npz\['frame_dets'\]: column 0 "
                           r'\(video_index\) of row 5 is 5; expected an '
                           r'index .* 0\.\.4'),
    (dict(cell=(6, 1, 31)), r'column 1 \(frame\) of row 6 is 31; expected '
                            r"an integer in 1\.\.30 \(nframes of "
                            r"'Basketball/v_Basketball_g00_c01'\)"),
    (dict(cell=(7, 2, 3)), r'column 2 \(label\) of row 7 is 3; expected a '
                           r'label, an integer in 0\.\.2'),
    (dict(cell=(8, 5, np.nan)), r'row 8 holds NaN'),
])
def test_malformed_frame_detections(tmp_path, change, message):
    _, dets, _, paths = _files(tmp_path)
    if 'key' in change:
        np.savez(paths['dets'], dets=dets)
    elif 'columns' in change:
        np.savez(paths['dets'], frame_dets=dets[:, :7])
    else:
        row, column, value = change['cell']
        dets[row, column] = value
        np.savez(paths['dets'], frame_dets=dets)
    with pytest.raises(ValueError, match=message):
        _run(paths, tmp_path / 'out.json')
    assert not (tmp_path / 'out.json').exists()


def test_malformed_ground_truth_and_tubes(tmp_path):
    gt, _, tubes, paths = _files(tmp_path)
    del gt['gttubes']
    bad_gt = tmp_path / 'bad_gt.pkl'
    bad_gt.write_bytes(pickle.dumps(gt))
    with pytest.raises(ValueError, match=r"bad_gt\.pkl: lacks key\(s\) "
                       r"\['gttubes'\]"):
        _run(dict(paths, gt=str(bad_gt)), tmp_path / 'out.json')
    video = next(iter(tubes))
    tubes[video][0][0][0][2, 0] = 99
    bad_tubes = tmp_path / 'bad_tubes.pkl'
    bad_tubes.write_bytes(pickle.dumps(tubes))
    with pytest.raises(ValueError, match=r"bad_tubes\.pkl\['Basketball/"
                       r"v_Basketball_g00_c01'\]\[0\]\[0\]: frames must be "
                       'consecutive'):
        _run(paths, tmp_path / 'out.json', '--tubes', str(bad_tubes))
    gt = pickle.loads(open(paths['gt'], 'rb').read())
    gt['gttubes'][video][0][0][4, 0] = 1
    gaps = tmp_path / 'gt_with_gaps.pkl'
    gaps.write_bytes(pickle.dumps(gt))
    with pytest.raises(ValueError, match=r"gt_with_gaps\.pkl: gttubes\['"
                       r"Basketball/v_Basketball_g00_c01'\]\[0\]\[0\]: "
                       'frames must be consecutive'):
        _run(dict(paths, gt=str(gaps)), tmp_path / 'out.json')
    with pytest.raises(FileNotFoundError, match='missing.pkl'):
        _run(dict(paths, gt=str(tmp_path / 'missing.pkl')),
             tmp_path / 'out.json')


def test_never_overwrites_an_input(tmp_path):
    _, _, _, paths = _files(tmp_path)
    before = open(paths['gt'], 'rb').read()
    with pytest.raises(ValueError, match='would overwrite the input --gt'):
        _run(paths, paths['gt'])
    assert open(paths['gt'], 'rb').read() == before


def test_command_line_error_message(tmp_path, monkeypatch):
    _, dets, _, paths = _files(tmp_path)
    np.savez(paths['dets'], frame_dets=dets[:, :7])
    monkeypatch.setattr(sys, 'argv', [
        'eval_stal.py', '--gt', paths['gt'], '--frame-dets', paths['dets'],
        '--out', str(tmp_path / 'out.json')])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(osp.join(REPO, 'tools', 'eval_stal.py'),
                       run_name='__main__')
    message = str(exit_info.value.code)
    assert message.startswith('eval_stal: error: ') and \
        'expected shape (N, 8)' in message
