import numpy as np

from bertmlm_lib import baselines


def test_tfidf_baseline_learns_word_pairs_and_picks_c_on_validation():
    # "not good" is negative, "good" alone positive: only the bigram separates them
    train = ["good film", "a good story", "not good at all", "it was not good", "good acting", "not good"] * 4
    labels = [1, 1, 0, 0, 1, 0] * 4
    result = baselines.tfidf_logistic_regression(train, labels, ["good plot", "not good plot"], [1, 0], grid=(1.0, 10.0))
    assert result["C"] in (1.0, 10.0) and result["val_accuracy"] == 1.0
    probs = baselines.positive_probability(result, ["good plot", "not good plot"])
    assert probs[0] > 0.5 > probs[1] and np.all((probs >= 0) & (probs <= 1))


def test_baseline_accuracy_matches_its_predictions():
    train = ["great fun", "awful mess", "great acting", "awful plot"] * 5
    labels = [1, 0, 1, 0] * 5
    result = baselines.tfidf_logistic_regression(train, labels, ["great", "awful"], [1, 0], grid=(10.0,))
    assert baselines.accuracy(result, ["great story", "awful story"], [1, 0]) == 1.0
    assert baselines.accuracy(result, ["great story", "awful story"], [0, 1]) == 0.0
