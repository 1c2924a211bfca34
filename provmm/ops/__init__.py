"""Generic autograd operators, independent of provenance and OpenMMLab:
cheap double backprop (``double_backward``) and batch norm with detached
batch statistics (``detached_batch_norm``)."""
