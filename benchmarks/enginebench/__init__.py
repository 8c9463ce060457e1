"""The engine benchmark's parts: synthetic (a 10,000-phrasing file with the shipped ids),
difflib_matcher (the baseline), runner (timing `Engine.decide`), report. Entry point:
`python -m benchmarks.bench_engine`; method: benchmarks/README.md."""
