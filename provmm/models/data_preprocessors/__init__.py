from .provenance_mix_batch_augment import ProvenanceMixBatchAugment  # noqa: F401
from .diffcore_mix_preprocessor import DiffCoReMixPreprocessor  # noqa: F401,E501
from .skeleton_data_preprocessor import SkeletonDataPreprocessor  # noqa: F401,E501
