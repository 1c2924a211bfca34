"""Generic WSOL dataset: wsolevaluation metadata + an image folder."""
import os.path as osp
from typing import List, Optional

import numpy as np
from mmpretrain.datasets import BaseDataset

from provmm.registry import DATASETS
from .csv_records import check_files_exist
from .wsol_metadata import load_wsol_metadata


@DATASETS.register_module()
class WSOLDataset(BaseDataset):
    """Images with class labels and GT boxes, read from the wsolevaluation
    metadata layout (clovaai/wsolevaluation; docs/metrics/wsol.md).

    Each data info holds ``img_path``, ``img_id`` (the metadata image id),
    ``gt_label``, ``gt_bboxes`` (float ``(n, 4)`` x0, y0, x1, y1 in original
    image pixels) and ``ori_shape`` ``(H, W)`` from ``image_sizes.txt``. Add
    ``'img_id', 'gt_bboxes', 'ori_shape'`` to ``PackInputs.meta_keys`` in the
    test pipeline so that the WSOL metric sees them.

    Args:
        data_root: dataset folder.
        split: metadata split folder name (``'train'``, ``'val'``, ...).
        metadata_root: folder holding one sub-folder per split. ``None``
            means ``<data_root>/metadata``; a relative path is taken from the
            working directory (metadata usually ships with the code).
        image_dir: image folder relative to ``data_root``; an image is
            ``<data_root>/<image_dir>/<image_id>``.
        **kwargs: passed to mmpretrain's ``BaseDataset`` (``pipeline``,
            ``test_mode``, ``classes``, ``indices``, ...).
    """

    # Subclasses say where their data come from (shown when it is missing).
    DATA_HINT = ('put the images so that <data_root>/<image_dir>/<image_id> '
                 'exists for every id of the split')

    def __init__(self,
                 data_root: str,
                 split: str,
                 metadata_root: Optional[str] = None,
                 image_dir: str = 'images',
                 **kwargs):
        if metadata_root is None:
            metadata_root = osp.join(data_root, 'metadata')
        self.split = split
        self.split_root = osp.join(metadata_root, split)
        self.image_root = osp.join(data_root, image_dir)
        super().__init__(
            ann_file='', data_root=data_root, data_prefix=image_dir,
            **kwargs)

    def _check_folders(self):
        if not osp.isdir(self.image_root):
            raise FileNotFoundError(
                f'{type(self).__name__}: image folder {self.image_root!r} '
                f'does not exist; {self.DATA_HINT}.')
        if not osp.isdir(self.split_root):
            raise FileNotFoundError(
                f'{type(self).__name__}: metadata folder '
                f'{self.split_root!r} for split {self.split!r} does not '
                'exist; it must hold image_ids.txt, class_labels.txt, '
                'image_sizes.txt and localization.txt (wsolevaluation '
                'layout).')

    def load_data_list(self) -> List[dict]:
        self._check_folders()
        meta = load_wsol_metadata(self.split_root)
        data_list = []
        for image_id in meta.image_ids:
            w, h = meta.image_sizes[image_id]
            boxes = np.asarray(meta.boxes[image_id],
                               dtype=np.float64).reshape(-1, 4)
            data_list.append(
                dict(img_path=osp.join(self.image_root, image_id),
                     img_id=image_id,
                     gt_label=int(meta.class_labels[image_id]),
                     gt_bboxes=boxes, ori_shape=(h, w)))
        check_files_exist([d['img_path'] for d in data_list],
                          type(self).__name__,
                          osp.join(self.split_root, 'image_ids.txt'),
                          self.DATA_HINT + '.')
        return data_list

    def extra_repr(self) -> List[str]:
        return [f'Split: {self.split}', f'Metadata: {self.split_root}',
                f'Images: {self.image_root}']
