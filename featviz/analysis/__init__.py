"""The analysis layer: numbers computed from activations and renders — attribution and its
faithfulness (deletion / insertion), NMF, probes, CKA, unit statistics, quality metrics, natural
photos, exemplars, layouts. Imports the render and model layers, never reports."""
