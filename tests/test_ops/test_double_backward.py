"""cheap_double_backward: the gradients of L_PG and of the total loss equal
PyTorch's own (FP64) and finite differences; the input-gradient pass
computes no weight gradient; settings it does not handle fall back."""
import pytest
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from provmm.ops.double_backward import cheap_double_backward
from provmm.ops.double_backward.batch_norm import (
    BatchNormInputGradient, channel_dot)
from provmm.provenance.gradient_loss import provenance_gradient_loss


class _Block(nn.Module):
    """Convolutions of every kind the mode handles, BN, in-place ReLU and
    a residual add (the building blocks of mmpretrain's ResNet)."""

    def __init__(self, affine=True):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(8, affine=affine)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2,
                              bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.wide = nn.Conv2d(8, 64, 3, padding=1, bias=False)  # W > out
        self.head = nn.Linear(64, 5)

    def forward(self, x):
        x = self.relu(self.bn1(self.stem(x)))
        x = self.relu(self.bn2(self.conv(x)) + x)
        x = torch.relu(self.wide(nn.functional.max_pool2d(x, 2)))
        return self.head(x.mean((2, 3)))


def _problem(seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 3, 8, 8, generator=generator, dtype=torch.float64)
    mask = (torch.rand(4, 8, 8, generator=generator) > 0.5).double()
    return x, mask, torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 0, 0])


SOFT = torch.tensor([True, True, False, True])  # sample 2 takes Eq. 10


def _total_loss_grads(net, x, mask, label_a, label_b, cheap):
    net.zero_grad()
    inputs = x.clone().requires_grad_(True)
    if cheap:
        with cheap_double_backward(inputs) as guided:
            logits = net(inputs)
    else:
        logits = net(inputs)
    loss_pg = provenance_gradient_loss(
        inputs, logits, mask, label_a, label_b, 'margin',
        soft=None if label_b is None else SOFT)
    if cheap:
        guided.input_gradients_taken()
    (logits.logsumexp(1).mean() + loss_pg).backward()
    return ([p.grad.clone() for p in net.parameters()],
            [b.clone() for b in net.buffers()], inputs.grad)


@pytest.mark.parametrize('affine', [True, False])
@pytest.mark.parametrize('soft', [True, False])
def test_gradients_and_running_stats_equal_pytorch_double_backward(
        affine, soft):
    torch.manual_seed(0)
    net = _Block(affine).double().train()
    x, mask, label_a, label_b = _problem()
    label_b = label_b if soft else None
    state = {k: v.clone() for k, v in net.state_dict().items()}
    reference, ref_buffers, _ = _total_loss_grads(net, x, mask, label_a,
                                                  label_b, cheap=False)
    net.load_state_dict(state)
    grads, buffers, input_grad = _total_loss_grads(net, x, mask, label_a,
                                                   label_b, cheap=True)
    for got, expected in zip(grads, reference):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    for got, expected in zip(buffers, ref_buffers):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # The guided input's own gradient is skipped once it was taken.
    assert input_grad is None


def test_penalty_weight_gradient_matches_finite_differences():
    torch.manual_seed(0)
    net = _Block().double().train()
    x, mask, label_a, label_b = _problem()
    names = ['stem.weight', 'bn1.weight', 'conv.weight', 'wide.weight']

    def penalty(*weights):
        # Running statistics change on every call but do not enter the
        # training-mode output: the function stays deterministic.
        inputs = x.clone().requires_grad_(True)
        with cheap_double_backward(inputs):
            logits = torch.func.functional_call(net, dict(zip(names,
                                                              weights)),
                                                (inputs, ))
        return provenance_gradient_loss(inputs, logits, mask, label_a,
                                        label_b, soft=SOFT)

    weights = [net.get_parameter(name).detach().clone().requires_grad_(True)
               for name in names]
    analytic = torch.autograd.grad(penalty(*weights), weights)
    eps = 1e-6
    for index, weight in enumerate(weights):
        direction = torch.randn_like(weight)
        plus = [w.detach() for w in weights]
        minus = list(plus)
        plus[index] = plus[index] + eps * direction
        minus[index] = minus[index] - eps * direction
        numeric = (penalty(*plus) - penalty(*minus)) / (2 * eps)
        torch.testing.assert_close((analytic[index] * direction).sum(),
                                   numeric.detach(), rtol=1e-6, atol=1e-10)


def test_batch_norm_input_gradient_backward_is_its_jacobian():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2, 4, 4, generator=generator, dtype=torch.float64)
    mean = x.mean((0, 2, 3))
    invstd = (x.var((0, 2, 3), unbiased=False) + 1e-5).rsqrt()
    grad_output = torch.randn_like(x).requires_grad_(True)
    weight = torch.tensor([0.7, -1.3], dtype=torch.float64,
                          requires_grad=True)
    x.requires_grad_(True)

    def input_gradient(grad_output, x, weight):
        # mean / invstd as functions of x: the formula's own dependence.
        mean = x.mean((0, 2, 3))
        invstd = (x.var((0, 2, 3), unbiased=False) + 1e-5).rsqrt()
        return BatchNormInputGradient.apply(grad_output, x, weight, mean,
                                            invstd, 1e-5)

    assert mean.shape == invstd.shape == (2, )
    assert torch.autograd.gradcheck(input_gradient, (grad_output, x, weight))


def test_channel_dot_is_per_channel_sum_of_products():
    generator = torch.Generator().manual_seed(2)
    a = torch.randn(3, 4, 5, 5, generator=generator, dtype=torch.float64)
    b = torch.randn(3, 4, 5, 5, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(channel_dot(a, b), (a * b).sum((0, 2, 3)))


class _ConvBackwardLog(TorchDispatchMode):
    """Records (batch size, output mask) of every convolution backward."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.convolution_backward.default:
            self.calls.append((args[0].shape[0], tuple(args[-1])))
        return func(*args, **(kwargs or {}))


def test_input_gradient_pass_computes_no_weight_gradient_and_final_fuses():
    torch.manual_seed(0)
    net = _Block().train()
    x, mask, label_a, _ = _problem()
    inputs = x.float().requires_grad_(True)
    with cheap_double_backward(inputs) as guided:
        logits = net(inputs)
    log = _ConvBackwardLog()
    with log:
        (grad, ) = torch.autograd.grad(logits[:, 0].sum(), inputs,
                                       create_graph=True)
    # `wide` and `conv`; the stem (3 channels) takes the matrix product.
    assert log.calls == [(4, (True, False, False))] * 2
    guided.input_gradients_taken()
    log = _ConvBackwardLog()
    with log:
        (logits.sum() + grad.pow(2).sum()).backward()
    # `wide` (weight larger than its output): one weight-gradient call on
    # the loss's and the penalty's 4 + 4 samples; the stem last, without
    # the input's gradient.
    assert (8, (False, True, False)) in log.calls
    assert log.calls[-1] == (4, (False, True, True))
    assert inputs.grad is None
    assert all(p.grad is not None for p in net.parameters())


def test_autocast_string_padding_and_eval_batch_norm_fall_back():
    conv = nn.Conv2d(3, 4, 3, padding='same')
    bn = nn.BatchNorm2d(4).eval()
    inputs = torch.randn(2, 3, 6, 6, requires_grad=True)
    with cheap_double_backward(inputs):
        out = bn(conv(inputs))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            mixed = nn.functional.conv2d(inputs, conv.weight, padding=1)
    assert 'Cheap' not in type(out.grad_fn).__name__
    assert type(out.grad_fn.next_functions[0][0]).__name__.startswith(
        'Convolution')
    assert mixed.dtype == torch.bfloat16
    assert type(mixed.grad_fn).__name__.startswith('Convolution')


def test_second_derivative_with_respect_to_weights_uses_pytorch_formula():
    # create_graph with weight gradients (e.g. a Hessian-vector product)
    # takes PyTorch's differentiable kernels and gives the same result.
    torch.manual_seed(0)
    net = _Block().double().train()
    x = _problem()[0]
    vectors = [torch.randn_like(p) for p in net.parameters()]

    def hessian_vector(cheap):
        state = {k: v.clone() for k, v in net.state_dict().items()}
        inputs = x.clone().requires_grad_(True)
        if cheap:
            with cheap_double_backward(inputs):
                loss = net(inputs).pow(2).sum()
        else:
            loss = net(inputs).pow(2).sum()
        grads = torch.autograd.grad(loss, list(net.parameters()),
                                    create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(grads, vectors))
        result = torch.autograd.grad(dot, list(net.parameters()))
        net.load_state_dict(state)
        return result

    for got, expected in zip(hessian_vector(True), hessian_vector(False)):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-11)
