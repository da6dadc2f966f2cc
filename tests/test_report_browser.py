"""A new user's path, end to end: `evolve init` each template, `check`, a short `run`, `report`, and the
report opened in headless Chromium: every image loads, no script error, no request leaves the file.

The page is checked by a small probe script inserted before the report's own head (so its
Content-Security-Policy does not block the probe) that records image load failures, script
errors and CSP violations into the DOM, which ``--dump-dom`` prints; Chromium's net log
(``--log-net-log``) lists every request, and those the page started (an initiator other than
the browser's own) must all be file: or data: URLs. A control page with a remote image, a
broken image, a stylesheet link and a throwing script proves the probe and the log catch each.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")

PROBE = """<script>
window.__probe = {errors: [], violations: []};
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__probe.errors.push(t && t !== window && t.tagName ? 'resource ' + t.tagName + ' ' + (t.src || t.href || '').slice(0, 80)
                                                              : 'script ' + e.message);
}, true);
document.addEventListener('securitypolicyviolation', function (e) { window.__probe.violations.push(e.violatedDirective + ' ' + e.blockedURI); });
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt || i.src.slice(0, 60); });
  var resources = performance.getEntriesByType('resource').map(function (r) { return r.name.slice(0, 80); })
      .filter(function (n) { return n.indexOf('data:') !== 0; });
  var out = document.createElement('pre'); out.id = 'probe-result';
  out.textContent = JSON.stringify({images: images.length, broken: broken, errors: window.__probe.errors,
                                    violations: window.__probe.violations, resources: resources});
  document.body.appendChild(out);
});
</script>"""

CONTROL = """<!DOCTYPE html><html><head><title>control</title></head><body>
<img alt="remote" src="http://example.invalid/x.png"><img alt="broken" src="data:image/png;base64,AAAA">
<link rel="stylesheet" href="https://cdn.example.invalid/x.css"><script>throw new Error("boom")</script></body></html>"""


def open_in_chromium(page: Path, work: Path) -> tuple[dict, list[str]]:
    """Load ``page`` (with the probe) in headless Chromium; return the probe's record and the page's requests."""
    work.mkdir(parents=True, exist_ok=True)
    probed = work / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    net = work / "net.json"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={work / 'profile'}", f"--log-net-log={net}", "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=5000", "--dump-dom", probed.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe left no record (chromium exit {done.returncode}): {done.stderr[-2000:]}"
    raw = net.read_text().rstrip().rstrip(",")
    log = json.loads(raw if raw.endswith("}") and raw.count("[") == raw.count("]") else raw + "]}")
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    requests = sorted({
        event["params"]["url"] for event in log["events"]
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in event.get("params", {})
        and event["params"].get("initiator") != "not an origin"  # the browser's own (updates, accounts), not the page's
        and not event["params"]["url"].startswith(("file:", "data:"))
    })  # fmt: skip
    return json.loads(html.unescape(found.group(1))), requests


@needs_chromium
def test_the_probe_catches_remote_requests_broken_images_and_script_errors(tmp_path):
    page = tmp_path / "control.html"
    page.write_text(CONTROL)
    record, requests = open_in_chromium(page, tmp_path / "control")
    assert record["broken"] == ["remote", "broken"]
    assert any(e.startswith("script ") and "boom" in e for e in record["errors"])
    assert requests == ["http://example.invalid/x.png", "https://cdn.example.invalid/x.css"]


def evolve(*args, cwd: Path = ROOT, timeout: int = 600):
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)})


def run_dir_of(output: str) -> Path:
    line = next(line for line in output.splitlines() if line.startswith("run directory: "))
    return Path(line.removeprefix("run directory: ").strip())


TEMPLATES = [
    pytest.param("function", 10, id="function"),
    pytest.param("simulator", 6, id="simulator", marks=pytest.mark.slow),
    pytest.param("training", 6, id="training", marks=pytest.mark.slow),
]


@needs_chromium
@pytest.mark.parametrize("template, budget", TEMPLATES)
def test_init_check_run_report_and_open_it(tmp_path, template, budget):
    folder = tmp_path / f"my_{template}"
    made = evolve("init", folder, "--template", template)
    assert made.returncode == 0, made.stderr
    checked = evolve("check", folder, "--json")
    assert checked.returncode == 0, checked.stderr
    verdict = json.loads(checked.stdout)
    assert verdict["valid"] and verdict["findings"] == []
    assert all(row["complete"] for row in verdict["programs"]), verdict["programs"]  # seed and baseline, every split
    ran = evolve("run", folder, "--budget", budget, "--seed", 1, "--out", tmp_path / "runs", "--plain")
    assert ran.returncode == 0, ran.stderr
    run_dir = run_dir_of(ran.stdout)
    assert f"evolve report {run_dir}" in ran.stdout  # the run ends by saying what to do next
    reported = evolve("report", run_dir, "--json")
    assert reported.returncode == 0, reported.stderr
    summary = json.loads(reported.stdout)
    page = Path(summary["report"])
    assert page == run_dir / "report.html" and summary["baselines"].startswith("stored")  # scored when the run ended
    text = page.read_text()
    assert "<script" not in text and "Content-Security-Policy" in text
    links = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", text)
    assert links and all(link.startswith(("data:image/png;base64,", "#")) for link in links)  # data: images, in-page links
    record, requests = open_in_chromium(page, tmp_path / "chromium")
    expected_images = 4 if template == "training" else 3  # best over time, archive, outcomes (+ holdout)
    assert record["images"] == expected_images and record["broken"] == []
    assert record["errors"] == [] and record["violations"] == [] and record["resources"] == []
    assert requests == []
