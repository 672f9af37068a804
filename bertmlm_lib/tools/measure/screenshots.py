"""Pictures of a real run for the README: the live panel as it stood when pretraining ended, and the
time-lapse at the run's first and last moments, drawn by Debian's chromium from the run's artifacts.

    python -m bertmlm_lib.tools.measure.screenshots --artifacts DIR [--out docs/screenshots]

The HTML is what the lesson shows (`widgets.fill_mask.render_training_panel` under the panel's verdict,
`widgets.time_lapse.render_moment`); `screenshots.json` beside the pictures says which run they show.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from html import escape
from pathlib import Path

from ...errors import ArtifactError

CHROMIUM = os.environ.get("BERTMLM_CHROMIUM", "/usr/bin/chromium")
PAGE = ("<html><head><meta charset='utf-8'></head><body style='font-family:sans-serif;font-size:13px;margin:0'>"
        "<div id='shot' style='display:inline-block;padding:10px;max-width:840px'>{}</div></body></html>")


def _last_run(folder: Path) -> dict:
    from ...artifacts import LOG_FILE

    lines = (folder / LOG_FILE).read_text(encoding="utf-8").strip().splitlines() if (folder / LOG_FILE).is_file() else []
    if not lines:
        raise ArtifactError(f"{folder} holds no finished pretraining run: pretrain first (lesson 05 or `bertmlm pretrain`).")
    return json.loads(lines[-1])


def pages(artifacts) -> tuple[dict[str, str], dict]:
    """The HTML of each picture, by name, and what they show (the run's preset, steps, held-out accuracy)."""
    from ...artifacts import FILL_MASK_LOG
    from ...band import of_history
    from ...checkpoints import checkpoint_folder, read_checkpoint_meta
    from ...config import from_dict
    from ...fill_mask import PROBE_ANSWERS
    from ...pretrain import band_for, frequent_word_accuracy
    from ...vocabularies import load
    from ...widgets.fill_mask import render_training_panel
    from ...widgets.time_lapse import TimeLapse, render_moment

    folder = checkpoint_folder(Path(artifacts))
    run, cfg = _last_run(folder), from_dict(read_checkpoint_meta(folder)["config"])
    history = [json.loads(line) for line in (folder / FILL_MASK_LOG).read_text(encoding="utf-8").splitlines() if line]
    said = of_history(run["history"], band_for(cfg), frequent_word_accuracy(load(artifacts)))
    panel = f"<p><b>Is it normal?</b> {escape(said)}</p>" + render_training_panel(history, list(PROBE_ANSWERS))
    lapse = TimeLapse(artifacts)
    drawn = {"live-panel": panel, "time-lapse-start": render_moment(lapse.at(lapse.steps[0])),
             "time-lapse-end": render_moment(lapse.at(lapse.steps[-1]))}
    shows = {"preset": cfg.preset, "pretrain_minutes": cfg.pretrain_minutes, "steps": run["steps"],
             "heldout_masked_accuracy": run["heldout"]["masked_accuracy"], "verdict": said,
             "moments": lapse.steps}
    return drawn, shows


def shoot(drawn: dict[str, str], out: Path, chromium: str = CHROMIUM) -> list[Path]:
    """Each page as `out/<name>.png`, cut to its content."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 860, "height": 600})
        for name, html in drawn.items():
            page.set_content(PAGE.format(html))
            path = out / f"{name}.png"
            page.locator("#shot").screenshot(path=str(path))
            written.append(path)
        browser.close()
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bertmlm_lib.tools.measure.screenshots", description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", required=True, help="an artifacts folder with a finished pretraining run")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[3] / "docs" / "screenshots"))
    args = parser.parse_args(argv)
    drawn, shows = pages(args.artifacts)
    written = shoot(drawn, Path(args.out))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    record = {"pictures": [path.name for path in written], "run": shows, "commit": commit,
              "taken_at": time.strftime("%Y-%m-%d %H:%M:%S"),
              "how": "python -m bertmlm_lib.tools.measure.screenshots --artifacts <the run's artifacts folder>"}
    (Path(args.out) / "screenshots.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print("\n".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
