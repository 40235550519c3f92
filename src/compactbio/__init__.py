"""compactbio: distil, continually pre-train and evaluate compact biomedical BERTs."""

__version__ = "0.1.0"
