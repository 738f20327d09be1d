"""Student export to ONNX, TFLite and Core ML (issue 5). Nothing is exported yet: this package only
reserves the `python -m export` namespace."""
