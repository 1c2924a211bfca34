"""``ProvenanceCutMix``: mmpretrain's ``CutMix`` that also returns
provenance."""
from typing import Tuple

import torch
from mmpretrain.models.utils.batch_augments import CutMix

from provmm.provenance.cutmix import MixedBatch, draw_mix, paste_box
from provmm.registry import BATCH_AUGMENTS


@BATCH_AUGMENTS.register_module()
class ProvenanceCutMix(CutMix):
    """CutMix (paper Sec. 3.2.1) with the provenance mask of Eq. 9.

    Same arguments, random draws and outputs as mmpretrain's ``CutMix``;
    :meth:`mix_with_provenance` additionally returns the
    :class:`~provmm.provenance.cutmix.MixedBatch` (mask ``M = 1 - box``,
    partner indices, ``lam = mean(M)``).
    """

    def mix_with_provenance(
            self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor
    ) -> Tuple[MixedBatch, torch.Tensor]:
        """Mix ``(B, C, H, W)`` inputs and ``(B, K)`` scores.

        Returns:
            tuple: the ``MixedBatch`` and the mixed ``(B, K)`` scores
            (mmpretrain's ``lam * y + (1 - lam) * y[partner]``).
        """
        partner, (box, lam) = draw_mix(
            batch_inputs.size(0), self.alpha,
            lambda lam: self.cutmix_bbox_and_lam(batch_inputs.shape[-2:], lam))
        mixed = paste_box(batch_inputs, box, partner)
        scores = lam * batch_scores + (1 - lam) * batch_scores[partner, :]
        return mixed, scores

    def mix(self, batch_inputs: torch.Tensor,
            batch_scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mixed, scores = self.mix_with_provenance(batch_inputs, batch_scores)
        return mixed.inputs, scores
