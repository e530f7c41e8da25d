"""``featviz.explain``: what each layer of a model sees in one photo, and its report."""
