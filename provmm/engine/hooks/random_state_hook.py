"""Random states in checkpoints, so that ``--resume`` is bit-identical."""
import logging
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from provmm.registry import HOOKS

CHECKPOINT_KEY = 'random_states'


def get_random_states() -> dict:
    """python ``random``, numpy's global and torch's CPU (and CUDA) states,
    as the ints, floats, strings and tensors that ``torch.load`` accepts
    with ``weights_only=True`` and no allow-list."""
    version, internal, gauss_next = random.getstate()
    algorithm, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    states = dict(
        python=dict(version=version, internal=torch.tensor(internal),
                    gauss_next=gauss_next),
        numpy=dict(algorithm=algorithm,
                   keys=torch.from_numpy(keys.astype(np.int64)),
                   pos=int(pos), has_gauss=int(has_gauss),
                   cached_gaussian=float(cached_gaussian)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict) -> None:
    """Restore what :func:`get_random_states` returned."""
    py = states['python']
    random.setstate(
        (py['version'], tuple(py['internal'].tolist()), py['gauss_next']))
    npy = states['numpy']
    np.random.set_state(
        (npy['algorithm'], npy['keys'].numpy().astype(np.uint32), npy['pos'],
         npy['has_gauss'], npy['cached_gaussian']))
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        for device, state in enumerate(
                states['cuda'][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, device)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save every random state training draws from and restore it on resume.

    mmengine checkpoints hold the seed but not the states that flip/crop
    transforms and batch augments (CutMix's ``np.random.beta``,
    ``torch.randperm``) have advanced, so a resumed run draws other numbers
    than an uninterrupted one. This hook stores :func:`get_random_states`
    under ``checkpoint['random_states']`` and, when a run resumes from that
    checkpoint, restores them in ``before_train`` (after mmengine's resume
    re-seeds). Validation restores the states it found, so a resumed run,
    which does not repeat the validation of the epoch it resumes after,
    draws the same numbers.

    Exact for epoch-based training with checkpoints at epoch ends and
    ``num_workers=0`` or non-persistent workers (mmengine seeds those from
    the seed alone). Ranks restore rank 0's states, which equal their own
    unless ``randomness.diff_rank_seed=True``.
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._loaded: Optional[dict] = None
        self._before_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # A checkpoint saved during validation (save_best) continues from
        # where training was.
        checkpoint[CHECKPOINT_KEY] = self._before_val or get_random_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = dict(iter=checkpoint.get('meta', {}).get('iter'),
                            states=checkpoint.get(CHECKPOINT_KEY))

    def before_train(self, runner) -> None:
        loaded, self._loaded = self._loaded, None
        # Only a resume continues the checkpoint's run; load_from starts at 0.
        if loaded is None or not runner.iter or runner.iter != loaded['iter']:
            return
        if loaded['states'] is None:
            print_log(
                'The resumed checkpoint has no random states (saved without '
                'RandomStateHook): the run continues, but not bit-identically '
                'to an uninterrupted one.', logger='current',
                level=logging.WARNING)
            return
        set_random_states(loaded['states'])

    def before_val(self, runner) -> None:
        self._before_val = get_random_states()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_random_states(self._before_val)
            self._before_val = None
