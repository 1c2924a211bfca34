"""``ProvenanceResizeMix``: mmpretrain's ``ResizeMix`` that also returns
provenance."""
from typing import Tuple

import torch
from mmpretrain.models.utils.batch_augments import ResizeMix

from provmm.provenance.cutmix import MixedBatch, draw_mix
from provmm.provenance.resizemix import resize_paste
from provmm.registry import BATCH_AUGMENTS


@BATCH_AUGMENTS.register_module()
class ProvenanceResizeMix(ResizeMix):
    """ResizeMix (paper Sec. 3.2.1) with the provenance mask of Eq. 9.

    Same arguments, random draws and outputs as mmpretrain's ``ResizeMix``;
    :meth:`mix_with_provenance` additionally returns the
    :class:`~provmm.provenance.cutmix.MixedBatch` (``M = 1 - box``, the box
    holding the resized partner).
    """

    def mix_with_provenance(
            self, batch_inputs: torch.Tensor, batch_scores: torch.Tensor
    ) -> Tuple[MixedBatch, torch.Tensor]:
        """See :meth:`ProvenanceCutMix.mix_with_provenance`."""
        partner, (box, lam) = draw_mix(
            batch_inputs.size(0), self.alpha,
            lambda lam: self.cutmix_bbox_and_lam(batch_inputs.shape[-2:], lam),
            (self.lam_min, self.lam_max))
        mixed = resize_paste(batch_inputs, box, partner, self.interpolation)
        scores = lam * batch_scores + (1 - lam) * batch_scores[partner, :]
        return mixed, scores

    def mix(self, batch_inputs: torch.Tensor,
            batch_scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mixed, scores = self.mix_with_provenance(batch_inputs, batch_scores)
        return mixed.inputs, scores
