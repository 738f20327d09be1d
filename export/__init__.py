"""Student export: ONNX, TFLite and Core ML artefacts (fp32 / fp16 / int8) that carry their metadata,
checked against a FLOPs/parameter budget and proven faithful by running them with their own runtimes.

`distill export onnx|tflite|coreml --ckpt RUN/best.pt ...` or `python -m export ...`.
"""
