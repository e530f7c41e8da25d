"""The reports layer: one package per report (atlases, explanation, diagnosis), each its
computation and its page, all on one report frame (:mod:`featviz.reports.frame`) and one page kit
(:mod:`featviz.reports.pagekit`). Reports never import each other."""
