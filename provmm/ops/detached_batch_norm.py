"""Training-mode batch norm whose batch statistics are constants.

In train mode ``y = gamma (x - mean) r + beta`` with ``r = 1 / sqrt(var +
eps)``, where ``mean`` and ``var`` are taken over the batch: every output
depends on every sample, so the gradient of the summed outputs with respect
to sample ``i`` is not sample ``i``'s own input gradient. With ``mean`` and
``r`` detached the layer is a per-channel affine map,

    d y / d x = gamma r,      d y / d gamma = x^ = (x - mean) r,
    d y / d beta = 1,

and a network of such layers (convolutions, ReLUs, pooling) keeps the samples
of a batch independent: the input gradient of ``sum_i f(x_i)`` at ``x_i`` is
``grad f(x_i)`` for the network whose batch norms use the batch's statistics
as fixed constants.

``with detached_batch_statistics(model) as mode:`` makes every
``nn.modules.batchnorm._BatchNorm`` of ``model`` in train mode normalise this
way. The forward values and the running statistics are those of PyTorch's
batch norm bit for bit (the same ``native_batch_norm`` call); only the
backward leaves out the paths through the batch mean and variance.

Only the input gradients should see the statistics as constants: the
classification loss trains a batch-norm network through them. After
``mode.input_gradients_taken()`` the backward passes of the same forward are
PyTorch's exact batch-norm backward again. The penalty on the input
gradients reaches the weights through the input gradients' own graph (where
the statistics stay constants), so that final pass gives the classification
loss's exact gradient plus the penalty's with detached statistics (for
``target='logit'``; with ``'log_softmax'`` or ``'margin'`` the penalty also
flows back through the softmax weights, there with the exact backward).
Torch only, no OpenMMLab.
"""
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .double_backward.batch_norm import BatchNormWithCheapDoubleBackward
from .double_backward.graph_task import needed_gradients

aten = torch.ops.aten


class BatchNormWithDetachedStatistics(BatchNormWithCheapDoubleBackward):
    """``F.batch_norm(x, ..., training=True)`` with the batch mean and
    ``1 / std`` treated as constants in the backward while
    ``mode.detached`` (module docstring), PyTorch's exact backward after.
    The forward (and the running statistics' update) is the cheap double
    backward's, PyTorch's own kernel; the backward is written in
    differentiable operations where a graph is being built, so input
    gradients can be differentiated again."""

    @staticmethod
    def forward(ctx, inputs, weight, bias, running_mean, running_var,
                momentum: float, eps: float,
                mode: 'DetachedBatchStatisticsMode'):
        ctx.mode = mode
        return BatchNormWithCheapDoubleBackward.forward(
            ctx, inputs, weight, bias, running_mean, running_var, momentum,
            eps)

    @staticmethod
    def backward(ctx, grad_output):
        if not ctx.mode.detached:
            return BatchNormWithCheapDoubleBackward.backward(
                ctx, grad_output) + (None, )
        inputs, weight, mean, invstd = ctx.saved_tensors
        needed = iter(needed_gradients(ctx, ctx.tensor_inputs))
        need_x = next(needed)
        need_w = next(needed) if ctx.has_weight else False
        need_b = next(needed) if ctx.has_bias else False
        shape = (1, -1) + (1, ) * (inputs.dim() - 2)
        grad_x = grad_w = grad_b = None
        if need_x:
            scale = invstd if weight is None else weight * invstd
            grad_x = grad_output * scale.view(shape)
        if (need_w or need_b) and torch.is_grad_enabled():
            dims = [0] + list(range(2, inputs.dim()))
            if need_w:
                normalised = (inputs - mean.view(shape)) * invstd.view(shape)
                grad_w = (grad_output * normalised).sum(dims)
            if need_b:
                grad_b = grad_output.sum(dims)
        elif need_w or need_b:
            # The same weight and bias gradients as PyTorch's batch norm.
            _, grad_w, grad_b = aten.native_batch_norm_backward(
                grad_output, inputs, weight, None, None, mean, invstd, True,
                ctx.eps, [False, need_w, need_b])
        return grad_x, grad_w, grad_b, None, None, None, None, None


class DetachedBatchStatisticsMode(TorchFunctionMode):
    """Routes train-mode ``F.batch_norm`` to
    :class:`BatchNormWithDetachedStatistics` while ``active`` > 0; their
    backward treats the statistics as constants while ``detached``."""

    def __init__(self):
        super().__init__()
        self.active = 0
        self.detached = True

    def input_gradients_taken(self) -> None:
        """Later backward passes use the exact batch-norm backward."""
        self.detached = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not F.batch_norm or not self.active:
            return func(*args, **kwargs)
        return self.batch_norm(*args, **kwargs)

    def batch_norm(self, input, running_mean, running_var, weight=None,
                   bias=None, training=False, momentum=0.1, eps=1e-5):
        if not training:
            return F.batch_norm(input, running_mean, running_var, weight,
                                bias, training, momentum, eps)
        F._verify_batch_size(input.size())
        return BatchNormWithDetachedStatistics.apply(
            input, weight, bias, running_mean, running_var, momentum, eps,
            self)


@contextmanager
def detached_batch_statistics(model: nn.Module):
    """Within the context, every ``_BatchNorm`` of ``model`` that normalises
    with batch statistics treats them as constants in the backward until
    the yielded mode's ``input_gradients_taken()`` (see the module
    docstring).

    Enter it inside any other ``TorchFunctionMode`` that handles
    ``F.batch_norm`` (the innermost mode handles the call first).

    Args:
        model (nn.Module): the network; other code is not affected.
    """
    mode = DetachedBatchStatisticsMode()

    def enter(module, args):
        mode.active += 1

    def leave(module, args, output):
        mode.active -= 1

    handles = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave))
    try:
        with mode:
            yield mode
    finally:
        for handle in handles:
            handle.remove()
