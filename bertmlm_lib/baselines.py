"""The baseline every sentiment model must beat: TF-IDF of words and word pairs + logistic regression.

On IMDB this simple model is strong (about 0.90 test accuracy with all 25,000 labels). Comparing
against it keeps the tutorial honest about what pretraining buys at a given budget.

The words and word pairs are hashed into a fixed number of columns (`HashingVectorizer`) instead of
being collected in a vocabulary first: the vocabulary of every word pair of 22,500 reviews is
millions of Python strings (hundreds of MB), while hashing needs no memory beyond the sparse
matrix, and works 2,000 texts at a time. The features are computed once; only the regression is
refitted per value of C.
"""

from __future__ import annotations

import numpy as np


class ChunkedTfidf:
    """TF-IDF of words and word pairs, hashed into `n_features` columns, computed 2,000 texts at a time.

    Hashing is stateless, so texts can be counted chunk by chunk; only the sparse counts (float32)
    are kept, never the per-chunk working memory of all texts at once."""

    CHUNK = 2000

    def __init__(self, n_features: int = 2 ** 20):
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

        self.hasher = HashingVectorizer(ngram_range=(1, 2), n_features=n_features, alternate_sign=False, norm=None,
                                        dtype=np.float32)
        self.weights = TfidfTransformer(sublinear_tf=True)

    def _counts(self, texts):
        import scipy.sparse

        texts = list(texts)
        return scipy.sparse.vstack([self.hasher.transform(texts[i:i + self.CHUNK])
                                    for i in range(0, max(len(texts), 1), self.CHUNK)]).tocsr()

    def fit_transform(self, texts):
        return self.weights.fit_transform(self._counts(texts))

    def transform(self, texts):
        return self.weights.transform(self._counts(texts))


def tfidf_logistic_regression(train_texts, train_labels, validation_texts, validation_labels,
                              grid=(2.0, 8.0, 32.0), n_features: int = 2 ** 20, seed: int = 0) -> dict:
    """Fit TF-IDF (1-2 grams) + logistic regression, choosing C on validation only; return the model and scores.

    The solver is liblinear: with a million hashed columns, lbfgs keeps ten pairs of million-long
    vectors of history (+250 MB measured on 500 reviews, +390 MB on 22,500); liblinear reaches the
    same test accuracy (0.9046 on the full split, both) in ~40 MB and is as fast.
    """
    from sklearn.linear_model import LogisticRegression

    features = ChunkedTfidf(n_features)
    train = features.fit_transform(train_texts)
    validation = features.transform(validation_texts)
    best = None
    for c in grid:
        regression = LogisticRegression(C=c, solver="liblinear", max_iter=2000, random_state=seed).fit(train, np.asarray(train_labels))
        accuracy = float((regression.predict(validation) == np.asarray(validation_labels)).mean())
        if best is None or accuracy > best["val_accuracy"]:
            best = {"features": features, "regression": regression, "C": c, "val_accuracy": accuracy}
    return best


def positive_probability(baseline: dict, texts) -> np.ndarray:
    """P(positive) from a fitted baseline."""
    features = baseline["features"].transform(texts)
    return baseline["regression"].predict_proba(features)[:, 1]


def accuracy(baseline: dict, texts, labels) -> float:
    """Share of texts whose predicted label (P(positive) >= 0.5) matches."""
    return float(((positive_probability(baseline, texts) >= 0.5) == np.asarray(labels).astype(bool)).mean())
