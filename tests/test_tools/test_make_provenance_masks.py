import csv
import importlib.util
import json
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


make_masks_tool = _load_tool('make_provenance_masks')
import_alia_tool = _load_tool('import_alia')

H, W = 24, 32


def _pair(seed, left, right):
    """Original and an edit brightening columns [left, right) by 120."""
    original = np.random.default_rng(seed).integers(0, 100, (H, W, 3),
                                                    dtype=np.uint8)
    edited = original.copy()
    edited[:, left:right] += 120
    target = np.full((H, W), 255, np.uint8)
    target[:, left:right] = 0
    return original, edited, target


def _write_dataset(root):
    """Three edited pairs and one unedited copy (degenerate), as PNGs."""
    rows, targets = [], {}
    for k, (left, right) in enumerate([(0, 16), (8, 32), (4, 28), (0, 0)]):
        original, edited, target = _pair(k, left, right)
        names = (f'real/{k}.png', f'edits/c{k % 2}/{k}-0.png', f'gt/{k}.png')
        for name, image in zip(names, (original, edited, target)):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / name), image)
        rows.append([names[0], names[1], k % 2, names[2]])
        targets[names[1]] = target
    with open(root / 'pairs.csv', 'w', newline='') as f:
        csv.writer(f).writerows([['original', 'edited', 'label', 'gt_mask']]
                                + rows)
    return str(root / 'pairs.csv'), targets


@pytest.mark.parametrize('workers', [1, 2])
def test_tool_writes_masks_manifest_and_report(tmp_path, workers, capsys):
    manifest, targets = _write_dataset(tmp_path / 'data')
    out = tmp_path / 'out'
    make_masks_tool.main(['--manifest', manifest, '--out-dir', str(out),
                          '--workers', str(workers)])

    with open(out / 'manifest.csv') as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ['original', 'edited', 'label', 'gt_mask', 'mask']
    # the unedited copy (line 5) is degenerate: no mask, not in the manifest
    assert [r['edited'] for r in rows] == [
        '../data/edits/c0/0-0.png', '../data/edits/c1/1-0.png',
        '../data/edits/c0/2-0.png']
    for row in rows:
        mask = cv2.imread(str(out / row['mask']), cv2.IMREAD_UNCHANGED)
        edited = osp.relpath(row['edited'], '../data')
        # masks mirror the edited images below their common folder
        below_common = osp.relpath(row['edited'], '../data/edits')
        assert row['mask'] == f'masks/{below_common}'
        np.testing.assert_array_equal(mask, targets[edited])

    report = json.loads((out / 'mask_report.json').read_text())
    assert (report['num_pairs'], report['num_masks'],
            report['num_degenerate']) == (4, 3, 1)
    assert report['degenerate'][0]['line'] == 5
    assert 'no change' in report['degenerate'][0]['reason']
    assert report['iou']['mean'] == 1.0
    area = report['area_fraction']
    expected_areas = [16 / 32, 8 / 32, 8 / 32]
    assert area['mean'] == pytest.approx(np.mean(expected_areas), abs=1e-4)
    assert sum(area['histogram']['counts']) == 3
    assert (out / 'mask_report.png').stat().st_size > 0
    printed = capsys.readouterr().out
    assert 'provenance masks: 3 of 4 pairs, 1 degenerate' in printed
    assert 'degenerate (line 5)' in printed
    assert (f'masks: {out}/masks (3 made, 0 kept from an earlier run)\n'
            f'manifest: {out}/manifest.csv\n'
            f'report: {out}/mask_report.json, {out}/mask_report.png\n'
            f'settings: {out}/settings.json') in printed


def test_tool_refinement_flags_change_the_target_area(tmp_path):
    manifest, _ = _write_dataset(tmp_path / 'data')
    out = tmp_path / 'out'
    make_masks_tool.main(['--manifest', manifest, '--out-dir', str(out),
                          '--area-change', '0.3', '--blur', '3',
                          '--log-scale', '--clean', '3'])
    report = json.loads((out / 'mask_report.json').read_text())
    assert report['settings']['area_change'] == 0.3
    # the target, columns 16-31, touches the border and grows one column per
    # ring to the left: 21 columns is closest to 16 * 1.3 = 20.8
    first = next(p for p in report['pairs'] if p['line'] == 2)
    assert first['area_fraction'] == pytest.approx(21 / 32)


def test_tool_refuses_other_sizes_with_match_size_none(tmp_path):
    manifest, _ = _write_dataset(tmp_path / 'data')
    original = cv2.imread(str(tmp_path / 'data/real/1.png'))
    cv2.imwrite(str(tmp_path / 'data/real/1.png'),
                cv2.resize(original, (2 * W, 2 * H),
                           interpolation=cv2.INTER_NEAREST))
    with pytest.raises(SystemExit, match=r'pairs\.csv:3: .*differ in size'):
        make_masks_tool.main(['--manifest', manifest, '--out-dir',
                              str(tmp_path / 'strict'), '--match-size',
                              'none'])
    # the default resizes the original to the edited image's size
    make_masks_tool.main(['--manifest', manifest, '--out-dir',
                          str(tmp_path / 'out')])
    report = json.loads((tmp_path / 'out/mask_report.json').read_text())
    assert report['iou']['mean'] == 1.0


def test_alia_import_feeds_the_mask_tool(tmp_path, capsys):
    train = tmp_path / 'train'
    run = tmp_path / 'alia/img2img/Toy/a_photo/strength-0.5_guidance-7.5'
    lines = []
    for i, (left, right) in enumerate([(0, 16), (16, 32)]):
        original, edited, _ = _pair(i, left, right)
        (train).mkdir(exist_ok=True)
        cv2.imwrite(str(train / f'{i}.png'), original)
        (run / f'class{i}').mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(run / f'class{i}/{i}-0.png'), edited)
        lines.append(f'{i}.png {i}')
    (train / 'train.txt').write_text('\n'.join(lines) + '\n')
    manifest = str(tmp_path / 'alia.csv')
    import_alia_tool.main(['--alia-root', str(tmp_path / 'alia'),
                           '--train-list', str(train / 'train.txt'),
                           '--out', manifest])
    make_masks_tool.main(['--manifest', manifest, '--out-dir',
                          str(tmp_path / 'out')])
    with open(tmp_path / 'out/manifest.csv') as f:
        rows = list(csv.DictReader(f))
    assert f'wrote {manifest}' in capsys.readouterr().out
    assert [(r['label'], r['class_name'], r['train_index']) for r in rows] \
        == [('0', 'class0', '0'), ('1', 'class1', '1')]
    mask = cv2.imread(str(tmp_path / 'out' / rows[1]['mask']),
                      cv2.IMREAD_UNCHANGED)
    assert (mask[:, :16] == 255).all() and (mask[:, 16:] == 0).all()


def test_import_alia_refuses_to_write_over_the_training_list(tmp_path):
    train = tmp_path / 'train'
    train.mkdir()
    original, edited, _ = _pair(0, 0, 16)
    cv2.imwrite(str(train / '0.png'), original)
    run = tmp_path / 'alia/img2img/Toy/a_photo/s-0.5/class0'
    run.mkdir(parents=True)
    cv2.imwrite(str(run / '0-0.png'), edited)
    (train / 'train.txt').write_text('0.png 0\n')
    for out in ('train/train.txt', 'train/0.png'):
        with pytest.raises(SystemExit, match=(
                f'error: output --out {tmp_path}/{out} would overwrite the '
                f'input .* {train}/')):
            import_alia_tool.main(['--alia-root', str(tmp_path / 'alia'),
                                   '--train-list', str(train / 'train.txt'),
                                   '--out', str(tmp_path / out)])
    assert (train / 'train.txt').read_text() == '0.png 0\n'
    np.testing.assert_array_equal(cv2.imread(str(train / '0.png')), original)


def test_tool_rerun_with_other_flags_names_them(tmp_path):
    manifest, _ = _write_dataset(tmp_path / 'data')
    out = str(tmp_path / 'out')
    make_masks_tool.main(['--manifest', manifest, '--out-dir', out])
    with pytest.raises(SystemExit, match=r"settings.json\): log_scale: "
                       r"False there, True now\. "):
        make_masks_tool.main(['--manifest', manifest, '--out-dir', out,
                              '--log-scale'])
    make_masks_tool.main(['--manifest', manifest, '--out-dir', out,
                          '--log-scale', '--overwrite'])


@pytest.mark.parametrize('workers', [1, 2])
def test_quiet_prints_nothing_and_returns_the_report(tmp_path, workers,
                                                     capfd):
    from provmm.data_prep.make_provenance_masks import make_provenance_masks
    manifest, targets = _write_dataset(tmp_path / 'data')
    report = make_provenance_masks(manifest, str(tmp_path / 'out'),
                                   workers=workers, quiet=True)
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ('', '')
    assert (report['num_masks'], report['num_degenerate']) == (3, 1)
    assert report['iou']['mean'] == 1.0
