"""The thin task scripts: their flags come from their configs' fields."""

import subprocess
import sys
import textwrap

import pytest

SCRIPTS = {
    "ner.py": ["--head_learning_rate", "--train_file", "--freeze_layers"],
    "export_variants.py": [
        "--variants_dir",
        "--target_columns",
        "--label_delimiter",
        "--null_threshold",
    ],
    "multitask.py": ["--rule", "--ner_loss_weight", "--export_dir"],
    "long_documents.py": ["--variants", "--stride", "--max_chunks"],
    "question_answering.py": [
        "--doc_stride",
        "--null_threshold",
        "--max_answer_length",
        "--lora_rank",
    ],
}

# Imports the library once, then forks a real process per script that runs
# it as `examples/SCRIPT --help`, its stdout and stderr going to files.
DRIVER = textwrap.dedent(
    """
    import os
    import runpy
    import sys
    import traceback

    import tftransformer  # noqa: F401

    out_dir, scripts = sys.argv[1], sys.argv[2:]
    for script in scripts:
        pid = os.fork()
        if pid == 0:
            for stream, suffix in ((1, "out"), (2, "err")):
                path = os.path.join(out_dir, f"{script}.{suffix}")
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT), stream)
            sys.argv = [f"examples/{script}", "--help"]
            code = 0
            try:
                runpy.run_path(sys.argv[0], run_name="__main__")
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 0
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        os.waitpid(pid, 0)
    """
)


@pytest.fixture(scope="module")
def help_texts(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("help")
    driver = out_dir / "driver.py"
    driver.write_text(DRIVER)
    completed = subprocess.run(
        [sys.executable, str(driver), str(out_dir), *SCRIPTS],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return {
        script: (
            (out_dir / f"{script}.out").read_text(),
            (out_dir / f"{script}.err").read_text(),
        )
        for script in SCRIPTS
    }


# A real process each (forked after one import of the library): the point
# is what `--help` shows a user.
@pytest.mark.parametrize("script, flags", list(SCRIPTS.items()))
def test_help_lists_the_config_flags(help_texts, script, flags):
    stdout, stderr = help_texts[script]
    assert "Traceback" not in stderr, stderr[-2000:]
    # absl lists the main module's key flags under its path.
    listed = stdout.split(f"examples/{script}:", 1)[-1]
    for flag in flags:
        assert f"  {flag}: " in listed, flag
