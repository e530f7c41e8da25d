"""``featviz.concepts``: a layer's concept dictionary learned from a photo folder, its concepts
ranked for a class, each shown with its render and exemplars, and its page."""
