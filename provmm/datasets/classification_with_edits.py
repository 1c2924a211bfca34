"""Real classification data plus ALIA-style edited training images.

ALIA (Dunlap et al. 2023) edits training images with a diffusion model and
adds a fixed number of the edits to the training split (paper Sec. 4.2.3,
Table 8: CUB 1000, iWildCam 2224, Waterbirds 839). Here the edits come from a
provenance manifest (:mod:`provmm.data_prep.provenance_manifest`) written by
``tools/make_provenance_masks.py``: columns ``original, edited, label`` and
``mask`` (PNG, 255 = target/unedited, 0 = edited; paper Eq. 7), paths
relative to the manifest's folder.

Every sample's data info holds ``img_path``, ``gt_label``, ``group``,
``is_edited`` and ``prov_mask_path`` (``None`` for real images, whose mask
``LoadProvenanceMask`` makes all ones). Edited images get ``group = -1``: the
edit changed the attribute the real group labels describe (e.g. the
Waterbirds background), and ``GroupAccuracy`` ignores negative groups.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset

from provmm.registry import TRANSFORMS
from provmm.data_prep.provenance_manifest import ProvenancePair, load_provenance_manifest

EDITED_SELECTIONS = ('first', 'random')
NO_GROUP = -1


def select_edited_pairs(pairs: List[ProvenancePair],
                        num_edited: Optional[int],
                        selection: str = 'first',
                        seed: int = 0,
                        manifest: str = '') -> List[ProvenancePair]:
    """The edits to add: all (``num_edited=None``), the first
    ``num_edited`` rows (``'first'``), or ``num_edited`` rows drawn without
    replacement with ``numpy.random.default_rng(seed)`` and kept in manifest
    order (``'random'``).

    ALIA draws its edits per class to match the class counts of its real
    "extra" images; to reproduce that, write the manifest in that order and
    use ``'first'``.
    """
    if selection not in EDITED_SELECTIONS:
        raise ValueError(f'edited_selection must be one of '
                         f'{EDITED_SELECTIONS}, got {selection!r}')
    if num_edited is None:
        return list(pairs)
    if not isinstance(num_edited, int) or num_edited < 0:
        raise ValueError(f'num_edited must be an int >= 0 or None, got '
                         f'{num_edited!r}')
    if num_edited > len(pairs):
        raise ValueError(f'{manifest}: num_edited={num_edited} edited images '
                         f'requested but the manifest lists only '
                         f'{len(pairs)}')
    if selection == 'first':
        return list(pairs[:num_edited])
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(pairs), num_edited, replace=False))
    return [pairs[i] for i in chosen]


class ClassificationWithEditsDataset(BaseDataset):
    """Base of the real-format datasets with ALIA edits in the training split
    (paper Sec. 4.2.3, Table 8).

    Subclasses read their real format in :meth:`load_real_data_list` and
    describe where the data comes from in ``DOWNLOAD_HINT``; building a
    dataset whose ``data_root`` or annotation file is missing stops with a
    message giving the expected path and that hint.

    Args:
        data_root (str): the dataset's folder.
        split (str, optional): which split to read (subclass specific).
        edited_manifest (str, optional): provenance manifest of the edited
            images to add (training split only). Relative paths are taken
            from the working directory, as ``data_root``.
        num_edited (int, optional): how many edits to add (Table 8); ``None``
            adds every row. More than the manifest lists is an error.
        edited_selection (str): ``'first'`` rows or a seeded ``'random'``
            subset; see :func:`select_edited_pairs`.
        edited_seed (int): seed of the ``'random'`` selection.
        **kwargs: passed to :class:`mmpretrain.datasets.BaseDataset`.
    """

    SPLITS: Sequence[Optional[str]] = ()
    TRAIN_SPLITS: Sequence[Optional[str]] = ('train', )
    DOWNLOAD_HINT = ''

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = 'train',
                 edited_manifest: Optional[str] = None,
                 num_edited: Optional[int] = None,
                 edited_selection: str = 'first',
                 edited_seed: int = 0,
                 ann_file: str = '',
                 **kwargs) -> None:
        name = self.__class__.__name__
        if split not in self.SPLITS:
            raise ValueError(f'{name}: split must be one of {self.SPLITS}, '
                             f'got {split!r}')
        test_mode = kwargs.get('test_mode', False)
        if edited_manifest is not None and (split not in self.TRAIN_SPLITS
                                            or test_mode):
            raise ValueError(f'{name}: edited images are training data; got '
                             f'edited_manifest with split={split!r}, '
                             f'test_mode={test_mode}')
        if edited_manifest is None and num_edited is not None:
            raise ValueError(f'{name}: num_edited={num_edited} needs an '
                             'edited_manifest')
        if edited_selection not in EDITED_SELECTIONS:
            raise ValueError(f'{name}: edited_selection must be one of '
                             f'{EDITED_SELECTIONS}, got {edited_selection!r}')
        self.split = split
        self.edited_manifest = edited_manifest
        self.num_edited = num_edited
        self.edited_selection = edited_selection
        self.edited_seed = edited_seed
        # provmm's registry (a child of mmpretrain's) also finds the
        # Provenance* transforms when no default scope is set
        kwargs['pipeline'] = [
            TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in kwargs.get('pipeline', ())
        ]
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def require_file(self, path: str, what: str) -> None:
        """Stop with the expected location and ``DOWNLOAD_HINT`` when
        ``path`` is missing."""
        if osp.isfile(path):
            return
        name = self.__class__.__name__
        if not osp.isdir(self.data_root):
            problem = f'dataset folder {self.data_root!r} not found'
        else:
            problem = f'{what} not found'
        raise FileNotFoundError(
            f'{name}: {problem}; expected {path}. {self.DOWNLOAD_HINT} '
            f'Put it under data_root={self.data_root!r} (or set data_root).')

    def load_real_data_list(self) -> List[Dict]:
        """The split's real samples: dicts with ``img_path``, ``gt_label``
        and ``group``."""
        raise NotImplementedError

    def describe_selection(self) -> str:
        """The options that select the real images, for error messages."""
        return f'ann_file={self.ann_file!r}'

    def load_data_list(self) -> List[Dict]:
        data_list = []
        real = self.load_real_data_list()
        if not real:  # also keeps mmengine's serialisation from failing
            raise ValueError(f'{self.__class__.__name__}: no images selected '
                             f'in split {self.split!r} of {self.data_root} '
                             f'({self.describe_selection()})')
        for info in real:
            info.update(is_edited=False, prov_mask_path=None)
            data_list.append(info)
        if self.edited_manifest is not None:
            data_list.extend(self.load_edited_data_list())
        return data_list

    def load_edited_data_list(self) -> List[Dict]:
        """Samples of the selected manifest rows (edited image, its label,
        its mask)."""
        manifest = self.edited_manifest
        pairs = select_edited_pairs(
            load_provenance_manifest(manifest), self.num_edited,
            self.edited_selection, self.edited_seed, manifest)
        classes = self.CLASSES
        data_list = []
        for pair in pairs:
            where = f'{manifest}:{pair.line_no}'
            if pair.mask is None:
                raise ValueError(
                    f'{where}: no provenance mask for {pair.edited} (column '
                    '"mask" absent or empty); run tools/make_provenance_masks'
                    '.py on the manifest and use the manifest it writes')
            if pair.label < 0 or (classes is not None
                                  and pair.label >= len(classes)):
                raise ValueError(
                    f'{where}: label {pair.label} outside 0..'
                    f'{len(classes) - 1 if classes else "num_classes - 1"} '
                    f'of {self.__class__.__name__}')
            data_list.append(
                dict(img_path=pair.edited, gt_label=pair.label,
                     group=NO_GROUP, is_edited=True,
                     prov_mask_path=pair.mask, original_path=pair.original))
        return data_list

    def extra_repr(self) -> List[str]:
        body = [f'Root of dataset: \t{self.data_root}',
                f'Split: \t{self.split}']
        if self.edited_manifest is not None:
            body.append(f'Edited images: \t{self.edited_manifest} '
                        f'(num_edited={self.num_edited}, '
                        f'{self.edited_selection})')
        return body
