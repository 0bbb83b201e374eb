"""The seeded subsets a config's `max_train_examples` / `max_eval_examples` ask for."""


def sample_splits(config, train, validation, test):
    """Returns `(train, validation, test)` cut to the config's subset sizes.

    `train` keeps a seeded subset of `config.max_train_examples` examples,
    the validation and test splits one of `config.max_eval_examples` each
    (configs without that field evaluate on whole splits). `None` keeps a
    split whole. The splits are any data objects with `sample(n, seed)`.
    """
    if config.max_train_examples is not None:
        train = train.sample(config.max_train_examples, config.seed)
    max_eval_examples = getattr(config, "max_eval_examples", None)
    if max_eval_examples is not None:
        validation = validation.sample(max_eval_examples, config.seed)
        test = test.sample(max_eval_examples, config.seed)
    return train, validation, test
