"""Provenance masks from image edits (paper Sec. 3.2.3, Eq. 6-7; Table 7).

An edited image ``x~ = G(x, p)`` keeps the target object of ``x`` and
changes the rest. Its provenance mask is

    D(u, v) = 1/C * sum_c |x~_uvc - x_uvc|            (Eq. 6)
    M(u, v) = 1 if D(u, v) <= tau else 0               (Eq. 7)

with ``tau`` from Otsu's method on ``D``. ``M = 1`` marks the unedited
target region, ``M = 0`` the edited one. Masks are ``uint8`` arrays of 0/1.

Quantisation: ``cv2.threshold(THRESH_OTSU)`` needs an 8-bit image, so ``D``
is rounded to the nearest grey level (``cv2.convertScaleAbs``, ties to even)
after scaling to [0, 255]: ``uint8`` images are already in grey levels;
float images must lie in [0, 1] and ``D`` is multiplied by 255. With
``log_scale=True`` (a refinement, not in the paper) the levels are
``255 * log(1 + D) / log(256)`` instead: Otsu on a linear ``D`` puts ``tau``
far into a broad background-change distribution when the target is a small,
nearly unchanged class; on a log scale both classes have similar spreads.

Sizes: both images must have the same ``(H, W)`` unless ``size=(W, H)`` is
given; then each image not already at ``size`` is resized to it (area
interpolation when shrinking, bilinear otherwise), provided its aspect ratio
is within ``max_aspect_change`` of the target's (generators round sizes to
multiples of 8, e.g. 500x375 -> 496x368); anything else is refused.

Degenerate pairs (nothing changed, a uniform change everywhere, or no
target/edited region left after refinement) raise
:class:`DegenerateEditError` instead of returning a meaningless mask.
"""
from typing import Optional, Tuple

import cv2
import numpy as np

BLUR_TYPES = ('median', 'gaussian')


class DegenerateEditError(ValueError):
    """An (original, edited) pair from which no provenance mask follows."""


def _describe(image: np.ndarray) -> str:
    return f'shape {tuple(image.shape)} dtype {image.dtype}'


def _num_channels(image: np.ndarray, name: str) -> int:
    if image.ndim == 2:
        return 1
    if image.ndim == 3:
        return image.shape[2]
    raise ValueError(f'{name} image must be (H, W) or (H, W, C), got '
                     f'{_describe(image)}')


def _resize_to(image: np.ndarray, size: Tuple[int, int], name: str,
               max_aspect_change: float) -> np.ndarray:
    h, w = image.shape[:2]
    target_w, target_h = size
    if (w, h) == (target_w, target_h):
        return image
    aspect_change = abs((w / h) / (target_w / target_h) - 1)
    if aspect_change > max_aspect_change:
        raise ValueError(
            f'{name} image of {_describe(image)} cannot be resized to '
            f'size (W, H) = {size}: aspect ratio changes by '
            f'{aspect_change:.1%} > max_aspect_change={max_aspect_change:.1%}')
    shrink = target_w <= w and target_h <= h
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    resized = cv2.resize(image, (target_w, target_h),
                         interpolation=interpolation)
    # cv2.resize drops a trailing channel axis of size 1
    return resized.reshape((target_h, target_w) + image.shape[2:])


def difference_image(original: np.ndarray,
                     edited: np.ndarray,
                     size: Optional[Tuple[int, int]] = None,
                     max_aspect_change: float = 0.05) -> np.ndarray:
    """Per-pixel mean absolute channel difference ``D`` (Eq. 6).

    Args:
        original: source image ``x``, (H, W) or (H, W, C), uint8 or float.
        edited: edited image ``x~``, same channel count and dtype.
        size: common ``(W, H)`` to resize both to; ``None`` requires equal
            sizes.
        max_aspect_change: largest relative aspect-ratio change allowed when
            resizing to ``size``.

    Returns:
        float32 array (H, W) in the images' units (grey levels for uint8).
    """
    c_orig = _num_channels(original, 'original')
    c_edit = _num_channels(edited, 'edited')
    if c_orig == c_edit == 1:  # (H, W, 1) and (H, W) are the same image
        original = original.reshape(original.shape[:2])
        edited = edited.reshape(edited.shape[:2])
    if c_orig != c_edit or original.dtype != edited.dtype:
        raise ValueError(
            'original and edited images must have the same channel count '
            f'and dtype: original has {_describe(original)}, edited has '
            f'{_describe(edited)}')
    if size is None:
        if original.shape != edited.shape:
            raise ValueError(
                f'original ({_describe(original)}) and edited '
                f'({_describe(edited)}) differ in size; pass size=(W, H) to '
                'resize both to a common size')
    else:
        original = _resize_to(original, size, 'original', max_aspect_change)
        edited = _resize_to(edited, size, 'edited', max_aspect_change)
    diff = cv2.absdiff(original, edited).astype(np.float32, copy=False)
    if c_orig == 1:
        return diff.reshape(diff.shape[:2])
    return cv2.transform(diff, np.full((1, c_orig), 1 / c_orig, np.float32))


def _blur(levels: np.ndarray, blur: int, blur_type: str) -> np.ndarray:
    if blur_type not in BLUR_TYPES:
        raise ValueError(f'blur_type must be one of {BLUR_TYPES}, got '
                         f'{blur_type!r}')
    if blur < 0 or (blur > 0 and blur % 2 == 0):
        raise ValueError(f'blur must be 0 (off) or an odd kernel size, got '
                         f'{blur}')
    if blur == 0:
        return levels
    if blur_type == 'median':
        return cv2.medianBlur(levels, blur)
    return cv2.GaussianBlur(levels, (blur, blur), 0)


def otsu_target_mask(difference: np.ndarray,
                     peak: float = 255.,
                     blur: int = 0,
                     blur_type: str = 'median',
                     log_scale: bool = False) -> np.ndarray:
    """Otsu-threshold a difference image: ``M = 1 where D <= tau`` (Eq. 7).

    Args:
        difference: ``D`` (H, W) from :func:`difference_image`.
        peak: value of ``D`` that maps to grey level 255 (255 for uint8
            images, 1 for float images in [0, 1]).
        blur: odd kernel size of a blur of the quantised ``D`` before
            thresholding; 0 = plain Eq. 7.
        blur_type: 'median' or 'gaussian'.
        log_scale: threshold ``log(1 + D)`` instead of ``D``.

    Returns:
        uint8 array (H, W) of 0/1, 1 = unedited target.
    """
    if difference.ndim != 2:
        raise ValueError(f'difference image must be (H, W), got '
                         f'{_describe(difference)}')
    if log_scale:
        grey = difference * np.float32(255. / peak)
        levels = cv2.convertScaleAbs(np.log1p(grey),
                                     alpha=255. / np.log1p(255.))
    else:
        levels = cv2.convertScaleAbs(difference, alpha=255. / peak)
    levels = _blur(levels, blur, blur_type)
    low, high = int(levels.min()), int(levels.max())
    if high == 0:
        where = f' after a {blur}-pixel {blur_type} blur' if blur else ''
        raise DegenerateEditError(
            f'no change: D = 0 everywhere{where}, the edited image equals '
            'the original')
    if low == high:
        raise DegenerateEditError(
            f'uniform change: every pixel changed by the same amount '
            f'(D = {high} grey levels everywhere), so no edited region can '
            'be separated')
    _, mask = cv2.threshold(levels, 0, 1,
                            cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return mask


def clean_target_mask(mask: np.ndarray, kernel_size: int) -> np.ndarray:
    """Morphological opening then closing of the target region (M = 1).

    Opening removes target specks narrower than the kernel inside the
    edited region; closing fills edited specks inside the target.

    Args:
        mask: uint8 (H, W) of 0/1.
        kernel_size: diameter of the elliptical structuring element; 0 = off.
    """
    if kernel_size < 0:
        raise ValueError(f'kernel_size must be >= 0, got {kernel_size}')
    if kernel_size == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                       (kernel_size, kernel_size))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)


def change_target_area(mask: np.ndarray, fraction: float) -> np.ndarray:
    """Dilate (``fraction > 0``) or erode (``< 0``) the target region until
    its area changed by ``fraction`` of its original area (Table 7).

    The region grows or shrinks by whole one-pixel rings (3x3 square
    structuring element, so a k x k square becomes (k+-2) x (k+-2)); the
    ring count whose area is closest to ``(1 + fraction) * area`` wins, so
    the result is within one ring of the asked area.

    Args:
        mask: uint8 (H, W) of 0/1 with a non-empty target.
        fraction: signed relative area change, e.g. 0.1 or -0.3.
    """
    area = int(np.count_nonzero(mask))
    if area == 0:
        raise DegenerateEditError('empty target region: nothing to '
                                  'dilate or erode')
    if fraction == 0:
        return mask
    if fraction <= -1:
        raise ValueError(f'fraction must be > -1, got {fraction}')
    goal = area * (1 + fraction)
    step = cv2.dilate if fraction > 0 else cv2.erode
    kernel = np.ones((3, 3), np.uint8)
    current, current_area = mask, area
    while (current_area < goal) if fraction > 0 else (current_area > goal):
        ring = step(current, kernel)
        ring_area = int(np.count_nonzero(ring))
        if ring_area == current_area:
            verb = 'dilate' if fraction > 0 else 'erode'
            raise DegenerateEditError(
                f'cannot {verb} the target region by {fraction:+.0%}: its '
                f'area stops at {current_area} px of {mask.size} '
                f'(asked {goal:.0f} px from {area} px)')
        if abs(ring_area - goal) >= abs(current_area - goal):
            break
        current, current_area = ring, ring_area
    if current_area == 0:
        raise DegenerateEditError(
            f'eroding the target region by {fraction:+.0%} leaves it empty')
    return current


def check_target_mask(mask: np.ndarray) -> np.ndarray:
    """Raise :class:`DegenerateEditError` if ``mask`` is all 0 or all 1."""
    area = int(np.count_nonzero(mask))
    if area == 0:
        raise DegenerateEditError(
            'everything changed: no unedited target region is left')
    if area == mask.size:
        raise DegenerateEditError(
            'nothing left as edited: the whole image is target')
    return mask


def otsu_provenance_mask(original: np.ndarray,
                         edited: np.ndarray,
                         size: Optional[Tuple[int, int]] = None,
                         blur: int = 0,
                         blur_type: str = 'median',
                         log_scale: bool = False,
                         clean: int = 0,
                         area_change: float = 0.,
                         max_aspect_change: float = 0.05) -> np.ndarray:
    """Provenance mask of an edited image (Eq. 6-7), optionally refined.

    Defaults give plain Eq. 6-7. Refinements are applied in the order
    log scale and blur of ``D`` -> Otsu -> :func:`clean_target_mask` ->
    :func:`change_target_area`.

    Args:
        original: (H, W[, C]) source image, uint8 or float in [0, 1].
        edited: edited image, same channels and dtype.
        size: common ``(W, H)``; see :func:`difference_image`.
        blur: odd kernel size of a blur of ``D``; 0 = off.
        blur_type: 'median' or 'gaussian'.
        log_scale: Otsu on ``log(1 + D)``; see the module docstring.
        clean: structuring-element size of the opening/closing; 0 = off.
        area_change: signed fraction to dilate/erode the target (Table 7).
        max_aspect_change: see :func:`difference_image`.

    Returns:
        uint8 array (H, W) of 0/1 at ``size`` (or the images' size),
        1 = unedited target, 0 = edited.
    """
    difference = difference_image(original, edited, size, max_aspect_change)
    if original.dtype == np.uint8:
        peak = 255.
    elif np.issubdtype(original.dtype, np.floating):
        for name, image in (('original', original), ('edited', edited)):
            if image.min() < 0 or image.max() > 1:
                raise ValueError(
                    f'float images must lie in [0, 1]; {name} spans '
                    f'[{image.min()}, {image.max()}]')
        peak = 1.
    else:
        raise ValueError('images must be uint8 or float in [0, 1], got '
                         f'dtype {original.dtype}')
    mask = otsu_target_mask(difference, peak, blur, blur_type, log_scale)
    mask = check_target_mask(clean_target_mask(mask, clean))
    return check_target_mask(change_target_area(mask, area_change))


def mask_iou(mask: np.ndarray, reference: np.ndarray) -> float:
    """IoU of the target regions (non-zero pixels) of two (H, W) masks."""
    if mask.shape != reference.shape:
        raise ValueError(f'mask {tuple(mask.shape)} and reference '
                         f'{tuple(reference.shape)} differ in shape')
    a, b = mask != 0, reference != 0
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.
