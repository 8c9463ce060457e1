"""The scale benchmark: synthetic knowledge files of many entries (generator), measured one per
process (probe). Entry point: `python -m benchmarks.bench_scale`; method: benchmarks/README.md."""
