"""Task scores (NER, RE, BioASQ) and the paired bootstrap; pure Python/numpy, no torch."""
