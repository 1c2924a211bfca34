"""The built-in synthetic skeleton STAL benchmark as a dataset."""
from typing import List, Optional

from provmm.registry import DATASETS
from provmm.synthetic.skeleton_task import (GT_FILE, GT_VAL_FILE, POSE_FILE,
                                            SPLITS, SyntheticSkeletonSpec,
                                            ensure_synthetic_skeleton_stal)
from .skeleton_stal import SkeletonSTALDataset


@DATASETS.register_module()
class SyntheticSkeletonSTALDataset(SkeletonSTALDataset):
    """A generated UCF101-24-like skeleton task, created under
    ``data_root`` on first use and read back from disk like the real
    UCF101-24 skeletons.

    See :mod:`provmm.synthetic.skeleton_task` for the design: an actor
    performs the labelled action over a segment while a bystander's motion
    pattern co-occurs with the class in train (``cooccurrence``) and not in
    test, so localization learned from video labels drifts to bystanders.

    ``split='val'`` reads ``synth_stal_GT_val.pkl``, whose ``test_videos``
    are the val videos: it is a test-mode split (person boxes, every
    person) and the frame-AP/video-AP tools evaluate it from that file as
    they evaluate test from ``synth_stal_GT.pkl``. ``self.split`` is then
    the parent's ``'test'`` and ``self.synthetic_split`` is ``'val'``.

    Args:
        data_root (str): cache folder of the generated task.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        generator (dict, optional): fields of
            :class:`~provmm.synthetic.SyntheticSkeletonSpec` (``seed``,
            ``num_classes``, ``num_per_class``, ``cooccurrence``, noise,
            ...). A cached task with other settings is regenerated.
        **kwargs: :class:`SkeletonSTALDataset` arguments (``pipeline``,
            ``max_persons``, ``box_margin``, ``test_mode``, ...); the files
            are the generator's, so not ``ann_file``/``gt_file``.
    """

    def __init__(self,
                 data_root: str = 'data/synth_stal',
                 split: str = 'train',
                 generator: Optional[dict] = None,
                 **kwargs):
        name = type(self).__name__
        if split not in SPLITS:
            raise ValueError(f'{name}: split must be one of {list(SPLITS)}, '
                             f'got {split!r}')
        given = sorted(k for k in ('ann_file', 'gt_file', 'split_index')
                       if k in kwargs)
        if given:
            raise ValueError(f'{name} reads the files it generates; do not '
                             f'pass {given}')
        self.spec = SyntheticSkeletonSpec(**(generator or {}))
        ensure_synthetic_skeleton_stal(data_root, self.spec)
        self.synthetic_split = split
        super().__init__(
            ann_file=POSE_FILE,
            gt_file=GT_VAL_FILE if split == 'val' else GT_FILE,
            split='train' if split == 'train' else 'test',
            data_root=data_root, **kwargs)

    def extra_repr(self) -> List[str]:
        return [f'Synthetic split: {self.synthetic_split}'
                ] + super().extra_repr()
