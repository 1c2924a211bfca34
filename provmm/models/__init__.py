import warnings

# mmcv-lite has no compiled ops; mmpretrain's models import mmcv's
# transformer bricks, which warn about one that provmm never uses.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from . import backbones  # noqa: E402,F401
from . import losses  # noqa: E402,F401
from . import heads  # noqa: E402,F401
from . import localization  # noqa: E402,F401
from . import classifiers  # noqa: E402,F401
from . import batch_augments  # noqa: E402,F401
from . import data_preprocessors  # noqa: E402,F401
from . import utils  # noqa: E402,F401
