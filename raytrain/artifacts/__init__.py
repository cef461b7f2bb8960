"""What a run leaves behind and keeps: checkpoints (`checkpoint`), exported PyTorch and ONNX
files (`export`), the versioned model registry (`registry`; on object storage
`remote_registry`), and where files live (`storage`: folders, s3://, gs://)."""

# `ModelRegistry("s3://...")` finds its backend here, whichever module is imported first.
from raytrain.artifacts import remote_registry as _remote_registry  # noqa: F401
