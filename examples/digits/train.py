"""Trains a small MLP on scikit-learn's handwritten digits (8x8 images, 10 classes) with PyTorch.

Tracking goes through the MLflow REST API with plain `requests`, so the script needs no MLflow package:
it logs into the run that MLFLOW_RUN_ID names at MLFLOW_TRACKING_URI (what `trellis run` gives a
container), sending MLFLOW_TRACKING_TOKEN as a bearer token when set. Without MLFLOW_RUN_ID it creates a
run in MLFLOW_EXPERIMENT_ID (default "0") and closes it itself; without MLFLOW_TRACKING_URI it only trains.

Logged: params lr, epochs, hidden, batch_size, seed; per epoch (step = epoch) train_loss and
test_accuracy; the model exported to ONNX (input "input" [batch, 64] float32, output "logits" [batch, 10],
batch dimension dynamic) as the artifact model/model.onnx.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import requests
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

FEATURES = 64  # 8x8 pixels
CLASSES = 10


class MlflowRest:
    """The few MLflow REST calls this script needs (tracking service 2.0 and proxied artifacts)."""

    def __init__(self, uri, token):
        self.uri = uri.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method, path, **kwargs):
        res = self.session.request(method, f"{self.uri}{path}", timeout=60, **kwargs)
        if not res.ok:
            # MLflow error bodies say what was wrong: {"error_code": ..., "message": ...}
            raise SystemExit(f"MLflow call {method} {path} failed with HTTP {res.status_code}: {res.text}")
        return res.json() if res.content else {}

    def create_run(self, experiment_id):
        body = {"experiment_id": experiment_id, "start_time": now_ms(), "run_name": "digits-mlp"}
        return self._call("POST", "/api/2.0/mlflow/runs/create", json=body)["run"]["info"]["run_id"]

    def end_run(self, run_id, status):
        body = {"run_id": run_id, "status": status, "end_time": now_ms()}
        self._call("POST", "/api/2.0/mlflow/runs/update", json=body)

    def log_batch(self, run_id, params=(), metrics=()):
        self._call("POST", "/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "params": list(params), "metrics": list(metrics)})

    def log_artifact(self, run_id, local_path, artifact_path):
        # As MLflow's client does: the run's artifact URI `mlflow-artifacts:/<experiment>/<run>/artifacts`
        # maps onto the server's proxied artifact routes.
        artifact_uri = self._call("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id})["run"]["info"]["artifact_uri"]
        scheme = "mlflow-artifacts:"
        if not artifact_uri.startswith(scheme):
            raise SystemExit(f"cannot upload artifacts: the run's artifact URI {artifact_uri!r} is not {scheme}/...")
        root = artifact_uri[len(scheme):].lstrip("/")
        with open(local_path, "rb") as f:
            self._call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{root}/{artifact_path}", data=f)


def now_ms():
    return int(time.time() * 1000)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Kept as the strings given: MLflow params are strings, and one logged twice (by `trellis run --param`
    # and here) must be the same string.
    parser.add_argument("--lr", default="0.01", help="Adam learning rate (default 0.01)")
    parser.add_argument("--epochs", default="10", help="passes over the training set (default 10)")
    parser.add_argument("--hidden", default="64", help="hidden layer width (default 64)")
    parser.add_argument("--batch-size", default="32", help="mini-batch size (default 32)")
    parser.add_argument("--seed", default="0", help="seed of the split, the initial weights and the shuffling (default 0)")
    args = parser.parse_args(argv)
    try:
        values = {"lr": float(args.lr), "epochs": int(args.epochs), "hidden": int(args.hidden),
                  "batch_size": int(args.batch_size), "seed": int(args.seed)}
    except ValueError as err:
        parser.error(f"{err}: --lr takes a number; --epochs, --hidden, --batch-size and --seed take whole numbers")
    if values["lr"] <= 0 or min(values["epochs"], values["hidden"], values["batch_size"]) < 1:
        parser.error("--lr must be above 0 and --epochs, --hidden, --batch-size at least 1")
    raw = {"lr": args.lr, "epochs": args.epochs, "hidden": args.hidden, "batch_size": args.batch_size, "seed": args.seed}
    return values, raw


def load_data(seed):
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixel intensities 0..16 → 0..1
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    return (torch.from_numpy(x_train), torch.from_numpy(y_train)), (torch.from_numpy(x_test), torch.from_numpy(y_test))


def build_model(hidden):
    return torch.nn.Sequential(torch.nn.Linear(FEATURES, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, CLASSES))


def train_epoch(model, optimizer, x, y, batch_size, generator):
    model.train()
    order = torch.randperm(len(x), generator=generator)
    total = 0.0
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(x)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def export_onnx(model, path):
    model.eval()
    torch.onnx.export(
        model, torch.zeros(1, FEATURES), path,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=13,
    )


def main(argv):
    hp, raw_params = parse_args(argv)
    torch.manual_seed(hp["seed"])
    generator = torch.Generator().manual_seed(hp["seed"])

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    tracker = MlflowRest(uri, os.environ.get("MLFLOW_TRACKING_TOKEN")) if uri else None
    run_id = os.environ.get("MLFLOW_RUN_ID")
    own_run = tracker is not None and not run_id
    if own_run:
        run_id = tracker.create_run(os.environ.get("MLFLOW_EXPERIMENT_ID", "0"))
    print(f"tracking: {f'run {run_id} at {uri}' if tracker else 'off (MLFLOW_TRACKING_URI is not set)'}")

    try:
        (x_train, y_train), (x_test, y_test) = load_data(hp["seed"])
        print(f"digits: {len(x_train)} training and {len(x_test)} test images")
        if tracker:
            tracker.log_batch(run_id, params=[{"key": k, "value": v} for k, v in raw_params.items()])

        model = build_model(hp["hidden"])
        optimizer = torch.optim.Adam(model.parameters(), lr=hp["lr"])
        for epoch in range(1, hp["epochs"] + 1):
            loss = train_epoch(model, optimizer, x_train, y_train, hp["batch_size"], generator)
            acc = accuracy(model, x_test, y_test)
            print(f"epoch {epoch}/{hp['epochs']}: train_loss {loss:.4f} test_accuracy {acc:.4f}")
            if tracker:
                ts = now_ms()
                tracker.log_batch(run_id, metrics=[
                    {"key": "train_loss", "value": loss, "timestamp": ts, "step": epoch},
                    {"key": "test_accuracy", "value": acc, "timestamp": ts, "step": epoch},
                ])

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.onnx")
            export_onnx(model, path)
            print(f"exported ONNX model ({os.path.getsize(path)} bytes, dynamic batch dimension)")
            if tracker:
                tracker.log_artifact(run_id, path, "model/model.onnx")
                print("logged artifact model/model.onnx")
    except BaseException:
        if own_run:
            tracker.end_run(run_id, "FAILED")
        raise
    if own_run:
        tracker.end_run(run_id, "FINISHED")


if __name__ == "__main__":
    main(sys.argv[1:])
