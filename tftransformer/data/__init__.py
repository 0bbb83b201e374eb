"""tftransformer.data."""
