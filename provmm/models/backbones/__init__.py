from .vgg16_cam import VGG16CAM  # noqa: F401
from .skeleton_point_net import SkeletonPointNet  # noqa: F401
from .sat_vision_transformer import SATVisionTransformer  # noqa: F401
