"""The atlas family: a layer's units (``featviz.atlas``), a layer's activation space
(``featviz.activation_atlas``) and a whole model as linked atlases (``featviz.microscope``)."""
