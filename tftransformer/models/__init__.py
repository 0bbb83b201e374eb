"""tftransformer.models."""
