"""Integer quantization arithmetic shared by the IR, the reference executor and kernel tests."""
