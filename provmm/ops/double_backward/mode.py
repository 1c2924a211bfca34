"""Run a forward pass so that its input gradients backpropagate cheaply.

``with cheap_double_backward(inputs) as guided:`` routes the 2-D
convolutions, training-mode batch norms and ReLUs of the forward pass through
the ``autograd.Function`` s of this package: same values and same gradients
of every order that the training step uses, computed with fewer and faster
kernels when the input gradients are differentiated again (double backprop).
Everything else (and everything under autocast) runs unchanged.

After the input gradients are taken, ``guided.input_gradients_taken()`` tells
the first convolution that the final backward pass needs no gradient for the
input itself.

What it saves in time and memory is measured by
``tools/benchmark_guidance.py --compare-pytorch`` (figures in the README).
"""
from contextlib import contextmanager
from typing import Optional

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .batch_norm import BatchNormWithCheapDoubleBackward
from .conv import ConvGeometry, Conv2dWithCheapDoubleBackward, GuidedInput
from .relu import ReLUWithCheapDoubleBackward


def _pair(value):
    return list(value) if isinstance(value, (tuple, list)) else [value] * 2


class CheapDoubleBackwardMode(TorchFunctionMode):
    """The ``TorchFunctionMode`` behind :func:`cheap_double_backward`."""

    def __init__(self, guided_input: GuidedInput):
        super().__init__()
        self.guided_input = guided_input
        self.handlers = {
            F.conv2d: self.conv2d,
            F.batch_norm: self.batch_norm,
            F.relu: self.relu,
        }

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        handler = self.handlers.get(func)
        if handler is None or not torch.is_grad_enabled():
            return func(*args, **kwargs)
        return handler(*args, **kwargs)

    def input_gradients_taken(self) -> None:
        """The final backward pass needs no gradient for the input."""
        self.guided_input.gradient_wanted = False

    def conv2d(self, input, weight, bias=None, stride=1, padding=0,
               dilation=1, groups=1):
        if isinstance(padding, str) or _autocast(input):
            return F.conv2d(input, weight, bias, stride, padding, dilation,
                            groups)
        geometry = ConvGeometry(_pair(stride), _pair(padding),
                                _pair(dilation), groups)
        return Conv2dWithCheapDoubleBackward.apply(input, weight, bias,
                                                   geometry,
                                                   self.guided_input)

    def batch_norm(self, input, running_mean, running_var, weight=None,
                   bias=None, training=False, momentum=0.1, eps=1e-5):
        if not training or _autocast(input):
            return F.batch_norm(input, running_mean, running_var, weight,
                                bias, training, momentum, eps)
        F._verify_batch_size(input.size())
        return BatchNormWithCheapDoubleBackward.apply(input, weight, bias,
                                                      running_mean,
                                                      running_var, momentum,
                                                      eps)

    def relu(self, input, inplace=False):
        if _autocast(input):
            return F.relu(input, inplace)
        return ReLUWithCheapDoubleBackward.apply(input, inplace)


def _autocast(tensor: torch.Tensor) -> bool:
    return torch.is_autocast_enabled(tensor.device.type)


@contextmanager
def cheap_double_backward(inputs: Optional[torch.Tensor] = None):
    """Context manager for the forward pass; yields the mode (see module).

    Args:
        inputs (Tensor, optional): the leaf whose input gradients will be
            taken; its own gradient is skipped in the final backward pass
            after ``input_gradients_taken()``.
    """
    mode = CheapDoubleBackwardMode(GuidedInput(inputs))
    with mode:
        yield mode
