"""CoSMat maps paired text and image features into one class-posterior space."""

from __future__ import annotations

import numpy as np
import pytest

from ugbench.search.cosmat import CoSMat
from ugbench.search.index import GeoIndex
from ugcore.errors import UserError


def _paired(seed: int, n: int = 400, classes: int = 5):
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, classes, n)
    z = rng.normal(size=(classes, 6))[lab]  # shared latent concept per class
    text = z @ rng.normal(size=(6, 24)) + 0.8 * rng.normal(size=(n, 24))
    image = z @ rng.normal(size=(6, 40)) + 0.8 * rng.normal(size=(n, 40))
    return text, image, lab


def test_maps_to_probability_simplex_and_matches_classes():
    text, image, lab = _paired(0)
    cm = CoSMat(n_components=6).fit(text[:300], image[:300], lab[:300])
    t, i = cm.transform_text(text[300:]), cm.transform_image(image[300:])
    for p in (t, i):
        assert p.shape == (100, 5)
        assert (p >= 0).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert (i.argmax(1) == lab[300:]).mean() > 0.6  # held-out images land on their class
    # cross-modal retrieval: a text's nearest image by cosine shares its class more often than chance
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    im = i / np.linalg.norm(i, axis=1, keepdims=True)
    top = (tn @ im.T).argmax(axis=1)
    assert (lab[300:][top] == lab[300:]).mean() > 0.5


def test_cosmat_space_feeds_the_index():
    text, image, lab = _paired(1, n=300)
    cm = CoSMat(n_components=4).fit(text, image, lab)
    rng = np.random.default_rng(0)
    idx = GeoIndex.build(rng.uniform(0, 1, (300, 2)), cm.transform_image(image), leaf_size=8)
    q = cm.transform_text(text[:1])[0]
    a = idx.search((0.5, 0.5), q, k=10, mu=0.3)
    b = idx.search((0.5, 0.5), q, k=10, mu=0.3, engine="brute")
    assert np.array_equal(a.indices, b.indices)
    assert (a.scores <= 1.0 + 1e-9).all() and (a.scores >= 0.0).all()  # Sim in [0, 1] on the simplex


def test_errors():
    text, image, lab = _paired(2, n=50)
    with pytest.raises(UserError, match="paired"):
        CoSMat().fit(text, image[:10], lab)
    with pytest.raises(UserError, match="not fitted"):
        CoSMat().transform_text(text)
    cm = CoSMat(3).fit(text, image, lab)
    with pytest.raises(UserError, match="shape"):
        cm.transform_image(text)
