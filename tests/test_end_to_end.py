"""The end-to-end model takes raw strings, saves to one .keras file and reloads in a fresh process."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bertmlm_lib import config, end_to_end, finetune
from bertmlm_lib.classifier import build_classifier
from bertmlm_lib.errors import ArtifactError, TextError
from bertmlm_lib.model import build_encoder
from bertmlm_lib.vectorize import build_vectorizer

TEXTS = ["A wonderful film, truly great!", "Awful. The worst movie ever.", "great " * 500, "Café 🎬 <br /> ok"]


@pytest.fixture(scope="module")
def model():
    cfg = config.load("smoke", vocab_size=40, max_length=16, embed_dim=16, num_heads=2, ff_dim=32)
    vectorizer = build_vectorizer(["a wonderful film truly great awful the worst movie ever ok"] * 3, 40, 16)
    encoder = build_encoder(cfg, vectorizer.vocabulary_size)
    classifier = build_classifier(encoder, windows=2)
    # trained briefly, so the saved file carries what fine-tuning leaves (an optimizer with its schedule)
    ids = vectorizer.encode(["a wonderful film", "the worst movie ever"] * 8, length=32)
    finetune.finetune(classifier, (ids, np.array([1, 0] * 8)), (ids[:4], np.array([1, 0] * 2)),
                      cfg.replace(batch_size=4, frozen_steps=2), finetune.Recipe(frozen_epochs=1, unfrozen_epochs=1))
    return end_to_end.build_end_to_end_model(vectorizer, classifier)


def test_raw_strings_in_probabilities_out(model):
    probabilities = end_to_end.predict(model, TEXTS)
    assert probabilities.shape == (4,) and ((probabilities >= 0) & (probabilities <= 1)).all()
    assert np.isclose(end_to_end.predict(model, TEXTS[2])[0], probabilities[2])  # long text cut, not refused


@pytest.mark.parametrize("bad", [[], [""], ["   "], ["fine", "\n\t"]])
def test_empty_text_is_refused(model, bad):
    with pytest.raises(TextError):
        end_to_end.predict(model, bad)


def test_save_and_reload_in_a_fresh_process(model, tmp_path):
    path = end_to_end.save(model, tmp_path / "sentiment.keras")
    expected = end_to_end.predict(model, TEXTS).tolist()
    script = ("import json, sys; from bertmlm_lib import end_to_end; "
              "m = end_to_end.load(sys.argv[1]); print(json.dumps(end_to_end.predict(m, json.loads(sys.argv[2])).tolist()))")
    done = subprocess.run([sys.executable, "-c", script, str(path), json.dumps(TEXTS)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert np.allclose(json.loads(done.stdout.strip().splitlines()[-1]), expected, atol=1e-6)


def test_missing_or_damaged_model_is_a_clear_error(model, tmp_path):
    with pytest.raises(ArtifactError, match="no end-to-end model"):
        end_to_end.load(tmp_path / "none.keras")
    path = end_to_end.save(model, tmp_path / "m.keras")
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ArtifactError, match="cannot be read"):
        end_to_end.load(path)


def test_a_keras_file_from_another_format_version_is_a_clear_error(model, tmp_path):
    """A `.keras` zip whose config names layers this version does not have (as a future release would)."""
    import zipfile

    path = end_to_end.save(model, tmp_path / "m.keras")
    future = tmp_path / "future.keras"
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(future, "w") as new:
        for item in old.infolist():
            payload = old.read(item.filename)
            if item.filename == "config.json":
                payload = payload.replace(b"MaskedPooling", b"MaskedPoolingV9")  # class and registered name
            if item.filename == "metadata.json":
                meta = json.loads(payload)
                meta["keras_version"] = "9.0.0"
                payload = json.dumps(meta).encode()
            new.writestr(item, payload)
    with pytest.raises(ArtifactError, match=r"cannot be read .*from another version; delete it and run `bertmlm finetune`"):
        end_to_end.load(future)
    assert np.allclose(end_to_end.predict(end_to_end.load(path), TEXTS), end_to_end.predict(model, TEXTS))


def test_inference_speed_times_raw_strings(model):
    report = end_to_end.inference_speed(model, TEXTS * 20, batch_size=16, repeats=2)
    assert report["reviews"] == 80 and len(report["seconds"]) == 2 and report["reviews_per_s"] > 0
    assert report["reviews_per_s"] == pytest.approx(80 / np.median(report["seconds"]), rel=0.05)


def test_a_model_saved_before_the_library_was_reorganised_still_loads_and_predicts_the_same():
    """Keras finds our layers by their registered names, not by module: a model saved when the classifier's
    layers lived in `finetune.py` loads in a fresh process that imports only `end_to_end`."""
    import json
    from pathlib import Path

    from conftest import python_lines

    fixtures = Path(__file__).parent / "fixtures"
    saved = json.loads((fixtures / "end_to_end_before_reorganisation.json").read_text())
    script = ("import json, sys; from bertmlm_lib import end_to_end; "
              f"model = end_to_end.load({str(fixtures / 'end_to_end_before_reorganisation.keras')!r}); "
              f"print(json.dumps(end_to_end.predict(model, {saved['texts']!r}).tolist())); "
              "print(sorted(m for m in ('bertmlm_lib.finetune', 'bertmlm_lib.pretrain') if m in sys.modules))")
    predicted, imported = python_lines(script)[-2:]
    assert json.loads(predicted) == pytest.approx(saved["probabilities"], abs=1e-6)
    assert imported == "[]"
