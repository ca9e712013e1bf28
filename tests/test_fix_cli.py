"""``tuitune fix`` mistakes a user can make are one sentence on stderr, exit 2, and queue nothing."""

from __future__ import annotations

import pytest

from tuitune.cli import main


@pytest.mark.parametrize(("argv", "said"), [
    (["--prompts", "{tmp}/missing.txt"], "The prompts file {tmp}/missing.txt does not exist"),
    (["a red circle", "--beta", "-1"], "The fix setting 'beta' is invalid: Input should be greater than or equal to 0"),
    (["a red circle", "--k", "0"], "The fix setting 'k' is invalid"),
    (["a red circle", "--k", "12", "--sampler-steps", "10"], "k (12) cannot exceed sampler_steps (10)"),
    (["a red circle", "--mask", "circle"], "mask 'circle' is not reward, gradcam"),
    (["a red circle", "--reward", "clip"], "Unknown reward 'clip'; use toyworld-critic"),
    ([], "No prompts given; pass them as arguments or with --prompts FILE."),
    (["--prompts", "{tmp}/empty.txt"], "holds no prompt"),
])
def test_a_fix_option_a_user_gets_wrong_is_one_sentence(argv, said, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("# only a comment\n\n", encoding="utf-8")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(["fix", *argv, "--runs", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("tuitune: ") and said.replace("{tmp}", str(tmp_path)) in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing was queued


def test_a_prompts_file_and_the_options_make_the_fix_table(tmp_path):
    import argparse

    from tuitune.cli import build_parser
    from tuitune.cli.fix import fix_table

    (tmp_path / "prompts.txt").write_text("a red circle, with a watermark\n# skipped\n\na blue ring\n", encoding="utf-8")
    args = build_parser().parse_args(["fix", "--prompts", str(tmp_path / "prompts.txt"), "--beta", "0",
                                      "--seed", "3", "--eval-seed", "9", "--grad-checkpointing"])
    assert isinstance(args, argparse.Namespace)
    table = fix_table(args)
    assert table["prompts"] == ["a red circle, with a watermark", "a blue ring"]
    assert (table["beta"], table["seeds"], table["eval_seeds"], table["grad_checkpointing"]) == (0.0, [3], [9], True)
