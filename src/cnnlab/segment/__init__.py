"""Semantic segmentation: a U-Net on a pretrained encoder, mask data, metrics, prediction overlays."""
