from .group_accuracy import GroupAccuracy  # noqa: F401
from .stal_ap import FrameAP, VideoAP  # noqa: F401
from .wsol_metric import WSOLMetric  # noqa: F401
