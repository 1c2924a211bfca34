"""Checks tools/train.py and tools/test.py run before the Runner writes its
work dir: the datasets the run reads and the checkpoint it loads."""
import os.path as osp
import shutil
import zipfile
from contextlib import contextmanager
from typing import List, Optional, Tuple

from mmengine.registry import DATASETS, DefaultScope

# torch.save writes a zip archive; the legacy format is a plain pickle.
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = b'\x80'


def check_checkpoint_file(path: str, origin: str = '') -> None:
    """Raise if ``path`` is missing, empty, truncated or not a checkpoint.

    torch reports these as a bare ``EOFError`` or zip error without the
    file's name. Paths with a scheme (``https://``, ``torchvision://``) are
    left to mmengine.

    Args:
        path (str): the checkpoint file.
        origin (str): where the path came from, appended to the errors.
    """
    if '://' in path:
        return
    where = f'{path}{origin}'
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint {where} does not exist.')
    if osp.getsize(path) == 0:
        raise RuntimeError(
            f'Checkpoint {where} is empty (0 bytes), as a run killed while '
            'saving leaves it; delete it and use an earlier checkpoint.')
    with open(path, 'rb') as f:
        head = f.read(len(_ZIP_MAGIC))
    if head.startswith(_PICKLE_PROTO):
        return  # torch's legacy (non-zip) format
    if head != _ZIP_MAGIC:
        raise RuntimeError(
            f'{where} is not a checkpoint: torch.save writes a zip archive '
            f'(starting with {_ZIP_MAGIC!r}), this file starts with {head!r}.')
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
    except (zipfile.BadZipFile, EOFError) as err:
        raise RuntimeError(
            f'Checkpoint {where} is truncated or corrupt ({err}), as a run '
            'killed while saving or an interrupted copy leaves it; delete it '
            'and use an earlier checkpoint.') from None
    if bad_member is not None:
        raise RuntimeError(f'Checkpoint {where} is corrupt: its member '
                           f'{bad_member!r} fails the CRC check.')


def checkpoint_to_load(cfg) -> Optional[Tuple[str, str]]:
    """``(path, origin)`` of the checkpoint the Runner will load or resume
    from (``load_from``, or the ``last_checkpoint`` pointer in ``work_dir``
    for ``resume=True`` without ``load_from``), or None."""
    if cfg.get('load_from'):
        return cfg.load_from, ''
    if not cfg.get('resume'):
        return None
    pointer = osp.join(cfg.work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None  # mmengine trains from scratch
    with open(pointer) as f:
        path = f.read().strip()
    if not path:
        raise RuntimeError(f'{pointer} is empty; it should name the '
                           'checkpoint to resume from.')
    return path, f' (named in {pointer})'


def check_datasets(cfg, loaders: List[str]) -> None:
    """Build (and fully initialise) the datasets of ``loaders``, e.g.
    ``['train_dataloader']``, so that missing data raise the dataset's own
    error before the run starts."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        for name in loaders:
            try:
                dataset = DATASETS.build(cfg[name].dataset)
                if hasattr(dataset, 'full_init'):
                    dataset.full_init()  # a lazy_init dataset reads it here
            except Exception as err:
                if hasattr(err, 'add_note'):  # Python >= 3.11
                    err.add_note(f'(building {name}.dataset of '
                                 f'{cfg.filename} before the run)')
                raise


def run_loaders(cfg, mode: str) -> List[str]:
    """The dataloaders a ``'train'`` or ``'test'`` run reads."""
    if mode == 'test':
        return ['test_dataloader']
    loaders = ['train_dataloader']
    if all(cfg.get(key) is not None
           for key in ('val_dataloader', 'val_cfg', 'val_evaluator')):
        loaders.append('val_dataloader')
    return loaders


def check_before_run(cfg, mode: str) -> None:
    """The checkpoint and the datasets of a ``'train'`` or ``'test'`` run."""
    checkpoint = checkpoint_to_load(cfg)
    if checkpoint is not None:
        check_checkpoint_file(*checkpoint)
    check_datasets(cfg, run_loaders(cfg, mode))


@contextmanager
def removing_new_work_dir(work_dir: str):
    """Remove ``work_dir`` if it did not exist and the block raises, so a
    run that fails to start leaves no (nearly) empty work dir behind."""
    existed = osp.exists(work_dir)
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(work_dir, ignore_errors=True)
        raise
