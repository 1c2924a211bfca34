import csv
import importlib.util
import json
import math
import os.path as osp

import cv2
import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


filter_tool = _load_tool('filter_generated')

# real images: class 0 a, b, c; class 1 d, e (see test_generated_filter.py)
REAL = {'real/a.png': ([1, 0, 0], 0), 'real/b.png': ([0, 1, 0], 0),
        'real/c.png': ([1, 1, 0], 0), 'real/d.png': ([0, 0, 2], 1),
        'real/e.png': ([0, 3, 4], 1)}
# (original, generated, embedding of generated, kept?)
GENERATED = [('real/a.png', 'gen/0/a-0.png', [1, 1, 0], True),
             ('real/b.png', 'gen/0/b-0.png', [1, 0.2, 0], False),
             ('real/d.png', 'gen/1/d-0.png', [0, 1, 1], False),
             ('real/e.png', 'gen/1/e-0.png', [0, 3, 4.1], True),
             ('real/a.png', 'gen/0/a-1.png', [-1, 0, 0], False)]


def _write_images(root, names):
    for k, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        image = np.random.default_rng(k).integers(0, 256, (20, 20, 3),
                                                  dtype=np.uint8)
        cv2.imwrite(str(root / name), image)


def _write_manifest(root, rows, name='data/pairs.csv'):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['original', 'generated', 'label', 'prompt'])
        writer.writerows(rows)
    return path


@pytest.fixture
def dataset(tmp_path):
    data = tmp_path / 'data'
    _write_images(data, list(REAL) + [g for _, g, _, _ in GENERATED])
    rows = [[o, g, REAL[o][1], f'p{k}']
            for k, (o, g, _, _) in enumerate(GENERATED)]
    rows.append(['real/c.png', '', 0, ''])  # a real image for tau only
    manifest = _write_manifest(tmp_path, rows)
    paths = list(REAL) + [g for _, g, _, _ in GENERATED]
    embeddings = [v for v, _ in REAL.values()] + [e for _, _, e, _ in
                                                   GENERATED]
    npz = tmp_path / 'emb.npz'
    np.savez(npz, paths=np.array(paths), embeddings=np.array(embeddings))
    return manifest, npz


def _read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_kept_list_and_report_from_precomputed_embeddings(dataset, tmp_path,
                                                          capsys):
    manifest, npz = dataset
    out = tmp_path / 'out' / 'kept.csv'
    filter_tool.main(['--manifest', str(manifest), '--embeddings', str(npz),
                      '--out', str(out)])
    kept = _read_csv(out)
    expected = [(o, g) for o, g, _, keep in GENERATED if keep]
    # paths are relative to the kept list's folder, extra columns are kept
    assert [(r['original'], r['generated']) for r in kept] == [
        (osp.join('..', 'data', o), osp.join('..', 'data', g))
        for o, g in expected]
    assert [r['prompt'] for r in kept] == ['p0', 'p3']
    assert [r['label'] for r in kept] == ['0', '1']
    assert float(kept[0]['cosine']) == pytest.approx(1 / math.sqrt(2),
                                                     abs=1e-6)

    report = json.loads((tmp_path / 'out' / 'kept_report.json').read_text())
    assert report['num_pairs'] == 5
    assert (report['kept'], report['dropped']) == (2, 3)
    assert report['classes']['0']['tau'] == pytest.approx(
        math.sqrt(2) / 3)
    assert report['classes']['1']['tau'] == pytest.approx(0.8)
    assert report['classes']['0']['num_real'] == 3
    assert (report['classes']['0']['kept'],
            report['classes']['0']['dropped']) == (1, 2)
    assert (report['classes']['1']['kept'],
            report['classes']['1']['dropped']) == (1, 1)
    assert '"kept": 2' in capsys.readouterr().out


def test_missing_embedding_and_single_real_class_stop_with_a_message(
        dataset, tmp_path):
    manifest, npz = dataset
    with np.load(npz) as data:
        np.savez(tmp_path / 'short.npz', paths=data['paths'][:-1],
                 embeddings=data['embeddings'][:-1])
    with pytest.raises(SystemExit, match=r'short.npz: no embedding for 1 '
                       r'image.*a-1.png'):
        filter_tool.main(['--manifest', str(manifest), '--embeddings',
                          str(tmp_path / 'short.npz'), '--out',
                          str(tmp_path / 'kept.csv')])

    single = _write_manifest(tmp_path, [['real/a.png', 'gen/0/a-0.png', 0,
                                         ''], ['real/b.png', 'gen/0/b-0.png',
                                               0, ''],
                                        ['real/d.png', 'gen/1/d-0.png', 1,
                                         '']], 'data/single.csv')
    with pytest.raises(SystemExit, match=r'fewer than 2 real images: 1'):
        filter_tool.main(['--manifest', str(single), '--embeddings',
                          str(npz), '--out', str(tmp_path / 'kept.csv')])
    filter_tool.main(['--manifest', str(single), '--embeddings', str(npz),
                      '--out', str(tmp_path / 'kept.csv'),
                      '--fallback-tau', '0.5'])
    report = json.loads((tmp_path / 'kept_report.json').read_text())
    assert report['classes']['1']['tau'] == 0.5
    assert report['classes']['1']['tau_source'] == 'fallback'
    # class 0 has a, b: tau = cos(a, b) = 0; both counterparts pass
    assert report['kept'] == 3


def test_manifest_errors_name_the_line(dataset, tmp_path):
    bad = _write_manifest(tmp_path, [['real/a.png', 'gen/0/a-0.png', 0, ''],
                                     ['real/a.png', 'gen/0/a-1.png', 1, '']],
                          'data/bad.csv')
    with pytest.raises(SystemExit, match=r'bad.csv:3: original .*a.png has '
                       r'label 1 here but 0 on line 2'):
        filter_tool.main(['--manifest', str(bad), '--embeddings',
                          str(dataset[1]), '--out', str(tmp_path / 'k.csv')])


TINY_CONFIG = """
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=512),
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3,
                           to_rgb=True))
test_pipeline = [dict(type='LoadImageFromFile'),
                 dict(type='Resize', scale=(32, 32)),
                 dict(type='PackInputs')]
"""


def test_embeddings_from_a_config_round_trip_through_save_embeddings(
        dataset, tmp_path):
    manifest, _ = dataset
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_CONFIG)
    saved = tmp_path / 'data' / 'saved.npz'
    filter_tool.main(['--manifest', str(manifest), '--config', str(config),
                      '--out', str(tmp_path / 'model.csv'),
                      '--save-embeddings', str(saved), '--batch-size', '4'])
    with np.load(saved) as data:
        assert sorted(data['paths'].tolist()) == sorted(
            list(REAL) + [g for _, g, _, _ in GENERATED])
        assert data['embeddings'].shape == (10, 512)
    filter_tool.main(['--manifest', str(manifest), '--embeddings',
                      str(saved), '--out', str(tmp_path / 'reused.csv')])
    assert _read_csv(tmp_path / 'model.csv') == _read_csv(tmp_path /
                                                          'reused.csv')


@pytest.mark.parametrize('flag, target, what', [
    ('--out', 'data/pairs.csv', 'manifest'),
    ('--report', 'data/real/a.png', r'original image of .*pairs\.csv:2'),
    ('--out', 'emb.npz', '--embeddings'),
])
def test_outputs_may_not_replace_inputs(dataset, tmp_path, flag, target,
                                        what):
    manifest, npz = dataset
    before = (tmp_path / target).read_bytes()
    args = ['--manifest', str(manifest), '--embeddings', str(npz),
            '--out', str(tmp_path / 'kept.csv')]
    with pytest.raises(SystemExit, match=(
            f'error: output .* {tmp_path}/{target} would overwrite the '
            f'input {what} .*{target}; write the output elsewhere')):
        filter_tool.main(args + [flag, str(tmp_path / target)])
    assert (tmp_path / target).read_bytes() == before
    assert not (tmp_path / 'kept.csv').exists()
