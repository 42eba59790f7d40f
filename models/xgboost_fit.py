"""XGBoost's Spark estimator without its evaluation on the training rows after every tree.

xgboost.spark always hands `xgboost.train` the training matrix as an evaluation set (its `_train_booster`), so
every tree is followed by a pass over every training row (the predictions' sigmoid and the log loss) and a log
line: a quarter of a fit's tree time here (3.5 s against 2.6 s for 300 trees on 202,295 rows, bench/README.md
"Learners"), for a loss history that nothing reads. `XGBoostClassifier` fits with `WithoutTrainingEvaluation`, a
training callback that makes that evaluation return nothing. The trees are the same (the tests compare the
predictions with the estimator's own), and so is the model: a `SparkXGBClassifierModel`, saved without the callback.

Imported only when the XGBoost learner is used (`models.pipeline`), like xgboost itself.
"""
from __future__ import annotations

from xgboost import Booster
from xgboost.callback import TrainingCallback
from xgboost.spark import SparkXGBClassifier


def _no_evaluation(evals, iteration: int = 0, feval=None, output_margin: bool = True) -> str:
    """`Booster.eval_set`'s answer when there is no metric: the iteration alone, which callbacks log as nothing."""
    return f"[{iteration}]"


class WithoutTrainingEvaluation(TrainingCallback):
    """Shadows the booster's `eval_set` for the fit (training calls it after every tree on its evaluation sets)."""

    def before_training(self, model: Booster) -> Booster:
        model.eval_set = _no_evaluation
        return model

    def after_training(self, model: Booster) -> Booster:
        del model.eval_set
        return model


class XGBoostClassifier(SparkXGBClassifier):
    """`SparkXGBClassifier` whose fits skip the evaluation on the training rows; it makes the same model."""

    def _fit(self, dataset):
        callbacks = self.getOrDefault(self.callbacks)
        quiet = self.copy({self.callbacks: [*(callbacks or []), WithoutTrainingEvaluation()]})
        model = super(XGBoostClassifier, quiet)._fit(dataset)
        if callbacks is None:  # the model keeps the estimator's own callbacks only (they are pickled with it)
            model.clear(model.callbacks)
        else:
            model.set(model.callbacks, callbacks)
        return model
