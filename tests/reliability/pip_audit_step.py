"""`make audit`: pip-audit on the locked dependencies, which here are exactly what the virtual environment holds.

    .venv/bin/python tests/reliability/pip_audit_step.py            # run pip-audit and judge its report
    .venv/bin/python tests/reliability/pip_audit_step.py --report F  # judge a saved `pip-audit -f json` report

The project has no lock file of its own: `pip freeze` of the environment that `make` builds is the lock, and
that is what is audited (`--no-deps --disable-pip`, so pip-audit resolves nothing and installs nothing).

Exit status: 1 when a dependency has a known vulnerability (each is listed with its fix versions); 0 when none
has. When the vulnerability service cannot be reached, or answers for none of the dependencies (as on a
machine that reaches only a package mirror), the step says SKIPPED and why, and exits 0: an audit that could
not look is reported as such, never as a pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SKIPPED, PASSED, FAILED = "SKIPPED", "PASSED", "FAILED"


def judge(report: dict[str, Any]) -> tuple[str, list[str]]:
    """(verdict, lines to print) for a pip-audit JSON report."""
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    lines = []
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            lines.append(f"{dependency['name']} {dependency.get('version', '?')}: {vuln.get('id', '?')} "
                         f"(fixed in {fixes})")
    if vulnerable:
        return FAILED, [f"{len(vulnerable)} of {len(audited)} audited dependencies have known vulnerabilities:",
                        *lines]
    if not audited:
        reason = skipped[0]["skip_reason"] if skipped else "no dependencies found"
        return SKIPPED, [f"the vulnerability service answered for none of the {len(dependencies)} dependencies, "
                         f"so nothing was audited (first reason: {reason})"]
    summary = f"{len(audited)} dependencies audited, no known vulnerabilities"
    if skipped:
        summary += f"; {len(skipped)} could not be audited: " + ", ".join(d["name"] for d in skipped)
    return PASSED, [summary]


def run_pip_audit(python: str) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report on `pip freeze` of this environment, or None and why it could not run."""
    frozen = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True,
                            check=False)
    if frozen.returncode != 0:
        return None, f"pip freeze failed: {frozen.stderr.strip()}"
    with tempfile.TemporaryDirectory() as folder:
        locked = Path(folder) / "requirements.txt"
        locked.write_text(frozen.stdout)
        audit = subprocess.run(
            [python, "-m", "pip_audit", "-r", str(locked), "--no-deps", "--disable-pip", "-f", "json",
             "--progress-spinner", "off", "--timeout", "20"],
            capture_output=True, text=True, check=False, timeout=900,
        )
    try:
        return json.loads(audit.stdout), ""
    except json.JSONDecodeError:
        last = (audit.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"pip-audit could not reach its vulnerability service ({last})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="judge this saved pip-audit JSON report instead of running it")
    args = parser.parse_args(argv)
    if args.report is not None:
        report, problem = json.loads(args.report.read_text()), ""
    else:
        try:
            import pip_audit  # noqa: F401
        except ImportError:
            print("audit FAILED: pip-audit is not installed; `pip install -e '.[dev]'` installs it")
            return 1
        report, problem = run_pip_audit(sys.executable)
    if report is None:
        print(f"audit {SKIPPED}: {problem}")
        return 0
    verdict, lines = judge(report)
    print(f"audit {verdict}: " + "\n  ".join(lines))
    return 1 if verdict == FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
