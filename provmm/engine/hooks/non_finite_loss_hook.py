"""Stop training at the first non-finite loss, before the optimizer step."""
import math
from functools import partial
from typing import Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from provmm.registry import HOOKS


def loss_terms(losses: dict) -> Dict[str, float]:
    """The ``loss*`` entries that mmengine's ``parse_losses`` sums, as floats
    (a list of tensors counts as the sum of their means, as there)."""
    names, values = [], []
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        if isinstance(value, (list, tuple)):
            value = sum(v.detach().float().mean() for v in value)
        names.append(name)
        values.append(torch.as_tensor(value).detach().float().mean())
    if not values:
        return {}
    # One device sync for all terms.
    device = values[0].device
    values = torch.stack([v.to(device) for v in values]).tolist()
    return dict(zip(names, values))


def provenance_alpha(model, losses: dict) -> Optional[float]:
    """alpha of the model's ``provenance_loss`` now, else the logged
    ``pg_alpha``, else None."""
    provenance_loss = getattr(model, 'provenance_loss', None)
    if hasattr(provenance_loss, 'current_weight'):
        return float(provenance_loss.current_weight())
    if 'pg_alpha' in losses:
        return float(torch.as_tensor(losses['pg_alpha']).float().mean())
    return None


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first non-finite loss, before it updates weights.

    mmengine's ``train_step`` runs ``forward(mode='loss')``, ``parse_losses``
    and ``optim_wrapper.update_params`` in one call, so ``after_train_iter``
    comes after the step. This hook checks the loss dict in a forward hook on
    the model instead, before the backward pass and the optimizer step, and
    raises ``FloatingPointError`` naming the iteration, every loss term and
    alpha; no update and no checkpoint is made with that loss.

    Under AMP (an optim wrapper with a ``loss_scaler``) ``GradScaler`` skips
    a non-finite step and lowers the loss scale, so such steps are counted
    instead (a non-finite loss or a lower scale after an update) and training
    stops after more than ``max_skipped_amp_steps`` of them in a row.

    Args:
        max_skipped_amp_steps (int): consecutive optimizer steps that AMP may
            skip before training stops. Defaults to 50.
    """

    # Before CheckpointHook (VERY_LOW) in after_train_iter.
    priority = 'ABOVE_NORMAL'

    def __init__(self, max_skipped_amp_steps: int = 50):
        if max_skipped_amp_steps < 0:
            raise ValueError('NonFiniteLossHook: max_skipped_amp_steps must '
                             f'be >= 0, got {max_skipped_amp_steps}')
        self.max_skipped_amp_steps = max_skipped_amp_steps
        self.skipped_amp_steps = 0
        self._handle = None
        self._checked = False  # the forward hook saw this iteration's losses
        self._non_finite = False
        self._scale = None

    def before_train(self, runner) -> None:
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        self._handle = model.register_forward_hook(
            partial(self._check_forward, runner), with_kwargs=True)

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._checked = self._non_finite = False
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        self._scale = None if scaler is None else scaler.get_scale()

    def _check_forward(self, runner, model, args, kwargs, output) -> None:
        if kwargs.get('mode') != 'loss' or not isinstance(output, dict):
            return
        self._checked = True
        if self._is_finite(output):
            return
        if getattr(runner.optim_wrapper, 'loss_scaler', None) is not None:
            self._non_finite = True  # GradScaler skips this step
            return
        raise FloatingPointError(
            'Non-finite loss at ' + self.describe(runner, model, output) +
            '. Stopped before the optimizer step: no weights were updated or '
            'saved with it. Lower the learning rate or alpha, or check the '
            'data normalisation (mean/std).')

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if scaler is None:
            # A model whose train_step does not call forward(mode='loss'):
            # too late for the step, but still before any checkpoint.
            if not self._checked and outputs and not self._is_finite(outputs):
                raise FloatingPointError(
                    'Non-finite loss at ' +
                    self.describe(runner, runner.model, outputs) +
                    '. The optimizer step was applied (the model does not '
                    "call forward(mode='loss')); stopped before saving it.")
            return
        if not runner.optim_wrapper.should_update():
            return  # gradient accumulation: no step in this iteration
        skipped = self._non_finite or scaler.get_scale() < self._scale
        self.skipped_amp_steps = self.skipped_amp_steps + 1 if skipped else 0
        if self.skipped_amp_steps > self.max_skipped_amp_steps:
            raise FloatingPointError(
                f'AMP skipped {self.skipped_amp_steps} optimizer steps in a '
                'row (non-finite losses or gradients; max_skipped_amp_steps='
                f'{self.max_skipped_amp_steps}), loss scale now '
                f'{scaler.get_scale():g}. Last: ' +
                self.describe(runner, runner.model, outputs or {}))

    @staticmethod
    def _is_finite(losses: dict) -> bool:
        return all(math.isfinite(v) for v in loss_terms(losses).values())

    @staticmethod
    def describe(runner, model, losses: dict) -> str:
        """``'iteration I (epoch E): loss_x=..., alpha=A'``: where, every
        loss term and alpha."""
        model = model.module if is_model_wrapper(model) else model
        terms = ', '.join(f'{name}={value:.6g}'
                          for name, value in loss_terms(losses).items())
        alpha = provenance_alpha(model, losses)
        alpha = 'n/a (no provenance_loss)' if alpha is None else f'{alpha:g}'
        return (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
                f'{terms}, alpha={alpha}')
