"""SHAP values of a model, computed by the `shap` library as an oracle independent of the product's reason codes.

shap 0.49 reads Spark GBT models but not XGBoost 3's (their base score is stored as a vector), and the product
explains XGBoost models with XGBoost's own TreeSHAP. Here an XGBoost booster's trees are handed to shap in its
generic tree format instead, so shap's own TreeSHAP computes the values.
"""
from __future__ import annotations

import numpy as np
import shap


def xgboost_trees(booster) -> dict:
    """The booster's trees in shap's dictionary format. XGBoost sends x < split left, shap x <= threshold: the
    threshold is the float32 just below the split (XGBoost compares float32 values)."""
    frame = booster.trees_to_dataframe()
    trees = []
    for _, nodes in frame.groupby("Tree", sort=True):
        nodes = nodes.sort_values("Node")
        index = {node_id: i for i, node_id in enumerate(nodes["ID"])}
        leaf = (nodes["Feature"] == "Leaf").to_numpy()

        def child(column):
            return np.array([-1 if is_leaf else index[c] for is_leaf, c in zip(leaf, nodes[column])])

        splits = nodes["Split"].fillna(0).to_numpy(dtype=np.float32)
        trees.append({
            "children_left": child("Yes"), "children_right": child("No"), "children_default": child("Missing"),
            "features": np.array([-2 if is_leaf else int(f[1:]) for is_leaf, f in zip(leaf, nodes["Feature"])]),
            "thresholds": np.nextafter(splits, np.float32(-np.inf)).astype(np.float64),
            "values": np.where(leaf, nodes["Gain"], 0.0).astype(np.float64).reshape(-1, 1),
            "node_sample_weight": nodes["Cover"].to_numpy(dtype=np.float64),
        })
    return {"trees": trees, "tree_output": "log_odds", "objective": "binary_crossentropy"}


def shap_values(classifier, x: np.ndarray) -> np.ndarray:
    """Each row's SHAP values (log odds) under `classifier`: a Spark GBT model or an XGBoost booster."""
    if hasattr(classifier, "trees_to_dataframe"):
        return shap.TreeExplainer(xgboost_trees(classifier)).shap_values(x.astype(np.float32).astype(np.float64),
                                                                         check_additivity=False)
    return shap.TreeExplainer(classifier).shap_values(x, check_additivity=False)
