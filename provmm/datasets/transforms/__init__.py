from .load_provenance_mask import LoadProvenanceMask, read_provenance_mask  # noqa: F401,E501
from .pack_provenance_inputs import PackProvenanceInputs  # noqa: F401
from .provenance_geometry import (ProvenanceCenterCrop,  # noqa: F401
                                  ProvenanceFixedCrop, ProvenanceRandomCrop,
                                  ProvenanceRandomFlip,
                                  ProvenanceRandomResizedCrop,
                                  ProvenanceResize, ProvenanceResizeEdge)
from .load_generated_counterpart import LoadGeneratedCounterpart  # noqa: F401,E501
from .pose_transforms import (NormalizeKeypoints,  # noqa: F401
                              PackSkeletonInputs, SampleClip,
                              SelectTopPersons)
