"""The quantization accuracy report (report.py, plots.py) and the phone-app bundles (bundle.py, snippets.py)."""
