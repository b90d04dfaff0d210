"""The search service: a FastAPI app over an index folder, and its web page."""
