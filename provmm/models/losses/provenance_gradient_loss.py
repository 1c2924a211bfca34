"""``ProvenanceGradientLoss``: alpha * L_PG (paper Eq. 9 / 10) on samples."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from provmm.provenance.gradient_loss import (TARGETS,
                                             check_provenance_inputs,
                                             outside_provenance_share,
                                             provenance_gradient_penalty,
                                             provenance_input_gradients)
from provmm.provenance.control_masks import (random_pixel_mask, shifted_mask,
                                             unmasked_mask)
from provmm.registry import MODELS

MODES = ('soft', 'hard', 'auto')
MASK_MODES = ('provenance', 'random', 'unmasked', 'shifted')


@MODELS.register_module()
class ProvenanceGradientLoss(nn.Module):
    """alpha * L_PG, ``L_total = L_cls + alpha * L_PG`` (paper Eq. 8-10).

    Reads from each data sample (see the provmm data-sample contract):
    ``gt_label`` (A), ``prov_mask`` (``(H, W)``, 1 = from A; missing means
    all ones: a real, unedited, unmixed image), ``gt_label_b`` (B) and
    ``mix_partner`` (the sample's own index when it was not mixed).

    Args:
        loss_weight (float): alpha. Defaults to 0.05 (Table 8, CUB WSOL).
        mode (str): ``'soft'``: Eq. 9 for every sample (samples not mixed, or
            mixed with their own class, contribute nothing); ``'hard'``:
            Eq. 10 with the own label for every sample; ``'auto'``: Eq. 9 for
            mixed samples, Eq. 10 for the others (e.g. edited images with a
            ``prov_mask`` from the data pipeline). Defaults to ``'auto'``.
        mask_mode (str): ``'provenance'`` (the paper), or the Table 6
            controls ``'random'`` (per-pixel Bernoulli with the same
            per-sample mean) and ``'unmasked'`` (``|| grad_x f_A ||^2`` over
            the whole input of every sample with synthetic content; samples
            without any are left alone in every mode), and ``'shifted'``
            (the true mask rolled by half the image: right shape, wrong
            place; not in the paper). Defaults to ``'provenance'``.
        target (str): ``'logit'`` (paper), ``'log_softmax'`` or ``'margin'``;
            see :mod:`provmm.provenance.gradient_loss`.
        normalize (bool): penalise the *share* of input-gradient energy in
            foreign regions (in [0, 1], invariant to the gradients' scale)
            instead of its squared norm. Not in the paper; an option for
            tasks where shrinking all input gradients is an easy way out
            (see :mod:`provmm.provenance.gradient_loss`). Defaults to False.
        warmup_iters (int): alpha grows linearly from 0 to ``loss_weight``
            over this many iterations (read from MessageHub's ``iter``
            runtime info); 0 disables the warm-up. While alpha is 0 only the
            diagnostics are computed (one input gradient, no double
            backprop), so ``loss_weight=0`` logs ``pg_outside_share`` for a
            plain CutMix baseline.
        loss_name (str): key of the loss in the returned dict; must contain
            ``'loss'`` so that ``BaseModel.parse_losses`` sums it.

    Returns (``forward``): ``{loss_name: alpha * L_PG, 'pg_ratio':
    alpha * L_PG / L_cls, 'pg_outside_share': share of |grad_x f_A|^2 outside
    the true provenance region, 'pg_alpha': current alpha}``; only the first
    key contains ``'loss'``.
    """

    def __init__(self,
                 loss_weight: float = 0.05,
                 mode: str = 'auto',
                 mask_mode: str = 'provenance',
                 target: str = 'logit',
                 normalize: bool = False,
                 warmup_iters: int = 0,
                 loss_name: str = 'loss_pg'):
        super().__init__()
        for name, value, choices in (('mode', mode, MODES),
                                     ('mask_mode', mask_mode, MASK_MODES),
                                     ('target', target, TARGETS)):
            if value not in choices:
                raise ValueError(f'ProvenanceGradientLoss: {name} must be one '
                                 f'of {choices}, got {value!r}')
        if loss_weight < 0 or warmup_iters < 0:
            raise ValueError('ProvenanceGradientLoss: loss_weight and '
                             'warmup_iters must be >= 0, got '
                             f'{loss_weight} and {warmup_iters}')
        if 'loss' not in loss_name:
            raise ValueError('ProvenanceGradientLoss: loss_name must contain '
                             f'"loss" to be optimised, got {loss_name!r}')
        self.loss_weight = loss_weight
        self.mode = mode
        self.mask_mode = mask_mode
        self.target = target
        self.normalize = normalize
        self.warmup_iters = warmup_iters
        self.loss_name = loss_name

    def current_weight(self) -> float:
        """alpha at the current iteration (linear warm-up)."""
        if self.warmup_iters == 0:
            return self.loss_weight
        message_hub = MessageHub.get_current_instance()
        cur_iter = message_hub.get_info('iter', 0)
        return self.loss_weight * min(1.0, cur_iter / self.warmup_iters)

    def forward(self,
                inputs: torch.Tensor,
                logits: torch.Tensor,
                data_samples: List,
                loss_cls: Optional[torch.Tensor] = None
                ) -> Dict[str, torch.Tensor]:
        """Compute alpha * L_PG and its diagnostics.

        Args:
            inputs (Tensor): ``(B, C, H, W)`` with ``requires_grad=True``.
            logits (Tensor): ``(B, K)`` computed from ``inputs``.
            data_samples (list[DataSample]): the batch's samples.
            loss_cls (Tensor, optional): classification loss for ``pg_ratio``.
        """
        alpha = self.current_weight()
        mask, label_a, label_b = self.provenance_targets(inputs, data_samples)
        penalty_mask = self.penalty_mask(mask)
        if self.mask_mode == 'unmasked':
            label_b = None
        check_provenance_inputs(inputs, logits, penalty_mask, label_a,
                                label_b)

        zero = logits.new_zeros((), dtype=torch.float32)
        # alpha = 0 (warm-up start, a baseline that only logs the diagnostic)
        # or nothing to penalise (an unmixed batch of unedited images): no
        # double backprop, one plain input gradient for the diagnostic.
        guided = alpha != 0 and has_penalty(penalty_mask, label_a, label_b)
        grad_a, grad_b = provenance_input_gradients(
            inputs, logits, label_a, label_b if guided else None, self.target,
            create_graph=guided)
        loss_pg = zero
        if guided:
            loss_pg = alpha * provenance_gradient_penalty(
                grad_a, grad_b, penalty_mask, label_a, label_b,
                self.normalize)
        outputs = {self.loss_name: loss_pg,
                   'pg_outside_share': outside_provenance_share(grad_a, mask),
                   'pg_alpha': zero.detach() + alpha}
        if loss_cls is not None:
            outputs['pg_ratio'] = (loss_pg.detach() /
                                   loss_cls.detach().float().clamp(min=1e-12))
        return outputs

    def provenance_targets(
            self, inputs: torch.Tensor, data_samples: List
    ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Stack ``(M (B, H, W), label_a (B,), label_b (B,) or None)``.

        ``label_b`` is -1 for samples that take Eq. 10 (see the core).
        """
        batch = inputs.shape[0]
        height, width = inputs.shape[-2:]
        if len(data_samples) != batch:
            raise ValueError(f'ProvenanceGradientLoss: {len(data_samples)} '
                             f'data samples for a batch of {batch}')
        masks, labels_a, labels_b = [], [], []
        for index, sample in enumerate(data_samples):
            if 'prov_mask' in sample:
                mask = torch.as_tensor(sample.prov_mask)
                if tuple(mask.shape) != (height, width):
                    raise ValueError(
                        f'ProvenanceGradientLoss: sample {index} has '
                        f'prov_mask of shape {tuple(mask.shape)}, expected '
                        f'(H, W) = {(height, width)} of the final input')
            else:
                mask = torch.ones(height, width)
            masks.append(mask.to(inputs.device, torch.float32))
            label_a = _single_label(sample.gt_label, index, 'gt_label')
            labels_a.append(label_a)
            mixed = int(sample.get('mix_partner', index)) != index
            if self.mode == 'hard' or (self.mode == 'auto' and not mixed):
                labels_b.append(-1)
            elif 'gt_label_b' in sample:
                labels_b.append(
                    _single_label(sample.gt_label_b, index, 'gt_label_b'))
            elif self.mode == 'soft' and not mixed:
                labels_b.append(label_a)  # Eq. 9 with A = B: nothing.
            else:
                raise ValueError(
                    f'ProvenanceGradientLoss(mode={self.mode!r}): mixed '
                    f'sample {index} has no gt_label_b; use the '
                    'ProvenanceMixBatchAugment data preprocessor')
        label_a = torch.tensor(labels_a, device=inputs.device)
        label_b = None
        if self.mode != 'hard':
            label_b = torch.tensor(labels_b, device=inputs.device)
        return torch.stack(masks), label_a, label_b

    def penalty_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The mask the penalty uses: the true one or a Table 6 control."""
        if self.mask_mode == 'random':
            return random_pixel_mask(mask)
        if self.mask_mode == 'unmasked':
            return unmasked_mask(mask)
        if self.mask_mode == 'shifted':
            return shifted_mask(mask)
        return mask


def has_penalty(mask: torch.Tensor, label_a: torch.Tensor,
                label_b: Optional[torch.Tensor]) -> bool:
    """Whether any sample has a non-zero term in Eq. 9 / Eq. 10.

    Soft samples (``label_b >= 0`` and ``!= label_a``) always have one; hard
    samples only where their mask ``(B, H, W)`` has a region below 1.
    """
    has_region = (mask.flatten(1) < 1).any(1)
    if label_b is None:
        return bool(has_region.any())
    soft = (label_b >= 0) & (label_b != label_a)
    return bool((soft | ((label_b < 0) & has_region)).any())


def _single_label(label, index: int, key: str) -> int:
    label = torch.as_tensor(label).view(-1)
    if label.numel() != 1:
        raise ValueError(f'ProvenanceGradientLoss: sample {index} {key} must '
                         f'hold one class index, got {label.tolist()}')
    return int(label.item())
