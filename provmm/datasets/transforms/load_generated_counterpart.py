"""``LoadGeneratedCounterpart``: a real image's generated counterpart."""
import os.path as osp
from typing import Dict, List, Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmengine import fileio
from mmpretrain.datasets.transforms import PackInputs

from provmm.registry import TRANSFORMS
from provmm.data_prep.filter_generated import load_generated_manifest


@TRANSFORMS.register_module()
class LoadGeneratedCounterpart(BaseTransform):
    """Load a generated counterpart ``G`` of the real image for DiffCoRe-Mix.

    The counterparts of a real image come from ``results['gen_img_path']``
    (a path or a list of paths, set by the dataset) or, when ``manifest`` is
    given, from that CSV (columns ``original, generated, label``, e.g. the
    kept list of ``tools/filter_generated.py``), looked up by
    ``results['img_path']``. One of them is drawn at random; an image without
    counterpart gets no ``gen_img`` and stays real.

    Place it after the image's geometric transforms and before packing. A
    ``G`` generated from scratch is not pixel-aligned with the image, so it
    gets its own ``transforms`` (e.g. a random crop and flip); an edit of the
    image (e.g. a background edit) is pixel-aligned, and ``follow_flip=True``
    flips it as the image was flipped (``results['flip']`` and
    ``results['flip_direction']`` of ``RandomFlip``). ``G`` is then resized
    to the image's current size if it differs, and is stored like a packed
    input. Pack it with
    ``PackInputs(algorithm_keys=('gen_img', ))`` (or
    ``PackProvenanceInputs``) for ``DiffCoReMixPreprocessor``.

    **Required keys:** ``img``; ``img_path`` (with ``manifest``) or
    ``gen_img_path`` (optional); ``gt_label`` (optional, checked against
    the manifest's label).

    **Added keys:** ``gen_img``: uint8 tensor ``(C, H, W)`` of the image's
    size and channel order; ``gen_img_path``: the chosen file.

    Args:
        manifest (str, optional): CSV of counterparts (see above); rows with
            an empty ``generated`` are ignored.
        transforms (list[dict], optional): transforms applied to ``G`` alone.
        follow_flip (bool): flip ``G`` as the image was flipped by an
            earlier ``RandomFlip``/``ProvenanceRandomFlip`` (for pixel-aligned
            counterparts; other random geometry is not replayed, so keep it
            out of the pipeline before this transform). Defaults to False.
        interpolation (str): resize interpolation. Defaults to 'bilinear'.
        color_type (str): as ``LoadImageFromFile``. Defaults to 'color'.
        imdecode_backend (str): as ``LoadImageFromFile``. Defaults to 'cv2'.
        backend_args (dict, optional): file backend arguments.
    """

    def __init__(self,
                 manifest: Optional[str] = None,
                 transforms: Optional[List[dict]] = None,
                 follow_flip: bool = False,
                 interpolation: str = 'bilinear',
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None):
        self.manifest = manifest
        self.counterparts = (None if manifest is None else
                             counterparts_by_original(manifest))
        self.transforms = Compose(
            [TRANSFORMS.build(t) for t in (transforms or [])])
        self.follow_flip = follow_flip
        self.interpolation = interpolation
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args

    def _candidates(self, results: dict) -> List[str]:
        if self.counterparts is None:
            paths = results.get('gen_img_path')
            if paths is None:
                return []
            return [paths] if isinstance(paths, str) else list(paths)
        if 'img_path' not in results:
            raise KeyError('LoadGeneratedCounterpart(manifest=...) looks '
                           'counterparts up by results["img_path"], which is '
                           'missing')
        key = osp.normpath(osp.abspath(results['img_path']))
        label, paths = self.counterparts.get(key, (None, []))
        if paths and 'gt_label' in results and int(
                np.asarray(results['gt_label']).reshape(-1)[0]) != label:
            raise ValueError(
                f'{self.manifest}: {key} is listed with label {label}, but '
                f'the dataset gives it label {results["gt_label"]}')
        return paths

    def transform(self, results: dict) -> dict:
        paths = self._candidates(results)
        if not paths:
            return results
        path = paths[np.random.randint(len(paths))]
        try:
            content = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'generated counterpart of {results.get("img_path")} not '
                f'found: {path}') from None
        generated = mmcv.imfrombytes(content, flag=self.color_type,
                                     backend=self.imdecode_backend)
        if generated is None:
            raise ValueError(f'cannot decode generated image {path}')
        generated = self.transforms(dict(img=generated,
                                         img_shape=generated.shape[:2]))['img']
        if self.follow_flip and results.get('flip', False):
            if 'flip_direction' not in results:
                raise KeyError('LoadGeneratedCounterpart(follow_flip=True): '
                               'results["flip"] is set but '
                               'results["flip_direction"] is missing')
            generated = mmcv.imflip(generated,
                                    direction=results['flip_direction'])
        image = results['img']
        if generated.shape[:2] != image.shape[:2]:
            generated = mmcv.imresize(generated, image.shape[1::-1],
                                      interpolation=self.interpolation)
        if generated.ndim != image.ndim or generated.shape[2:] != \
                image.shape[2:]:
            raise ValueError(
                f'generated image {path} has shape {generated.shape}, the '
                f'real image {image.shape}: channel counts differ')
        results['gen_img'] = PackInputs.format_input(generated)
        results['gen_img_path'] = path
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(manifest={self.manifest!r}, '
                f'transforms={self.transforms}, '
                f'follow_flip={self.follow_flip}, '
                f'interpolation={self.interpolation!r})')


def counterparts_by_original(manifest: str) -> Dict[str, tuple]:
    """``{absolute original path: (label, [generated paths])}`` of a CSV."""
    table = {}
    for pair in load_generated_manifest(manifest, check_files=False):
        if pair.generated is not None:
            table.setdefault(pair.original, (pair.label, []))[1].append(
                pair.generated)
    return table
