import numpy as np
import pytest

from tftransformer.data.data_error import DataError
from tftransformer.data.hold_out import hold_out_validation


@pytest.mark.parametrize(
    "count, fraction, held_out", [(2, 0.1, 1), (20, 0.1, 2), (15, 0.5, 8), (7, 0.05, 1)]
)
def test_holds_out_the_rounded_share_sorted_and_disjoint(count, fraction, held_out):
    kept, validation = hold_out_validation(count, fraction, 0, "train.csv")
    assert len(validation) == held_out
    np.testing.assert_array_equal(
        np.sort(np.concatenate([kept, validation])), np.arange(count)
    )
    assert list(kept) == sorted(kept) and list(validation) == sorted(validation)


def test_the_seed_draws_the_held_out_examples():
    draws = {tuple(hold_out_validation(100, 0.1, seed, "x")[1]) for seed in range(5)}
    assert len(draws) == 5
    np.testing.assert_array_equal(
        hold_out_validation(100, 0.1, 3, "x")[1],
        hold_out_validation(100, 0.1, 3, "x")[1],
    )


def test_too_few_examples_or_too_large_a_share_is_refused():
    with pytest.raises(DataError, match="train.jsonl has 1 questions; .* at least 2"):
        hold_out_validation(1, 0.1, 0, "train.jsonl", "questions")
    with pytest.raises(
        DataError, match="validation_fraction=0.9 of the 3 texts of t.txt"
    ):
        hold_out_validation(3, 0.9, 0, "t.txt", "texts")
