"""Similar-image search: Siamese pairs, metric-learning embeddings, a faiss index, retrieval metrics, plots."""
