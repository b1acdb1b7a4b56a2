"""hmipv6ct report --allure: the Allure HTML is built with the allure npm package when it is installed (bootstrap.sh
installs it), and the command says how to get it when it is not."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from harness import cli
from harness.report import allure


def _allure_results(run_dir: Path) -> None:
    results = run_dir / "map" / "allure-results"
    results.mkdir(parents=True)
    result = {"uuid": str(uuid.uuid4()), "name": "HMIP-MAP-T-PASS title", "status": "passed", "start": 1, "stop": 2,
              "fullName": "conformance.suite.test_x#test_0", "historyId": "h1",
              "labels": [{"name": "story", "value": "REQ-MUST-PASS"}, {"name": "tag", "value": "PASS"}],
              "links": [{"type": "link", "url": "https://www.rfc-editor.org/rfc/rfc4140#section-6.1", "name": "x"}]}
    (results / f"{result['uuid']}-result.json").write_text(json.dumps(result))


def test_allure_html_is_built_when_the_package_is_installed(sample_run: Path) -> None:
    if allure.command() is None:
        pytest.fail(f"allure is not installed here ({allure.INSTALL_HINT}); bootstrap.sh installs it")
    _allure_results(sample_run)
    assert cli.main(["report", str(sample_run), "--no-charts", "--allure"]) == 0
    assert (sample_run / allure.OUTPUT / "index.html").is_file()


def test_without_the_package_the_command_says_how_to_get_it(sample_run: Path, monkeypatch, capsys) -> None:
    _allure_results(sample_run)
    monkeypatch.setattr(allure.shutil, "which", lambda name: None)  # neither allure nor npx on the PATH
    assert cli.main(["report", str(sample_run), "--no-charts", "--allure"]) == allure.NOT_AVAILABLE
    err = capsys.readouterr().err
    assert "npm install -g allure" in err and str(sample_run / "map" / "allure-results") in err
    assert not (sample_run / allure.OUTPUT).exists()


def test_a_run_without_allure_results_is_told_so(sample_run: Path, capsys) -> None:
    assert cli.main(["report", str(sample_run), "--no-charts", "--allure"]) == 1
    assert "has no allure-results" in capsys.readouterr().err
