"""Waterbirds (Sagawa et al., ICLR 2020) in its released format."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from provmm.registry import DATASETS
from .classification_with_edits import ClassificationWithEditsDataset
from .csv_records import (check_files_exist, check_relative_path,
                          read_csv_records)

SPLIT_CODES = {'train': 0, 'val': 1, 'test': 2}
REQUIRED_COLUMNS = ('img_filename', 'y', 'split', 'place')
NUM_GROUPS = 4


def waterbirds_group(label: int, place: int) -> int:
    """Group index ``2 * y + place``: 0 landbird on land, 1 landbird on
    water, 2 waterbird on land, 3 waterbird on water."""
    return 2 * label + place


def _read_binary(row: Dict[str, str], column: str, where: str,
                 allowed: Sequence[int]) -> int:
    value = row[column].strip()
    try:
        number = int(float(value))  # pandas may write 1.0
    except (ValueError, OverflowError):
        number = None
    if number is None or number not in allowed or float(value) != number:
        raise ValueError(f'{where}: column {column!r} must be one of '
                         f'{list(allowed)}, got {value!r}')
    return number


def read_waterbirds_metadata(path: str) -> List[Dict]:
    """Rows of ``metadata.csv`` as dicts with ``img_filename``, ``label``,
    ``split`` (0/1/2), ``place`` and ``line`` (line number in the file).

    Each ``img_filename`` must be a relative path inside ``data_root`` and
    appear once: a repeated one is an error naming both lines, even when
    the rows are identical (nothing is dropped silently).
    """
    rows, first_row = [], {}
    for where, line, row in read_csv_records(path, REQUIRED_COLUMNS):
        name = row['img_filename'].strip()
        if not name:
            raise ValueError(f'{where}: empty img_filename')
        check_relative_path(name, where, 'img_filename')
        record = dict(
            img_filename=name,
            label=_read_binary(row, 'y', where, (0, 1)),
            split=_read_binary(row, 'split', where, (0, 1, 2)),
            place=_read_binary(row, 'place', where, (0, 1)),
            line=line)
        if name in first_row:
            first = first_row[name]
            same = ('same y, split and place' if {**first, 'line': line}
                    == record else 'different y, split or place')
            raise ValueError(
                f'{where}: img_filename {name!r} already listed at '
                f'{path}:{first["line"]} ({same}); expected each image once')
        first_row[name] = record
        rows.append(record)
    return rows


@DATASETS.register_module()
class WaterbirdsDataset(ClassificationWithEditsDataset):
    """Waterbirds with group labels, optionally with ALIA's edited images.

    Layout (``waterbird_complete95_forest2water2``)::

        data_root/metadata.csv     img_filename,y,split,place[,...]
        data_root/<img_filename>   e.g. 001.Black_footed_Albatross/x.jpg

    ``y``: 0 landbird, 1 waterbird; ``place``: 0 land, 1 water background;
    ``split``: 0 train, 1 val, 2 test. Each sample carries
    ``group = 2 * y + place`` (:func:`waterbirds_group`; ALIA numbers its
    groups ``2 * place + y`` instead, so its groups 1 and 2 are swapped).

    ALIA's split (``helpers/load_dataset.py`` of lisadunlap/ALIA): train =
    the majority groups (0 and 3) of the train split, every 4th image after
    shuffling within each species (1,139 images); val = groups 0 and 3 of
    the val split; test = the whole test split; its 839 real "extra" images
    are the minority groups of train and val (240 + 599), hence Table 8's
    839 edits. Here: ``groups=(0, 3)``, ``keep_every=4``. The shuffle is
    seeded (``subset_seed``), so the 1,139 images are not ALIA's (its shuffle
    is unseeded pandas sampling), and the kept images are returned in
    ``metadata.csv`` order. ALIA's code filters the ``place`` column with the
    group list; the counts 1,139 and 839 match group filtering, which is
    what is done here.

    Args:
        data_root (str): dataset folder.
        split (str): 'train', 'val' or 'test'.
        ann_file (str): metadata file, relative to ``data_root``.
        groups (sequence of int, optional): keep only these groups.
        keep_every (int): keep every k-th image of the species-wise seeded
            shuffle; 1 keeps all.
        subset_seed (int): seed of that shuffle.
        **kwargs: see :class:`ClassificationWithEditsDataset`.
    """

    METAINFO = dict(classes=('landbird', 'waterbird'))
    SPLITS = tuple(SPLIT_CODES)
    DOWNLOAD_HINT = (
        'Download waterbird_complete95_forest2water2.tar.gz (linked from '
        'https://github.com/kohpangwei/group_DRO, '
        'https://nlp.stanford.edu/data/dro/'
        'waterbird_complete95_forest2water2.tar.gz) and unpack it so that '
        'metadata.csv and the species folders are in data_root.')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = 'metadata.csv',
                 groups: Optional[Sequence[int]] = None,
                 keep_every: int = 1,
                 subset_seed: int = 0,
                 **kwargs) -> None:
        if groups is not None and not set(groups) <= set(range(NUM_GROUPS)):
            raise ValueError(f'WaterbirdsDataset: groups must be within '
                             f'0..{NUM_GROUPS - 1}, got {groups}')
        if not isinstance(keep_every, int) or keep_every < 1:
            raise ValueError(f'WaterbirdsDataset: keep_every must be an int '
                             f'>= 1, got {keep_every!r}')
        self.groups = None if groups is None else tuple(groups)
        self.keep_every = keep_every
        self.subset_seed = subset_seed
        super().__init__(data_root=data_root, split=split, ann_file=ann_file,
                         **kwargs)

    def load_real_data_list(self) -> List[Dict]:
        self.require_file(self.ann_file, 'metadata file')
        rows = [
            row for row in read_waterbirds_metadata(self.ann_file)
            if row['split'] == SPLIT_CODES[self.split] and (
                self.groups is None
                or waterbirds_group(row['label'], row['place']) in self.groups)
        ]
        if self.keep_every > 1:
            rows = self._every_kth_per_species(rows)
        data_list = [
            dict(img_path=osp.join(self.data_root, row['img_filename']),
                 gt_label=row['label'],
                 group=waterbirds_group(row['label'], row['place']))
            for row in rows
        ]
        check_files_exist([d['img_path'] for d in data_list],
                          type(self).__name__, self.ann_file,
                          f'{self.DOWNLOAD_HINT} Put it under '
                          f'data_root={self.data_root!r} (or set data_root).')
        return data_list

    def _every_kth_per_species(self, rows: List[Dict]) -> List[Dict]:
        """ALIA's subsampling: species in sorted order, each shuffled, all
        concatenated, every k-th kept; returned in file order."""
        by_species: Dict[str, List[int]] = {}
        for index, row in enumerate(rows):
            species = row['img_filename'].split('/')[0]
            by_species.setdefault(species, []).append(index)
        rng = np.random.default_rng(self.subset_seed)
        order = [i for species in sorted(by_species)
                 for i in rng.permutation(by_species[species])]
        kept = sorted(order[::self.keep_every])
        return [rows[i] for i in kept]

    def describe_selection(self) -> str:
        return (f'ann_file={self.ann_file!r}, groups={self.groups}, '
                f'keep_every={self.keep_every}')

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Groups kept: \t{self.groups}',
            f'Keep every: \t{self.keep_every} (seed {self.subset_seed})'
        ]
