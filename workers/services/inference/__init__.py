"""The ``inference`` service: ONNX models from a Triton-layout repository, run with onnxruntime on the
worker server whose capabilities fit the model (CPU or GPU queue)."""
