"""Localize and detect objects: class + box heads on a backbone, a grid detector, box metrics."""
