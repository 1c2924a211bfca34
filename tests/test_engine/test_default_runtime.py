"""configs/_base_/default_runtime.py turns provmm's engine hooks on for
every provmm config."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import HOOKS, DefaultScope

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
ENGINE_HOOKS = [
    'SafeCheckpointLoadingHook', 'NonFiniteLossHook', 'RandomStateHook'
]


@pytest.mark.parametrize(
    'config',
    sorted(glob.glob(osp.join(ROOT, 'configs', 'provmm', '*.py'))),
    ids=osp.basename)
def test_every_config_has_provmms_engine_hooks(config):
    hooks = Config.fromfile(config).custom_hooks
    assert [hook['type'] for hook in hooks[:3]] == ENGINE_HOOKS


def test_the_hooks_build_in_the_provmm_scope():
    with DefaultScope.overwrite_default_scope('provmm'):
        hooks = [HOOKS.build(dict(type=name)) for name in ENGINE_HOOKS]
    assert [type(hook).__name__ for hook in hooks] == ENGINE_HOOKS
    assert hooks[1].max_skipped_amp_steps == 50
