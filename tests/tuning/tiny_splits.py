"""Small sentiment splits shared by the tuning tests."""

from tftransformer.datasets import load_rotten_tomatoes


def tiny_splits(num_train=24, num_validation=16):
    """Small seeded subsets of the embedded sentiment train and validation splits."""
    return (
        load_rotten_tomatoes("train").sample(num_train, 0),
        load_rotten_tomatoes("validation").sample(num_validation, 0),
    )
