"""Fitting the models that ship with qa/: the answer ranker, abstention and confidence models
(``qa/calibration.toml``), and the held-out ways of judging such a fit (cross-validation,
fact-held-out). Fitted on the dev split only."""
