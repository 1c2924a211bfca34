"""Let mmengine checkpoints load under ``torch.load(weights_only=True)``.

torch >= 2.6 unpickles checkpoints with an allow-list. mmengine 0.10.7 stores
its ``MessageHub`` in ``meta``: ``HistoryBuffer`` objects holding numpy arrays
and a dict of their statistics methods, pickled as
``getattr(HistoryBuffer, 'min')``. Rather than disabling ``weights_only`` or
allow-listing ``builtins.getattr`` (which would let a checkpoint reach any
attribute of any allowed object), provmm allow-lists exactly the classes an
mmengine checkpoint contains and maps the pickled ``builtins.getattr`` to a
function that only resolves HistoryBuffer's statistics methods. Anything else
is still refused by torch's unpickler.

On torch < 2.6 ``torch.load`` unpickles anything by default, so
:func:`register_checkpoint_safe_globals` refuses to run there.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.utils import digit_version

# The first torch whose torch.load defaults to weights_only=True.
MIN_TORCH_VERSION = '2.6.0'

# Statistics methods a HistoryBuffer pickles (mmengine registers these four).
_HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_getattr(obj, name):
    """Stand-in for ``builtins.getattr`` during checkpoint loading.

    Resolves only ``HistoryBuffer.{min,max,current,mean}``; any other lookup
    means the checkpoint was not written by mmengine and is refused.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'only HistoryBuffer statistics methods may be resolved. Load it with '
        'torch.load(weights_only=False) only if you trust its source.')


def _numpy_globals():
    core = getattr(np, '_core', None) or np.core
    safe = [np.ndarray, np.dtype, core.multiarray._reconstruct,
            core.multiarray.scalar]
    # numpy >= 1.25 pickles dtypes by their class (numpy.dtypes.Float64DType).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType')
        ]
    # Checkpoints written with numpy 1.x name the old module path.
    safe.append((core.multiarray._reconstruct,
                 'numpy.core.multiarray._reconstruct'))
    safe.append((core.multiarray.scalar, 'numpy.core.multiarray.scalar'))
    return safe


def register_checkpoint_safe_globals() -> None:
    """Allow-list the globals of mmengine checkpoints for ``weights_only``.

    Raises:
        RuntimeError: on torch < 2.6, where mmengine's ``torch.load`` calls
            would unpickle arbitrary objects (``weights_only=False``).
    """
    if digit_version(torch.__version__) < digit_version(MIN_TORCH_VERSION):
        raise RuntimeError(
            f'provmm needs torch>={MIN_TORCH_VERSION} to load checkpoints '
            f'safely; found torch {torch.__version__}, whose torch.load '
            'defaults to weights_only=False and would run any pickled code '
            'in a checkpoint. Upgrade: pip install '
            f'"torch>={MIN_TORCH_VERSION}"')
    torch.serialization.add_safe_globals([
        HistoryBuffer,
        (history_buffer_getattr, 'builtins.getattr'),
        *_numpy_globals(),
    ])
