import numpy as np
import pytest
import scipy.special

from gankit.metrics.isc import inception_score


def test_uniform_predictions_score_one():
    mean, std = inception_score(probs=np.full((100, 7), 1 / 7))
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_confident_even_predictions_score_k(k):
    probs = np.eye(k)[np.arange(10 * k * 3) % k]  # one-hot, each class equally often
    mean, std = inception_score(probs=probs, splits=3)
    assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_logits_agree_with_probabilities_and_reference_formula():
    logits = np.random.default_rng(0).normal(size=(200, 10)) * 3
    p = scipy.special.softmax(logits, axis=1)
    a = inception_score(logits, splits=4)
    b = inception_score(probs=p, splits=4)
    assert a.mean == pytest.approx(b.mean, rel=1e-10)
    # the original code: per split exp(mean KL(p || mean p)), then mean and np.std
    parts = [p[i * 50:(i + 1) * 50] for i in range(4)]
    scores = [np.exp((q * (np.log(q) - np.log(q.mean(0)))).sum(1).mean()) for q in parts]
    assert a.mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert a.std == pytest.approx(np.std(scores), rel=1e-8)


def test_very_confident_logits_do_not_underflow():
    logits = np.eye(4)[np.arange(40) % 4] * 1e4
    assert inception_score(logits, splits=2).mean == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize("kw, msg", [
    (dict(probs=np.full((10, 3), 0.5)), "sum to 1"),
    (dict(probs=-np.eye(3)[[0, 1, 2, 0]]), "negative"),
    (dict(logits=np.full((10, 3), np.nan)), "NaN or inf"),
    (dict(logits=np.zeros((10, 3)), splits=11), "splits"),
    (dict(), "exactly one"),
])
def test_bad_input_is_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        inception_score(**kw)


def test_probabilities_passed_as_logits_warn_and_one_sample_is_refused():
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=40)
    with pytest.warns(UserWarning, match="look like probabilities"):
        inception_score(probs, splits=2)
    with pytest.raises(ValueError, match="at least 2 samples"):
        inception_score(np.zeros((1, 5)), splits=1)
