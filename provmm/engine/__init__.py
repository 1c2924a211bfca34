from .checkpoint_safety import register_checkpoint_safe_globals
from .hooks import (NonFiniteLossHook, RandomStateHook,
                    SafeCheckpointLoadingHook)
from .. import visualization  # noqa: F401 (VISUALIZERS' location)

__all__ = [
    'register_checkpoint_safe_globals', 'NonFiniteLossHook',
    'RandomStateHook', 'SafeCheckpointLoadingHook'
]
