"""Generic autograd operators, independent of provenance and OpenMMLab."""
