"""What a run leaves behind and keeps: checkpoints (`checkpoint`), exported PyTorch and ONNX
files (`export`), and the versioned model registry (`registry`)."""
