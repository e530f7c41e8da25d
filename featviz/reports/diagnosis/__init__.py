"""``featviz.diagnose``: the health of a model's layers over a set of images, and its report."""
