"""The rendered page in a real headless browser (Debian's chromium + chromedriver, driven by selenium),
opened from file:// as a user would: no console errors, sorting, the zero-shot filter, the chart, and
a model named `<script>alert(1)</script>` shown as text with no script run; every score with its 95% interval,
whether each rank is distinguishable from the next, and older benchmark versions listed apart as history."""

from __future__ import annotations

import re
import shutil
import tempfile

import pytest
from lb_helpers import FINGERPRINT, make_spec, random_scores, write_results
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from ugbench.leaderboard import load_leaderboard, render, submit
from ugbench.leaderboard.render import page_data

EVIL = "<script>alert(1)</script>"
EVIL_IMG = '<img src=x onerror="window.__pwned=1">'


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("the leaderboard page is tested in Debian's chromium: `apt-get install -y chromium "
                    "chromium-driver` (scripts/test.sh does this when run as root)")
    return chromium, driver


@pytest.fixture(scope="module")
def driver():
    chromium, chromedriver = _browser_paths()
    profile = tempfile.mkdtemp(prefix="ugbench-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lbpage")
    lb = tmp / "ugbench.json"
    old_spec = make_spec(tmp / "ugbench.benchmark.json", version="0.9")  # an older version: its entry is history
    write_results(tmp / "old", old_spec, "ancient", random_scores(299))
    submit(tmp / "old", lb)
    spec = make_spec(tmp / "ugbench.benchmark.json")
    models = {"alpha": True, "beta": False, EVIL: True, EVIL_IMG: True, "gamma": False}
    for i, (name, zero_shot) in enumerate(models.items()):
        training = {} if zero_shot else {FINGERPRINT: ["train"]}
        write_results(tmp / "res", spec, name, random_scores(300 + i), training_datasets=training,
                      revision=f"r{i}", ci=None if name == "gamma" else 0.02 + 0.01 * i)  # gamma: 1.0 results
    partial = random_scores(400)
    partial.pop(spec.tasks[-1].name)
    write_results(tmp / "res", spec, "partial-one", partial)
    submit(tmp / "res", lb, partial=True)
    board = load_leaderboard(lb)
    _, html_path = render(board, tmp / "site")
    return html_path, board


def _open(driver, html_path):
    driver.get(html_path.as_uri())
    driver.get_log("browser")  # drain; the test reads what this load logs
    driver.refresh()
    assert driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")


def _names(driver) -> list[str]:
    return [el.text for el in driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr .model-name")]


def _click_header(driver, key: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#leaderboard th.col[data-key="{key}"] button').click()


def test_page_loads_without_console_errors_and_escapes_names(driver, page):
    html_path, board = page
    _open(driver, html_path)
    logs = driver.get_log("browser")
    assert [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")] == [], logs
    names = _names(driver)
    assert sorted(names) == sorted(e.model.name for e in board.current_entries())
    assert EVIL in names and EVIL_IMG in names  # shown as text, verbatim
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - reading it raises when no alert is open
    assert driver.execute_script("return window.__pwned === undefined && !document.querySelector('tbody img')")
    assert driver.title == f"{board.benchmark.name} {board.benchmark.version} leaderboard"


def test_header_click_sorts_rows(driver, page):
    html_path, board = page
    _open(driver, html_path)
    by_name = {e.model.name: e for e in board.current_entries()}
    complete = [e for e in board.current_entries() if not e.partial]
    _click_header(driver, "mean_over_tasks")  # first click on a score: best first
    got = _names(driver)
    want = [e.model.name for e in sorted(complete, key=lambda e: -e.aggregates.mean_over_tasks)]
    assert got[: len(want)] == want and by_name[got[-1]].partial  # no mean: listed last
    _click_header(driver, "mean_over_tasks")  # second click: ascending
    assert _names(driver)[: len(want)] == want[::-1]
    task = board.benchmark.tasks[0].name
    _click_header(driver, f"task:{task}")
    want = [e.model.name for e in sorted(board.current_entries(), key=lambda e: -e.scores[task].value)]
    assert _names(driver) == want
    th = driver.find_element(By.CSS_SELECTOR, f'#leaderboard th.col[data-key="task:{task}"]')
    assert th.get_attribute("aria-sort") == "descending"


def test_zero_shot_filter_and_chart(driver, page):
    html_path, board = page
    _open(driver, html_path)
    n_fams_with_value = {e.model.name: sum(v is not None for v in e.aggregates.per_family.values())
                         for e in board.current_entries()}
    bars = driver.find_elements(By.CSS_SELECTOR, "#chart svg rect.bar")
    assert len(bars) == sum(n_fams_with_value.values())
    group_headers = [el.text for el in driver.find_elements(By.CSS_SELECTOR, "#leaderboard th.group")]
    assert all(f in group_headers for f in board.benchmark.families)
    driver.find_element(By.ID, "zero-shot-only").click()
    shown = _names(driver)
    assert sorted(shown) == sorted(e.model.name for e in board.current_entries() if e.zero_shot)
    assert len(shown) < len(board.current_entries())
    bars = driver.find_elements(By.CSS_SELECTOR, "#chart svg rect.bar")
    assert len(bars) == sum(n_fams_with_value[n] for n in shown)
    legend = [el.text for el in driver.find_elements(By.CSS_SELECTOR, "#chart svg text.legend")]
    assert any(t.startswith(EVIL) for t in legend)
    driver.find_element(By.ID, "zero-shot-only").click()
    assert len(_names(driver)) == len(board.current_entries())
    assert driver.get_log("browser") == []


def test_scores_show_intervals_ranks_show_distinguishability_and_history_is_apart(driver, page):
    html_path, board = page
    _open(driver, html_path)
    data = page_data(board)
    want_ci = 0
    for e in data["entries"]:
        iv = e["intervals"]
        want_ci += sum(s["ci95"] is not None for s in e["scores"].values())
        want_ci += sum(iv["per_family"][f] is not None and e["per_family"][f] is not None for f in iv["per_family"])
        want_ci += sum(iv[k] is not None and e[k] is not None for k in ("mean_over_tasks", "mean_over_families"))
    spans = driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody td span.ci")
    assert want_ci > 0 and len(spans) == want_ci
    assert all(re.fullmatch(r"±\d+\.\d\d", sp.text) for sp in spans)
    assert all(re.fullmatch(r"95% interval \[\d+\.\d\d, \d+\.\d\d\]", sp.get_attribute("title")) for sp in spans)
    # a rank is compared with the next one (interval overlap: no per-query values were given to render)
    judged = [e for e in data["entries"] if e["vs_next"] and e["vs_next"]["distinguishable"] is not None]
    marks = driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody td span.sep")
    assert judged and len(marks) == len(judged)
    assert {m.text for m in marks} <= {"\u2260 yes", "\u2248 no"}
    assert all("method: whether the two means' 95% intervals overlap" in m.get_attribute("title") for m in marks)
    assert "overlap" in driver.find_element(By.ID, "method-note").text
    # the older version's entry: in the history table, marked, not ranked in the main table
    assert "ancient" not in _names(driver)
    section = driver.find_element(By.ID, "history-section")
    assert section.is_displayed()
    hist = [el.text for el in driver.find_elements(By.CSS_SELECTOR, "#history tbody .history-model")]
    assert hist == ["ancient"]
    assert "history" in driver.find_element(By.CSS_SELECTOR, "#history tbody tr").text
    assert "0.9" in driver.find_element(By.CSS_SELECTOR, "#history tbody tr td").text
    assert driver.find_elements(By.CSS_SELECTOR, "#chart svg line.err")  # family means' intervals as error bars
    assert driver.get_log("browser") == []
