"""tftransformer.finetune."""
