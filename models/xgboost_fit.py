"""XGBoost's Spark estimator without its evaluation on the training rows after every tree, and with a
one-task fit that waits on no barrier.

xgboost.spark always hands `xgboost.train` the training matrix as an evaluation set (its `_train_booster`), so
every tree is followed by a pass over every training row (the predictions' sigmoid and the log loss) and a log
line: a quarter of a fit's tree time here (3.5 s against 2.6 s for 300 trees on 202,295 rows, bench/README.md
"Learners"), for a loss history that nothing reads. `XGBoostClassifier` fits with `WithoutTrainingEvaluation`, a
training callback that drops the training rows from the sets evaluated (a validation set still is, so early
stopping works).

The library trains in a barrier stage whatever the number of workers, and Spark 3.5's barrier task sleeps a whole
second at each of the three synchronisations of a fit (`BarrierTaskContext` polls its RPC once a second): three
seconds a fit in which the task holds its slot and computes nothing. With one worker (`num_workers`, 1 by default
here) there is nobody to synchronise with, so `XGBoostClassifier` trains in an ordinary task (`_fit_in_one_task`:
the library's own input preparation, parameters, matrix and training call), which reads the rows in their
partitions' order, coalesced, rather than shuffled to it (`force_repartition`, off for one worker in
`models.pipeline`). From rows in the same order the trees are the same (the tests compare the predictions with the
estimator's own; the full-size folds gave the same metrics to four places), and so is the model: a
`SparkXGBClassifierModel`, saved without the callback. More workers train through the library's barrier stage.

Imported only when the XGBoost learner is used (`models.pipeline`), like xgboost itself.
"""
from __future__ import annotations

import json
from typing import Iterator

import pandas as pd
from xgboost import Booster, train as xgboost_train
from xgboost.callback import TrainingCallback
from xgboost.config import config_context
from xgboost.sklearn import _can_use_qdm
from xgboost.spark import SparkXGBClassifier
from xgboost.spark.core import _MODEL_CHUNK_SIZE
from xgboost.spark.data import create_dmatrix_from_partitions
from xgboost.spark.summary import XGBoostTrainingSummary


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
        model.__dict__.pop("eval_set", None)  # the booster it shadowed (this callback runs first)
        return model


class XGBoostClassifier(SparkXGBClassifier):
    """`SparkXGBClassifier` whose fits skip the evaluation on the training rows, and with one worker run in an
    ordinary task; it makes the same model."""

    def _fit(self, dataset):
        callbacks = self.getOrDefault(self.callbacks)
        # first: the user's callbacks see the booster it hands on, and its after_training runs before theirs
        quiet = self.copy({self.callbacks: [WithoutTrainingEvaluation(), *(callbacks or [])]})
        if quiet.getOrDefault(quiet.num_workers) == 1 and not quiet._run_on_gpu():
            model = quiet._fit_in_one_task(dataset)
        else:
            model = super(XGBoostClassifier, quiet)._fit(dataset)
        # the model keeps the estimator's own callbacks only (they are pickled with it and with its predictions)
        if callbacks is None:
            model.clear(model.callbacks)
        else:
            model.set(model.callbacks, callbacks)
        model._xgb_sklearn_model.set_params(callbacks=callbacks)
        return model

    def _fit_in_one_task(self, dataset):
        """The library's `_fit` for one CPU worker, without its barrier stage and collective: one task builds the
        same matrix and calls `xgboost.train` with the same parameters and evaluation sets. Its rows are shuffled to
        it with `force_repartition`, else read as their partitions hold them (coalesced); either way the library's
        `_prepare_input` picks their columns, checks them and sorts them by `qid_col` when there is one."""
        self._validate_params()
        force = self.getOrDefault(self.force_repartition)
        dataset, feature_prop = self._prepare_input(dataset if force else dataset.coalesce(1))
        booster_params, train_kwargs, matrix_kwargs = self._get_xgb_parameters(dataset)
        use_qdm = _can_use_qdm(booster_params.get("tree_method"), booster_params.get("device"))
        if use_qdm and booster_params.get("max_bin") is not None:
            matrix_kwargs["max_bin"] = booster_params["max_bin"]
        verbosity = booster_params.get("verbosity", 1)

        def train(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            history: dict = {}
            with config_context(verbosity=verbosity):
                matrix, validation = create_dmatrix_from_partitions(
                    iterator=batches, feature_cols=feature_prop.features_cols_names, dev_ordinal=None,
                    use_qdm=use_qdm, kwargs=matrix_kwargs,
                    enable_sparse_data_optim=feature_prop.enable_sparse_data_optim,
                    has_validation_col=feature_prop.has_validation_col)
                evals = [(matrix, TRAINING), *([(validation, "validation")] if validation is not None else [])]
                booster = xgboost_train(params=booster_params, dtrain=matrix, evals=evals, evals_result=history,
                                        **train_kwargs)
            yield pd.DataFrame({"data": [json.dumps(history)]})
            yield pd.DataFrame({"data": [booster.save_config()]})
            model = booster.save_raw("json").decode("utf-8")
            for start in range(0, len(model), _MODEL_CHUNK_SIZE):  # the library's chunks of the booster's JSON
                yield pd.DataFrame({"data": [model[start:start + _MODEL_CHUNK_SIZE]]})

        # one partition, one task: its rows come back in order
        results = [row.data for row in dataset.mapInPandas(train, "data string").collect()]
        if not results:  # no partition, so no task
            raise ValueError("XGBoostClassifier: the training rows are empty")
        history, config, *chunks = results
        sklearn_model = self._convert_to_sklearn_model(bytearray("".join(chunks), "utf-8"), config)
        model = self._create_pyspark_model(sklearn_model, XGBoostTrainingSummary.from_metrics(json.loads(history)))
        model._resetUid(self.uid)
        return self._copyValues(model)
