"""Where the checkpoint allow-list is installed: SafeCheckpointLoadingHook
(before_run, ahead of mmengine's load_or_resume) and only on torch>=2.6."""
import os.path as osp
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch
from toy_training import toy_runner

from provmm.engine.checkpoint_safety import register_checkpoint_safe_globals
from provmm.engine.hooks import SafeCheckpointLoadingHook

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('trained')
    toy_runner(work_dir).train()
    return str(work_dir / 'epoch_1.pth')


@pytest.fixture
def no_safe_globals():
    """An interpreter in which nothing allow-listed checkpoint globals."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    yield
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(saved)


def test_without_the_allow_list_an_mmengine_checkpoint_is_refused(
        tmp_path, checkpoint, no_safe_globals):
    runner = toy_runner(tmp_path, load_from=checkpoint)
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        runner.test()


@pytest.mark.parametrize('run', ['train', 'resume', 'test'])
def test_hook_installs_it_before_the_runner_loads(tmp_path, checkpoint,
                                                  no_safe_globals, run):
    resume = run == 'resume'
    runner = toy_runner(tmp_path, max_epochs=2, load_from=checkpoint,
                        resume=resume,
                        custom_hooks=[SafeCheckpointLoadingHook()])
    if run == 'test':
        assert runner.test() == dict(count=16)
    else:
        runner.train()
        assert runner.iter == 8
    assert runner._has_loaded


def test_another_project_builds_it_from_its_config(tmp_path):
    script = textwrap.dedent("""
        from mmengine.registry import HOOKS, init_default_scope
        init_default_scope('mmpretrain')
        hook = HOOKS.build(dict(type='provmm.SafeCheckpointLoadingHook'))
        print(type(hook).__module__)
    """)
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-1] == (
        'provmm.engine.hooks.safe_checkpoint_loading_hook')


def test_older_torch_is_refused(monkeypatch):
    monkeypatch.setattr(torch, '__version__', '2.5.1+cu121')
    with pytest.raises(RuntimeError) as info:
        register_checkpoint_safe_globals()
    assert str(info.value) == (
        'provmm needs torch>=2.6.0 to load checkpoints safely; found torch '
        '2.5.1+cu121, whose torch.load defaults to weights_only=False and '
        'would run any pickled code in a checkpoint. Upgrade: pip install '
        '"torch>=2.6.0"')


def test_package_requires_torch_2_6():
    with open(osp.join(ROOT, 'pyproject.toml')) as f:
        pyproject = f.read()
    assert '"torch>=2.6",' in pyproject and '"torch>=2.1' not in pyproject
