"""``ProvenanceGradientLoss``: alpha * L_PG (paper Eq. 9 / 10) on samples."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from provmm.provenance.gradient_loss import (TARGETS,
                                             outside_provenance_share,
                                             provenance_gradient_penalty,
                                             provenance_input_gradients)
from provmm.provenance.control_masks import (random_pixel_mask, shifted_mask,
                                             unmasked_mask)
from provmm.registry import MODELS

MODES = ('soft', 'hard', 'auto')
MASK_MODES = ('provenance', 'random', 'unmasked', 'shifted')
# Written by the data preprocessor (docs/provenance_contract.md).
CONTRACT_FIELDS = ('prov_mask', 'guidance', 'gt_label_b')


@MODELS.register_module()
class ProvenanceGradientLoss(nn.Module):
    """alpha * L_PG of ``L_total = L_cls + alpha * L_PG`` (paper Eq. 1, with
    L_PG of Eq. 9 / Eq. 10).

    Reads the provenance fields that the data preprocessor writes on every
    training sample (docs/provenance_contract.md): ``gt_label`` (A),
    ``prov_mask`` (``(H, W)``, 1 = from A), ``gt_label_b`` (B) and
    ``guidance`` (``'soft'``: Eq. 9, ``'hard'``: Eq. 10, ``'none'``: nothing
    to penalise). A batch without them stops with an error that names the
    preprocessor to use.

    Args:
        loss_weight (float): alpha. Defaults to 0.05 (Table 8, CUB WSOL).
        mode (str): ``'auto'``: each sample as its ``guidance`` flag says;
            ``'soft'``: only the Eq. 9 samples; ``'hard'``: Eq. 10 with the
            own label and mask for every sample. Defaults to ``'auto'``.
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
            data_samples (list[DataSample]): the batch's samples, with the
                provenance fields (docs/provenance_contract.md).
            loss_cls (Tensor, optional): classification loss for ``pg_ratio``.
        """
        alpha = self.current_weight()
        mask, label_a, label_b, soft = self.provenance_targets(
            inputs, data_samples)
        penalty_mask = self.penalty_mask(mask, soft)
        if self.mask_mode == 'unmasked':
            soft = None  # the whole gradient of f_A, Eq. 10 style

        zero = logits.new_zeros((), dtype=torch.float32)
        # alpha = 0 (warm-up start, a baseline that only logs the diagnostic)
        # or nothing to penalise (an unmixed batch of unedited images): no
        # double backprop, one plain input gradient for the diagnostic.
        guided = alpha != 0 and has_penalty(penalty_mask, soft)
        # grad_x f_B only for Eq. 9 samples ('hard' and 'unmasked': none)
        two_sources = guided and soft is not None
        grad_a, grad_b = provenance_input_gradients(
            inputs, logits, label_a, label_b if two_sources else None,
            self.target, create_graph=guided,
            soft=soft if two_sources else None)
        loss_pg = zero
        if guided:
            loss_pg = alpha * provenance_gradient_penalty(
                grad_a, grad_b, penalty_mask, soft, self.normalize)
        outputs = {self.loss_name: loss_pg,
                   'pg_outside_share': outside_provenance_share(grad_a, mask),
                   'pg_alpha': zero.detach() + alpha}
        if loss_cls is not None:
            outputs['pg_ratio'] = (loss_pg.detach() /
                                   loss_cls.detach().float().clamp(min=1e-12))
        return outputs

    def provenance_targets(
        self, inputs: torch.Tensor, data_samples: List
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor,
               Optional[torch.Tensor]]:
        """Stack ``(M (B, H, W), label_a (B,), label_b (B,), soft (B,) bool
        or None)`` from the samples' provenance fields; ``soft`` follows the
        samples' ``guidance`` flags, ``None`` in ``'hard'`` mode."""
        if len(data_samples) != inputs.shape[0]:
            raise ValueError(f'ProvenanceGradientLoss: {len(data_samples)} '
                             f'data samples for a batch of {inputs.shape[0]}')
        missing = [key for key in CONTRACT_FIELDS
                   if data_samples and key not in data_samples[0]]
        if missing:
            raise ValueError(
                'ProvenanceGradientLoss: the batch carries no provenance '
                f'(data samples lack {missing}). Use the data preprocessor '
                "dict(type='provmm.ProvenanceMixBatchAugment', augments=["
                "dict(type='provmm.ProvenanceCutMix', alpha=1.0)]) (or "
                'provmm.ProvenanceResizeMix / DiffCoReMixPreprocessor) '
                'instead of ClsDataPreprocessor with mmpretrain\'s CutMix: '
                'only these record where each pixel comes from')
        device = inputs.device
        mask = torch.stack([s.prov_mask for s in data_samples]).to(
            device, torch.float32)
        label_a = torch.cat([s.gt_label.view(-1)[:1] for s in data_samples])
        label_b = torch.cat([s.gt_label_b.view(-1)[:1]
                             for s in data_samples])
        soft = torch.tensor([s.guidance == 'soft' for s in data_samples],
                            device=device)
        return (mask, label_a.to(device), label_b.to(device),
                None if self.mode == 'hard' else soft)

    def penalty_mask(self, mask: torch.Tensor,
                     soft: Optional[torch.Tensor]) -> torch.Tensor:
        """The mask the penalty uses: the true one or a Table 6 control;
        in ``'soft'`` mode the samples that are not ``soft`` get ``M = 1``
        (no term)."""
        if self.mode == 'soft':
            mask = torch.where(soft.view(-1, *([1] * (mask.dim() - 1))),
                               mask, torch.ones_like(mask))
        if self.mask_mode == 'random':
            return random_pixel_mask(mask)
        if self.mask_mode == 'unmasked':
            return unmasked_mask(mask)
        if self.mask_mode == 'shifted':
            return shifted_mask(mask)
        return mask


def has_penalty(mask: torch.Tensor, soft: Optional[torch.Tensor]) -> bool:
    """Whether any sample has a non-zero term in Eq. 9 / Eq. 10: every
    ``soft`` sample, and hard ones whose ``(B, H, W)`` mask has a region
    below 1."""
    penalised = (mask.flatten(1) < 1).any(1)
    if soft is not None:
        penalised = penalised | soft.to(penalised.device)
    return bool(penalised.any())
