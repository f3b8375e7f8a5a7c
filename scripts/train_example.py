#!/usr/bin/env python3
"""Train a LightGBM decision model from a features CSV and write a model
file + manifest the engine loads (`[model] path = ".../model.json"`).

  python3 scripts/train_example.py --csv features.csv --out models/lgb1
  python3 scripts/train_example.py --synthetic --out models/demo

The CSV's header is read generically: the label is `--label` (default: the
first column named `fwd_*`, `forward_*`, `label*` or `ret_<h>_bps`, as
`quantum-trader features export` writes them); the features are
`--features a,b,c` (default: every other column except bookkeeping ones:
ts, ts_ns, time, exch_ms, recv_ns, venue, symbol, inst, id, the export's
decision_id, action, score and mid_at_decision, and any other
forward/label column). The feature names must be the engine's
(`model.features[i]: unknown feature "..."` otherwise, at load).

Objectives (`--objective`):
  binary      label > +dead_band -> 1 (up), else 0; output: probability,
              BUY at p >= --buy, SELL at p <= --sell
  multiclass  label < -dead_band sell, > +dead_band buy, else hold; output:
              classes ["sell","hold","buy"], min_class_probability --min-p
  regression  the label itself; BUY at >= --buy, SELL at <= --sell

Rows are split in file (time) order: the last --valid share is held out and
scored (accuracy / correlation printed). The packages come from the same
venv as the reference tests (created with pip when missing).
"""
import argparse
import csv
import datetime
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_reference import ensure_packages  # noqa: E402

BOOKKEEPING = {"ts", "ts_ns", "time", "timestamp", "exch_ms", "recv_ns", "venue", "symbol", "inst",
               "instrument", "id", "seq",
               # `quantum-trader features export` key columns
               "decision_id", "action", "score", "mid_at_decision"}
# Eight of the engine's feature names (src/score/registry.rs), for --synthetic.
SYNTHETIC_FEATURES = ["mid", "microprice_offset_bps", "spread_bps", "book_imbalance",
                      "trade_flow_imbalance", "return_bps", "cross_venue_mid_diff_bps",
                      "lead_lag_return_bps"]


def is_label(name):
    n = name.lower()
    # `features export` writes forward returns as ret_<horizon>_bps.
    return (n.startswith("fwd_") or n.startswith("forward_") or n.startswith("label")
            or (n.startswith("ret_") and n.endswith("_bps")))


def read_csv(path, label, features):
    import numpy as np
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        if label is None:
            label = next((h for h in header if is_label(h)), None)
            if label is None:
                sys.exit(f"{path}: no label column (fwd_*, forward_*, label*); pass --label")
        if label not in header:
            sys.exit(f"{path}: no column {label!r} (columns: {', '.join(header)})")
        if features is None:
            features = [h for h in header
                        if h != label and h.lower() not in BOOKKEEPING and not is_label(h)]
        missing = [h for h in features if h not in header]
        if missing:
            sys.exit(f"{path}: no column(s) {', '.join(missing)}")
        fi = [header.index(h) for h in features]
        li = header.index(label)
        xs, ys = [], []
        for n, row in enumerate(r, start=2):
            try:
                y = float(row[li])
            except (ValueError, IndexError):
                continue  # no label (e.g. the last rows before the horizon)
            if math.isnan(y):
                continue
            try:
                xs.append([float(row[i]) if row[i] != "" else float("nan") for i in fi])
            except ValueError as e:
                sys.exit(f"{path}:{n}: {e}")
            ys.append(y)
    if not xs:
        sys.exit(f"{path}: no labelled rows")
    return np.array(xs), np.array(ys), features, label


def synthetic(n=20000, seed=5):
    """Rows with the engine's feature names and a forward return in bps
    that depends on imbalance, trade flow and microprice (plus noise)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x = np.zeros((n, len(SYNTHETIC_FEATURES)))
    x[:, 0] = 60000 + np.cumsum(rng.normal(size=n))
    x[:, 1] = rng.normal(scale=0.3, size=n)
    x[:, 2] = np.abs(rng.normal(scale=0.5, size=n)) + 0.1
    x[:, 3] = np.clip(rng.normal(scale=0.4, size=n), -1, 1)
    x[:, 4] = np.clip(rng.normal(scale=0.5, size=n), -1, 1)
    x[:, 5] = rng.normal(scale=2.0, size=n)
    x[:, 6] = rng.normal(scale=1.0, size=n)
    x[:, 7] = rng.normal(scale=1.0, size=n)
    x[rng.random(n) < 0.02, 4] = np.nan  # no trades in the window yet
    flow = np.nan_to_num(x[:, 4])
    y = 3.0 * x[:, 3] + 2.0 * flow + 2.5 * x[:, 1] - 0.5 * x[:, 2] + rng.normal(scale=1.5, size=n)
    return x, y, list(SYNTHETIC_FEATURES), "fwd_return_bps"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv")
    src.add_argument("--synthetic", action="store_true")
    ap.add_argument("--out", required=True, help="directory for model.txt and model.json")
    ap.add_argument("--label")
    ap.add_argument("--features", help="comma-separated feature columns")
    ap.add_argument("--objective", choices=["binary", "multiclass", "regression"], default="binary")
    ap.add_argument("--dead-band", type=float, default=1.0, help="label units (e.g. bps)")
    ap.add_argument("--buy", type=float, help="buy threshold (default 0.6 binary, +dead_band regression)")
    ap.add_argument("--sell", type=float, help="sell threshold (default 0.4 binary, -dead_band regression)")
    ap.add_argument("--min-p", type=float, default=0.5, help="multiclass: min class probability")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--valid", type=float, default=0.2)
    ap.add_argument("--version", help="model version string (default lgb-<objective>-<UTC time>)")
    ap.add_argument("--venv", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "target", "model-venv"))
    a = ap.parse_args()
    ensure_packages(a.venv)
    import lightgbm as lgb
    import numpy as np

    if a.synthetic:
        x, y, features, label = synthetic()
    else:
        x, y, features, label = read_csv(
            a.csv, a.label, a.features.split(",") if a.features else None)
    if a.objective == "binary":
        target = (y > a.dead_band).astype(float)
        params = {"objective": "binary"}
    elif a.objective == "multiclass":
        target = np.digitize(y, [-a.dead_band, a.dead_band + 1e-12]).astype(float)
        params = {"objective": "multiclass", "num_class": 3}
    else:
        target = y
        params = {"objective": "regression"}
    params.update(num_leaves=a.leaves, max_depth=a.depth, learning_rate=0.05,
                  min_data_in_leaf=20, verbose=-1, seed=1, deterministic=True)
    split = int(len(x) * (1 - a.valid))
    if split < 10 or len(x) - split < 10:
        sys.exit(f"only {len(x)} labelled rows: too few to train and validate")
    b = lgb.train(params, lgb.Dataset(x[:split], label=target[:split], feature_name=features),
                  num_boost_round=a.trees)
    p = b.predict(x[split:])
    t = target[split:]
    if a.objective == "binary":
        print(f"validation: {len(t)} rows, accuracy {np.mean((p > 0.5) == (t > 0.5)):.3f}, "
              f"base rate {np.mean(t):.3f}")
    elif a.objective == "multiclass":
        print(f"validation: {len(t)} rows, accuracy {np.mean(np.argmax(p, axis=1) == t):.3f}")
    else:
        print(f"validation: {len(t)} rows, correlation {np.corrcoef(p, t)[0, 1]:.3f}")

    os.makedirs(a.out, exist_ok=True)
    b.save_model(os.path.join(a.out, "model.txt"))
    version = a.version or "lgb-{}-{}".format(
        a.objective, datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    manifest = {"version": version, "kind": "lightgbm", "path": "model.txt", "features": features}
    if a.objective == "binary":
        manifest.update(buy_threshold=0.6 if a.buy is None else a.buy,
                        sell_threshold=0.4 if a.sell is None else a.sell)
    elif a.objective == "multiclass":
        manifest.update(classes=["sell", "hold", "buy"], min_class_probability=a.min_p)
    else:
        manifest.update(buy_threshold=a.dead_band if a.buy is None else a.buy,
                        sell_threshold=-a.dead_band if a.sell is None else a.sell)
    with open(os.path.join(a.out, "model.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {os.path.join(a.out, 'model.txt')} and {os.path.join(a.out, 'model.json')} "
          f"(version {version}, label {label}, {len(features)} features)")


if __name__ == "__main__":
    main()
