"""NonFiniteLossHook: training stops at the first non-finite loss before
the optimizer step; under AMP skipped steps are counted."""
import os
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from toy_training import ToyModel, toy_runner

from provmm.engine.hooks import NonFiniteLossHook


class _Alpha:
    """Stands in for a ProvenanceGradientLoss."""

    def current_weight(self):
        return 1e6


class _RecordWeights(Hook):

    def __init__(self):
        self.weights = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.weights.append(
            {k: v.clone() for k, v in runner.model.state_dict().items()})


def test_stops_at_first_non_finite_loss_before_the_step(tmp_path):
    # 4 iterations per epoch: iteration 5 is the first of epoch 2.
    model = ToyModel(inf_at=5, provenance_loss=_Alpha())
    record = _RecordWeights()
    runner = toy_runner(tmp_path, model, max_epochs=2,
                        custom_hooks=[NonFiniteLossHook(), record])
    with pytest.raises(FloatingPointError) as info:
        runner.train()
    assert re.fullmatch(
        r'Non-finite loss at iteration 5 \(epoch 2\): loss_cls=[0-9.]+, '
        r'loss_pg=inf, alpha=1e\+06\. Stopped before the optimizer step: no '
        r'weights were updated or saved with it\. Lower the learning rate or '
        r'alpha, or check the data normalisation \(mean/std\)\.',
        str(info.value)), str(info.value)
    # No update with the infinite loss; the only checkpoint is epoch 1's.
    assert len(record.weights) == 4
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, record.weights[-1][name])
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == [
        'epoch_1.pth']
    with open(osp.join(tmp_path, 'last_checkpoint')) as f:
        assert f.read().endswith('epoch_1.pth')


def test_finite_training_is_unchanged(tmp_path):
    plain = toy_runner(tmp_path / 'plain')
    plain.train()
    checked = toy_runner(tmp_path / 'checked',
                         custom_hooks=[NonFiniteLossHook()])
    checked.train()
    for a, b in zip(plain.model.state_dict().values(),
                    checked.model.state_dict().values()):
        assert torch.equal(a, b)


def test_alpha_from_the_logged_pg_alpha_or_not_available():
    runner = SimpleNamespace(iter=2, epoch=0)
    losses = dict(loss_cls=torch.tensor(float('nan')),
                  loss_pg=[torch.tensor(1.0), torch.tensor(2.0)],
                  pg_ratio=torch.tensor(float('nan')))
    model = torch.nn.Linear(1, 1)
    assert NonFiniteLossHook.describe(runner, model, losses) == (
        'iteration 3 (epoch 1): loss_cls=nan, loss_pg=3, '
        'alpha=n/a (no provenance_loss)')
    losses['pg_alpha'] = torch.tensor(0.5)
    assert NonFiniteLossHook.describe(runner, model, losses).endswith(
        'alpha=0.5')


class _FakeScaler:
    """The scale a GradScaler reports: halved after a skipped step."""

    def __init__(self, scale=2.0**16):
        self.scale = scale

    def get_scale(self):
        return self.scale


def _amp_runner():
    optim_wrapper = SimpleNamespace(loss_scaler=_FakeScaler(),
                                    should_update=lambda: True)
    return SimpleNamespace(optim_wrapper=optim_wrapper, iter=0, epoch=0,
                           model=torch.nn.Linear(1, 1))


def _amp_iter(hook, runner, skipped=False, loss=1.0):
    """One iteration: forward (the model hook), step, after_train_iter."""
    hook.before_train_iter(runner, 0)
    losses = dict(loss_cls=torch.tensor(loss))
    hook._check_forward(runner, runner.model, (), dict(mode='loss'), losses)
    if skipped:
        runner.optim_wrapper.loss_scaler.scale /= 2
    hook.after_train_iter(runner, 0, outputs=losses)
    runner.iter += 1


def test_amp_counts_consecutive_skipped_steps_and_stops_after_the_limit():
    hook = NonFiniteLossHook(max_skipped_amp_steps=2)
    runner = _amp_runner()
    _amp_iter(hook, runner, skipped=True)  # gradient overflow
    _amp_iter(hook, runner, skipped=True)
    assert hook.skipped_amp_steps == 2
    _amp_iter(hook, runner)  # a step that ran resets the count
    assert hook.skipped_amp_steps == 0
    _amp_iter(hook, runner, skipped=True)
    # A non-finite loss is not an error under AMP: GradScaler skips the step
    # (a static scale does not change, the loss still counts it).
    _amp_iter(hook, runner, loss=float('nan'))
    assert hook.skipped_amp_steps == 2
    with pytest.raises(FloatingPointError) as info:
        _amp_iter(hook, runner, skipped=True)
    assert str(info.value) == (
        'AMP skipped 3 optimizer steps in a row (non-finite losses or '
        'gradients; max_skipped_amp_steps=2), loss scale now 4096. Last: '
        'iteration 6 (epoch 1): loss_cls=1, alpha=n/a (no provenance_loss)')


def test_amp_does_not_count_accumulation_iterations():
    hook = NonFiniteLossHook(max_skipped_amp_steps=0)
    runner = _amp_runner()
    runner.optim_wrapper.should_update = lambda: False
    _amp_iter(hook, runner, loss=float('inf'))  # no step in this iteration
    assert hook.skipped_amp_steps == 0


def test_negative_limit_is_refused():
    with pytest.raises(ValueError, match='max_skipped_amp_steps must be >= 0'):
        NonFiniteLossHook(max_skipped_amp_steps=-1)
