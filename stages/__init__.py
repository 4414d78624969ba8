"""The DVC stages' entry points. Importing the package pins the CPU floats (``pipeline/cpu.py``) before any
stage imports torch."""

from pipeline.cpu import pin

pin()
