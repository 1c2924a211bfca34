"""Provenance gradient loss L_PG (paper Sec. 3.3, Eq. 9 and Eq. 10; the
total loss is Eq. 1, ``L = L_cls + alpha * L_PG``; docs/method.md).

For a synthetic input ``x~`` built from two sources A and B (``M = 1`` where
the element comes from A, the sample's own label):

    L_PG = || (1 - M) * grad_x f_A(x~) + M * grad_x f_B(x~) ||^2      (Eq. 9)

and for a hard-labelled edited input (``M = 1`` on the unedited target):

    L_PG = || (1 - M) * grad_x f_y(x~) ||^2                           (Eq. 10)

The norm is the squared L2 over every input element of a sample (channels x
pixels), averaged over the batch. Input gradients are taken with
``create_graph=True`` so the loss trains the weights (double backprop).

``f`` is chosen by ``target``:

- ``'logit'``: the raw logit (the paper).
- ``'log_softmax'``: ``log p_c = z_c - logsumexp_k z_k``.
- ``'margin'``: ``z_c - logsumexp_{k != c} z_k`` (= logit of ``p_c / (1 -
  p_c)``). Softmax only sees logit differences, so a penalty on one raw logit
  can be dodged by moving the dependence into the other logits; both
  alternatives are invariant to a shift common to all logits.

Which equation a sample takes is explicit: ``soft`` (``(B,)`` bool) marks
the samples of Eq. 9, whose second label is ``label_b``; the others take
Eq. 10 with their own label. A sample with nothing to penalise (a real,
unmixed image, or one mixed with a sample of its own class) is a hard sample
with ``M = 1``, whose Eq. 10 term is exactly 0.

``normalize=True`` (not in the paper) divides each sample's term by the
energy of the same input gradients over the whole input, so the loss is the
*share* of gradient energy in foreign regions, in [0, 1]. The squared norm
can be lowered by shrinking all input gradients, and a model that reads a
cue spread thinly over many foreign pixels (a background) has a smaller one
than a model that reads the target, whose gradients are concentrated and
straddle the mask boundary; the share is invariant to that scale.

With BatchNorm in train mode a sample's input gradient also depends on the
other samples of the batch; like every batched implementation, the gradient
of the summed selected outputs is used as the per-sample gradient (exact
with the batch statistics detached: :mod:`provmm.ops.detached_batch_norm`).

The maths lives in three small functions composed by
:func:`provenance_gradient_loss`: :func:`selected_outputs` (``f``),
:func:`provenance_input_gradients` (``grad_x f_A``, ``grad_x f_B``) and
:func:`provenance_gradient_penalty` (the norm), plus the diagnostic
:func:`outside_provenance_share`. :func:`penalised_samples` and
:func:`guided_subset` pick the samples a cheaper guided step penalises
(``subset_ratio`` of ``ProvenanceGradientLoss``).
"""
from typing import Optional, Tuple

import torch

TARGETS = ('logit', 'log_softmax', 'margin')


def selected_outputs(logits: torch.Tensor, labels: torch.Tensor,
                     target: str = 'logit') -> torch.Tensor:
    """``f_{labels[i]}`` of sample ``i`` for the chosen ``target``.

    Args:
        logits (Tensor): ``(B, K)`` class scores.
        labels (Tensor): ``(B,)`` class indices.
        target (str): ``'logit'``, ``'log_softmax'`` or ``'margin'``.

    Returns:
        Tensor: ``(B,)`` in FP32 (FP64 for FP64 logits).
    """
    if target not in TARGETS:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
    logits = at_least_fp32(logits)
    index = labels.long().view(-1, 1)
    chosen = logits.gather(1, index).squeeze(1)
    if target == 'logit':
        return chosen
    if target == 'log_softmax':
        return chosen - torch.logsumexp(logits, dim=1)
    others = logits.scatter(1, index, float('-inf'))
    return chosen - torch.logsumexp(others, dim=1)


def provenance_input_gradients(
        inputs: torch.Tensor,
        logits: torch.Tensor,
        label_a: torch.Tensor,
        label_b: Optional[torch.Tensor] = None,
        target: str = 'logit',
        create_graph: bool = True,
        soft: Optional[torch.Tensor] = None
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Input gradients ``grad_x f_A`` and ``grad_x f_B`` (FP32).

    Only the selected outputs are differentiated (one scalar per call), and
    ``grad_x f_B`` only for the Eq. 9 samples (zero for the others); it is
    ``None`` when there is none.

    Two plain ``autograd.grad`` calls are used: one batched call
    (``is_grads_batched=True``) made the whole guided step slower on CPU.

    Args:
        inputs (Tensor): ``(B, ...)`` leaf the logits were computed from, with
            ``requires_grad=True``.
        logits (Tensor): ``(B, K)``.
        label_a (Tensor): ``(B,)`` own labels.
        label_b (Tensor, optional): ``(B,)`` second-source labels.
        target (str): see :func:`selected_outputs`.
        create_graph (bool): keep the graph for double backprop.
        soft (Tensor, optional): ``(B,)`` bool, the Eq. 9 samples; ``None``
            means all samples when ``label_b`` is given.

    Returns:
        tuple: ``(grad_a, grad_b)``, each ``(B, ...)`` like ``inputs``.
    """
    f_a = selected_outputs(logits, label_a, target)
    soft = soft_weights(label_b, soft, label_a)
    need_b = soft is not None and bool(soft.any())
    (grad_a, ) = torch.autograd.grad(
        f_a.sum(), inputs, create_graph=create_graph, retain_graph=True)
    grad_b = None
    if need_b:
        f_b = selected_outputs(logits, label_b, target)
        (grad_b, ) = torch.autograd.grad((f_b * soft).sum(), inputs,
                                         create_graph=create_graph,
                                         retain_graph=True)
        grad_b = at_least_fp32(grad_b)
    return at_least_fp32(grad_a), grad_b


def provenance_gradient_penalty(grad_a: torch.Tensor,
                                grad_b: Optional[torch.Tensor],
                                mask: torch.Tensor,
                                soft: Optional[torch.Tensor] = None,
                                normalize: bool = False) -> torch.Tensor:
    """Eq. 9 / Eq. 10 from precomputed input gradients, mean over the batch.

    Args:
        grad_a (Tensor): ``(B, C, ...)`` gradient of ``f_A``.
        grad_b (Tensor, optional): ``(B, C, ...)`` gradient of ``f_B``
            (zero for the samples that are not ``soft``).
        mask (Tensor): ``(B, C, ...)`` or ``(B, ...)`` without the channel
            axis (broadcast over channels); ``1`` = comes from A.
        soft (Tensor, optional): ``(B,)`` bool or 0/1, the Eq. 9 samples;
            ``None``: every sample takes Eq. 10.
        normalize (bool): divide each sample's term by the energy of its
            penalised gradients over the whole input (see the module
            docstring). Defaults to False (the paper).

    Returns:
        Tensor: scalar FP32 loss.
    """
    grad_a = at_least_fp32(grad_a)
    mask = _broadcast_mask(mask, grad_a)
    with torch.autocast(grad_a.device.type, enabled=False):
        residual = (1 - mask) * grad_a
        total = grad_a.pow(2).flatten(1).sum(1) if normalize else None
        if soft is not None and grad_b is not None:
            soft = soft.to(grad_a).view(-1, *([1] * (grad_a.dim() - 1)))
            grad_b = at_least_fp32(grad_b)
            residual = residual + soft * mask * grad_b
            if normalize:
                total = total + soft.flatten() * grad_b.pow(2).flatten(
                    1).sum(1)
        per_sample = residual.pow(2).flatten(1).sum(1)
        if normalize:
            # 0 / 0 (no gradient at all) counts as no foreign share
            per_sample = per_sample / total.clamp(
                min=torch.finfo(total.dtype).tiny)
        return per_sample.mean()


def outside_provenance_share(grad_a: torch.Tensor,
                             mask: torch.Tensor) -> torch.Tensor:
    """Share of ``|grad_x f_A|^2`` lying outside the provenance region.

    ``sum((1 - M) * g_A^2) / sum(g_A^2)`` over the batch: 0 when the own
    class only looks at its own pixels, ``1 - mean(M)`` for a gradient spread
    uniformly. A diagnostic (no gradient).

    Args:
        grad_a (Tensor): ``(B, C, ...)``.
        mask (Tensor): ``(B, C, ...)`` or ``(B, ...)``.

    Returns:
        Tensor: scalar FP32 in [0, 1] (0 for an all-zero gradient).
    """
    grad_a = at_least_fp32(grad_a.detach())
    mask = _broadcast_mask(mask, grad_a).detach()
    energy = grad_a.pow(2)
    total = energy.sum()
    outside = ((1 - mask) * energy).sum()
    return outside / total.clamp(min=torch.finfo(total.dtype).tiny)


def penalised_samples(mask: torch.Tensor,
                      soft: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``(B,)`` bool: the samples whose Eq. 9 / Eq. 10 term can be non-zero,
    i.e. every ``soft`` sample and those whose mask has a region below 1.

    Args:
        mask (Tensor): ``(B, ...)``, 1 = from A.
        soft (Tensor, optional): ``(B,)`` bool, the Eq. 9 samples.
    """
    penalised = (mask.flatten(1) < 1).any(1)
    if soft is not None:
        penalised = penalised | soft.to(penalised.device).bool()
    return penalised


def guided_subset(penalised: torch.Tensor, ratio: float
                  ) -> Tuple[torch.Tensor, float]:
    """A uniformly random ``ratio`` of the penalised samples (at least one
    when there is any) and the weight that keeps the batch mean unbiased.

    The batch mean ``(1/B) sum_{i in P} t_i`` over the penalised samples P
    is estimated by ``(|P| / |S|) (1/B) sum_{i in S} t_i`` on the subset S,
    ``|S| = max(1, round(ratio |P|))``. The draw uses torch's global CPU
    generator (seeded by ``torch.manual_seed``).

    Args:
        penalised (Tensor): ``(B,)`` bool, see :func:`penalised_samples`.
        ratio (float): in (0, 1].

    Returns:
        tuple: ``(chosen (B,) bool, |P| / |S|)``; with ``ratio = 1`` or no
        penalised sample, ``(penalised, 1.0)``.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f'ratio must be in (0, 1], got {ratio}')
    index = penalised.nonzero().flatten()
    count = index.numel()
    size = max(1, round(ratio * count))
    if count == 0 or size >= count:
        return penalised, 1.0
    picked = index[torch.randperm(count)[:size].to(index.device)]
    chosen = torch.zeros_like(penalised)
    chosen[picked] = True
    return chosen, count / size


def provenance_gradient_loss(inputs: torch.Tensor,
                             logits: torch.Tensor,
                             mask: torch.Tensor,
                             label_a: torch.Tensor,
                             label_b: Optional[torch.Tensor] = None,
                             target: str = 'logit',
                             normalize: bool = False,
                             soft: Optional[torch.Tensor] = None
                             ) -> torch.Tensor:
    """L_PG of Eq. 9 (``label_b`` given) or Eq. 10 (``label_b=None``), or a
    mix of both chosen per sample by ``soft``.

    Args:
        inputs (Tensor): ``(B, C, ...)`` with ``requires_grad=True``; the
            tensor ``logits`` were computed from.
        logits (Tensor): ``(B, K)``.
        mask (Tensor): ``(B, C, ...)`` or ``(B, ...)``; 1 = from A (own label).
        label_a (Tensor): ``(B,)`` own labels.
        label_b (Tensor, optional): ``(B,)`` partner labels (Eq. 9).
        target (str): ``'logit'`` (paper), ``'log_softmax'`` or ``'margin'``.
        normalize (bool): the foreign *share* of the gradient energy instead
            of its squared norm (not in the paper; see the module docstring).
        soft (Tensor, optional): ``(B,)`` bool, the samples that take Eq. 9;
            the others take Eq. 10. ``None``: all samples take Eq. 9 when
            ``label_b`` is given, Eq. 10 otherwise.

    Returns:
        Tensor: scalar FP32 loss, differentiable w.r.t. the model weights.
    """
    check_provenance_inputs(inputs, logits, mask, label_a, label_b, soft)
    soft = soft_weights(label_b, soft, label_a)
    grad_a, grad_b = provenance_input_gradients(inputs, logits, label_a,
                                                label_b, target, soft=soft)
    return provenance_gradient_penalty(grad_a, grad_b, mask, soft, normalize)


def check_provenance_inputs(inputs: torch.Tensor, logits: torch.Tensor,
                            mask: torch.Tensor, label_a: torch.Tensor,
                            label_b: Optional[torch.Tensor] = None,
                            soft: Optional[torch.Tensor] = None) -> None:
    """Raise a ``ValueError`` naming the argument whose shape or value is
    wrong."""
    if not inputs.requires_grad:
        raise ValueError('inputs must have requires_grad=True and be the '
                         'tensor the logits were computed from')
    batch = inputs.shape[0]
    if logits.dim() != 2 or logits.shape[0] != batch:
        raise ValueError(f'logits must be (B={batch}, K), got '
                         f'{tuple(logits.shape)}')
    for name, labels in (('label_a', label_a), ('label_b', label_b),
                         ('soft', soft)):
        if labels is not None and tuple(labels.shape) != (batch, ):
            raise ValueError(f'{name} must be ({batch},), got '
                             f'{tuple(labels.shape)}')
    for name, labels in (('label_a', label_a), ('label_b', label_b)):
        if labels is not None and labels.numel() and (
                int(labels.min()) < 0 or int(labels.max()) >= logits.shape[1]):
            raise ValueError(f'{name} must hold class indices in [0, '
                             f'{logits.shape[1]}), got {labels.tolist()}')
    if soft is not None and label_b is None:
        raise ValueError('soft marks Eq. 9 samples and needs label_b')
    _broadcast_mask(mask, inputs)


def at_least_fp32(tensor: torch.Tensor) -> torch.Tensor:
    """FP16/BF16 -> FP32; FP32 and FP64 unchanged (gradcheck runs in FP64)."""
    if tensor.dtype in (torch.float32, torch.float64):
        return tensor
    return tensor.float()


def soft_weights(label_b: Optional[torch.Tensor],
                 soft: Optional[torch.Tensor],
                 like: torch.Tensor) -> Optional[torch.Tensor]:
    """``(B,)`` float, 1 where Eq. 9 applies (all samples when ``soft`` is
    ``None`` and ``label_b`` is given); ``None`` when every sample is hard."""
    if label_b is None:
        return None
    if soft is None:
        return torch.ones(like.shape[0], device=like.device)
    return soft.to(like.device).float()


def _broadcast_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if mask.dim() == like.dim() - 1:
        mask = mask.unsqueeze(1)
    if mask.dim() != like.dim() or mask.shape[0] != like.shape[0] or (
            mask.shape[2:] != like.shape[2:]) or mask.shape[1] not in (
                1, like.shape[1]):
        raise ValueError(
            f'mask must have the inputs\' shape {tuple(like.shape)} or that '
            f'shape without the channel axis, got {tuple(mask.shape)}')
    dtype = like.dtype if like.dtype == torch.float64 else torch.float32
    return mask.to(device=like.device, dtype=dtype)
