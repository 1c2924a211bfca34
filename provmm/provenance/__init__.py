from .edit_mask import DegenerateEditError, difference_image, otsu_provenance_mask  # noqa: F401,E501
from .mask_report import summarize_masks  # noqa: F401
from .cutmix import MixedBatch, box_provenance_mask, cutmix_box, paste_box, random_cutmix  # noqa: F401,E501
from .resizemix import random_resizemix, resize_paste  # noqa: F401
from .control_masks import random_pixel_mask, shifted_mask, unmasked_mask  # noqa: F401,E501
from .gradient_loss import outside_provenance_share, provenance_gradient_loss  # noqa: F401,E501
from .diffcore_mix import DiffCoReMixResult, diffcore_mix, random_patch_mask  # noqa: F401,E501
from .generated_filter import HardCosineFiltration, hard_cosine_filter, mean_pairwise_cosine  # noqa: F401,E501
