from .provenance_gradient_loss import ProvenanceGradientLoss  # noqa: F401
