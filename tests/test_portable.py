"""A model saved by a newer Keras loads in an older one (Colab's) when all the newer one added are
settings at their default; anything else still fails with the clear error."""

import json
import zipfile

import keras
import numpy as np
import pytest

from bertmlm_lib.artifacts import load_keras_file, load_model
from bertmlm_lib.errors import ArtifactError


def _saved_with_a_future_setting(tmp_path, value):
    """A small Dense model whose GlorotUniform gets a setting this Keras has never heard of."""
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, kernel_initializer="glorot_uniform")(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as saved:
        files = {name: saved.read(name) for name in saved.namelist()}
    settings = json.loads(files["config.json"])
    dense = next(layer for layer in settings["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["kernel_initializer"]["config"]["setting_of_keras_99"] = value
    files["config.json"] = json.dumps(settings).encode()
    with zipfile.ZipFile(path, "w") as out:
        for name, data in files.items():
            out.writestr(name, data)
    return model, path


def test_a_default_valued_setting_this_keras_does_not_know_is_dropped(tmp_path):
    model, path = _saved_with_a_future_setting(tmp_path, None)
    with pytest.raises(Exception, match="setting_of_keras_99"):
        keras.saving.load_model(path, safe_mode=True)  # what plain Keras does with it
    loaded = load_keras_file(path)
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_setting_with_a_value_is_not_dropped_and_the_error_names_the_file(tmp_path):
    _, path = _saved_with_a_future_setting(tmp_path, 4)
    with pytest.raises(ArtifactError, match="cannot be read"):
        load_model(path, "test model", "run the test")
