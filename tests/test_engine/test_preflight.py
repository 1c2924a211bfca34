"""Checks before the Runner writes its work dir: the checkpoint to load
(empty, truncated, not a checkpoint, the last_checkpoint pointer) and the
datasets of the run."""
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from provmm.engine.preflight import (check_before_run, check_checkpoint_file,
                                     checkpoint_to_load, removing_new_work_dir,
                                     run_loaders)

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _checkpoint(path, truncate_to=None):
    torch.save(dict(state_dict=dict(w=torch.zeros(1000))), str(path))
    if truncate_to is not None:
        with open(path, 'r+b') as f:
            f.truncate(truncate_to)
    return str(path)


def test_a_complete_checkpoint_passes(tmp_path):
    check_checkpoint_file(_checkpoint(tmp_path / 'ok.pth'))


def test_empty_checkpoint(tmp_path):
    path = tmp_path / 'epoch_3.pth'
    path.touch()
    with pytest.raises(RuntimeError) as info:
        check_checkpoint_file(str(path))
    assert str(info.value) == (
        f'Checkpoint {path} is empty (0 bytes), as a run killed while saving '
        'leaves it; delete it and use an earlier checkpoint.')


def test_truncated_checkpoint(tmp_path):
    path = _checkpoint(tmp_path / 'epoch_3.pth', truncate_to=2000)
    with pytest.raises(RuntimeError,
                       match=f'^Checkpoint {path} is truncated or corrupt '):
        check_checkpoint_file(path)


def test_corrupt_member_fails_its_crc(tmp_path):
    path = _checkpoint(tmp_path / 'epoch_3.pth')
    with open(path, 'r+b') as f:  # a flipped byte inside the tensor data
        data = bytearray(f.read())
        offset = data.index(bytes(4000)) + 100
        f.seek(offset)
        f.write(b'\x01')
    with pytest.raises(RuntimeError, match=f'^Checkpoint {path} is corrupt: '
                       r"its member '.*' fails the CRC check\.$"):
        check_checkpoint_file(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / 'notes.txt'
    path.write_text('hello')
    with pytest.raises(RuntimeError) as info:
        check_checkpoint_file(str(path))
    assert str(info.value) == (
        f"{path} is not a checkpoint: torch.save writes a zip archive "
        "(starting with b'PK\\x03\\x04'), this file starts with b'hell'.")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=f'^Checkpoint {tmp_path}/x.pth does not exist'):
        check_checkpoint_file(str(tmp_path / 'x.pth'))


def test_urls_are_left_to_mmengine():
    check_checkpoint_file('https://download.openmmlab.com/x.pth')


def test_auto_resume_checks_the_last_checkpoint_pointer(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path), resume=True, load_from=None))
    assert checkpoint_to_load(cfg) is None  # no pointer: train from scratch
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text('')
    with pytest.raises(RuntimeError, match=f'^{pointer} is empty; it should '
                       'name the checkpoint to resume from.$'):
        checkpoint_to_load(cfg)
    path = _checkpoint(tmp_path / 'epoch_2.pth', truncate_to=100)
    pointer.write_text(path)
    with pytest.raises(RuntimeError,
                       match=f'^Checkpoint {path} \\(named in {pointer}\\) '
                       'is truncated or corrupt'):
        check_before_run(cfg, 'test')


def test_load_from_wins_over_the_pointer(tmp_path):
    (tmp_path / 'last_checkpoint').write_text('elsewhere.pth')
    cfg = Config(dict(work_dir=str(tmp_path), resume=True, load_from='a.pth'))
    assert checkpoint_to_load(cfg) == ('a.pth', '')
    cfg.resume = False
    assert checkpoint_to_load(cfg) == ('a.pth', '')
    cfg.load_from = None
    assert checkpoint_to_load(cfg) is None


def test_run_loaders():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'provmm', 'synth_wsol_cam.py'))
    assert run_loaders(cfg, 'train') == ['train_dataloader', 'val_dataloader']
    assert run_loaders(cfg, 'test') == ['test_dataloader']
    cfg.val_cfg = None  # --no-validate
    assert run_loaders(cfg, 'train') == ['train_dataloader']


def test_missing_data_raise_the_datasets_own_error(tmp_path):
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'provmm', 'wsol_cub_vgg16.py'))
    missing = str(tmp_path / 'CUB_200_2011')
    cfg.test_dataloader.dataset.data_root = missing
    cfg.work_dir = str(tmp_path / 'work')
    with pytest.raises(FileNotFoundError,
                       match=f"image folder '{missing}/images' does not "
                       'exist') as info:
        check_before_run(cfg, 'test')
    if sys.version_info >= (3, 11):  # exception notes
        assert info.value.__notes__ == [
            '(building test_dataloader.dataset of '
            f'{cfg.filename} before the run)'
        ]
    assert not osp.exists(cfg.work_dir)


def test_a_failed_start_removes_only_a_work_dir_it_created(tmp_path):
    new = tmp_path / 'new'
    with pytest.raises(ValueError):
        with removing_new_work_dir(str(new)):
            os.makedirs(new / '20260101_000000')
            raise ValueError('the runner failed to build')
    assert not new.exists()
    old = tmp_path / 'old'
    old.mkdir()
    with pytest.raises(ValueError):
        with removing_new_work_dir(str(old)):
            raise ValueError('the runner failed to build')
    assert old.exists()
