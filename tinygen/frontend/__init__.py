"""Front ends: model files -> the IR."""
