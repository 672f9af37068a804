"""The run report's pictures and its one-page summary (`report.md`), from `report.json` and the stage records.

`bertmlm run` writes it in a child process (`pipeline._report`): its plots import the stages' modules.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402

from .. import band, evaluate, pretrain  # noqa: E402
from ..fill_mask import PROBE_ANSWERS  # noqa: E402
from .. import vocabularies  # noqa: E402
from ..config import from_dict  # noqa: E402
from ..experiments import label_efficiency  # noqa: E402
from ..widgets.fill_mask import plot_expected_word  # noqa: E402

PLOTS = {"training_curves": "training_curves.png", "fill_mask": "fill_mask_over_time.png",
         "label_efficiency": "label_efficiency.png", "confusion": "confusion_matrix.png"}


def write(folder: Path, report: dict, summaries: dict) -> Path:
    """Draw the four plots into `folder` and write `report.md` beside `report.json`."""
    pre = summaries["pretrain"]
    vectorizer = vocabularies.load(folder)
    references = pretrain.reference_levels(vectorizer)
    reference_band = pretrain.band_for(from_dict(report["config"]))
    said = band.of_history(pre["history"], reference_band, pretrain.frequent_word_accuracy(vectorizer))
    drawings = {
        "training_curves": lambda: pretrain.plot_curves(pre["history"], phases=pre["mlm"].get("phases"),
                                                        references=references, band=reference_band)[0].figure,
        "fill_mask": lambda: plot_expected_word(pre["fill_mask_history"], list(PROBE_ANSWERS),
                                                plt.subplots(figsize=(6, 3))[1]).figure,
        "label_efficiency": lambda: label_efficiency.plot(report["label_efficiency"]).figure,
        "confusion": lambda: evaluate.plot_confusion(report["classifier"]["confusion"]).figure,
    }
    for name, draw in drawings.items():
        figure = draw()
        figure.savefig(folder / PLOTS[name], dpi=100, bbox_inches="tight")
        plt.close(figure)
    path = folder / "report.md"
    path.write_text(markdown(report, said), encoding="utf-8")
    return path


def _mean_and_spread(row: dict, arm: str) -> str:
    """One cell of the label-efficiency table: the mean, and its spread over seeds if there are several."""
    spread = row.get(f"{arm}_std") if len(row.get(f"{arm}_runs", [])) > 1 else None
    return f"{row[arm]:.3f}" + (f" +- {spread:.3f}" if spread is not None else "")


def markdown(report: dict, verdict: str = "") -> str:
    """The one-page summary of a run; `verdict`: where its pretraining stands against the reference band."""
    t, mlm, clf = report["timings_s"], report["mlm"], report["classifier"]
    arms = [arm for arm in label_efficiency.ARMS if all(arm in row for row in report["label_efficiency"])]
    rows = "\n".join(f"| {row['labels']:,} | " + " | ".join(_mean_and_spread(row, arm) for arm in arms) + " |"
                     for row in report["label_efficiency"])
    protocol = report.get("label_efficiency_protocol") or {}
    seeds = protocol.get("seeds", 1)
    how = (f"every encoder arm reads {protocol['classifier_length']} tokens and takes the same steps: "
           f"{protocol['epochs']} epochs, the first {protocol['frozen_epochs']} with the encoder frozen, no early "
           f"stopping, each rate of {', '.join(f'{r:g}' for r in protocol['rates'])} tried and the best on validation "
           f"kept; " + (f"{seeds} seeds, mean +- standard deviation" if seeds > 1
                        else "one seed, so no spread: read a single point with care")
           ) if protocol else "each arm picked its learning rate on validation"
    probe = report["fill_mask_probe"][0] if report["fill_mask_probe"] else {"text": "", "top": []}
    skipped = f" (reused: {', '.join(report['skipped'])})" if report["skipped"] else ""
    of_stage = report.get("peak_rss_mb_of_stage") or {}
    peaks = (f" (each stage in its own process, peak MB: {', '.join(f'{k} {v:,.0f}' for k, v in of_stage.items())}; "
             f"plus {report.get('peak_rss_mb_scheduler', 0):,.0f} MB for `bertmlm run` itself)") if of_stage else ""
    at_steps = mlm.get("masked_accuracy_at_step") or {}
    milestones = ("; at fixed steps, what a slower laptop would reach in the same budget: "
                  + ", ".join(f"{a:.1%} at step {int(s):,}" for s, a in at_steps.items())) if at_steps else ""
    zero = report.get("zero_shot") or {}
    if "test_accuracy" in zero:
        question = zero["template"].replace("{review}", "<review>")
        asked = (f'\n**Zero-shot, no labels** (the pretrained MLM asked "{question}", good words against bad; '
                 f"calibrated on {zero['calibration']}): test accuracy {zero['test_accuracy']:.3f} on "
                 f"{zero['test_reviews']:,} test reviews.\n")
    else:
        asked = f"\n**Zero-shot, no labels**: not asked ({zero['skipped']}).\n" if zero else ""
    return f"""# bertmlm run: preset `{report['preset']}`

Finished {report['finished_at']} on {report['machine']['cpus']} CPUs; peak memory {report['peak_rss_mb']:,.0f} MB{peaks}.

| stage | data | vectorize | pretrain | finetune | evaluate | total |
|---|---|---|---|---|---|---|
| seconds{skipped} | {t['data']} | {t['vectorize']} | {t['pretrain']} | {t['finetune']} | {t['evaluate']} | {t['total']} |

**Pretraining**: held-out masked accuracy {mlm['masked_accuracy']:.1%}, perplexity {mlm['perplexity']:.1f}
({mlm['steps']:,} steps{milestones}). "{probe['text']}" -> {', '.join(probe['top'])}.
{f"Is it normal? {verdict}" if verdict else ""}

**Classifier** (reads up to {report['config']['max_length'] * report['config'].get('classifier_windows', 1)} tokens;
chosen on validation, scored once on {clf['test_reviews']:,} test reviews): test accuracy
{clf['test_accuracy']:.4f}, ROC AUC {clf['auc']:.4f}, validation accuracy {clf['val_accuracy']:.4f}.
TF-IDF + logistic regression with the same labels: {report['baselines']['tfidf_lr']:.4f}.

**Label efficiency** (test accuracy on {f"{report['label_efficiency_test_reviews']:,}" if report.get('label_efficiency_test_reviews') else 'the'} test reviews; {how}):

| labels | {' | '.join(label_efficiency.ARMS[arm] for arm in arms)} |
|---|{'---|' * len(arms)}
{rows}
{asked}
![training curves]({PLOTS['training_curves']})
![fill-mask over time]({PLOTS['fill_mask']})
![label efficiency]({PLOTS['label_efficiency']})
![confusion matrix]({PLOTS['confusion']})
"""
