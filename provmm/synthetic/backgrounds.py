"""Cluttered background domains of the synthetic WSOL tasks (plain numpy).

A domain is a texture family with its own hue, so it is an easy cue for a
CNN: in the biased splits a class co-occurs with "its" domain, which is the
shortcut that makes CAMs leak to context. Clutter fragments (small strokes
and blobs, half in the domain's colours, half in random colours) make the
background busy so that the object is not the only structure in the image.
"""
import colorsys

import cv2
import numpy as np

DOMAIN_NAMES = ('hstripes', 'vstripes', 'diagonal', 'checker', 'dots',
                'blobs', 'waves', 'grain')


def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float64)


def _texture(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(size, size)`` pattern in ``[0, 1]`` of the given family."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    period = rng.uniform(5.0, 9.0)
    phase = rng.uniform(0, 2 * np.pi)
    if kind == 'hstripes':
        return 0.5 + 0.5 * np.sin(2 * np.pi * ys / period + phase)
    if kind == 'vstripes':
        return 0.5 + 0.5 * np.sin(2 * np.pi * xs / period + phase)
    if kind == 'diagonal':
        return 0.5 + 0.5 * np.sin(2 * np.pi * (xs + ys) / period / 1.4 + phase)
    if kind == 'checker':
        cell = period * 0.7
        offset = rng.uniform(0, cell, size=2)
        return (((xs + offset[0]) // cell + (ys + offset[1]) // cell) %
                2).astype(np.float64)
    if kind == 'dots':
        offset = rng.uniform(0, period, size=2)
        fx = ((xs + offset[0]) % period) - period / 2
        fy = ((ys + offset[1]) % period) - period / 2
        return (np.hypot(fx, fy) <= period * 0.28).astype(np.float64)
    if kind == 'blobs':
        coarse = rng.uniform(0, 1, size=(6, 6))
        smooth = cv2.resize(coarse, (size, size),
                            interpolation=cv2.INTER_CUBIC)
        return (smooth > np.median(smooth)).astype(np.float64)
    if kind == 'waves':
        cx, cy = rng.uniform(0, size, size=2)
        return 0.5 + 0.5 * np.sin(
            2 * np.pi * np.hypot(xs - cx, ys - cy) / period + phase)
    if kind == 'grain':
        return rng.uniform(0, 1, size=(size, size))
    raise ValueError(f'unknown background texture {kind!r}; expected one of '
                     f'{DOMAIN_NAMES}')


def _draw_clutter(image, rng, colors, count):
    """Short strokes and small blobs, at most ~6 px, drawn in place."""
    size = image.shape[0]
    for _ in range(count):
        color = tuple(float(c) for c in colors[rng.integers(len(colors))])
        x, y = (int(c) for c in rng.integers(0, size, size=2))
        if rng.uniform() < 0.5:
            length = rng.uniform(3, 7)
            angle = rng.uniform(0, np.pi)
            end = (int(round(x + length * np.cos(angle))),
                   int(round(y + length * np.sin(angle))))
            cv2.line(image, (x, y), end, color, thickness=1)
        else:
            axes = tuple(int(a) for a in rng.integers(1, 4, size=2))
            cv2.ellipse(image, (x, y), axes, float(rng.uniform(0, 180)), 0,
                        360, color, thickness=-1)


def _domain_fill(domain, size, rng, hue):
    """A full ``(size, size, 3)`` texture of ``domain`` and its colours."""
    if hue is None:
        hue = domain / len(DOMAIN_NAMES)
    hue = hue + rng.uniform(-0.02, 0.02)
    light = _hsv(hue, rng.uniform(0.35, 0.55), rng.uniform(0.75, 0.9))
    dark = _hsv(hue, rng.uniform(0.55, 0.8), rng.uniform(0.3, 0.5))
    pattern = _texture(DOMAIN_NAMES[domain], size, rng)[..., None]
    return dark + (light - dark) * pattern, light, dark


def render_background(domain: int, size: int, rng: np.random.Generator,
                      hue=None, clutter: int = 8,
                      patches: int = 0) -> np.ndarray:
    """A cluttered background of ``domain`` as float RGB ``(size, size, 3)``.

    Args:
        domain: index into ``DOMAIN_NAMES`` (texture family) of the whole
            background.
        hue: base hue in ``[0, 1)``; ``None`` uses the domain's own hue
            ``domain / len(DOMAIN_NAMES)`` (the class-correlated cue).
        clutter: number of clutter fragments.
        patches: number of rectangles (a quarter to a half of the side) of
            uniformly random domains laid over the background, so that
            every domain's texture also occurs in images of other classes.
    """
    image, light, dark = _domain_fill(domain, size, rng, hue)
    for _ in range(patches):
        other = int(rng.integers(len(DOMAIN_NAMES)))
        fill, _, _ = _domain_fill(other, size, rng,
                                  None if hue is None else rng.uniform())
        w, h = (int(v) for v in rng.integers(size // 4, size // 2 + 1, 2))
        x, y = (int(v) for v in rng.integers(0, size - size // 4, 2))
        image[y:y + h, x:x + w] = fill[y:y + h, x:x + w]
    image = np.ascontiguousarray(image)
    domain_colors = [light * 0.8 + dark * 0.2, dark * 0.8 + light * 0.2]
    random_colors = [_hsv(rng.uniform(), rng.uniform(0.4, 0.9),
                          rng.uniform(0.3, 0.95)) for _ in range(3)]
    _draw_clutter(image, rng, domain_colors, clutter // 2)
    _draw_clutter(image, rng, random_colors, clutter - clutter // 2)
    return image
