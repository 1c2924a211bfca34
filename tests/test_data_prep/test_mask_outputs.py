"""make_provenance_masks: no output over an input, atomic files, resumable
runs, settings recorded and checked, truncated images refused."""
import csv
import json
import os
import re
import shutil

import cv2
import numpy as np
import pytest

import provmm.data_prep.make_provenance_masks as masks_module
from provmm.data_prep.make_provenance_masks import make_provenance_masks

H, W = 12, 16
# edited column ranges; (0, 0) is an unedited copy: a degenerate pair
EDITS = [(0, 8), (4, 16), (2, 14), (0, 0), (8, 16), (0, 12)]


def _write_dataset(root, ext='.png', edits_folder='edits'):
    """Pairs of tiny images and ``root/pairs.csv``; returns its path."""
    rows = []
    for k, (left, right) in enumerate(EDITS):
        original = np.random.default_rng(k).integers(0, 100, (H, W, 3),
                                                     dtype=np.uint8)
        edited = original.copy()
        edited[:, left:right] += 120
        names = (f'real/{k}{ext}', f'{edits_folder}/c{k % 2}/{k}-0{ext}')
        for name, image in zip(names, (original, edited)):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / name), image)
        rows.append([names[0], names[1], k % 2])
    with open(root / 'pairs.csv', 'w', newline='') as f:
        csv.writer(f).writerows([['original', 'edited', 'label']] + rows)
    return str(root / 'pairs.csv')


def _files(folder):
    """{relative path: bytes} of every file below ``folder``."""
    return {os.path.relpath(os.path.join(d, n), folder):
            open(os.path.join(d, n), 'rb').read()
            for d, _, names in os.walk(folder) for n in names}


def test_refuses_out_dir_whose_manifest_would_replace_the_input(tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    manifest = _write_dataset(data)
    os.replace(manifest, data / 'manifest.csv')
    before = _files(data)
    with pytest.raises(ValueError, match=re.escape(
            f'output manifest.csv {data}/manifest.csv would overwrite the '
            f'input manifest {data}/manifest.csv')):
        make_provenance_masks(str(data / 'manifest.csv'), str(data),
                              quiet=True)
    assert _files(data) == before


def test_refuses_masks_over_edited_images_even_through_a_symlink(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    manifest = _write_dataset(out, edits_folder='masks')
    os.symlink(out, tmp_path / 'link')
    before = _files(out)
    for out_dir in (str(out), str(tmp_path / 'link'),
                    os.path.relpath(out)):
        with pytest.raises(ValueError, match=(
                r'output mask of .*pairs\.csv:2 .*masks/c0/0-0\.png would '
                r'overwrite the input edited image of .*pairs\.csv:2 '
                + re.escape(f'{out}/masks/c0/0-0.png'))):
            make_provenance_masks(manifest, out_dir, quiet=True)
    assert _files(out) == before


def test_killed_run_resumes_to_the_outputs_of_a_clean_run(tmp_path,
                                                          monkeypatch):
    manifest = _write_dataset(tmp_path / 'data')
    out = tmp_path / 'out'
    options = dict(blur=3, log_scale=True)
    make_provenance_masks(manifest, str(out), quiet=True, **options)
    clean = _files(out)
    assert sorted(clean) == [
        'manifest.csv', 'mask_report.json', 'mask_report.png',
        'masks/c0/0-0.png', 'masks/c0/2-0.png', 'masks/c0/4-0.png',
        'masks/c1/1-0.png', 'masks/c1/5-0.png', 'settings.json']
    shutil.rmtree(out)

    class Killed(BaseException):
        pass

    written = []
    write_mask = masks_module.write_mask

    def write_then_die(path, mask, key):
        if len(written) == 2:
            raise Killed()
        write_mask(path, mask, key)
        written.append(os.path.relpath(path, out))

    monkeypatch.setattr(masks_module, 'write_mask', write_then_die)
    with pytest.raises(Killed):
        make_provenance_masks(manifest, str(out), quiet=True, **options)
    monkeypatch.setattr(masks_module, 'write_mask', write_mask)
    # no manifest yet: only finished masks and the settings
    assert sorted(_files(out)) == sorted(['settings.json'] + written)
    # what a SIGKILL can leave: a temporary file; a foreign 0-byte mask
    (out / 'masks/c1/.5-0.0123456789ab.tmp.png').write_bytes(b'\x89PNG')
    (out / 'masks/c1/5-0.png').write_bytes(b'')

    made = []
    compute = masks_module.otsu_provenance_mask

    def counted(original, edited, **kwargs):
        made.append(1)
        return compute(original, edited, **kwargs)

    monkeypatch.setattr(masks_module, 'otsu_provenance_mask', counted)
    make_provenance_masks(manifest, str(out), quiet=True, **options)
    # 6 pairs less the 2 finished masks (the degenerate pair is redone)
    assert len(made) == 4
    assert _files(out) == clean


def test_other_settings_stop_unless_overwrite(tmp_path, capsys):
    manifest = _write_dataset(tmp_path / 'data')
    out = tmp_path / 'out'
    make_provenance_masks(manifest, str(out), quiet=True, blur=3)
    settings = json.loads((out / 'settings.json').read_text())
    assert settings == dict(
        format_version=2, match_size='edited', blur=3, blur_type='median',
        log_scale=False, clean=0, area_change=0., max_aspect_change=0.05)
    with pytest.raises(ValueError, match=re.escape(
            f'{out} holds masks made with other settings '
            f'({out}/settings.json): blur: 3 there, 5 now; clean: 0 there, '
            '3 now. Use another output folder, the same settings, or '
            'overwrite (--overwrite) to replace them')):
        make_provenance_masks(manifest, str(out), quiet=True, blur=5,
                              clean=3)
    make_provenance_masks(manifest, str(out), blur=5, clean=3,
                          overwrite=True)
    assert json.loads((out / 'settings.json').read_text())['blur'] == 5
    assert '(5 made, 0 kept from an earlier run)' in capsys.readouterr().out
    make_provenance_masks(manifest, str(out), blur=5, clean=3)
    assert '(0 made, 5 kept from an earlier run)' in capsys.readouterr().out


@pytest.mark.parametrize('ext', ['.jpg', '.png'])
def test_truncated_images_stop_the_run_naming_file_and_line(tmp_path, ext):
    manifest = _write_dataset(tmp_path / 'data', ext=ext)
    out = tmp_path / 'out'
    make_provenance_masks(manifest, str(out), quiet=True)
    edited = tmp_path / f'data/edits/c1/1-0{ext}'
    data = edited.read_bytes()
    edited.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(
            f'1 of 6 pairs failed:\n{manifest}:3: truncated or corrupt '
            f'image {edited}: ')):
        make_provenance_masks(manifest, str(out), quiet=True)
    # the old manifest no longer stands beside masks of another input
    assert not (out / 'manifest.csv').exists()
