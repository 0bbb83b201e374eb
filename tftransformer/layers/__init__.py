"""tftransformer.layers."""
