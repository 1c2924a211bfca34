"""Score maps on disk: the reference layout, atomic writes, checked reads."""
import os

import numpy as np
import pytest

from provmm.evaluation.scoremap_folder import load_scoremap, save_scoremap


def test_save_and_load_keep_the_reference_layout(tmp_path):
    scoremap = np.linspace(0, 1, 12).reshape(3, 4)
    path = save_scoremap(str(tmp_path), '001.A/a.jpg', scoremap)
    assert path == str(tmp_path / '001.A' / 'a.jpg.npy')
    np.testing.assert_array_equal(np.load(path), scoremap)
    np.testing.assert_array_equal(
        load_scoremap(str(tmp_path), '001.A/a.jpg', (3, 4)), scoremap)
    assert os.listdir(tmp_path / '001.A') == ['a.jpg.npy']


def test_an_interrupted_write_leaves_the_old_map_and_no_partial_file(
        tmp_path, monkeypatch):
    save_scoremap(str(tmp_path), 'a.jpg', np.zeros((2, 2)))

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(KeyboardInterrupt):
        save_scoremap(str(tmp_path), 'a.jpg', np.ones((2, 2)))
    assert os.listdir(tmp_path) == ['a.jpg.npy']
    assert not np.load(tmp_path / 'a.jpg.npy').any()


@pytest.mark.parametrize('image_id', ['../a.jpg', 'x/../../a.jpg',
                                      '/tmp/a.jpg', ''])
def test_ids_cannot_leave_the_root(tmp_path, image_id):
    root = tmp_path / 'maps'
    for run in (lambda: save_scoremap(str(root), image_id, np.zeros((2, 2))),
                lambda: load_scoremap(str(root), image_id)):
        with pytest.raises(ValueError, match=f'{root}: image id .* must be '
                           'a non-empty relative path inside its root'):
            run()
    assert not list(tmp_path.rglob('*.npy'))
