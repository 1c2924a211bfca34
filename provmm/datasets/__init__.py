from .provenance_manifest import ProvenancePair, dump_provenance_manifest, load_provenance_manifest  # noqa: F401,E501
from .alia_import import import_alia_edits, load_training_list  # noqa: F401
from .make_provenance_masks import make_provenance_masks  # noqa: F401
from .wsol_dataset import WSOLDataset  # noqa: F401
from .synthetic_wsol import SyntheticWSOLDataset  # noqa: F401
from .cub_wsol import CUBWSOLDataset  # noqa: F401
from . import transforms  # noqa: F401
from .classification_with_edits import ClassificationWithEditsDataset  # noqa: F401,E501
from .waterbirds import WaterbirdsDataset  # noqa: F401
from .iwildcam import IWildCamDataset  # noqa: F401
from .cub_classification import CUBClassificationDataset  # noqa: F401
from .filter_generated import filter_generated, load_generated_manifest  # noqa: F401,E501
from .synthetic_spurious import SyntheticSpuriousDataset  # noqa: F401
