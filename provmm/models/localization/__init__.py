from .cam import CAM  # noqa: F401
from .grad_cam import GradCAM  # noqa: F401
from .adv_cam import AdvCAM  # noqa: F401
from .sat_map import SpatialAwareTokenMap  # noqa: F401
