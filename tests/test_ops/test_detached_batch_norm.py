"""Batch norm with detached batch statistics: forward values and running
statistics of PyTorch's batch norm, and per-sample input gradients."""
import copy
from contextlib import contextmanager, nullcontext

import torch
import torch.nn as nn
import torch.nn.functional as F

from provmm.ops.detached_batch_norm import detached_batch_statistics
from provmm.ops.double_backward import cheap_double_backward
from provmm.provenance.gradient_loss import provenance_input_gradients


class TinyResNet(nn.Module):
    """conv-BN-ReLU stem, one residual block, global pooling, linear."""

    def __init__(self, channels=4, num_classes=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels))
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(x + self.block(x))
        return self.fc(x.mean((2, 3)))


def _model_and_batch(batch=5):
    torch.manual_seed(0)
    model = TinyResNet().double().train()
    for module in model.modules():  # non-trivial affine parameters
        if isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.5, 0.5)
    inputs = torch.randn(batch, 3, 6, 6, dtype=torch.float64)
    labels = torch.arange(batch) % 3
    return model, inputs, labels


def _batch_statistics(model, inputs):
    """Each batch norm's batch mean and biased variance for ``inputs``."""
    stats = {}
    probe = copy.deepcopy(model)  # a copy: running statistics untouched

    def record(module, args):
        x = args[0].detach()
        stats[module] = (x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False))

    for module in probe.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.register_forward_pre_hook(record)
    with torch.no_grad():
        probe(inputs)
    return {name: stats[module] for name, module in probe.named_modules()
            if module in stats}


def _fixed_statistics_model(model, stats):
    """The network whose batch norms normalise with the given constants."""
    fixed = copy.deepcopy(model)
    for name, module in fixed.named_modules():
        if name in stats:
            module.eval()  # normalise with running_mean / running_var
            module.running_mean.copy_(stats[name][0])
            module.running_var.copy_(stats[name][1])
    return fixed


def _input_gradients(model, inputs, labels, create_graph=False):
    """``grad_x f_A`` as the provenance loss takes it (one batched call)."""
    x = inputs.clone().requires_grad_(True)
    grad, _ = provenance_input_gradients(x, model(x), labels,
                                         create_graph=create_graph)
    return grad


def test_forward_and_running_statistics_equal_pytorch_batch_norm():
    model, inputs, _ = _model_and_batch()
    plain = copy.deepcopy(model)
    for _ in range(3):
        with detached_batch_statistics(model):
            ours = model(inputs)
        torch.testing.assert_close(ours, plain(inputs), rtol=0, atol=0)
    for (name, got), expected in zip(model.named_buffers(), plain.buffers()):
        assert torch.equal(got, expected), name
    assert int(model.stem[1].num_batches_tracked) == 3


def test_detached_input_gradients_are_per_sample_gradients():
    model, inputs, labels = _model_and_batch()
    fixed = _fixed_statistics_model(model, _batch_statistics(model, inputs))
    per_sample = torch.cat([
        _input_gradients(fixed, inputs[i:i + 1], labels[i:i + 1])
        for i in range(len(inputs))])
    for context in (detached_batch_statistics(model), _nested(model)):
        with context:
            batched = _input_gradients(model, inputs, labels)
        torch.testing.assert_close(batched, per_sample, rtol=1e-10,
                                   atol=1e-12)
    # With the batch statistics in the graph the samples are coupled.
    coupled = _input_gradients(model, inputs, labels)
    assert (coupled - per_sample).abs().max() > 1e-3 * per_sample.abs().max()


@contextmanager
def _nested(model):
    """Under ``cheap_double_backward`` the detached mode is the inner one."""
    with cheap_double_backward(), detached_batch_statistics(model):
        yield


def test_double_backward_equals_network_with_fixed_statistics():
    # Weight gradients of an input-gradient penalty: the detached batch
    # norm behaves exactly as batch norm with the statistics as constants.
    model, inputs, labels = _model_and_batch()
    fixed = _fixed_statistics_model(model, _batch_statistics(model, inputs))
    grads = []
    for net, context in ((model, detached_batch_statistics(model)),
                         (model, _nested(model)), (fixed, nullcontext())):
        net.zero_grad()
        with context:
            penalty = _input_gradients(net, inputs, labels, True).pow(2)
        penalty.sum().backward()
        # Biases only move ReLU kinks: no second-order gradient.
        grads.append([torch.zeros_like(p) if p.grad is None else p.grad
                      for p in net.parameters()])
    for got in grads[:2]:
        for a, b in zip(got, grads[2]):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_only_batch_norms_of_the_given_model_are_affected():
    model, inputs, labels = _model_and_batch()
    other = copy.deepcopy(model)
    with detached_batch_statistics(model):
        coupled = _input_gradients(other, inputs, labels)
    torch.testing.assert_close(coupled,
                               _input_gradients(other, inputs, labels))
    # Eval mode (running statistics) is left to PyTorch.
    model.eval()
    with detached_batch_statistics(model):
        ours = _input_gradients(model, inputs, labels)
    torch.testing.assert_close(ours, _input_gradients(model, inputs, labels))


def test_after_the_input_gradients_the_classification_gradient_is_exact():
    """The classifier's guided step: input gradients with detached
    statistics, then one backward of ``L_cls + L_PG``. Its weight gradients
    are those of ``L_cls`` through ordinary batch norm plus those of
    ``L_PG`` for the network with the statistics fixed."""
    model, inputs, labels = _model_and_batch()
    fixed = _fixed_statistics_model(model, _batch_statistics(model, inputs))

    def weight_gradients(net):
        return [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                for p in net.parameters()]

    ordinary = copy.deepcopy(model)
    F.cross_entropy(ordinary(inputs), labels).backward()
    expected = weight_gradients(ordinary)
    fixed.zero_grad()
    _input_gradients(fixed, inputs, labels, True).pow(2).sum().backward()
    expected = [a + b for a, b in zip(expected, weight_gradients(fixed))]

    for cheap in (False, True):
        net = copy.deepcopy(model)
        with (cheap_double_backward() if cheap else nullcontext()), \
                detached_batch_statistics(net) as mode:
            x = inputs.clone().requires_grad_(True)
            logits = net(x)
        grad, _ = provenance_input_gradients(x, logits, labels)
        mode.input_gradients_taken()
        (F.cross_entropy(logits, labels) + grad.pow(2).sum()).backward()
        for got, want in zip(weight_gradients(net), expected):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    # Without the call the classification gradient loses BatchNorm's
    # terms through the batch mean and variance.
    net = copy.deepcopy(model)
    with detached_batch_statistics(net):
        x = inputs.clone().requires_grad_(True)
        logits = net(x)
    grad, _ = provenance_input_gradients(x, logits, labels)
    (F.cross_entropy(logits, labels) + grad.pow(2).sum()).backward()
    assert not all(torch.allclose(got, want) for got, want in zip(
        weight_gradients(net), expected))
