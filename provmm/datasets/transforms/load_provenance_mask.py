"""``LoadProvenanceMask``: the provenance mask M of an image (paper Eq. 7)."""
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio

from provmm.registry import TRANSFORMS

TARGET_VALUE = 255  # PNG value of a target (unedited) pixel; 0 = edited


def read_provenance_mask(path: str,
                         backend_args: Optional[dict] = None) -> np.ndarray:
    """Read a mask PNG (255 = target/unedited, 0 = edited) as float32
    ``(H, W)`` with 1 = target and 0 = edited.

    A colour PNG is accepted when its channels are equal. Any value other
    than 0 and 255 is refused: a mask that was resized with interpolation or
    saved as 0/1 would otherwise be read wrongly.
    """
    try:
        content = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise FileNotFoundError(f'provenance mask not found: {path}') from None
    mask = mmcv.imfrombytes(content, flag='unchanged')
    if mask is None:
        raise ValueError(f'cannot decode provenance mask {path}')
    if mask.ndim == 3:
        if not all(np.array_equal(mask[..., 0], mask[..., c])
                   for c in range(1, mask.shape[2])):
            raise ValueError(f'provenance mask {path} has {mask.shape[2]} '
                             'different channels; expected one grey channel')
        mask = mask[..., 0]
    values = np.unique(mask)
    unexpected = values[(values != 0) & (values != TARGET_VALUE)]
    if unexpected.size:
        raise ValueError(
            f'provenance mask {path} holds values {unexpected[:5].tolist()}; '
            f'expected only 0 (edited) and {TARGET_VALUE} (target/unedited)')
    return (mask == TARGET_VALUE).astype(np.float32)


@TRANSFORMS.register_module()
class LoadProvenanceMask(BaseTransform):
    """Load the provenance mask M of the loaded image (paper Eq. 7).

    An edited image's mask is read from ``results['prov_mask_path']``
    (see :func:`read_provenance_mask`); a real image (no path, or ``None``)
    has no edited region, so M is all ones. Place it right after
    ``LoadImageFromFile`` and use the ``Provenance*`` geometric transforms,
    which move the mask exactly as the image.

    **Required keys:** ``img``; ``prov_mask_path`` (optional).

    **Added keys:** ``prov_mask``: float32 ``(H, W)`` at the image's size,
    1 = target/unedited, 0 = edited.

    Args:
        backend_args (dict, optional): file backend arguments, as for
            ``LoadImageFromFile``.
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = None if backend_args is None else dict(
            backend_args)

    def transform(self, results: dict) -> dict:
        if results.get('img') is None:
            raise KeyError('LoadProvenanceMask needs results["img"]; put it '
                           'after LoadImageFromFile')
        height, width = results['img'].shape[:2]
        path = results.get('prov_mask_path')
        if path is None:
            results['prov_mask'] = np.ones((height, width), np.float32)
            return results
        mask = read_provenance_mask(path, self.backend_args)
        if mask.shape != (height, width):
            raise ValueError(
                f'provenance mask {path} is {mask.shape[1]}x{mask.shape[0]} '
                f'(WxH) but its image {results.get("img_path")} is '
                f'{width}x{height}; masks are written at the edited image\'s '
                'size by tools/make_provenance_masks.py')
        results['prov_mask'] = mask
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(backend_args={self.backend_args})'
