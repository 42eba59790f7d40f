"""XGBoost's Spark estimator without its evaluation on the training rows after every tree.

xgboost.spark always hands `xgboost.train` the training matrix as an evaluation set (its `_train_booster`), so
every tree is followed by a pass over every training row (the predictions' sigmoid and the log loss) and a log
line: a quarter of a fit's tree time here (3.5 s against 2.6 s for 300 trees on 202,295 rows, bench/README.md
"Learners"), for a loss history that nothing reads. `XGBoostClassifier` fits with `WithoutTrainingEvaluation`, a
training callback that drops the training rows from the sets evaluated (a validation set still is, so early
stopping works). The trees are the same (the tests compare the predictions with the estimator's own), and so is
the model: a `SparkXGBClassifierModel`, saved without the callback.

Imported only when the XGBoost learner is used (`models.pipeline`), like xgboost itself.
"""
from __future__ import annotations

from xgboost import Booster
from xgboost.callback import TrainingCallback
from xgboost.spark import SparkXGBClassifier


TRAINING = "training"  # the name xgboost.spark gives the training rows among the evaluation sets


class WithoutTrainingEvaluation(TrainingCallback):
    """Shadows the booster's `eval_set` for the fit (training calls it after every tree): every evaluation set but
    the training rows is still evaluated, so a validation set and early stopping work as before."""

    def before_training(self, model: Booster) -> Booster:
        evaluate = model.eval_set

        def without_training(evals, iteration: int = 0, feval=None, output_margin: bool = True) -> str:
            kept = [(data, name) for data, name in evals if name != TRAINING]
            # no set left: the iteration alone, `eval_set`'s answer when there is nothing to measure
            return evaluate(kept, iteration, feval, output_margin) if kept else f"[{iteration}]"

        model.eval_set = without_training
        return model

    def after_training(self, model: Booster) -> Booster:
        model.__dict__.pop("eval_set", None)  # a callback after this one may have handed back another booster
        return model


class XGBoostClassifier(SparkXGBClassifier):
    """`SparkXGBClassifier` whose fits skip the evaluation on the training rows; it makes the same model."""

    def _fit(self, dataset):
        callbacks = self.getOrDefault(self.callbacks)
        # first: the user's callbacks see the booster it hands on, and its after_training runs before theirs
        quiet = self.copy({self.callbacks: [WithoutTrainingEvaluation(), *(callbacks or [])]})
        model = super(XGBoostClassifier, quiet)._fit(dataset)
        # the model keeps the estimator's own callbacks only (they are pickled with it and with its predictions)
        if callbacks is None:
            model.clear(model.callbacks)
        else:
            model.set(model.callbacks, callbacks)
        model._xgb_sklearn_model.set_params(callbacks=callbacks)
        return model
