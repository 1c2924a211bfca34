"""provmm: provenance-based input gradient guidance for OpenMMLab.

``import provmm`` registers every provmm module (its registries are children
of mmpretrain's) and makes mmengine checkpoints loadable under torch >= 2.6.
"""
import warnings

from .utils.mmcv_check import check_mmcv_installed

# mmcv-lite has no compiled ops; mmcv warns about one that provmm never uses.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')

check_mmcv_installed()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .engine.checkpoint_safety import register_checkpoint_safe_globals  # noqa: E402
from .utils.setup_env import register_all_modules  # noqa: E402,F401
from .version import __version__  # noqa: E402,F401

register_checkpoint_safe_globals()
# provmm's registries fall back to mmpretrain's, which hold only the modules
# already imported: import them all so every mmpretrain name resolves.
register_all_modules(init_default_scope=False)

__all__ = ['__version__', 'register_all_modules']
