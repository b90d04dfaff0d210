"""Look inside a CNN: filters, pooling, a layer's resource accounting, feature maps and Grad-CAM of a run."""
