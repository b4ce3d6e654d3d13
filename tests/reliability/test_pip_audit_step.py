"""The `make audit` step judges pip-audit's report: vulnerabilities fail it, an audit that could not look skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.pip_audit_step import main


def judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dependencies: list[dict[str, object]]
) -> tuple[int, str]:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": dependencies, "fixes": []}))
    code = main(["--report", str(report)])
    return code, capsys.readouterr().out


def test_a_known_vulnerability_fails_the_step_and_names_the_fix(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out = judged(tmp_path, capsys, [
        {"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}]},
        {"name": "numpy", "version": "2.1.0", "vulns": []},
    ])
    assert code == 1
    assert out.startswith("audit FAILED: 1 of 2 audited dependencies have known vulnerabilities")
    assert "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in out


def test_no_vulnerability_passes_and_says_what_could_not_be_audited(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out = judged(tmp_path, capsys, [
        {"name": "numpy", "version": "2.1.0", "vulns": []},
        {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ])
    assert code == 0
    assert out.strip() == "audit PASSED: 1 dependencies audited, no known vulnerabilities; 1 could not be audited: " \
                          "private-pkg"


def test_an_audit_that_reached_nothing_is_skipped_not_passed(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out = judged(tmp_path, capsys, [
        {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} (1.0)"}
        for name in ("numpy", "scipy")
    ])
    assert code == 0
    assert out.startswith("audit SKIPPED: the vulnerability service answered for none of the 2 dependencies")
