"""Geometric transforms that move the provenance mask exactly as the image.

mmcv's and mmpretrain's ``Resize``, ``ResizeEdge``, ``RandomResizedCrop``,
``RandomCrop``, ``CenterCrop`` and ``RandomFlip`` touch only ``img`` (and
detection/segmentation keys). Each class here subclasses one of them, samples
its random parameters with the parent's own method (so the sampling is the
parent's, draw for draw) and applies the same geometry to
``results['prov_mask']`` with nearest interpolation, so that a mask of 0/1
stays 0/1 (paper Sec. 3.2.3: the mask follows every geometric transform of
the image). Where the parent has a hook for segmentation maps
(``_resize_seg``, ``_crop_seg_map``) the mask is moved in it. Without
``prov_mask`` in ``results`` they behave as the parent.
"""
from typing import Tuple

import mmcv
import numpy as np
from mmcv.transforms import CenterCrop, RandomFlip, Resize
from mmcv.transforms.base import BaseTransform
from mmpretrain.datasets.transforms import (RandomCrop, RandomResizedCrop,
                                            ResizeEdge)

from provmm.registry import TRANSFORMS

MASK_KEY = 'prov_mask'


def _crop_box(offset_h: int, offset_w: int, height: int,
              width: int) -> np.ndarray:
    """mmcv.imcrop box (x0, y0, x1, y1), inclusive."""
    return np.array([offset_w, offset_h, offset_w + width - 1,
                     offset_h + height - 1])


def resize_mask_nearest(mask: np.ndarray, size: Tuple[int, int],
                        backend: str = 'cv2') -> np.ndarray:
    """Resize a ``(H, W)`` mask to ``size = (w, h)`` with nearest
    interpolation of ``backend``, keeping its dtype and values.

    Pillow resizes only uint8, so its input is the index of each pixel's
    value among the mask's distinct values (nearest only copies values).
    """
    if backend != 'pillow':
        return mmcv.imresize(mask, size, interpolation='nearest',
                             backend=backend)
    values, index = np.unique(mask, return_inverse=True)
    if len(values) > 256:
        raise ValueError('the pillow backend resizes masks with at most 256 '
                         f'distinct values, got {len(values)}')
    index = mmcv.imresize(index.reshape(mask.shape).astype(np.uint8), size,
                          interpolation='nearest', backend='pillow')
    return values[index].astype(mask.dtype)


def _resize_mask_to_image(results: dict, backend: str) -> None:
    """Resize ``prov_mask`` (nearest) to the current image's (H, W)."""
    mask = results.get(MASK_KEY)
    if mask is None:
        return
    height, width = results['img'].shape[:2]
    results[MASK_KEY] = resize_mask_nearest(mask, (width, height), backend)


@TRANSFORMS.register_module()
class ProvenanceResize(Resize):
    """mmcv ``Resize`` that also resizes ``prov_mask`` (nearest), in mmcv's
    own hook for segmentation maps.

    Same arguments as :class:`mmcv.transforms.Resize`.
    """

    def _resize_seg(self, results: dict) -> None:
        super()._resize_seg(results)
        _resize_mask_to_image(results, self.backend)


@TRANSFORMS.register_module()
class ProvenanceResizeEdge(ResizeEdge):
    """mmpretrain ``ResizeEdge`` that also resizes ``prov_mask`` (nearest).

    Same arguments as :class:`mmpretrain.datasets.transforms.ResizeEdge`.
    """

    def _resize_img(self, results: dict) -> None:
        super()._resize_img(results)
        _resize_mask_to_image(results, self.backend)


@TRANSFORMS.register_module()
class ProvenanceRandomResizedCrop(RandomResizedCrop):
    """mmpretrain ``RandomResizedCrop`` applied to the image and ``prov_mask``.

    The crop is drawn once with the parent's ``rand_crop_params``; the image
    is resized with ``interpolation``, the mask with nearest. Same arguments
    as :class:`mmpretrain.datasets.transforms.RandomResizedCrop`.
    """

    def transform(self, results: dict) -> dict:
        img = results['img']
        box = _crop_box(*self.rand_crop_params(img))
        size = tuple(self.scale[::-1])  # (w, h), as the parent
        img = mmcv.imresize(
            mmcv.imcrop(img, bboxes=box), size,
            interpolation=self.interpolation, backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape
        if results.get(MASK_KEY) is not None:
            results[MASK_KEY] = resize_mask_nearest(
                mmcv.imcrop(results[MASK_KEY], bboxes=box), size,
                self.backend)
        return results


@TRANSFORMS.register_module()
class ProvenanceRandomCrop(RandomCrop):
    """mmpretrain ``RandomCrop`` applied to the image and ``prov_mask``.

    Padding is refused: no provenance is defined for padded pixels. Other
    arguments as :class:`mmpretrain.datasets.transforms.RandomCrop`.
    """

    def __init__(self, crop_size, **kwargs) -> None:
        super().__init__(crop_size, **kwargs)
        if self.padding is not None or self.pad_if_needed:
            raise ValueError('ProvenanceRandomCrop does not pad: the '
                             'provenance of padded pixels is undefined')

    def transform(self, results: dict) -> dict:
        box = _crop_box(*self.rand_crop_params(results['img']))
        results['img'] = mmcv.imcrop(results['img'], box)
        results['img_shape'] = results['img'].shape
        if results.get(MASK_KEY) is not None:
            results[MASK_KEY] = mmcv.imcrop(results[MASK_KEY], box)
        return results


@TRANSFORMS.register_module()
class ProvenanceCenterCrop(CenterCrop):
    """mmcv ``CenterCrop`` that also crops ``prov_mask``.

    ``auto_pad`` is refused (no provenance for padded pixels). Other
    arguments as :class:`mmcv.transforms.CenterCrop`.
    """

    def __init__(self, crop_size, auto_pad: bool = False, **kwargs) -> None:
        if auto_pad:
            raise ValueError('ProvenanceCenterCrop does not pad: the '
                             'provenance of padded pixels is undefined')
        super().__init__(crop_size, auto_pad=False, **kwargs)

    def _crop_seg_map(self, results: dict, bboxes: np.ndarray) -> None:
        super()._crop_seg_map(results, bboxes)
        if results.get(MASK_KEY) is not None:
            results[MASK_KEY] = mmcv.imcrop(results[MASK_KEY], bboxes=bboxes)


@TRANSFORMS.register_module()
class ProvenanceFixedCrop(BaseTransform):
    """Crop a fixed box from the image and ``prov_mask``.

    Matches ``torchvision.transforms.functional.crop(img, top, left, height,
    width)``, which ALIA applies to iWildCam (top 10, left 0, 400x448 after
    resizing to 448x448). The box must lie inside the image.

    **Modified keys:** ``img``, ``img_shape``, ``prov_mask`` (if present).
    """

    def __init__(self, top: int, left: int, height: int, width: int) -> None:
        if min(top, left) < 0 or min(height, width) <= 0:
            raise ValueError('ProvenanceFixedCrop: top and left must be >= 0 '
                             'and height and width > 0, got '
                             f'{(top, left, height, width)}')
        self.top, self.left = top, left
        self.height, self.width = height, width

    def transform(self, results: dict) -> dict:
        img_h, img_w = results['img'].shape[:2]
        if self.top + self.height > img_h or self.left + self.width > img_w:
            raise ValueError(
                f'{self!r} does not fit into the image of {img_w}x{img_h} '
                f'(WxH) {results.get("img_path")}')
        box = _crop_box(self.top, self.left, self.height, self.width)
        results['img'] = mmcv.imcrop(results['img'], box)
        results['img_shape'] = results['img'].shape[:2]
        if results.get(MASK_KEY) is not None:
            results[MASK_KEY] = mmcv.imcrop(results[MASK_KEY], box)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(top={self.top}, left={self.left}, '
                f'height={self.height}, width={self.width})')


@TRANSFORMS.register_module()
class ProvenanceRandomFlip(RandomFlip):
    """mmcv ``RandomFlip`` that flips ``prov_mask`` with the image.

    Same arguments as :class:`mmcv.transforms.RandomFlip`.
    """

    def _flip(self, results: dict) -> None:
        # Not mmcv's _flip_seg_map: it also swaps label ids (swap_seg_labels)
        super()._flip(results)
        if results.get(MASK_KEY) is not None:
            results[MASK_KEY] = mmcv.imflip(
                results[MASK_KEY], direction=results['flip_direction'])
