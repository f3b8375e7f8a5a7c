#!/usr/bin/env python3
"""Reference models for the engine's model loaders (tests/model_reference.rs).

Trains small LightGBM and XGBoost models (binary, regression, 3-class) and a
small ONNX MLP on generated data with missing values, and writes into OUT:

  rows.csv                  held-out feature rows (NaN written as "nan")
  engine_rows.csv           held-out rows for the models named with the engine's features
  lgb_{binary,regression,multiclass}.txt     booster.save_model(...)
  xgb_{binary,regression,multiclass}.json    Booster.save_model(...)
  mlp.onnx                  an MLP built with onnx.helper (no DL framework)
  <model>.pred.csv          the package's own predictions for rows.csv
                            (one line per row, one column per output)

Floats are written with repr() (shortest round-trip), so the Rust side reads
exactly the values the packages produced.

  python3 scripts/model_reference.py OUT            reference set (tests)
  python3 scripts/model_reference.py --bench benches/data   bench fixtures
      (20 features, depth 6, gzipped: LightGBM 100 trees, XGBoost 100 and 500
      trees, the XGBoost 100-tree model also as a gbdt-rs dump; the MLP)
  --engine-features a,b,c   also lgb_engine.txt / xgb_engine.json trained on
      the first len(names) columns under those (engine feature) names
  --venv DIR                where to create the virtual environment when the
      packages are missing (default: target/model-venv)

When numpy, lightgbm, xgboost (the `xgboost-cpu` wheel), onnx and onnxruntime
are not importable, the script creates a venv, pip-installs them there and
re-runs itself with it. Exit status 3 with a line starting "SKIP" means they
could not be installed (no venv module and no apt, no network, ...).
"""
import argparse
import json
import os
import subprocess
import sys

PACKAGES = ["numpy", "lightgbm", "xgboost-cpu", "onnx", "onnxruntime"]
MODULES = ["numpy", "lightgbm", "xgboost", "onnx", "onnxruntime"]


def have_packages():
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in MODULES)


def skip(msg):
    print(f"SKIP: {msg}", file=sys.stderr)
    sys.exit(3)


def ensure_packages(venv):
    """Re-executes this script inside a venv holding PACKAGES, creating it
    (and installing python3-venv with apt when the venv module is missing)."""
    if have_packages():
        return
    if os.environ.get("QT_MODEL_VENV_ACTIVE"):
        skip("packages still missing inside the venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        r = subprocess.run([sys.executable, "-m", "venv", venv])
        if r.returncode != 0:
            if os.geteuid() == 0 and subprocess.run(["which", "apt-get"], capture_output=True).returncode == 0:
                ver = f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
                subprocess.run(["apt-get", "update", "-q"])
                subprocess.run(["apt-get", "install", "-y", "-q", "python3-venv", ver])
                r = subprocess.run([sys.executable, "-m", "venv", venv])
            if r.returncode != 0:
                skip(f"cannot create a venv at {venv} (python3 -m venv failed)")
    check = subprocess.run([py, "-c", "import " + ",".join(MODULES)], capture_output=True)
    if check.returncode != 0:
        print(f"installing {' '.join(PACKAGES)} into {venv}", file=sys.stderr)
        r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *PACKAGES])
        if r.returncode != 0:
            skip(f"pip install {' '.join(PACKAGES)} failed")
    env = dict(os.environ, QT_MODEL_VENV_ACTIVE="1")
    sys.exit(subprocess.run([py, os.path.abspath(sys.argv[0]), *sys.argv[1:]], env=env).returncode)

N_FEATURES = 20


def make_data(rng, n, nan_share=0.05, n_features=N_FEATURES):
    x = rng.normal(size=(n, n_features))
    # A few features with missing values (NaN), some with exact zeros.
    for j in (0, 3, 7, 12):
        x[rng.random(n) < nan_share, j] = np.nan
    x[rng.random(n) < 0.05, 5] = 0.0
    x0 = np.nan_to_num(x, nan=0.7)
    z = (1.4 * x0[:, 0] - 0.9 * x0[:, 1] + 0.6 * x0[:, 2] * x0[:, 3]
         + 0.8 * np.sin(2.0 * x0[:, 4]) + 0.5 * np.isnan(x[:, 7])
         + 0.3 * x0[:, 12] ** 2 - 0.3)
    y_reg = z + 0.3 * rng.normal(size=n)
    y_bin = (y_reg > 0).astype(np.float64)
    y_cls = np.digitize(y_reg, [-0.7, 0.7]).astype(np.float64)  # 0 sell, 1 hold, 2 buy
    return x, y_reg, y_bin, y_cls


def write_rows(path, x):
    with open(path, "w") as f:
        f.write(",".join(f"f{j}" for j in range(x.shape[1])) + "\n")
        for row in x:
            f.write(",".join("nan" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def write_pred(path, p):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    with open(path, "w") as f:
        for row in p:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def lightgbm_models(out, x, ys, xt, trees, depth, kinds, suffix=""):
    import lightgbm as lgb
    params_by_kind = {
        "binary": {"objective": "binary"},
        "regression": {"objective": "regression"},
        "multiclass": {"objective": "multiclass", "num_class": 3},
    }
    for kind in kinds:
        params = dict(params_by_kind[kind], max_depth=depth, num_leaves=2 ** depth - 1,
                      learning_rate=0.1, min_data_in_leaf=5, verbose=-1, seed=7,
                      num_threads=1, deterministic=True)
        ds = lgb.Dataset(x, label=ys[kind], feature_name=[f"f{j}" for j in range(N_FEATURES)])
        b = lgb.train(params, ds, num_boost_round=trees)
        name = f"lgb_{kind}{suffix}"
        b.save_model(os.path.join(out, name + ".txt"))
        if xt is not None:
            write_pred(os.path.join(out, name + ".pred.csv"), b.predict(xt))


def xgboost_models(out, x, ys, xt, trees, depth, kinds, suffix=""):
    import xgboost as xgb
    params_by_kind = {
        "binary": {"objective": "binary:logistic"},
        "regression": {"objective": "reg:squarederror"},
        "multiclass": {"objective": "multi:softprob", "num_class": 3},
    }
    names = [f"f{j}" for j in range(N_FEATURES)]
    for kind in kinds:
        params = dict(params_by_kind[kind], max_depth=depth, eta=0.1, tree_method="hist",
                      seed=7, nthread=1)
        d = xgb.DMatrix(x, label=ys[kind], feature_names=names)
        b = xgb.train(params, d, num_boost_round=trees)
        name = f"xgb_{kind}{suffix}"
        b.save_model(os.path.join(out, name + ".json"))
        if xt is not None:
            write_pred(os.path.join(out, name + ".pred.csv"),
                       b.predict(xgb.DMatrix(xt, feature_names=names)))
        yield name, b


def gbdt_rs_dump(path, booster):
    """The format gbdt-rs reads (its convert_xgboost.py): the base score as a
    margin on the first line, then the JSON tree dump with integer feature
    indices."""
    import xgboost as xgb  # noqa: F401
    cfg = json.loads(booster.save_config())
    base = float(cfg["learner"]["learner_model_param"]["base_score"].strip("[]").split(",")[0])
    if cfg["learner"]["objective"]["name"] in ("binary:logistic", "reg:logistic"):
        base = -np.log(1.0 / base - 1.0)  # gbdt-rs adds it to the margin
    dump = booster.get_dump(dump_format="json")
    trees = []
    for t in dump:
        trees.append(json.loads(t))

    def strip_names(node):
        if "split" in node:
            node["split"] = int(str(node["split"]).lstrip("f"))
            for c in node["children"]:
                strip_names(c)
    for t in trees:
        strip_names(t)
    with open(path, "w") as f:
        f.write(repr(float(base)) + "\n")
        f.write(json.dumps(trees))


def mlp(out, xt, n_in=N_FEATURES, hidden=(32, 16), seed=11):
    """A 3-layer MLP (Gemm-Relu-Gemm-Relu-Gemm-Sigmoid) from onnx.helper,
    float32 weights; predictions by onnxruntime."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    sizes = [n_in, *hidden, 1]
    inits, nodes = [], []
    prev = "x"
    for i in range(len(sizes) - 1):
        w = (rng.normal(size=(sizes[i], sizes[i + 1])) / np.sqrt(sizes[i])).astype(np.float32)
        b = (0.1 * rng.normal(size=(sizes[i + 1],))).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"h{i}"]))
        prev = f"h{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
            prev = f"r{i}"
    nodes.append(helper.make_node("Sigmoid", [prev], ["p"]))
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", n_in])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["n", 1])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(out, "mlp.onnx")
    onnx.save(model, path)
    if xt is not None:
        try:
            import onnxruntime as ort
        except ImportError:
            print("SKIP: onnxruntime not installed; no mlp.pred.csv", file=sys.stderr)
            return
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        xin = np.nan_to_num(xt, nan=0.0).astype(np.float32)
        write_pred(os.path.join(out, "mlp.pred.csv"), sess.run(["p"], {"x": xin})[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--engine-features", default="")
    ap.add_argument("--venv", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "target", "model-venv"))
    a = ap.parse_args()
    ensure_packages(a.venv)
    global np
    import numpy as np
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(20261207)
    x, y_reg, y_bin, y_cls = make_data(rng, 6000)
    ys = {"binary": y_bin, "regression": y_reg, "multiclass": y_cls}
    if a.bench:
        # Kept small for the repository: LightGBM at 100 trees, XGBoost at
        # 100 and 500 trees (its files are the smaller), gzipped.
        lightgbm_models(a.out, x, ys, None, 100, 6, ["binary"], "_100x6")
        for trees in (100, 500):
            for name, b in xgboost_models(a.out, x, ys, None, trees, 6, ["binary"], f"_{trees}x6"):
                if trees == 100:
                    gbdt_rs_dump(os.path.join(a.out, name + ".gbdt"), b)
        mlp(a.out, None)
        import gzip
        for f in ["lgb_binary_100x6.txt", "xgb_binary_100x6.json", "xgb_binary_100x6.gbdt",
                  "xgb_binary_500x6.json"]:
            path = os.path.join(a.out, f)
            with open(path, "rb") as src, open(path + ".gz", "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as dst:
                    dst.write(src.read())
            os.remove(path)
        return
    xt, _, _, _ = make_data(np.random.default_rng(99), a.rows)
    write_rows(os.path.join(a.out, "rows.csv"), xt)
    kinds = ["binary", "regression", "multiclass"]
    lightgbm_models(a.out, x, ys, xt, 40, 6, kinds)
    for _ in xgboost_models(a.out, x, ys, xt, 40, 6, kinds):
        pass
    mlp(a.out, xt)
    if a.engine_features:
        engine_models(a.out, a.rows, a.engine_features.split(","))


def engine_models(out, rows, names):
    """Binary LightGBM and 3-class XGBoost models on as many columns as the
    engine has features, named as the engine's features (for the manifest
    test); their held-out rows go to engine_rows.csv."""
    import lightgbm as lgb
    import xgboost as xgb
    k = len(names)
    x, _, y_bin, y_cls = make_data(np.random.default_rng(7), 6000, n_features=k)
    ys = {"binary": y_bin, "multiclass": y_cls}
    xt, _, _, _ = make_data(np.random.default_rng(98), rows, n_features=k)
    write_rows(os.path.join(out, "engine_rows.csv"), xt)
    b = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": 3,
                   "num_threads": 1, "deterministic": True},
                  lgb.Dataset(x[:, :k], label=ys["binary"], feature_name=names), num_boost_round=30)
    b.save_model(os.path.join(out, "lgb_engine.txt"))
    write_pred(os.path.join(out, "lgb_engine.pred.csv"), b.predict(xt[:, :k]))
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "seed": 3, "nthread": 1}
    bx = xgb.train(params, xgb.DMatrix(x[:, :k], label=ys["multiclass"], feature_names=names),
                   num_boost_round=30)
    bx.save_model(os.path.join(out, "xgb_engine.json"))
    write_pred(os.path.join(out, "xgb_engine.pred.csv"),
               bx.predict(xgb.DMatrix(xt[:, :k], feature_names=names)))


if __name__ == "__main__":
    main()
