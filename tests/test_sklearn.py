"""SparseMLP is a scikit-learn classifier: clone, Pipeline, cross_val_score, GridSearchCV
(also in worker processes), the input conventions (continuous targets refused, scipy.sparse X
accepted, column-vector y warned about) and scikit-learn's estimator checks."""
import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

import refset
from refset import SparseMLP

# The settings of the estimator checks: a tiny net that still learns the checks' toy data
# (make_blobs: 0.93 and 0.965 accuracy after 3 epochs, the checks demand 0.83).
CHECKED = dict(hidden_layer_sizes=(16,), epsilon=4, epochs=3, batch_size=16, learning_rate=0.05,
               seed=0)

# {check name: why it fails}: none today, every check of scikit-learn passes.
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


# xfail_strict (scikit-learn >= 1.8): an expected failure that passes is reported, so the
# list stays true
_STRICT = ({"xfail_strict": True}
           if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {})


@parametrize_with_checks([SparseMLP(**CHECKED)], expected_failed_checks=_expected_failed_checks,
                         **_STRICT)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():      # epsilon=4 makes the 16 x k output layer dense
        warnings.filterwarnings("ignore", "epsilon=.*makes the", UserWarning)
        check(estimator)


@pytest.fixture(scope="module")
def data():
    return refset.make_synthetic(n_samples=300, seed=0)


def _tiny(**kw):
    return SparseMLP(**{"hidden_layer_sizes": (32,), "epsilon": 4, "epochs": 2, "batch_size": 32,
                        "learning_rate": 0.05, "seed": 0, **kw})


def test_is_a_classifier_with_sklearn_parameters():
    model = SparseMLP((5,), zeta=0.2, seed=3)
    assert is_classifier(model)
    params = model.get_params()
    # the signature's order (checkpoints, run configs and the CLI show them in it)
    assert list(params) == list(inspect.signature(SparseMLP).parameters) == list(SparseMLP._PARAMS)
    assert params["zeta"] == 0.2 and params["hidden_layer_sizes"] == (5,)
    assert model.get_params(deep=False) == params
    assert repr(model) == "SparseMLP(hidden_layer_sizes=(5,), seed=3, zeta=0.2)"


def test_clone_copies_parameters_not_state(data):
    X, y = data
    model = _tiny(zeta=0.1).fit(X, y)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "layers_") and not hasattr(twin, "classes_")
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(twin)
    check_is_fitted(model)
    assert twin.fit(X, y).fingerprint() == model.fingerprint()      # same seed, same run


def test_not_fitted_error_is_sklearns():
    assert issubclass(refset.NotFittedError, SklearnNotFittedError)
    with pytest.raises(SklearnNotFittedError, match="not fitted yet"):
        _tiny().predict(np.zeros((2, 3)))


def test_pipeline_after_standard_scaler(data):
    X, y = data
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", _tiny())]).fit(X, y)
    alone = _tiny().fit(StandardScaler().fit_transform(X), y)
    assert pipe.named_steps["mlp"].fingerprint() == alone.fingerprint()
    assert pipe.score(X, y) == alone.score(StandardScaler().fit(X).transform(X), y)
    assert pipe.predict_proba(X[:5]).shape == (5, 4)
    pipe.set_params(mlp__zeta=0.1)
    assert pipe.named_steps["mlp"].zeta == 0.1


def test_cross_val_score(data):
    X, y = data
    scores = cross_val_score(_tiny(), X, y, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    assert np.array_equal(scores, cross_val_score(_tiny(), X, y, cv=3))   # deterministic
    assert scores.mean() > 0.3                                            # chance is 0.25


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_zeta_and_epsilon(data, n_jobs):
    X, y = data
    grid = {"zeta": [0.1, 0.3], "epsilon": [3, 6]}
    search = GridSearchCV(_tiny(), grid, cv=3, n_jobs=n_jobs).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_ in search.cv_results_["params"]
    best = search.best_estimator_
    assert (best.zeta, best.epsilon) == (search.best_params_["zeta"],
                                         search.best_params_["epsilon"])
    assert best.fingerprint() == _tiny(**search.best_params_).fit(X, y).fingerprint()
    # the same scores in worker processes as in this one (same seed, same runs)
    reference = cross_val_score(_tiny(zeta=0.1, epsilon=3), X, y, cv=3)
    first = search.cv_results_["params"].index({"zeta": 0.1, "epsilon": 3})
    split = [search.cv_results_[f"split{k}_test_score"][first] for k in range(3)]
    assert np.array_equal(split, reference)


def test_continuous_targets_are_refused(data):
    X, _ = data
    y = np.random.default_rng(0).standard_normal(X.shape[0])
    with pytest.raises(ValueError, match=r"y looks continuous \(300 distinct values.*\): "
                                         r"SparseMLP is a classifier"):
        _tiny().fit(X, y)
    _tiny().fit(X, np.arange(X.shape[0]) % 3 * 1.0)       # whole-number floats are labels


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input_is_accepted_and_equals_dense(data, fmt):
    X, y = data
    X = np.where(np.abs(X) > 1, X, 0.0)             # mostly zeros, as sparse data are
    Xs = sp.csr_matrix(X).asformat(fmt)
    dense, sparse = _tiny().fit(X, y), _tiny().fit(Xs, y, validation_data=(Xs, y))
    assert sparse.fingerprint() == dense.fingerprint()
    assert np.array_equal(sparse.predict_proba(Xs), dense.predict_proba(X))
    assert sparse.score(sp.csr_array(X), y) == dense.score(X, y)


def test_column_vector_y_warns_and_is_ravelled(data):
    X, y = data
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        model = _tiny().fit(X, y[:, None])
    assert model.fingerprint() == _tiny().fit(X, y).fingerprint()


def test_y_none_is_refused(data):
    X, _ = data
    with pytest.raises(ValueError, match="requires y to be passed"):
        _tiny().fit(X, None)


def test_feature_names_of_a_dataframe(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = _tiny().fit(frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)
    assert model.fingerprint() == _tiny().fit(X, y).fingerprint()
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(X)
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(frame[frame.columns[::-1]])
    assert not hasattr(_tiny().fit(X, y), "feature_names_in_")
