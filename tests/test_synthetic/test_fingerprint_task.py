"""The synthesis-fingerprint generator: the cue lies only where the edit
synthesized pixels, its strength dial, determinism."""
import hashlib
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from provmm.data_prep.provenance_manifest import load_provenance_manifest
from provmm.synthetic import (FingerprintEditSpec, FingerprintTaskSpec,
                              ensure_fingerprint_edits, insert_fingerprint)
from provmm.synthetic.fingerprint_task import (FINGERPRINT_AMPLITUDE,
                                               fingerprint_pattern,
                                               render_edit, render_sample)

TINY = FingerprintTaskSpec(num_images=dict(train=8, val=4, test=4))


def _digest(root):
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            with open(osp.join(folder, name), 'rb') as f:
                digests[osp.relpath(osp.join(folder, name), root)] = (
                    hashlib.sha1(f.read()).hexdigest())
    return digests


def _residual(task, edit, index):
    """Edited image minus the same edit without fingerprint (float), and
    the kept mask."""
    image, keep, _ = render_edit(task, edit, index)
    plain, _, _ = render_edit(task, FingerprintEditSpec(
        seed=edit.seed, fraction=edit.fraction, strength=0.,
        period=edit.period), index)
    return image.astype(float) - plain.astype(float), keep


@pytest.mark.parametrize('index', range(8))
def test_fingerprint_energy_outside_the_synthesized_region_is_exactly_zero(
        index):
    residual, keep = _residual(TINY, FingerprintEditSpec(strength=1.), index)
    assert np.abs(residual[keep]).sum() == 0
    assert np.abs(residual[~keep]).mean() > 2  # a grating, in grey levels
    # the kept region is the original's object, pixel for pixel
    original = render_sample(TINY, 'train', index)
    image, _, label = render_edit(TINY, FingerprintEditSpec(), index)
    np.testing.assert_array_equal(image[keep], original.image[keep])
    assert label == original.label


def test_strength_zero_gives_no_fingerprint_and_the_dial_scales_it():
    zero, _ = _residual(TINY, FingerprintEditSpec(strength=0.), 3)
    assert not zero.any()
    half, keep = _residual(TINY, FingerprintEditSpec(strength=.5), 3)
    full, _ = _residual(TINY, FingerprintEditSpec(strength=1.), 3)
    assert 1.5 < np.abs(full[~keep]).mean() / np.abs(half[~keep]).mean() < 2.5


def test_the_fingerprint_is_the_labels_grating():
    # 32 px, period 4: class 0 varies along x only, class 1 along y only
    zero = fingerprint_pattern(0, 2, 32, 4.)
    one = fingerprint_pattern(1, 2, 32, 4.)
    assert np.allclose(zero, zero[:1]) and np.allclose(one, one[:, :1])
    image = np.full((32, 32, 3), 128, np.uint8)
    keep = np.zeros((32, 32), bool)
    keep[:16] = True
    marked = insert_fingerprint(image, keep, 1, 2, 1., 4., np.pi / 2)
    assert (marked[keep] == 128).all()
    rows = 128 + 255 * FINGERPRINT_AMPLITUDE * np.sin(
        2 * np.pi * np.arange(16, 32) / 4 + np.pi / 2)
    np.testing.assert_allclose(marked[16:, :, 0],
                               np.repeat(rows[:, None], 32, 1), atol=1)


def test_edits_are_of_train_images_and_keep_their_object_on_disk(
        tmp_path):
    root = str(tmp_path / 'task')
    folder = ensure_fingerprint_edits(root, TINY, FingerprintEditSpec())
    pairs = load_provenance_manifest(osp.join(folder, 'manifest.csv'))
    assert len(pairs) == 8
    for pair in pairs:
        assert '/train/' in pair.edited and '/train/' in pair.original
        keep = cv2.imread(pair.gt_mask, cv2.IMREAD_GRAYSCALE) == 255
        edited = cv2.imread(pair.edited).astype(int)
        original = cv2.imread(pair.original).astype(int)
        assert (edited[keep] == original[keep]).all()
        assert 0.03 < keep.mean() < 0.6
    index = int(osp.basename(pairs[0].edited)[6:11])
    on_disk = cv2.imread(osp.join(root, 'images', 'train', 'triangle' if
                                  pairs[0].label == 0 else 'plus',
                                  f'train_{index:05d}.png'))[..., ::-1]
    np.testing.assert_array_equal(
        on_disk, render_sample(TINY, 'train', index).image)


def test_same_spec_gives_identical_files_and_another_seed_other_images(
        tmp_path):
    for root in ('a', 'b'):
        ensure_fingerprint_edits(str(tmp_path / root), TINY,
                                 FingerprintEditSpec(strength=.5))
    first, second = _digest(tmp_path / 'a'), _digest(tmp_path / 'b')
    assert len(first) == 8 + 4 + 4 + 2 * 8 + 4  # images, edits, csv/json
    assert first == second
    other = FingerprintTaskSpec(seed=1, num_images=TINY.num_images)
    assert not np.array_equal(render_sample(TINY, 'test', 0).image,
                              render_sample(other, 'test', 0).image)


def test_each_strength_has_its_own_edit_folder_and_bad_specs_are_refused(
        tmp_path):
    root = str(tmp_path / 'task')
    folders = {ensure_fingerprint_edits(root, TINY,
                                        FingerprintEditSpec(strength=s))
               for s in (0., 1.)}
    assert len(folders) == 2
    with pytest.raises(ValueError, match='strength'):
        FingerprintEditSpec(strength=-1.)
    with pytest.raises(ValueError, match='object_size'):
        FingerprintTaskSpec(object_size=(10., 30.))
    with pytest.raises(ValueError, match='multiple of 2'):
        FingerprintTaskSpec(num_images=dict(train=3, val=4, test=4))
