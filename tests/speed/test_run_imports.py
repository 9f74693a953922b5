"""What ``evals run`` imports before its first call (issue 16): the distillation trainer (and numpy with it)
only when models.yaml has a distilled model, so a run of API or local models starts calling sooner (the
rest is imported beside the calls, ``evals.runner.run.AFTER_THE_CALLS``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import write_project

PROBE = textwrap.dedent("""
    import json, sys
    import evals.runner.run as rr
    seen = {}
    real = rr.plan

    def plan(*args, **kwargs):  # the moment before the first call: what is loaded by then
        seen.update({m: m in sys.modules for m in ("evals.distill", "evals.distill.ensure", "sklearn")})
        return real(*args, **kwargs)

    rr.plan = plan
    from evals.cli.main import main
    status = main(sys.argv[1:])
    print("PROBE " + json.dumps(seen))
    sys.exit(status)
""")


def test_a_run_without_distilled_models_does_not_import_the_trainer(tmp_path):
    root = write_project(tmp_path / "proj").root
    env = {**os.environ, "EVALS_CACHE": str(tmp_path / "cache.sqlite")}
    done = subprocess.run([sys.executable, "-c", PROBE, "run", "--project", str(root), "--limit", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.split("PROBE ", 1)[1])
    assert seen == {"evals.distill": False, "evals.distill.ensure": False, "sklearn": False}
