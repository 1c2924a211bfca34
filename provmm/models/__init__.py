from . import backbones  # noqa: F401
from . import losses  # noqa: F401
from . import classifiers  # noqa: F401
from . import batch_augments  # noqa: F401
from . import data_preprocessors  # noqa: F401
from . import utils  # noqa: F401
