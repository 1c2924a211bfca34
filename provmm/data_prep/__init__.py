"""Offline data preparation: provenance masks from edits, the ALIA importer,
filtering of generated images. Run by ``tools/``, never during training."""
