"""`strategy="mirrored"` on one machine: two logical CPU devices stand in for two GPUs.

TensorFlow fixes its devices when it starts, so the run happens in a fresh process that splits the
CPU in two before anything else. It pretrains (packed masked positions, per replica) and fine-tunes.
"""

import json
import subprocess
import sys

SCRIPT = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from bertmlm_lib import checkpoints, config, finetune, pretrain
from bertmlm_lib.tools import distribute, runner
from bertmlm_lib.classifier import build_classifier
from bertmlm_lib.vectorize import build_vectorizer
import numpy as np

sentences = ["i have watched this movie and it was awesome", "the acting was bad and the plot was awful",
             "a good story with great acting", "this film is a waste of time"]
rng = np.random.default_rng(0)
texts = [" ".join(rng.choice(sentences, size=2)) for _ in range(160)]
cfg = config.load("smoke", artifacts=sys.argv[1], vocab_size=40, max_length=16, embed_dim=16, num_heads=2, ff_dim=32,
                  batch_size=16, pretrain_epochs=3, heldout_reviews=16, eval_every=6, strategy="mirrored",
                  short_length=8, short_share=0.3, learning_rate=3e-3)
vectorizer = build_vectorizer(texts, cfg.vocab_size, cfg.max_length)
vectorizer.save(cfg.artifacts_dir, cfg)
strategy = distribute.strategy_for(cfg)
model, result = runner.pretrain(cfg, pretrain.prepare_corpus(texts, vectorizer, cfg), vectorizer, progress=False,
                                fill_mask_display=False)
labels = np.array([("awesome" in t or "great" in t) * 1 for t in texts])
ids = vectorizer.encode(texts)
with strategy.scope():
    encoder = checkpoints.load_encoder(cfg, vectorizer)
    classifier = build_classifier(encoder)
    tuned = finetune.finetune(classifier, (ids[:128], labels[:128]), (ids[128:], labels[128:]), cfg,
                              finetune.Recipe(frozen_epochs=1, unfrozen_epochs=2))
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "steps": result.steps,
                  "start": result.heldout_at_start["loss"], "end": result.heldout["loss"],
                  "phases": result.phases, "val_accuracy": tuned.val_accuracy}))
"""


def test_pretraining_and_finetuning_run_mirrored_on_two_cpu_devices(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "run")], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["steps"] == 3 * (144 // 16)  # global batches of 16, 8 per device
    assert [phase["length"] for phase in report["phases"]] == [8, 16]
    assert report["end"] < report["start"]  # it learned, with gradients summed over both devices
    assert 0 <= report["val_accuracy"] <= 1
    assert (tmp_path / "run" / "pretrain" / "checkpoint.keras").is_file()


def test_strategy_flag_reaches_the_config(tiny_archive, capsys):
    from bertmlm_lib.tools import cli

    import pytest

    with pytest.raises(SystemExit):
        cli.main(["pretrain", "--strategy", "sideways"])
    assert "invalid choice: 'sideways'" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["run", "--preset", "smoke", "--strategy", "mirrored"])
    assert cli._config(args).strategy == "mirrored"
    args = cli.build_parser().parse_args(["finetune", "--preset", "smoke"])
    assert cli._config(args).strategy == "default"
