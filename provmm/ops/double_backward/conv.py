"""2-D convolution whose input gradient has a cheap second backward.

PyTorch's second backward of a convolution (``_convolution_double_backward``)
computes the weight gradient as a convolution of transposed tensors, slow on
CPU. Here the input gradient ``g_x = conv_transpose(g_y, W)`` is an
``autograd.Function`` (:class:`Conv2dInputGradient`) whose backward uses the
ordinary kernels:

- ``d/d g_y``: ``conv(gg_x, W)``, a forward convolution;
- ``d/d W``: the weight gradient of a convolution with input ``gg_x`` and
  output gradient ``g_y``. Where the weight is larger than the output (deep
  layers on small maps, where oneDNN's weight gradient has a large cost per
  call) it is handed to the convolution's own backward, which runs later in
  the same pass and computes both weight gradients (``x, g_y'`` of the loss
  and ``gg_x, g_y`` of the penalty) in one call on the concatenated batch.
  Elsewhere separate calls are faster and it is computed at once.

:class:`Conv2dWithCheapDoubleBackward` is the convolution itself; its backward
computes only the gradients the running pass uses (an input-gradient pass
computes no weight gradient) and none for a guided input whose gradient was
already taken (:class:`GuidedInput`).
"""
from typing import List, NamedTuple, Optional

import torch
import torch.nn.functional as F

from .graph_task import current_graph_task, needed_gradients, will_execute

aten = torch.ops.aten

# Inputs with at most this many channels (images): oneDNN's input gradient
# is slow there; on CPU a batched matrix product and col2im take half the time.
FEW_CHANNELS = 4


class GuidedInput:
    """The input tensor of a guided forward pass and whether its gradient
    is still wanted (it is not once the input gradients are taken)."""

    def __init__(self, tensor: Optional[torch.Tensor]):
        self.tensor = tensor
        self.gradient_wanted = True


class ConvGeometry(NamedTuple):
    stride: List[int]
    padding: List[int]
    dilation: List[int]
    groups: int

    def backward_args(self):
        """Arguments of ``aten.convolution_backward`` after the bias sizes."""
        return (self.stride, self.padding, self.dilation, False, [0, 0],
                self.groups)


def conv_input_gradient(grad_output: torch.Tensor, inputs: torch.Tensor,
                        weight: torch.Tensor,
                        geometry: ConvGeometry) -> torch.Tensor:
    """``d loss / d inputs`` of ``conv2d(inputs, weight)`` (no graph)."""
    if (inputs.shape[1] <= FEW_CHANNELS and geometry.groups == 1
            and inputs.device.type == 'cpu'):
        batch, out_channels = grad_output.shape[:2]
        columns = torch.bmm(
            weight.reshape(out_channels, -1).t().expand(batch, -1, -1),
            grad_output.reshape(batch, out_channels, -1))
        return F.fold(columns, inputs.shape[2:], weight.shape[2:],
                      dilation=geometry.dilation, padding=geometry.padding,
                      stride=geometry.stride)
    return aten.convolution_backward(grad_output, inputs, weight, None,
                                     *geometry.backward_args(),
                                     (True, False, False))[0]


def conv_weight_gradient(grad_output: torch.Tensor, inputs: torch.Tensor,
                         weight: torch.Tensor,
                         geometry: ConvGeometry) -> torch.Tensor:
    """``d loss / d weight`` of ``conv2d(inputs, weight)`` (no graph)."""
    return aten.convolution_backward(grad_output, inputs, weight, None,
                                     *geometry.backward_args(),
                                     (False, True, False))[1]


class Conv2dWithCheapDoubleBackward(torch.autograd.Function):
    """``conv2d(x, weight, bias)``; see the module docstring."""

    @staticmethod
    def forward(ctx, inputs, weight, bias, geometry: ConvGeometry,
                guided_input: Optional[GuidedInput]):
        ctx.save_for_backward(inputs, weight)
        ctx.geometry = geometry
        ctx.has_bias = bias is not None
        ctx.guided_input = (guided_input
                            if guided_input is not None
                            and inputs is guided_input.tensor else None)
        ctx.deferred = []  # (graph task, gg_x, g_y) from the penalty
        ctx.done_in_task = None
        outputs = aten.convolution(inputs, weight, bias, geometry.stride,
                                   geometry.padding, geometry.dilation, False,
                                   [0, 0], geometry.groups)
        ctx.fuse_weight_gradients = weight.numel() >= outputs.numel()
        return outputs

    @staticmethod
    def backward(ctx, grad_output):
        inputs, weight = ctx.saved_tensors
        geometry = ctx.geometry
        task = current_graph_task()
        ctx.done_in_task = task
        need = needed_gradients(ctx, 3 if ctx.has_bias else 2) + [False]
        need_x, need_w, need_b = need[0], need[1], need[2]
        bias_sizes = [weight.shape[0]] if ctx.has_bias else None
        if torch.is_grad_enabled():  # create_graph: differentiable results
            if not (need_w or need_b):
                grad_x = (Conv2dInputGradient.apply(grad_output, weight, ctx)
                          if need_x else None)
                return grad_x, None, None, None, None
            grads = aten.convolution_backward(
                grad_output, inputs, weight, bias_sizes,
                *geometry.backward_args(), (need_x, need_w, need_b))
            return (*grads, None, None)
        if ctx.guided_input is not None and (
                not ctx.guided_input.gradient_wanted):
            need_x = False
        deferred = [item for item in ctx.deferred if item[0] == task]
        ctx.deferred = []
        if not (need_w and deferred):  # the call a plain step makes
            grads = aten.convolution_backward(
                grad_output, inputs, weight, bias_sizes,
                *geometry.backward_args(), (need_x, need_w, need_b))
            return (*grads, None, None)
        grad_x = grad_b = None
        if need_x:
            grad_x = conv_input_gradient(grad_output, inputs, weight,
                                         geometry)
        # One call for the loss's and the penalty's weight gradients.
        grad_w = conv_weight_gradient(
            torch.cat([grad_output] + [item[2] for item in deferred]),
            torch.cat([inputs] + [item[1] for item in deferred]), weight,
            geometry)
        if need_b:
            grad_b = grad_output.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


class Conv2dInputGradient(torch.autograd.Function):
    """``g_x`` of a convolution as a function of ``(g_y, W)``.

    ``conv_ctx`` is the context of the :class:`Conv2dWithCheapDoubleBackward`
    call (holds ``x``, the geometry and the deferred weight gradients).
    """

    @staticmethod
    def forward(ctx, grad_output, weight, conv_ctx):
        ctx.save_for_backward(grad_output, weight)
        ctx.conv_ctx = conv_ctx
        inputs = conv_ctx.saved_tensors[0]
        return conv_input_gradient(grad_output, inputs, weight,
                                   conv_ctx.geometry)

    @staticmethod
    def backward(ctx, grad_grad_input):
        grad_output, weight = ctx.saved_tensors
        conv_ctx = ctx.conv_ctx
        geometry = conv_ctx.geometry
        need_grad_output, need_w = needed_gradients(ctx, 2)
        grad_grad_output = grad_w = None
        if need_grad_output:
            grad_grad_output = aten.convolution(
                grad_grad_input, weight, None, geometry.stride,
                geometry.padding, geometry.dilation, False, [0, 0],
                geometry.groups)
        if need_w:
            task = current_graph_task()
            if (conv_ctx.fuse_weight_gradients
                    and conv_ctx.done_in_task != task
                    and will_execute(conv_ctx)):
                conv_ctx.deferred.append((task, grad_grad_input, grad_output))
            else:
                grad_w = conv_weight_gradient(grad_output, grad_grad_input,
                                              weight, geometry)
        return grad_grad_output, grad_w, None
