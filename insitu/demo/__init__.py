"""The end-to-end demos that `insitu demo` runs against the local stack."""
