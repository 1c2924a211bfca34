from .group_accuracy import GroupAccuracy  # noqa: F401
from .wsol_metric import WSOLMetric  # noqa: F401
