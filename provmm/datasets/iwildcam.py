"""iWildCam2020-WILDS v2.0 (Koh et al. 2021; Beery et al. 2020) in its
released csv format."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from provmm.registry import DATASETS
from .classification_with_edits import ClassificationWithEditsDataset
from .csv_records import (check_files_exist, check_relative_path,
                          read_csv_records)

WILDS_SPLITS = ('train', 'val', 'test', 'id_val', 'id_test')
REQUIRED_COLUMNS = ('filename', 'y', 'location_remapped')

# ALIA's iWildCam subset ("iWildCamMini", lisadunlap/ALIA datasets/wilds.py):
# WILDS labels and names of its 7 classes, in label order.
ALIA_LABEL_VALUES = (0, 24, 32, 36, 48, 49, 52)
ALIA_CLASSES = ('background', 'cattle', 'elephants', 'impalas', 'zebras',
                'giraffes', 'dik-diks')


def _read_int(row: Dict[str, str], column: str, where: str) -> int:
    value = (row[column] or '').strip()
    try:
        return int(value)
    except ValueError:
        raise ValueError(f'{where}: column {column!r} must be an integer, '
                         f'got {value!r}') from None


@DATASETS.register_module()
class IWildCamDataset(ClassificationWithEditsDataset):
    """iWildCam (WILDS v2.0 csv format), optionally with ALIA's edited images.

    Layout of WILDS' ``iwildcam_v2.0`` (``wilds/datasets/iwildcam_dataset.py``
    of p-lambda/wilds)::

        data_root/metadata.csv      split,location_remapped,...,y,...,filename
        data_root/train/<filename>  every image, whatever its split

    ``split`` is one of ``train``, ``val`` (OOD), ``test`` (OOD), ``id_val``,
    ``id_test``; ``y`` is the label (0..181); ``location_remapped`` (the
    camera trap) is the sample's ``group``.

    ALIA's setting (paper Table 3 follows it) uses its own subset files in
    the same csv format, ``{train,val,test,train_extra}_subset.csv`` from
    ``data/iwildcam_v2.0/`` of lisadunlap/ALIA: 7 classes (WILDS ``y`` in
    :data:`ALIA_LABEL_VALUES`, relabelled 0..6) from two training camera
    traps. Their ``split`` column keeps WILDS' value (``train_extra_subset``
    rows say ``test``), so read them whole with ``split=None``.
    ``train_extra_subset.csv`` has 2,224 rows, Table 8's number of edits.

    Args:
        data_root (str): the ``iwildcam_v2.0`` folder.
        split (str, optional): keep rows whose ``split`` column equals this;
            ``None`` keeps every row of ``ann_file``.
        ann_file (str): csv file, relative to ``data_root``.
        label_values (sequence of int, optional): the WILDS ``y`` values of
            the classes, in label order; a row with another ``y`` is an
            error. ``None``: ``y`` is the label.
        image_folder (str): folder of the images below ``data_root``.
        **kwargs: see :class:`ClassificationWithEditsDataset`; ``classes``
            defaults to the ``label_values`` as strings.
    """

    SPLITS = (None, ) + WILDS_SPLITS
    TRAIN_SPLITS = (None, 'train')
    DOWNLOAD_HINT = (
        'Download iWildCam v2.0 from WILDS (https://wilds.stanford.edu/'
        'datasets/, or `pip install wilds` and wilds.get_dataset('
        '"iwildcam", root_dir=..., download=True)); for ALIA\'s subset also '
        'copy data/iwildcam_v2.0/*_subset.csv from '
        'https://github.com/lisadunlap/ALIA into data_root.')

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = 'train',
                 ann_file: str = 'metadata.csv',
                 label_values: Optional[Sequence[int]] = None,
                 image_folder: str = 'train',
                 **kwargs) -> None:
        if label_values is not None:
            label_values = tuple(int(v) for v in label_values)
            if len(set(label_values)) != len(label_values):
                raise ValueError(f'IWildCamDataset: label_values repeat a '
                                 f'value: {label_values}')
            classes = kwargs.get('classes')
            if classes is None:
                kwargs['classes'] = tuple(str(v) for v in label_values)
            elif len(classes) != len(label_values):
                raise ValueError(
                    f'IWildCamDataset: {len(classes)} classes for '
                    f'{len(label_values)} label_values')
        self.label_values = label_values
        self.image_folder = image_folder
        super().__init__(data_root=data_root, split=split, ann_file=ann_file,
                         **kwargs)

    def load_real_data_list(self) -> List[Dict]:
        self.require_file(self.ann_file, 'annotation csv')
        path = self.ann_file
        label_of = None if self.label_values is None else {
            value: label for label, value in enumerate(self.label_values)}
        required = REQUIRED_COLUMNS + (() if self.split is None else
                                       ('split', ))
        data_list = []
        for where, _, row in read_csv_records(path, required):
            if self.split is not None:
                value = row['split'].strip()
                if value not in WILDS_SPLITS:
                    raise ValueError(f'{where}: column \'split\' must be '
                                     f'one of {WILDS_SPLITS}, got '
                                     f'{value!r}')
                if value != self.split:
                    continue
            y = _read_int(row, 'y', where)
            if label_of is None:
                if y < 0:
                    raise ValueError(f'{where}: column \'y\' must be >= '
                                     f'0, got {y}')
                label = y
            elif y in label_of:
                label = label_of[y]
            else:
                raise ValueError(f'{where}: y={y} is not one of '
                                 f'label_values {self.label_values}')
            filename = row['filename'].strip()
            if not filename:
                raise ValueError(f'{where}: empty filename')
            check_relative_path(filename, where, 'filename')
            data_list.append(dict(
                img_path=osp.join(self.data_root, self.image_folder,
                                  filename),
                gt_label=label,
                group=_read_int(row, 'location_remapped', where)))
        check_files_exist([d['img_path'] for d in data_list],
                          type(self).__name__, path,
                          f'{self.DOWNLOAD_HINT} Images go to '
                          f'{osp.join(self.data_root, self.image_folder)}.')
        return data_list
