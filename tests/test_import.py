import subprocess
import sys

HEAVY = ("anthropic", "openai", "vllm", "llama_cpp", "datasets")


def test_import_evals_pulls_in_no_sdk():
    code = (
        "import sys, evals, evals.cli.main, evals.runner.run, evals.providers, evals.scorers\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
