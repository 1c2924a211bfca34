from .provenance_image_classifier import ProvenanceImageClassifier  # noqa: F401
from .wsol_image_classifier import WSOLImageClassifier  # noqa: F401
from .skeleton_point_recognizer import SkeletonPointRecognizer  # noqa: F401
from .sat_classifier import SATClassifier  # noqa: F401
