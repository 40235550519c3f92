"""Task scores (NER through seqeval, RE, BioASQ) and the paired bootstrap, as pure functions
(no torch); :mod:`compactbio.metrics.modules` ships the same scores as ``evaluate`` modules."""
