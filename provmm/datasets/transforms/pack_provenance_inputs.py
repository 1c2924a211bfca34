"""``PackProvenanceInputs``: mmpretrain's ``PackInputs`` plus ``prov_mask``."""
import numpy as np
import torch
from mmpretrain.datasets.transforms import PackInputs

from provmm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackProvenanceInputs(PackInputs):
    """Pack inputs as mmpretrain's ``PackInputs``, and ``prov_mask`` and
    ``group`` into the data sample.

    ``results['prov_mask']`` (``(H, W)``, 1 = target/unedited) becomes the
    data field ``prov_mask``: a float32 tensor ``(H, W)`` (the provmm
    data-sample contract). It must have the final image's size; a mismatch
    means a geometric transform moved the image but not the mask (use the
    ``Provenance*`` transforms). Without ``prov_mask`` nothing is added.

    Args:
        input_key, algorithm_keys: as ``PackInputs``.
        meta_keys: as ``PackInputs``; the default adds ``group`` (the
            sample's group label, read by ``GroupAccuracy``).
    """

    DEFAULT_META_KEYS = PackInputs.DEFAULT_META_KEYS + ('group', )

    def __init__(self,
                 input_key='img',
                 algorithm_keys=(),
                 meta_keys=DEFAULT_META_KEYS):
        super().__init__(input_key, algorithm_keys, meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        mask = results.get('prov_mask')
        if mask is None:
            return packed
        mask = np.asarray(mask)
        image_size = np.asarray(results[self.input_key]).shape[:2]
        if mask.ndim != 2 or mask.shape != image_size:
            raise ValueError(
                f'prov_mask of {results.get("img_path")} has shape '
                f'{mask.shape}, expected (H, W) = {tuple(image_size)} of the '
                'transformed image: a geometric transform did not move the '
                'mask (use ProvenanceResize, ProvenanceRandomResizedCrop, '
                'ProvenanceRandomFlip, ...)')
        packed['data_samples'].set_field(
            torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)),
            'prov_mask')
        return packed
