"""Backbone weights pre-trained on the synthetic source task, made on first
use (the synthetic benchmark's stand-in for ImageNet weights)."""
import os
import os.path as osp
import shutil
import subprocess
import sys
from typing import Optional

from mmengine.model.weight_init import PretrainedInit

from provmm.registry import WEIGHT_INITIALIZERS


def pretrain_on_synthetic_source(pretrain_config: str, checkpoint: str,
                                 work_dir: str = None,
                                 seed: Optional[int] = None) -> str:
    """Train ``pretrain_config`` and store its last checkpoint at
    ``checkpoint``; return ``checkpoint``. ``seed`` replaces the config's
    ``randomness.seed``.

    Runs in a child process: a second mmengine ``Runner`` inside the current
    one would replace its current ``MessageHub`` and logger.
    """
    if not osp.isfile(pretrain_config):
        raise FileNotFoundError(
            f'pre-training config {pretrain_config!r} not found (paths are '
            'relative to the working directory; run from the provmm '
            'repository root)')
    # one run folder per checkpoint: several may be made at once
    work_dir = work_dir or osp.splitext(checkpoint)[0] + '_run'
    # `-c` rather than `-m`: running this module as __main__ would register
    # the initializer a second time.
    command = [
        sys.executable, '-c', f'from {__name__} import train_config; '
        'train_config()', pretrain_config, '--work-dir', work_dir
    ]
    if seed is not None:
        command += ['--seed', str(seed)]
    subprocess.run(command, check=True)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    os.makedirs(osp.dirname(osp.abspath(checkpoint)), exist_ok=True)
    tmp = f'{checkpoint}.partial-{os.getpid()}'
    shutil.copyfile(last, tmp)
    os.replace(tmp, checkpoint)
    return checkpoint


@WEIGHT_INITIALIZERS.register_module()
class SyntheticSourcePretrained(PretrainedInit):
    """``Pretrained`` init that first creates a missing checkpoint by
    training ``pretrain_config`` (a couple of minutes on CPU).

    Args:
        checkpoint (str): cached checkpoint of the pre-trained model.
        pretrain_config (str): config that trains it (the source task).
        prefix (str): key prefix to load, e.g. ``'backbone.'``.
        map_location (str): as ``PretrainedInit``.
        seed (int, optional): pre-training seed (replaces the config's);
            give each seed its own ``checkpoint``, since an existing
            checkpoint is loaded as it is.
    """

    def __init__(self, checkpoint: str, pretrain_config: str,
                 prefix: str = 'backbone.', map_location: str = 'cpu',
                 seed: Optional[int] = None):
        super().__init__(checkpoint, prefix=prefix,
                         map_location=map_location)
        self.pretrain_config = pretrain_config
        self.seed = seed

    def __call__(self, module):
        if not osp.isfile(self.checkpoint):
            pretrain_on_synthetic_source(self.pretrain_config,
                                         self.checkpoint, seed=self.seed)
        super().__call__(module)

    def _get_init_info(self):
        return (f'{self.__class__.__name__}: load from {self.checkpoint} '
                f'(trained by {self.pretrain_config})')


def train_config():
    """``<config> --work-dir DIR``: train a config (the child process)."""
    import argparse

    from mmengine.config import Config
    from mmengine.runner import Runner

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--seed', type=int, default=None)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    Runner.from_cfg(cfg).train()

