#!/usr/bin/env python3
"""Makes a float32 copy of the dynamically int8-quantised plate detector.

The upstream detector ships quantised with ONNX Runtime's dynamic quantisation (producer
"onnx.quantize" 0.1.0, opset 17). In yolo-v9-t-416-license-plates-end2end1.onnx every one of the
186 convolutions is

    DynamicQuantizeLinear(x) -> (xq, x_scale, x_zp)          (170 of them; 17 feed two convs)
    ConvInteger(xq, wq, x_zp, wzp)                           wq uint8 [Cout,Cin,kh,kw], wzp uint8 scalar
    -> Cast(to=float) -> Mul(., Mul(x_scale, w_scale))       w_scale float scalar (per-tensor)
    -> Add(., Reshape(bias))                                 bias float [Cout]  (185 of the 186)

and the end-to-end head's box conversion (xywh -> xyxy, a 4x4 matrix) is the same chain with
MatMulInteger. Every chain is replaced by a plain float Conv (MatMul) on the original float
activation, with weights (wq - wzp) * w_scale (per-channel zero points and scales would broadcast
along the output channels; this graph has per-tensor ones): the weights the quantiser started
from, up to its rounding (the 4x4 box matrix comes back exactly: 1, 0, +-0.5). The bias Add is
kept as it is (ONNX Runtime folds it into the Conv at its basic optimisation level). Nodes and
initializers nothing depends on any more (the quantisers, scales, zero points, int8 weights) are
removed. Anything that does not match the pattern exactly stops the script.

With --input-size S (a multiple of 32), the float network is also re-targeted to an S x S input:
it is fully convolutional, and only its box decoder holds constants derived from the input size
(the anchor-point grid of the three strides 8, 16, 32, their strides, and the anchor count in
reshapes); they are regenerated for S, and checked first to be exactly what the original holds
for its own size, so a different export fails loudly instead of decoding wrong boxes.

  models/dequantize_detector.py IN.onnx OUT.onnx [--input-size S]

Deterministic: the same input gives the same bytes, the sha256 printed at the end (pinned in
manifest.toml; for the 416 model 66bdf42e44233c7c97a4a41b8bb891c35b0d6a4570c4b0d5809d24376490ec3f
with the versions in models/requirements.txt).
"""
import hashlib
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def dequantize(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def only_consumer(name, op):
        users = consumers.get(name, [])
        if len(users) != 1 or users[0].op_type != op:
            raise ValueError(f"{name}: expected a single {op} consumer, found {[u.op_type for u in users]}")
        return users[0]

    new_inits = []
    replaced = {}  # id(node) -> replacement node (or None to drop)
    for node in graph.node:
        if node.op_type not in ("ConvInteger", "MatMulInteger"):
            continue
        if len(node.input) != 4:
            raise ValueError(f"{node.name}: expected inputs (x, w, x_zero_point, w_zero_point), got {list(node.input)}")
        xq, wq_name, xzp_name, wzp_name = node.input
        quantize = producer.get(xq)
        if quantize is None or quantize.op_type != "DynamicQuantizeLinear":
            raise ValueError(f"{node.name}: input is not dynamically quantised")
        x = quantize.input[0]
        _, x_scale_name, x_zp_name = quantize.output
        if xzp_name != x_zp_name:
            raise ValueError(f"{node.name}: x_zero_point is not its DynamicQuantizeLinear's")
        if wq_name not in inits or wzp_name not in inits:
            raise ValueError(f"{node.name}: weights or their zero point are not initializers")
        cast = only_consumer(node.output[0], "Cast")
        cast_to = [a.i for a in cast.attribute if a.name == "to"]
        if cast_to != [onnx.TensorProto.FLOAT]:
            raise ValueError(f"{node.name}: the Cast after it is not to float32")
        mul = only_consumer(cast.output[0], "Mul")
        scale_name = [i for i in mul.input if i != cast.output[0]][0]
        scale_mul = producer.get(scale_name)  # Mul(x_scale, w_scale)
        if scale_mul is None or scale_mul.op_type != "Mul" or x_scale_name not in scale_mul.input:
            raise ValueError(f"{node.name}: the output scale is not Mul(x_scale, w_scale)")
        w_scale_name = [i for i in scale_mul.input if i != x_scale_name][0]
        if w_scale_name not in inits:
            raise ValueError(f"{node.name}: w_scale is not an initializer")
        wq = numpy_helper.to_array(inits[wq_name]).astype(np.float32)
        wzp = numpy_helper.to_array(inits[wzp_name]).astype(np.float32)
        w_scale = numpy_helper.to_array(inits[w_scale_name]).astype(np.float32)
        if node.op_type == "ConvInteger":
            # per-channel parameters apply along the output-channel axis
            shape = (-1,) + (1,) * (wq.ndim - 1)
            w = (wq - wzp.reshape(shape if wzp.ndim else ())) * w_scale.reshape(shape if w_scale.ndim else ())
        else:
            w = (wq - wzp) * w_scale
        w_name = wq_name.replace("_quantized", "") + "_float"
        new_inits.append(numpy_helper.from_array(w.astype(np.float32), w_name))
        op = "Conv" if node.op_type == "ConvInteger" else "MatMul"
        float_node = helper.make_node(op, [x, w_name], [mul.output[0]], name=(node.name or mul.output[0]) + "_float")
        float_node.attribute.extend(node.attribute)
        replaced[id(node)] = float_node
        replaced[id(cast)] = None
        replaced[id(mul)] = None

    nodes = []
    for node in graph.node:
        if id(node) in replaced:
            if replaced[id(node)] is not None:
                nodes.append(replaced[id(node)])
        else:
            nodes.append(node)
    graph.ClearField("node")
    graph.node.extend(nodes)
    graph.initializer.extend(new_inits)
    remove_dead(graph)
    return model


def remove_dead(graph):
    """Drops nodes and initializers no graph output depends on (the quantisers, the scales)."""
    producer = {o: n for n in graph.node for o in n.output}
    needed = {o.name for o in graph.output}
    live = []
    stack = list(needed)
    seen = set()
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        live.append(node)
        for i in node.input:
            if i:
                needed.add(i)
                stack.append(i)
    order = [n for n in graph.node if id(n) in seen]
    graph.ClearField("node")
    graph.node.extend(order)
    inits = [i for i in graph.initializer if i.name in needed]
    graph.ClearField("initializer")
    graph.initializer.extend(inits)
    value_info = [v for v in graph.value_info if v.name in needed]
    graph.ClearField("value_info")
    graph.value_info.extend(value_info)


STRIDES = (8, 16, 32)


def anchor_grid(size):
    """Anchor points (cell centres) and their strides, as the YOLOv8/v9 decoder makes them."""
    points, strides = [], []
    for s in STRIDES:
        n = size // s
        sy, sx = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
        points.append(np.stack((sx, sy), -1).reshape(-1, 2))
        strides.append(np.full(n * n, s))
    return np.concatenate(points).T[None].astype(np.float32), np.concatenate(strides)[None].astype(np.float32)


def anchor_count(size):
    return sum((size // s) ** 2 for s in STRIDES)


def retarget(model, size):
    if size % 32:
        sys.exit(f"--input-size {size} is not a multiple of 32")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    old = dims[2].dim_value
    n_old, n_new = anchor_count(old), anchor_count(size)
    old_points, old_strides = anchor_grid(old)
    new_points, new_strides = anchor_grid(size)
    found = set()
    for init in model.graph.initializer:
        a = numpy_helper.to_array(init)
        replacement = None
        if a.dtype == np.float32 and a.shape == old_points.shape and np.array_equal(a, old_points):
            replacement, kind = new_points, "points"
        elif a.dtype == np.float32 and a.shape == old_strides.shape and np.array_equal(a, old_strides):
            replacement, kind = new_strides, "strides"
        elif a.dtype == np.int64 and a.ndim == 1 and a.size <= 4 and a.size >= 1 and a[-1] == n_old:
            replacement, kind = a.copy(), f"count{a.size}"
            replacement[-1] = n_new
        if replacement is not None:
            found.add(kind)
            init.CopyFrom(numpy_helper.from_array(replacement, init.name))
    expected = {"points", "strides", "count1", "count3", "count4"}
    if found != expected:
        sys.exit(f"unexpected decoder: found {sorted(found)}, expected {sorted(expected)}")
    dims[2].dim_value = size
    dims[3].dim_value = size
    model.graph.ClearField("value_info")
    return model


def main():
    args = sys.argv[1:]
    size = None
    if "--input-size" in args:
        i = args.index("--input-size")
        size = int(args[i + 1])
        del args[i : i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    sys.argv[1:] = args
    model = onnx.load(sys.argv[1])
    model = dequantize(model)
    if size is not None:
        model = retarget(model, size)
    onnx.checker.check_model(model)
    remaining = {n.op_type for n in model.graph.node} & {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}
    if remaining:
        sys.exit(f"quantised operators left: {remaining}")
    data = model.SerializeToString(deterministic=True)
    with open(sys.argv[2], "wb") as f:
        f.write(data)
    print(hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main()
