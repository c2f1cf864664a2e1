"""The serving benchmark's reference: the server a user might write instead of Trellis, FastAPI + uvicorn +
PyTorch (Debian's python3-fastapi, python3-uvicorn, python3-torch, python3-numpy, python3-onnx; run it
with Debian's /usr/bin/python3, not a python3 from a virtualenv or pyenv).

It serves an MLP (Linear → ReLU → Linear, e.g. 784→256→10) in PyTorch whose weights come from the very
ONNX file Trellis serves, so both answer the same question with the same numbers. Read from the graph:
MatMul + Add (as test/fixtures/onnx-models.ts writes it: W [in, out]) or Gemm (as torch.onnx.export writes
it: W [out, in], transB=1), then Relu, then the second layer; input and output names are the graph's.

Endpoints, KServe v2 shaped (the same JSON bodies as Trellis's):
  GET  /v2/health/ready            200 {"ready": true} once the model is loaded
  POST /v2/models/<name>/infer     {"inputs":[{"name":"x","shape":[N,784],"datatype":"FP32","data":[...]}]}
                                   → {"model_name":..., "outputs":[{"name":"y","shape":[N,10],"datatype":"FP32","data":[...]}]}
                                   data flat or nested; a bad request is 400 {"error": "..."}.

Written as a careful user would: one intra-op thread (torch.set_num_threads(1), the benchmark pins the
process to one core), inference_mode, the body parsed once with json and the reply written with
json.dumps (no pydantic models or jsonable_encoder in the hot path), uvicorn without access log.

    /usr/bin/python3 bench/serving/fastapi_server.py --model mlp.onnx [--name mlp] [--port 0]

prints `listening on http://127.0.0.1:<port> (<event loop>, <http protocol>, torch <version>)` once it
accepts connections (port 0 picks a free one).
"""

import argparse
import asyncio
import json
import socket
import sys

import numpy as np
import onnx
import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from onnx import numpy_helper


class Mlp(torch.nn.Module):
    def __init__(self, w1, b1, w2, b2):
        super().__init__()
        self.layer1 = torch.nn.Linear(w1.shape[1], w1.shape[0])
        self.layer2 = torch.nn.Linear(w2.shape[1], w2.shape[0])
        with torch.no_grad():
            self.layer1.weight.copy_(torch.from_numpy(w1))
            self.layer1.bias.copy_(torch.from_numpy(b1))
            self.layer2.weight.copy_(torch.from_numpy(w2))
            self.layer2.bias.copy_(torch.from_numpy(b2))

    def forward(self, x):
        return self.layer2(torch.relu(self.layer1(x)))


def load_mlp_from_onnx(path):
    """(model, input name, output name) of a two-layer MLP ONNX graph; SystemExit saying why for other graphs."""
    graph = onnx.load(path).graph
    init = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in graph.initializer}
    layers = []  # (weight [out, in], bias [out]) per dense layer, in graph order
    pending = None  # a MatMul's weight waiting for its Add
    for node in graph.node:
        if node.op_type == "Gemm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
                raise SystemExit(f"{path}: Gemm {node.name!r} with transA/alpha/beta is not a plain dense layer")
            w = init[node.input[1]]
            layers.append((w if attrs.get("transB", 0) else w.T, init[node.input[2]]))
        elif node.op_type == "MatMul" and node.input[1] in init:
            pending = init[node.input[1]].T
        elif node.op_type == "Add" and pending is not None:
            bias = next((init[i] for i in node.input if i in init), None)
            if bias is None:
                raise SystemExit(f"{path}: the Add after a MatMul has no bias initializer")
            layers.append((pending, bias))
            pending = None
        elif node.op_type != "Relu":
            raise SystemExit(f"{path}: unexpected {node.op_type} node; this reference serves Dense → Relu → Dense only")
    if len(layers) != 2:
        raise SystemExit(f"{path}: expected two dense layers, found {len(layers)}")
    (w1, b1), (w2, b2) = layers
    model = Mlp(np.ascontiguousarray(w1), b1, np.ascontiguousarray(w2), b2).eval()
    return model, graph.input[0].name, graph.output[0].name


def bad_request(message):
    return JSONResponse({"error": message}, status_code=400)


def create_app(model, model_name, input_name, output_name):
    features = model.layer1.in_features
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v2/health/ready")
    def ready():
        return {"ready": True}

    @app.post(f"/v2/models/{model_name}/infer")
    async def infer(request: Request):
        try:
            body = json.loads(await request.body())
            tensor = body["inputs"][0]
            name, shape, datatype, data = tensor["name"], tensor["shape"], tensor["datatype"], tensor["data"]
        except (ValueError, KeyError, IndexError, TypeError):
            return bad_request('expected {"inputs":[{"name","shape","datatype","data"}]} as JSON')
        if name != input_name:
            return bad_request(f"unknown input {name!r}: the model's input is {input_name!r}")
        if datatype != "FP32":
            return bad_request(f"input {name!r}: datatype {datatype!r}, expected FP32")
        if not (isinstance(shape, list) and len(shape) == 2 and shape[1] == features):
            return bad_request(f"input {name!r}: shape {shape}, expected [batch, {features}]")
        try:
            x = np.asarray(data, dtype=np.float32).reshape(shape)
        except (ValueError, TypeError):
            return bad_request(f"input {name!r}: data is not {shape[0] * features} numbers of shape {shape}")
        with torch.inference_mode():
            y = model(torch.from_numpy(x)).numpy()
        reply = {"model_name": model_name, "outputs": [
            {"name": output_name, "shape": list(y.shape), "datatype": "FP32", "data": y.ravel().tolist()}]}
        return Response(json.dumps(reply), media_type="application/json")

    return app


def main(argv):
    parser = argparse.ArgumentParser(description="FastAPI + PyTorch reference server of the serving benchmark")
    parser.add_argument("--model", required=True, help="the ONNX file of the MLP (its weights are served in PyTorch)")
    parser.add_argument("--name", default="mlp", help="model name in the URL (default mlp)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    model, input_name, output_name = load_mlp_from_onnx(args.model)
    app = create_app(model, args.name, input_name, output_name)

    # Bound here rather than by uvicorn so that port 0 works and the real port can be announced.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))

    startup = server.startup

    async def announce_after_startup(sockets=None):
        await startup(sockets=sockets)
        # uvicorn takes uvloop and httptools when installed (python3-uvloop, python3-httptools), else asyncio and h11.
        loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        http = server.config.http_protocol_class.__name__
        print(f"listening on http://{args.host}:{port} ({loop}, {http}, torch {torch.__version__})", flush=True)

    server.startup = announce_after_startup
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
