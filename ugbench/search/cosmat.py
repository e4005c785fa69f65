"""CoSMat (the paper's baseline semantic space): CorrProj (CCA) then LogsTran (multinomial logistic
regression to class posteriors), i.e. Rasiwasia et al.'s "semantic correlation matching", with scikit-learn.

    cm = CoSMat(n_components=16).fit(text_feats, image_feats, labels)   # paired rows, one class label each
    t = cm.transform_text(text_feats)     # (n, n_classes) rows on the probability simplex
    i = cm.transform_image(image_feats)
    Sim = cosine(t, i) lies in [0, 1] because all components are >= 0.

The two modalities get their own CCA projection (x_ and y_ weights of one CCA fitted on the pairs) and
their own logistic regression, trained on the same labels, so both map into the same class-posterior space.
"""

from __future__ import annotations

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ugcore.errors import UserError


class CoSMat:
    def __init__(self, n_components: int = 16, C: float = 1.0, max_iter: int = 500, seed: int = 0):
        self.n_components = n_components
        self.C = C
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, text: np.ndarray, image: np.ndarray, labels: np.ndarray) -> CoSMat:
        text, image = np.asarray(text, dtype=np.float64), np.asarray(image, dtype=np.float64)
        labels = np.asarray(labels)
        if not (len(text) == len(image) == len(labels)):
            raise UserError(
                f"CoSMat.fit needs paired rows: got {len(text)} texts, {len(image)} images, {len(labels)} labels"
            )
        if len(np.unique(labels)) < 2:
            raise UserError("CoSMat.fit needs at least two classes in labels")
        n_comp = max(1, min(self.n_components, text.shape[1], image.shape[1], len(text) - 1))
        self.text_scaler_ = StandardScaler().fit(text)
        self.image_scaler_ = StandardScaler().fit(image)
        self.cca_ = CCA(n_components=n_comp, max_iter=1000)
        self.cca_.fit(self.text_scaler_.transform(text), self.image_scaler_.transform(image))
        tx, iy = self.cca_.transform(self.text_scaler_.transform(text), self.image_scaler_.transform(image))
        self.text_lr_ = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed).fit(tx, labels)
        self.image_lr_ = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed).fit(iy, labels)
        self.classes_ = self.text_lr_.classes_
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "cca_"):
            raise UserError("CoSMat is not fitted; call fit(text, image, labels) first")

    def _check(self, x: np.ndarray, scaler: StandardScaler, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != scaler.n_features_in_:
            raise UserError(f"{what} features must have shape (n, {scaler.n_features_in_}); got {x.shape}")
        return scaler.transform(x)

    def transform_text(self, text: np.ndarray) -> np.ndarray:
        """Text features -> class posteriors (CorrProj with the CCA x-weights, then LogsTran)."""
        self._fitted()
        x = self._check(text, self.text_scaler_, "text")
        return self.text_lr_.predict_proba(self.cca_.transform(x))

    def transform_image(self, image: np.ndarray) -> np.ndarray:
        """Image features -> class posteriors (CorrProj with the CCA y-weights, then LogsTran)."""
        self._fitted()
        y = self._check(image, self.image_scaler_, "image")
        dummy = np.zeros((len(y), self.text_scaler_.n_features_in_))
        _, yc = self.cca_.transform(dummy, y)
        return self.image_lr_.predict_proba(yc)
