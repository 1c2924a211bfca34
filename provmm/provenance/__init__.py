"""Framework-free core (torch, numpy, OpenCV, numba): provenance masks of
mixes and edits, and the provenance gradient loss. See docs/method.md."""
from .batchmix import (batchmix_mask, combine_features, mix_scores,
                       mixed_validity, random_skeleton_batchmix,
                       skeleton_batchmix)
from .control_masks import random_pixel_mask, shifted_mask, unmasked_mask
from .cutmix import (MixedBatch, box_provenance_mask, cutmix_box, draw_mix,
                     paste_box, random_cutmix)
from .diffcore_mix import DiffCoReMixResult, diffcore_mix, random_patch_mask
from .edit_mask import (DegenerateEditError, difference_image,
                        otsu_provenance_mask)
from .generated_filter import (HardCosineFiltration, hard_cosine_filter,
                               mean_pairwise_cosine)
from .gradient_loss import (outside_provenance_share,
                            provenance_gradient_loss)
from .mask_report import summarize_masks
from .puzzlemix import puzzlemix, puzzlemix_saliency, random_puzzlemix
from .resizemix import random_resizemix, resize_paste

__all__ = [
    'batchmix_mask', 'combine_features', 'mix_scores', 'mixed_validity',
    'random_skeleton_batchmix', 'skeleton_batchmix',
    'random_pixel_mask', 'shifted_mask', 'unmasked_mask', 'MixedBatch',
    'box_provenance_mask', 'cutmix_box', 'draw_mix', 'paste_box',
    'random_cutmix', 'DiffCoReMixResult', 'diffcore_mix', 'random_patch_mask',
    'DegenerateEditError', 'difference_image', 'otsu_provenance_mask',
    'HardCosineFiltration', 'hard_cosine_filter', 'mean_pairwise_cosine',
    'outside_provenance_share', 'provenance_gradient_loss', 'summarize_masks',
    'random_resizemix', 'resize_paste', 'puzzlemix', 'puzzlemix_saliency',
    'random_puzzlemix'
]
