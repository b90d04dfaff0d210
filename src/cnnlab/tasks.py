"""The one list of cnnlab's tasks and what each offers; every other place asks here (no imports: the command
line and `import cnnlab` read it before any task).

A task is a room (`cnnlab/TASK/`) with a `train` command and a Python `cnnlab.TASK.train(...)`. Those whose
runs hold a model that predicts on images (PREDICTING) also have `cnnlab export`, `cnnlab.load` and their
predictor in `cnnlab/TASK/predictor.py`."""

TASKS = ("classify", "segment", "localize", "similarity", "generate")
PREDICTING = ("classify", "segment", "localize", "similarity")  # export, cnnlab.load, TASK/predictor.py
