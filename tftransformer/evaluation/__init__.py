"""tftransformer.evaluation."""
