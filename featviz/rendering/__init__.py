"""The render layer: objectives, image parameterizations, transforms, the step loop
(``featviz.render``), the render cache and the render queue every report submits to. Imports the
model layer and the base modules, never analysis or reports."""
