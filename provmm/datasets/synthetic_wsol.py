"""The built-in synthetic WSOL benchmark as a dataset."""
from typing import Optional

from provmm.registry import DATASETS
from provmm.synthetic import SyntheticWSOLSpec, ensure_synthetic_wsol
from .wsol_dataset import WSOLDataset


@DATASETS.register_module()
class SyntheticWSOLDataset(WSOLDataset):
    """A generated CUB-like WSOL task, created under ``data_root`` on first
    use and read back from disk like real WSOL data.

    See :mod:`provmm.synthetic.wsol_task` for the design: shape
    classes on cluttered backgrounds whose domain correlates with the class
    in train/val (``background_bias``) and not in test.

    Args:
        data_root: cache folder of the generated task.
        split: ``'train'``, ``'val'`` or ``'test'`` (source task: no test).
        generator: fields of :class:`SyntheticWSOLSpec` (``task``, ``seed``,
            ``background_bias``, ``num_per_class``, ...). A cached task with
            other settings is an error, never silently reused.
        **kwargs: passed to :class:`WSOLDataset`.
    """

    def __init__(self,
                 data_root: str = 'data/synth_wsol',
                 split: str = 'train',
                 generator: Optional[dict] = None,
                 **kwargs):
        generator = dict(generator or {})
        if 'object_size' in generator:
            generator['object_size'] = tuple(generator['object_size'])
        if 'num_per_class' in generator:
            generator['num_per_class'] = dict(generator['num_per_class'])
        self.spec = SyntheticWSOLSpec(**generator)
        if split not in self.spec.num_per_class:
            raise ValueError(
                f'split {split!r} is not generated for the {self.spec.task!r} '
                f'task; available: {sorted(self.spec.num_per_class)}')
        ensure_synthetic_wsol(data_root, self.spec)
        kwargs.setdefault('classes', self.spec.classes)
        super().__init__(data_root=data_root, split=split, **kwargs)
