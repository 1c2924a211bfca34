"""ReLU whose input gradient has a cheap second backward.

``g_x = g_y * [y > 0]``. PyTorch's second backward also returns a
``zeros_like`` gradient for ``y`` (the step function's derivative), which is
then added into the network's backward; here it is left out (``None``).
"""
import torch

aten = torch.ops.aten


class ReLUWithCheapDoubleBackward(torch.autograd.Function):
    """``F.relu(x, inplace)``."""

    @staticmethod
    def forward(ctx, inputs, inplace: bool):
        if inplace:
            outputs = inputs.relu_()
            ctx.mark_dirty(inputs)
        else:
            outputs = inputs.relu()
        ctx.save_for_backward(outputs)
        return outputs

    @staticmethod
    def backward(ctx, grad_output):
        (outputs, ) = ctx.saved_tensors
        if torch.is_grad_enabled():
            return ReLUInputGradient.apply(grad_output, outputs), None
        return aten.threshold_backward(grad_output, outputs, 0), None


class ReLUInputGradient(torch.autograd.Function):
    """``g_x`` of ReLU as a function of ``g_y`` (``y`` is a constant)."""

    @staticmethod
    def forward(ctx, grad_output, outputs):
        ctx.save_for_backward(outputs)
        return aten.threshold_backward(grad_output, outputs, 0)

    @staticmethod
    def backward(ctx, grad_grad_input):
        (outputs, ) = ctx.saved_tensors
        return aten.threshold_backward(grad_grad_input, outputs, 0), None
