"""Image classification: train, evaluate, predict, compare, sweep."""
