from .non_finite_loss_hook import NonFiniteLossHook
from .random_state_hook import RandomStateHook
from .safe_checkpoint_loading_hook import SafeCheckpointLoadingHook
from .wsol_visualization_hook import WSOLVisualizationHook

__all__ = ['NonFiniteLossHook', 'RandomStateHook', 'SafeCheckpointLoadingHook',
           'WSOLVisualizationHook']
