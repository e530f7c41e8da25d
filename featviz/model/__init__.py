"""The model layer: everything that knows a network — loading it (zoo), its input (preprocess), the
layout of each layer's output, the one place that hooks it, the prepared model, and model facts
(block outputs, class names). Imports only the base modules (errors, options, targets, rng, files,
imaging)."""
