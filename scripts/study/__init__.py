"""The study: the paper's claims re-measured on real training runs (`make study`).

An orchestration of the public CLIs (`python -m train`, `python -m analysis report | scaling |
importance | prune`) and the public analysis API (`analysis.stats.noise.run_noise`), not part of
the library: `plan` reads a plan (configs/study/), `runner` trains the unfinished runs,
`measure` runs the analyses, `noise` gathers the noise figures, `figures` and `page` write the
results page (docs/results.md for the full plan).
"""
