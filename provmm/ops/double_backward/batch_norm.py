"""Training-mode batch norm whose input gradient has a cheap second backward.

Per channel, over the ``m`` elements of a batch (``N x H x W``), with
``r = 1 / sqrt(var + eps)`` and ``x^ = (x - mean) r``, the input gradient of
``y = gamma x^ + beta`` is

    g_x = gamma r (g_y - A / m - x^ B / m),   A = sum g_y,  B = sum g_y x^.

Its backward for an incoming ``u = d L / d g_x`` (``U = sum u``,
``V = sum u x^``, ``P = sum u g_y``, ``S = P - (A U + B V) / m``):

    d L / d g_y   = gamma r (u - U / m - x^ V / m)      (BN's own backward)
    d L / d gamma = r S
    d L / d x     = -(gamma r^2 / m) (x^ (S - 2 B V / m) + V g_y + B u
                                      - (A V + B U) / m)

PyTorch's generic formula (``batchnorm_double_backward``) takes about
27 multiplications and 30 reductions per call; here two fused
``native_batch_norm_backward`` calls give ``d/d g_y``, ``U``, ``V`` and ``P``,
and three fused multiply-adds give ``d/d x``.
"""
import torch

from .graph_task import needed_gradients

aten = torch.ops.aten


class BatchNormWithCheapDoubleBackward(torch.autograd.Function):
    """``F.batch_norm(x, ..., training=True)``; running statistics are
    updated as by PyTorch. The backward computes only the gradients the
    running pass uses; with ``create_graph`` and only ``g_x`` needed (an
    input-gradient pass) it returns :class:`BatchNormInputGradient`.
    """

    @staticmethod
    def forward(ctx, inputs, weight, bias, running_mean, running_var,
                momentum: float, eps: float):
        outputs, mean, invstd = aten.native_batch_norm(
            inputs, weight, bias, running_mean, running_var, True, momentum,
            eps)
        ctx.save_for_backward(inputs, weight, mean, invstd)
        ctx.eps = eps
        ctx.tensor_inputs = 1 + sum(t is not None for t in (weight, bias))
        ctx.has_weight, ctx.has_bias = weight is not None, bias is not None
        return outputs

    @staticmethod
    def backward(ctx, grad_output):
        inputs, weight, mean, invstd = ctx.saved_tensors
        needed = iter(needed_gradients(ctx, ctx.tensor_inputs))
        need_x = next(needed)
        need_w = next(needed) if ctx.has_weight else False
        need_b = next(needed) if ctx.has_bias else False
        if torch.is_grad_enabled() and not (need_w or need_b):
            grad_x = (BatchNormInputGradient.apply(grad_output, inputs, weight,
                                                   mean, invstd, ctx.eps)
                      if need_x else None)
            return grad_x, None, None, None, None, None, None
        # Differentiable under create_graph (PyTorch's double backward).
        grad_x, grad_w, grad_b = aten.native_batch_norm_backward(
            grad_output, inputs, weight, None, None, mean, invstd, True,
            ctx.eps, [need_x, need_w, need_b])
        return grad_x, grad_w, grad_b, None, None, None, None


class BatchNormInputGradient(torch.autograd.Function):
    """``g_x`` of training-mode batch norm as a function of
    ``(g_y, x, gamma)``; see the module docstring for its backward."""

    @staticmethod
    def forward(ctx, grad_output, inputs, weight, mean, invstd, eps: float):
        grad_x, sum_gy_xhat, sum_gy = aten.native_batch_norm_backward(
            grad_output, inputs, weight, None, None, mean, invstd, True, eps,
            [True, True, True])
        ctx.save_for_backward(grad_output, inputs, weight, mean, invstd,
                              sum_gy, sum_gy_xhat)
        ctx.eps = eps
        return grad_x

    @staticmethod
    def backward(ctx, u):
        grad_output, inputs, weight, mean, invstd, A, B = ctx.saved_tensors
        need_gy, need_x, need_w = (needed_gradients(
            ctx, 3 if weight is not None else 2) + [False])[:3]
        count = inputs.numel() // inputs.shape[1]
        shape = (1, -1) + (1, ) * (inputs.dim() - 2)
        grad_gy, V, U = aten.native_batch_norm_backward(
            u, inputs, weight, None, None, mean, invstd, True, ctx.eps,
            [need_gy, True, True])
        grad_x = grad_w = None
        if need_x or need_w:
            P = channel_dot(u, grad_output)
            S = P - (A * U + B * V) / count
            if need_w:
                grad_w = S * invstd
            if need_x:
                gamma = weight if weight is not None else torch.ones_like(A)
                scale = -gamma * invstd * invstd / count
                # Coefficients of (x - mean) = x^ / r, g_y and u per channel.
                coef_x = scale * (S - 2 * B * V / count) * invstd
                coef_gy, coef_u = scale * V, scale * B
                const = -scale * (A * V + B * U) / count - coef_x * mean
                grad_x = torch.addcmul(const.view(shape), inputs,
                                       coef_x.view(shape))
                grad_x.addcmul_(grad_output, coef_gy.view(shape))
                grad_x.addcmul_(u, coef_u.view(shape))
        return grad_gy, grad_x, grad_w, None, None, None


def channel_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum(a * b)`` per channel (axis 1) in one fused pass: BN's weight
    gradient with ``b`` as its (already normalised) input."""
    channels = a.shape[1]
    zeros = a.new_zeros(channels)
    ones = a.new_ones(channels)
    return aten.native_batch_norm_backward(a, b, None, None, None, zeros,
                                           ones, True, 0.0,
                                           [False, True, False])[1]
