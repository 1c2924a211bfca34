"""The built-in spurious-correlation benchmark as a dataset."""
import json
import os.path as osp
from typing import Dict, List, Optional

from provmm.registry import DATASETS
from provmm.data_prep.make_provenance_masks import make_provenance_masks
from provmm.data_prep.provenance_manifest import (dump_provenance_manifest,
                                  load_provenance_manifest)
from provmm.synthetic.background_edit import (EDIT_MANIFEST, BackgroundEditSpec,
                                        ensure_background_edits)
from provmm.synthetic.spurious_task import (SyntheticSpuriousSpec,
                                      ensure_generated,
                                      ensure_synthetic_spurious)
from .waterbirds import WaterbirdsDataset

MASK_SOURCES = ('otsu', 'gt')
MASK_SPEC_FILE = 'provenance_masks.json'


def mask_folder_name(source: str, options: Dict) -> str:
    """``gt``, ``otsu_plain`` or e.g. ``otsu_blur3_log_scale``."""
    if source == 'gt':
        return 'gt'
    active = [f'{k}{v}' if not isinstance(v, bool) else k
              for k, v in sorted(options.items()) if v]
    return 'otsu_' + ('_'.join(active) if active else 'plain')


def ensure_provenance_masks(edit_folder: str, source: str = 'otsu',
                            options: Optional[Dict] = None) -> str:
    """Masks of the edits in ``edit_folder``; returns their manifest.

    ``'otsu'``: Eq. 6-7 masks from ``tools/make_provenance_masks.py``'s code
    with ``options`` (``blur``, ``blur_type``, ``log_scale``, ``clean``,
    ``area_change``; none = plain Eq. 6-7), with the mask report beside them.
    ``'gt'``: the generator's true foreground (``gt_mask``) as the mask.
    Cached under ``<edit_folder>/masks/<name>/manifest.csv``; degenerate
    pairs get no mask and are left out of the manifest (see the report).
    """
    options = dict(options or {})
    if source not in MASK_SOURCES:
        raise ValueError(f'mask source must be one of {MASK_SOURCES}, got '
                         f'{source!r}')
    if source == 'gt' and options:
        raise ValueError(f'the true foreground mask takes no options, got '
                         f'{options}')
    folder = osp.join(edit_folder, 'masks', mask_folder_name(source, options))
    record = dict(format_version=1, spec=dict(source=source, **options))
    edits = osp.join(edit_folder, EDIT_MANIFEST)

    def write(tmp: str) -> None:
        print(f'Making the {mask_folder_name(source, options)} provenance '
              f'masks of the edits under {edit_folder} (first use)...',
              flush=True)
        if source == 'gt':
            pairs = load_provenance_manifest(edits)
            for pair in pairs:
                pair.mask = pair.gt_mask
            dump_provenance_manifest(pairs, osp.join(tmp, 'manifest.csv'))
        else:
            make_provenance_masks(edits, tmp, quiet=True, **options)
        with open(osp.join(tmp, MASK_SPEC_FILE), 'w') as f:
            json.dump(record, f, indent=2, sort_keys=True)

    ensure_generated(folder, record, MASK_SPEC_FILE, 'provenance masks',
                     write)
    return osp.join(folder, 'manifest.csv')


@DATASETS.register_module()
class SyntheticSpuriousDataset(WaterbirdsDataset):
    """A generated Waterbirds-like task, created under ``data_root`` on first
    use and read back from disk with the Waterbirds reader.

    See :mod:`provmm.synthetic.spurious_task` (shape classes on
    background places that correlate with the class in train and not in
    val/test; group ``2 * y + place``) and
    :mod:`provmm.synthetic.background_edit` (imitated generative
    background edits with the true foreground). Two classes and two places,
    as Waterbirds.

    Args:
        data_root (str): cache folder of the generated task.
        split (str): 'train', 'val' or 'test'.
        generator (dict, optional): fields of
            :class:`~provmm.synthetic.SyntheticSpuriousSpec`. A
            cached task with other settings is an error, never reused.
        edits (dict, optional): fields of
            :class:`~provmm.synthetic.BackgroundEditSpec`; adds the
            edited images (train only) with the masks below. ``None``: real
            images only.
        mask_source (str): provenance mask of the edited images: ``'otsu'``
            (Eq. 6-7) or ``'gt'`` (the generator's foreground).
        mask_options (dict, optional): Otsu refinements (``log_scale``,
            ``blur``, ``clean``, ...); ``None`` = plain Eq. 6-7.
        edits_as_counterparts (bool): instead of adding the edits as extra
            images, give each edited real train image its edit as
            ``gen_img_path`` (the generated counterpart of DiffCoRe-Mix).
        **kwargs: :class:`WaterbirdsDataset` arguments (``num_edited``,
            ``edited_selection``, ``pipeline``, ...).
    """

    def __init__(self,
                 data_root: str = 'data/synth_spurious',
                 split: str = 'train',
                 generator: Optional[dict] = None,
                 edits: Optional[dict] = None,
                 mask_source: str = 'otsu',
                 mask_options: Optional[dict] = None,
                 edits_as_counterparts: bool = False,
                 **kwargs):
        self.spec = SyntheticSpuriousSpec(**(generator or {}))
        if len(self.spec.classes) != 2 or len(self.spec.places) != 2:
            raise ValueError(
                'SyntheticSpuriousDataset reads the Waterbirds format: it '
                'needs 2 classes and 2 places, got '
                f'{self.spec.classes} and {self.spec.places}')
        if 'edited_manifest' in kwargs:
            raise ValueError('SyntheticSpuriousDataset makes its own '
                             'edited_manifest from `edits`; do not pass one')
        ensure_synthetic_spurious(data_root, self.spec)
        if edits is not None and split != 'train':
            raise ValueError(f'SyntheticSpuriousDataset: edits are training '
                             f'data; got edits with split={split!r}')
        self.counterparts: Dict[str, str] = {}
        if edits is not None:
            edit_folder = ensure_background_edits(
                data_root, self.spec, BackgroundEditSpec(**edits))
            if edits_as_counterparts:
                for pair in load_provenance_manifest(
                        osp.join(edit_folder, EDIT_MANIFEST)):
                    self.counterparts[pair.original] = pair.edited
            else:
                kwargs['edited_manifest'] = ensure_provenance_masks(
                    edit_folder, mask_source, mask_options)
        kwargs.setdefault('classes', self.spec.classes)
        super().__init__(data_root=data_root, split=split, **kwargs)

    def load_real_data_list(self) -> List[Dict]:
        data_list = super().load_real_data_list()
        for info in data_list:
            counterpart = self.counterparts.get(
                osp.normpath(osp.abspath(info['img_path'])))
            if counterpart is not None:
                info['gen_img_path'] = counterpart
        return data_list
