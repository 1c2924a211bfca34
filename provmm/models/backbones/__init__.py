from .vgg16_cam import VGG16CAM  # noqa: F401
