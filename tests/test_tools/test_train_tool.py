"""tools/train.py and tools/test.py refuse to start on a typo in
--cfg-options, a broken checkpoint or missing data, before writing a work
dir; a non-finite loss stops training before it updates weights."""
import importlib.util
import os
import os.path as osp
import sys

import pytest
import torch
from tool_process import ROOT, run_tool as _run

SYNTH = osp.join(ROOT, 'configs', 'provmm', 'synth_wsol_cutmix_pg.py')
CUB = osp.join(ROOT, 'configs', 'provmm', 'wsol_cub_vgg16.py')


def _main(monkeypatch, tool, *argv):
    """Run ``tools/<tool>.py argv`` in this process (the checks fail before
    any training)."""
    spec = importlib.util.spec_from_file_location(
        f'provmm_tools_{tool}', osp.join(ROOT, 'tools', f'{tool}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, 'argv', [f'{tool}.py', *argv])
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.chdir(ROOT)
    module.main()


def _truncated_checkpoint(path):
    torch.save(dict(state_dict=dict(w=torch.zeros(1000))), str(path))
    with open(path, 'r+b') as f:
        f.truncate(1000)
    return str(path)


def test_cfg_options_typo_is_refused(tmp_path, monkeypatch):
    work_dir = str(tmp_path / 'work')
    with pytest.raises(ValueError) as info:
        _main(monkeypatch, 'train', SYNTH, '--work-dir', work_dir,
              '--cfg-options', 'load_form=epoch_1.pth')
    assert str(info.value) == (
        "--cfg-options load_form: unknown top-level key 'load_form', neither "
        f"in {SYNTH} nor a Runner setting; did you mean 'load_from'?")
    assert not osp.exists(work_dir)


def test_resume_from_an_empty_checkpoint(tmp_path, monkeypatch):
    empty = tmp_path / 'epoch_1.pth'
    empty.touch()
    work_dir = str(tmp_path / 'work')
    with pytest.raises(RuntimeError, match=f'^Checkpoint {empty} is empty '
                       r'\(0 bytes\)'):
        _main(monkeypatch, 'train', SYNTH, '--work-dir', work_dir,
              '--resume', str(empty))
    assert not osp.exists(work_dir)


def test_auto_resume_from_a_truncated_last_checkpoint(tmp_path, monkeypatch):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    path = _truncated_checkpoint(work_dir / 'epoch_2.pth')
    (work_dir / 'last_checkpoint').write_text(path)
    with pytest.raises(RuntimeError) as info:
        _main(monkeypatch, 'train', SYNTH, '--work-dir', str(work_dir),
              '--resume')
    assert str(info.value).startswith(
        f'Checkpoint {path} (named in {work_dir}/last_checkpoint) is '
        'truncated or corrupt (')
    assert sorted(os.listdir(work_dir)) == ['epoch_2.pth', 'last_checkpoint']


def test_load_from_a_file_that_is_not_a_checkpoint(tmp_path, monkeypatch):
    notes = tmp_path / 'notes.txt'
    notes.write_text('not weights')
    with pytest.raises(RuntimeError, match=f'^{notes} is not a checkpoint'):
        _main(monkeypatch, 'train', SYNTH, '--work-dir',
              str(tmp_path / 'work'), '--cfg-options', f'load_from={notes}')


def test_test_tool_with_a_truncated_checkpoint(tmp_path, monkeypatch):
    path = _truncated_checkpoint(tmp_path / 'epoch_2.pth')
    work_dir = str(tmp_path / 'work')
    with pytest.raises(RuntimeError,
                       match=f'^Checkpoint {path} is truncated or corrupt'):
        _main(monkeypatch, 'test', SYNTH, path, '--work-dir', work_dir)
    assert not osp.exists(work_dir)


def test_test_tool_with_missing_data(tmp_path, monkeypatch):
    missing = str(tmp_path / 'CUB_200_2011')
    checkpoint = str(tmp_path / 'vgg.pth')
    torch.save(dict(state_dict=dict()), checkpoint)
    work_dir = str(tmp_path / 'work')
    with pytest.raises(FileNotFoundError,
                       match=f"image folder '{missing}/images' does not "
                       'exist'):
        _main(monkeypatch, 'test', CUB, checkpoint, '--work-dir', work_dir,
              '--cfg-options', f'test_dataloader.dataset.data_root={missing}')
    assert not osp.exists(work_dir)


def test_train_with_missing_data_stops_before_the_work_dir(tmp_path):
    missing = str(tmp_path / 'CUB_200_2011')
    work_dir = str(tmp_path / 'work')
    out = _run([
        'tools/train.py', CUB, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={missing}',
        f'val_dataloader.dataset.data_root={missing}'
    ])
    assert out.returncode != 0
    assert (f"FileNotFoundError: CUBWSOLDataset: image folder "
            f"'{missing}/images' does not exist") in out.stderr
    assert not osp.exists(work_dir)


def test_non_finite_loss_stops_training_before_the_step(tmp_path):
    # alpha 1e6, a zero std (infinite inputs) and a huge learning rate
    options = [
        f'{loader}.dataset.{key}'
        for loader in ('train_dataloader', 'val_dataloader')
        for key in (f'data_root={tmp_path}/synth',
                    'generator.num_per_class.train=1',
                    'generator.num_per_class.val=1')
    ]
    options += [
        'model.backbone.init_cfg=None', 'model.provenance_loss.warmup_iters=0',
        'model.provenance_loss.loss_weight=1e6',
        'data_preprocessor.std=[0,0,0]', 'optim_wrapper.optimizer.lr=1e6',
        'train_cfg.max_epochs=1'
    ]
    work_dir = str(tmp_path / 'work')
    out = _run(['tools/train.py', SYNTH, '--work-dir', work_dir,
                '--cfg-options'] + options)
    assert out.returncode != 0
    assert ('FloatingPointError: Non-finite loss at iteration 1 (epoch 1): '
            'loss_cls=nan, loss_pg=nan, alpha=1e+06. Stopped before the '
            'optimizer step') in out.stderr, out.stderr[-3000:]
    assert not osp.exists(osp.join(work_dir, 'last_checkpoint'))
    assert not [f for f in os.listdir(work_dir) if f.endswith('.pth')]
