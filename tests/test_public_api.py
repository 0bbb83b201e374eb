"""The examples' import contract names every private module."""

import configparser
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_private_module_is_forbidden_to_the_examples():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    forbidden = set(
        config["importlinter:contract:public-api"]["forbidden_modules"].split()
    )
    private = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "tftransformer").rglob("_*.py")
        if path.name != "__init__.py"
    }
    assert private, "no private module found: is the package where expected?"
    assert private <= forbidden, (
        f"add to setup.cfg's public-api contract: {sorted(private - forbidden)}"
    )
