"""The chain-independent core of compute-to-data: packages, sandbox, built-ins, results.

Kept import-light on purpose: the sandbox launcher imports `insitu.compute.reasons` in every
job process before confinement.
"""
