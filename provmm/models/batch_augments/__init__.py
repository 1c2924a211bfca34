from .provenance_cutmix import ProvenanceCutMix  # noqa: F401
from .provenance_resizemix import ProvenanceResizeMix  # noqa: F401
from .diffcore_mix import DiffCoReMix  # noqa: F401
from .skeleton_batchmix import SkeletonBatchMix  # noqa: F401
from .provenance_puzzlemix import (ProvenancePuzzleMix,  # noqa: F401
                                   PuzzleMixSaliencyHook)
