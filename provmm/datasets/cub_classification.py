"""CUB-200-2011 classification (Wah et al. 2011) in its released format."""
import os.path as osp
from typing import Dict, List, Tuple

from mmpretrain.datasets.categories import CUB_CATEGORIES

from provmm.registry import DATASETS
from .classification_with_edits import ClassificationWithEditsDataset
from .csv_records import check_files_exist, check_relative_path

NUM_CLASSES = 200


def _read_id_file(path: str, what: str) -> Dict[int, Tuple[str, int]]:
    """``<image id> <value>`` per line -> {id: (value, line number)}; errors
    name the line."""
    values = {}
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            fields = line.split(None, 1)
            if len(fields) != 2:
                raise ValueError(f'{path}:{line_no}: expected "<image id> '
                                 f'<{what}>", got {line!r}')
            try:
                image_id = int(fields[0])
            except ValueError:
                raise ValueError(f'{path}:{line_no}: image id must be an '
                                 f'integer, got {fields[0]!r}') from None
            if image_id in values:
                raise ValueError(f'{path}:{line_no}: image id {image_id} '
                                 'listed twice')
            values[image_id] = (fields[1].strip(), line_no)
    return values


def _read_int_values(path: str, what: str, allowed: range) -> Dict[int, int]:
    numbers = {}
    for image_id, (value, line_no) in _read_id_file(path, what).items():
        try:
            number = int(value)
        except ValueError:
            number = None
        if number not in allowed:
            raise ValueError(f'{path}:{line_no}: {what} must be an integer in '
                             f'{allowed.start}..{allowed.stop - 1}, got '
                             f'{value!r}')
        numbers[image_id] = number
    return numbers


@DATASETS.register_module()
class CUBClassificationDataset(ClassificationWithEditsDataset):
    """CUB-200-2011 image classification, optionally with ALIA's edits.

    Layout (``CUB_200_2011.tgz``)::

        data_root/images.txt              <id> <class folder>/<file>.jpg
        data_root/image_class_labels.txt  <id> <class 1..200>
        data_root/train_test_split.txt    <id> <1 train | 0 test>
        data_root/images/<class folder>/<file>.jpg

    Labels are 0-based (``class - 1``). Samples follow ``images.txt`` order;
    ``group`` is 0 for every real image (CUB has no group labels).

    ALIA's split (``datasets/cub.py``, ``Cub2011(subset=False)``): train =
    the official training images minus the last 5 of each class (in
    ``images.txt`` order), which form ALIA's 1,000 real "extra" images
    (hence Table 8's 1,000 edits); val = test = the official test split.
    Here: ``holdout_per_class=5`` on the train split.

    Args:
        data_root (str): the ``CUB_200_2011`` folder.
        split (str): 'train' or 'test'.
        holdout_per_class (int): leave out the last N training images of
            each class (train split only).
        **kwargs: see :class:`ClassificationWithEditsDataset`.
    """

    METAINFO = dict(classes=CUB_CATEGORIES)
    SPLITS = ('train', 'test')
    DOWNLOAD_HINT = (
        'Download CUB_200_2011.tgz from '
        'https://www.vision.caltech.edu/datasets/cub_200_2011/ (mirror: '
        'https://data.caltech.edu/records/65de6-vp158) and unpack it so that '
        'images.txt and images/ are in data_root.')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 holdout_per_class: int = 0,
                 **kwargs) -> None:
        if not isinstance(holdout_per_class, int) or holdout_per_class < 0:
            raise ValueError('CUBClassificationDataset: holdout_per_class '
                             f'must be an int >= 0, got {holdout_per_class!r}')
        if holdout_per_class and split != 'train':
            raise ValueError('CUBClassificationDataset: holdout_per_class '
                             'applies to the train split, got '
                             f'split={split!r}')
        self.holdout_per_class = holdout_per_class
        super().__init__(data_root=data_root, split=split, **kwargs)

    def _path(self, name: str) -> str:
        return osp.join(self.data_root, name)

    def load_real_data_list(self) -> List[Dict]:
        files = ('images.txt', 'image_class_labels.txt',
                 'train_test_split.txt')
        for name in files:
            self.require_file(self._path(name), name)
        images = {
            i: check_relative_path(path, f'{self._path(files[0])}:{line}',
                                   'image path')
            for i, (path, line) in _read_id_file(self._path(files[0]),
                                                 'image path').items()
        }
        classes = _read_int_values(self._path(files[1]), 'class',
                                   range(1, NUM_CLASSES + 1))
        is_train = _read_int_values(self._path(files[2]), 'is_training_image',
                                    range(0, 2))
        for name, values in ((files[1], classes), (files[2], is_train)):
            missing = sorted(set(images) - set(values))
            if missing:
                raise ValueError(f'{self._path(name)}: no line for image id '
                                 f'{missing[0]} of images.txt '
                                 f'({len(missing)} id(s) missing)')
        wanted = 1 if self.split == 'train' else 0
        ids = [i for i in images if is_train[i] == wanted]
        if self.holdout_per_class:
            ids = self._drop_last_per_class(ids, classes)
        data_list = [
            dict(img_path=osp.join(self.data_root, 'images', images[i]),
                 gt_label=classes[i] - 1, group=0) for i in ids
        ]
        check_files_exist([d['img_path'] for d in data_list],
                          type(self).__name__, self._path(files[0]),
                          f'{self.DOWNLOAD_HINT} Put it under '
                          f'data_root={self.data_root!r} (or set data_root).')
        return data_list

    def _drop_last_per_class(self, ids: List[int],
                             classes: Dict[int, int]) -> List[int]:
        """Leave out the last ``holdout_per_class`` ids of each class."""
        by_class: Dict[int, List[int]] = {}
        for image_id in ids:
            by_class.setdefault(classes[image_id], []).append(image_id)
        keep = self.holdout_per_class
        held_out = {i for members in by_class.values()
                    for i in members[max(0, len(members) - keep):]}
        return [i for i in ids if i not in held_out]

    def describe_selection(self) -> str:
        return f'holdout_per_class={self.holdout_per_class}'

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Held out per class: \t{self.holdout_per_class}'
        ]
