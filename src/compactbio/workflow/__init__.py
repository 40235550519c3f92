"""The pipeline's job graph, shared by the Snakemake and DVC front ends."""
