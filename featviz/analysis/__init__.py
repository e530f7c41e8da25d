"""The analysis layer: numbers computed from activations and renders — attribution, NMF, probes,
CKA, unit statistics, quality metrics, natural photos, exemplars, layouts. Imports the render and
model layers, never reports."""
