"""The built-in synthesis-fingerprint benchmark as a dataset."""
import os.path as osp
from typing import Dict, List, Optional

from provmm.registry import DATASETS
from provmm.synthetic.fingerprint_task import (METADATA_FILE,
                                               FingerprintEditSpec,
                                               FingerprintTaskSpec,
                                               ensure_fingerprint_edits,
                                               ensure_synthetic_fingerprint)
from .classification_with_edits import ClassificationWithEditsDataset
from .csv_records import read_csv_records
from .synthetic_spurious import ensure_provenance_masks

SPLIT_CODES = {'train': 0, 'val': 1, 'test': 2}


@DATASETS.register_module()
class SyntheticFingerprintDataset(ClassificationWithEditsDataset):
    """Shape classes on class-free backgrounds, plus generated edits whose
    synthesized background carries a class fingerprint; created under
    ``data_root`` on first use (:mod:`provmm.synthetic.fingerprint_task`).

    Every sample's ``group`` is its class, so ``GroupAccuracy``'s worst
    group is the worst class; edits get group -1 (not scored). Edits come
    with the provenance masks of the shared pipeline
    (:func:`~provmm.datasets.synthetic_spurious.ensure_provenance_masks`),
    loaded by ``LoadProvenanceMask``; real images get an all-ones mask.

    Args:
        data_root (str): cache folder of the generated task.
        split (str): 'train', 'val' or 'test'.
        generator (dict, optional): fields of
            :class:`~provmm.synthetic.FingerprintTaskSpec`. A cached task
            with other settings is an error, never reused.
        edits (dict, optional): fields of
            :class:`~provmm.synthetic.FingerprintEditSpec`; adds the edited
            images (train only). ``None``: real images only.
        mask_source (str): ``'gt'`` (the edit's own mask, exact) or
            ``'otsu'`` (Eq. 6-7 from the image pair).
        mask_options (dict, optional): Otsu refinements.
        **kwargs: :class:`ClassificationWithEditsDataset` arguments.
    """

    SPLITS = tuple(SPLIT_CODES)

    def __init__(self,
                 data_root: str = 'data/synth_fingerprint',
                 split: str = 'train',
                 generator: Optional[dict] = None,
                 edits: Optional[dict] = None,
                 mask_source: str = 'gt',
                 mask_options: Optional[dict] = None,
                 **kwargs):
        self.spec = FingerprintTaskSpec(**(generator or {}))
        if 'edited_manifest' in kwargs:
            raise ValueError('SyntheticFingerprintDataset makes its own '
                             'edited_manifest from `edits`; do not pass one')
        if edits is not None and split != 'train':
            raise ValueError(f'SyntheticFingerprintDataset: edits are '
                             f'training data; got edits with split={split!r}')
        ensure_synthetic_fingerprint(data_root, self.spec)
        if edits is not None:
            folder = ensure_fingerprint_edits(data_root, self.spec,
                                              FingerprintEditSpec(**edits))
            kwargs['edited_manifest'] = ensure_provenance_masks(
                folder, mask_source, mask_options)
        kwargs.setdefault('classes', self.spec.classes)
        super().__init__(data_root=data_root, split=split,
                         ann_file=METADATA_FILE, **kwargs)

    def load_real_data_list(self) -> List[Dict]:
        self.require_file(self.ann_file, 'metadata file')
        code = str(SPLIT_CODES[self.split])
        return [dict(img_path=osp.join(self.data_root, row['img_filename']),
                     gt_label=int(row['y']), group=int(row['y']))
                for _, _, row in read_csv_records(
                    self.ann_file, ('img_filename', 'y', 'split'))
                if row['split'] == code]
