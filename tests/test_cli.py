import subprocess
import sys


def test_help_lists_commands_without_heavy_imports():
    code = (
        "import sys, contextlib, io\n"
        "from tuitune import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try: cli.main(['--help'])\n"
        "    except SystemExit: pass\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'textual') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "print(out.getvalue())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in result.stdout
    assert "usage: tuitune" in result.stdout
