"""Export: PyTorch -> ONNX -> full-integer int8 TFLite, with parity and accuracy checks.

`onnx_export` writes and checks the ONNX file, `tflite_export` runs onnx2tf (in a
subprocess, so TensorFlow never loads into the caller), `runtimes` runs the int8 model on
LiteRT and TFLite Micro, `pipeline` ties the steps together for the CLI.
"""
