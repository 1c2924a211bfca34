"""--cfg-options: a top-level typo is refused, nested new keys are not."""
import os.path as osp

import pytest
from mmengine.config import Config

from provmm.engine.train_utils import merge_cfg_options

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'provmm', 'synth_wsol_cutmix_pg.py')


def test_top_level_typo_is_refused_with_the_closest_key():
    cfg = Config.fromfile(CONFIG)
    with pytest.raises(ValueError) as info:
        merge_cfg_options(cfg, {'load_form': 'epoch_1.pth'})
    assert str(info.value) == (
        "--cfg-options load_form: unknown top-level key 'load_form', neither "
        f"in {CONFIG} nor a Runner setting; did you mean 'load_from'?")
    with pytest.raises(ValueError, match=r"'trian_cfg'.*'train_cfg'\?$"):
        merge_cfg_options(cfg, {'trian_cfg.max_epochs': 1})
    with pytest.raises(ValueError, match="'zzz', neither in .* setting$"):
        merge_cfg_options(cfg, {'zzz': 1})


def test_existing_nested_new_and_runner_keys_merge():
    cfg = Config.fromfile(CONFIG)
    merge_cfg_options(cfg, {
        'train_cfg.max_epochs': 1,
        'model.backbone.new_option': 2,  # nested new keys: mmpretrain's way
        'compile': True,  # read by the Runner, absent from the config
        'experiment_name': 'x',
    })
    assert cfg.train_cfg.max_epochs == 1
    assert cfg.model.backbone.new_option == 2
    assert cfg.compile is True and cfg.experiment_name == 'x'

