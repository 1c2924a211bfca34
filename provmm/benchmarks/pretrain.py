"""Per-seed source-task backbones of the synthetic WSOL benchmark: a
preparation step the driver announces and runs before any fine-tuning.

Seed k fine-tunes its own backbone, pre-trained with seed k (one shared
backbone would hide the variance that pre-training adds). Each is the
pre-training config the fine-tuning config names (by default
``configs/provmm/synth_wsol_pretrain.py``; the tiny ViT's is
``synth_wsol_sat_pretrain.py``) trained with
``Runner.from_cfg(cfg).train()`` and ``randomness.seed = k`` in a child
process (a second mmengine ``Runner`` in this process would replace the
current ``MessageHub`` and logger); its last checkpoint is copied to
:func:`seed_checkpoint`. Run as a module, this file is that child.
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
from typing import Callable, Sequence

PRETRAIN_CONFIG = osp.join('provmm', 'synth_wsol_pretrain.py')
CHECKPOINT_DIR = osp.join('work_dirs', 'synth_wsol_pretrain')


def checkpoint_dir(config: str = PRETRAIN_CONFIG) -> str:
    """``work_dirs/<config name>``: where a pre-training config's per-seed
    checkpoints are kept."""
    return osp.join('work_dirs', osp.splitext(osp.basename(config))[0])


def seed_checkpoint(seed: int, config: str = PRETRAIN_CONFIG) -> str:
    """Where the backbone that ``config`` pre-trained with ``seed`` is
    kept."""
    return osp.join(checkpoint_dir(config),
                    f'source_pretrained_seed{seed}.pth')


def pretrain(config: str, checkpoint: str, seed: int) -> str:
    """Train ``config`` with ``seed`` in a child process and copy its last
    checkpoint to ``checkpoint``; the child's console output goes to
    ``<run folder>/console.log``."""
    # one run folder per checkpoint: several may be made at once
    work_dir = osp.splitext(checkpoint)[0] + '_run'
    os.makedirs(work_dir, exist_ok=True)
    console = osp.join(work_dir, 'console.log')
    command = [sys.executable, '-m', __name__, config, '--work-dir',
               work_dir, '--seed', str(seed)]
    with open(console, 'w') as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        with open(console) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'pre-training {config} with seed {seed} failed '
                           f'(log: {console}):\n{tail}')
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    tmp = f'{checkpoint}.partial-{os.getpid()}'
    shutil.copyfile(last, tmp)
    os.replace(tmp, checkpoint)
    return checkpoint


def pretrain_backbones(seeds: Sequence[int], config_dir: str,
                       log: Callable = print,
                       config: str = PRETRAIN_CONFIG) -> None:
    """Make the missing per-seed backbones of ``config`` (relative to
    ``config_dir``), announced in one line with a progress bar."""
    from mmengine.utils import ProgressBar

    missing = [s for s in seeds
               if not osp.isfile(seed_checkpoint(s, config))]
    if not missing:
        return
    os.makedirs(checkpoint_dir(config), exist_ok=True)
    path = osp.join(config_dir, config)
    log(f'Pre-training the synthetic-source backbone of seed(s) '
        f'{", ".join(map(str, missing))} with {path} (first use, a few '
        f'minutes each; checkpoints and logs under '
        f'{checkpoint_dir(config)})...')
    bar = ProgressBar(len(missing), file=sys.stdout)
    for seed in missing:
        pretrain(path, seed_checkpoint(seed, config), seed)
        bar.update()
    sys.stdout.write('\n')


def train_config(argv=None) -> None:
    """``<config> --work-dir DIR --seed K``: train a config (the child)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    parser = argparse.ArgumentParser(description=train_config.__doc__)
    parser.add_argument('config')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--seed', type=int, required=True)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=args.seed)
    Runner.from_cfg(cfg).train()


if __name__ == '__main__':
    train_config()
