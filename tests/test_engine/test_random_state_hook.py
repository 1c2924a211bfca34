"""RandomStateHook: checkpoints hold every random state training draws from,
so that a killed-and-resumed run ends with bit-identical weights."""
import os.path as osp
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from provmm.engine.hooks import RandomStateHook
from provmm.engine.hooks.random_state_hook import (get_random_states,
                                                   set_random_states)
from provmm.registry import DATASETS

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
# RandomFlip in the pipeline; ProvenanceCutMix through
# ProvenanceMixBatchAugment (np.random.beta, np.random.choice, torch.randperm)
CONFIG = osp.join(ROOT, 'configs', 'provmm', 'synth_wsol_cutmix.py')


def _draw():
    return (random.random(), np.random.rand(), np.random.randn(),
            torch.rand(1).item())


def test_states_round_trip_and_load_without_an_allow_list(tmp_path):
    np.random.randn()  # numpy caches the second Gaussian: part of the state
    states = get_random_states()
    expected = _draw()
    path = str(tmp_path / 'states.pth')
    torch.save(states, path)
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        loaded = torch.load(path, weights_only=True)
    finally:
        torch.serialization.add_safe_globals(saved)
    _draw()
    set_random_states(loaded)
    assert _draw() == expected


def test_load_from_does_not_restore_the_states():
    hook = RandomStateHook()
    hook.after_load_checkpoint(
        None, dict(meta=dict(iter=8), random_states=get_random_states()))
    expected = get_random_states()['torch']
    hook.before_train(SimpleNamespace(iter=0))  # load_from starts at 0
    assert torch.equal(torch.get_rng_state(), expected)


def _cfg(tmp_path, work_dir, max_epochs, save_best, resume=False):
    cfg = Config.fromfile(CONFIG)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(tmp_path / 'data')
        cfg[loader].dataset.generator.num_per_class = dict(train=2, val=1,
                                                           test=1)
    cfg.model.backbone.init_cfg = None  # no source pre-training
    cfg.train_dataloader.batch_size = 8  # 16 images: 2 iterations an epoch
    cfg.train_cfg.max_epochs = max_epochs
    if not save_best:
        cfg.default_hooks.checkpoint.save_best = None
    cfg.work_dir = str(tmp_path / work_dir)
    cfg.resume = resume
    cfg.experiment_name = f'{work_dir}_{max_epochs}_{resume}_{save_best}'
    return cfg


@pytest.fixture
def one_thread():
    """Tiny convolutions run faster on one thread, even on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# save_best re-saves the epoch checkpoint during validation; without it the
# checkpoint is saved before validation, whose draws a resume does not repeat
@pytest.mark.parametrize('save_best', [True, False])
def test_killed_and_resumed_training_ends_with_identical_weights(
        tmp_path, save_best, one_thread):
    with DefaultScope.overwrite_default_scope('provmm'):
        DATASETS.build(_cfg(tmp_path, 'x', 1, save_best).train_dataloader
                       .dataset)  # generate the data once, outside the runs
    straight = Runner.from_cfg(_cfg(tmp_path, 'straight', 2, save_best))
    straight.train()
    Runner.from_cfg(_cfg(tmp_path, 'killed', 1, save_best)).train()
    resumed = Runner.from_cfg(
        _cfg(tmp_path, 'killed', 2, save_best, resume=True))
    resumed.train()

    assert resumed.iter == straight.iter == 4
    expected = straight.model.state_dict()
    for name, value in resumed.model.state_dict().items():
        assert torch.equal(value, expected[name]), name


def test_validating_every_epoch_leaves_training_unchanged(tmp_path,
                                                          one_thread):
    """What the benchmarks that validate every epoch rely on: their runs
    equal runs validated once at the end."""
    with DefaultScope.overwrite_default_scope('provmm'):
        DATASETS.build(_cfg(tmp_path, 'x', 1, False).train_dataloader
                       .dataset)
    runs = {}
    for val_interval in (1, 3):
        cfg = _cfg(tmp_path, f'val{val_interval}', 3, False)
        cfg.train_cfg.val_interval = val_interval
        runs[val_interval] = Runner.from_cfg(cfg)
        runs[val_interval].train()
    expected = runs[3].model.state_dict()
    for name, value in runs[1].model.state_dict().items():
        assert torch.equal(value, expected[name]), name
