"""The image index that similarity search and the service share: faiss kinds (core), its folder format and
checks (folder, check), edits (edit), filters (filtered), thumbnails (thumbs), match calibration (calibrate),
gallery reading (gallery), embedders (embedders) and building and querying (search). No task logic: the
embedder of a trained run comes from the run's own room, found by the task its folder names."""
