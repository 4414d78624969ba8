"""The DVC stages' entry points. Importing the package pins the CPU floats (``pipeline/run/cpu.py``) before any
stage imports torch."""

from pipeline.run.cpu import pin

pin()
