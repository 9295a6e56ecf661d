#!/usr/bin/env python3
"""PyTorch twin of one search iteration of the crate's main job supernet, for a speed comparison.

What it replicates
------------------
One iteration of ``Search`` (``src/search/mod.rs``, ``src/search/step.rs``) on the supernet that
``benches/search_iteration.rs`` times (the defaults of ``examples/search.rs``), layer for layer
and in the same order:

* three ``SmallCnn`` branches (``src/branch/small_cnn.rs``, built by ``src/experiment`` from
  ``Experiment::two_tasks().stages = Stage::pyramid(&[(2, 16), (2, 32), (2, 48)])``): three stages
  of two nodes each, 16, 16, 32, 32, 48, 48 channels at strides 1, 1, 2, 2, 4, 4. Each node is
  ``[max-pool 2 / stride 2 before the first node of stages 2 and 3] -> conv3x3 (padding 1, no
  bias, Kaiming normal fan-out) -> BN(eps 1e-3, momentum 0.05) -> ReLU``; every branch reads all
  3 input channels (no input view). 24 x 32 -> 12 x 16 -> 6 x 8. Head (``src/branch/head.rs``,
  dense): a 1x1 convolution with bias (weights N(0, 0.01), bias 0) on the fused last node, at
  6 x 8. Tasks and outputs: ``seg`` (7 classes), ``normal`` (3), ``material`` (4 classes).
* the main job's edge rule (``RunSettings::new``: ``EdgeRule::same_stage()``, depth limit 3,
  ``src/space/``): target layer i of one task takes source layer j of every other task iff both
  are in the same stage, j <= i and i - j < 3. With two-node stages that is 3 edges per stage and
  ordered task pair: 9 per pair, 6 ordered pairs, 54 edges; every one of the 18 nodes gets a
  fusion (one source per other task at a stage's first node, two at its second). Same stage
  means same stride, so no source is ever resized (the twin would resize bilinearly with
  ``align_corners=False`` as ``src/resample.rs`` does, and counts it). Edges are ordered by
  (target task, target layer, source task, source layer), one architecture logit each,
  initialised to 0. The schedule runs layer i of every task, then the fusion of node i of every
  task, and frees each pre-fusion feature after its last reader, as ``Supernet::forward`` does.
* NDDR fusion at every node (``src/fusion/nddr.rs``):
  ``ReLU(BN(conv1x1_nobias(concat[own, c_e1 * src_e1, c_e2 * src_e2, ...])))`` on the sources'
  pre-fusion features, BN eps 1e-3 / momentum 0.05, initialised as the main job's searched
  supernet (``FusionConfig::nddr(1, 0)``: identity on the own feature, zeros on the sources).
* one iteration with the bench's ``SearchConfig``: ``SearchConfig::short(steps)`` with batch 8
  (no cost penalty: the main job's reference row ``MTL-NAS`` has none, only its separate
  ``MTL-NAS + cost`` row does; task weights all 1 and lr 0.01, as the bench's config: the
  job's ``--learning-rate 0.03`` and ``--normal-weight 0.3`` defaults change no timing):
  - the entropy ``H`` of the logits is computed for the log first (``src/arch/regularizer.rs``:
    the mean over ordered task pairs of the mean edge entropy ``softplus(a) - a * sigmoid(a)``);
  - architecture step (train-mode BN, on the "search" batch): ``c = sigmoid(alpha)``, loss =
    ``L_seg + L_normal + L_material + lambda_t * H`` with the linear ramp
    ``lambda_t = 10 * step / steps``; forward and backward with every weight but the logits
    frozen (the crate runs this step on a view whose weights need no gradient, so no
    weight-gradient product is computed); Adam on the logits only (lr 0.01, betas (0.5, 0.999),
    eps 1e-8, coupled weight decay 1e-3);
  - weight step (train-mode BN, on the "train" batch): relaxed Bernoulli
    ``c = sigmoid((alpha + ln u - ln(1 - u)) / T)`` with ``T = (1 - step / steps)^2``, task losses
    only, backward, SGD (momentum 0.9, no dampening) on every weight but the logits, base lr
    ``0.01 * (1 - step / steps)^0.9`` with multipliers branches x1, heads (weight and bias) x1,
    fusions (1x1 weights and their BN) x10, weight decay 2.5e-4 on tensors of rank >= 2 only;
  - losses as ``src/task/segmentation.rs`` (cross-entropy, labels outside the classes (255)
    ignored, logits upsampled bilinearly with ``align_corners=True`` from 6 x 8 to the label size;
    ``material`` is the same task with 4 classes) and ``src/task/normals.rs``
    (``1 - mean over valid pixels of cos(pred, gt)``, prediction upsampled the same way, squared
    norms clamped at 1e-16);
  - like the crate, the losses, the count of non-finite gradient entries of each step, the
    entropy and the logits are queued and read back to the host once per iteration, and a
    non-finite loss or gradient stops the run (``--no-finite-check`` leaves the counts out).

Not replicated, known differences
---------------------------------
* Data: the inputs are fixed random tensors made once on the device, one batch for the
  architecture step and another for the weight step (as the crate draws a "search" and a
  "train" batch): images ~ N(0, 1); ``seg`` labels uniform in [0, 7); ``material`` labels uniform
  in [0, 4) with ~60% set to 255 (the synthetic scenes ignore the room's surfaces); normals random
  unit vectors, ~90% of the pixels valid. The crate renders its synthetic scenes, flips them and
  builds the batch tensors inside the timed iteration; ``search_iteration --describe`` prints that
  time as ``data_s`` (seconds for both batches), to be subtracted when comparing.
* Arithmetic forms: PyTorch's own kernels (``F.conv2d``, ``F.interpolate``, ``F.cross_entropy``)
  where the crate uses burn's (its bilinear resize is two matrix products, its NDDR 1x1
  convolution one matrix product per input block: ``--fusion-impl blocks`` is that form). The
  values agree up to float rounding; random streams (weights, noise) are not the crate's.

This file was written for the comparison from the crate's Rust sources and the method notes
(``shared/spec/method.md``), on the pattern of ``benches/pytorch_reference.py``; it is not copied
from the reference implementation (bhpfelix/MTLNAS).

Commands (``python``: one with torch, e.g. ``/tmp/torchenv/bin/python``)::

    # the twin of `cargo bench --bench search_iteration -- --steps 60` (2 threads, CPU)
    python benches/pytorch_small.py --threads 2 --iterations 55 --warmup 5
    # the network's counts, compared with the crate's
    cargo bench --locked --bench search_iteration -- --describe | grep '^{' > /tmp/crate.json
    python benches/pytorch_small.py --check-describe /tmp/crate.json
    # tiny smoke run
    python benches/pytorch_small.py --iterations 2 --warmup 1 --threads 1

``benches/compare.sh`` (``CASES=small``) runs both, interleaved. Use ``--device cuda`` on a GPU.
The last line printed (on stdout) is one JSON object with the fields of
``pytorch_reference.py``'s; peak memory is the growth of the process's peak resident set size
from before the network is built to the end (CPU), or ``torch.cuda.max_memory_allocated`` (CUDA),
in MB of 10^6 bytes.
"""

import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The losses, the regulariser and the device sync are the VGG twin's, unchanged.
from pytorch_reference import entropy, normals_loss, pair_average, segmentation_loss, sync

# --- the crate's constants ---------------------------------------------------------------------

# Experiment::two_tasks().stages: (layers, channels) per stage, stride doubling per stage.
STAGES = [(2, 16), (2, 32), (2, 48)]
# The tasks `search_iteration` takes (`--tasks`): outputs and kind of target.
TASK_SPECS = {
    "seg": (7, "labels"),  # SCENE_CLASSES
    "normal": (3, "normals"),
    "material": (4, "labels"),  # MATERIAL_CLASSES
}
INPUT_CHANNELS = 3
DEPTH_LIMIT = 3  # EdgeRule::same_stage()
BN_EPS = 1e-3
BN_MOMENTUM = 0.05
HEAD_STD = 0.01
IGNORE = 255
# SearchConfig::short(steps)
LR = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 2.5e-4
POLY_POWER = 0.9
BACKBONE_MULT = 1.0
CLASSIFIER_WEIGHT_MULT = 1.0
CLASSIFIER_BIAS_MULT = 1.0
FUSION_MULT = 10.0
ARCH_LR = 0.01
ARCH_BETAS = (0.5, 0.999)
ARCH_EPS = 1e-8
ARCH_WEIGHT_DECAY = 1e-3
ENTROPY_WEIGHT = 10.0  # EntropySchedule::LinearRamp
INITIAL_TEMPERATURE = 1.0
TEMPERATURE_POWER = 2.0


def nodes_of(stages):
    """Per node: (stage, channels, stride, pool before it), as `SmallCnnConfig::init` lays out."""
    nodes = []
    previous = 1
    for stage, (layers, channels) in enumerate(stages):
        stride = 1 << stage  # Stage::pyramid
        pool = stride // previous
        previous = stride
        for layer in range(layers):
            nodes.append((stage, channels, stride, pool if layer == 0 else 1))
    return nodes


# --- branch ------------------------------------------------------------------------------------


class SmallCnn(nn.Module):
    """`src/branch/small_cnn.rs`: [pool?] -> conv3x3 -> BN -> ReLU per node, a dense 1x1 head."""

    def __init__(self, nodes, outputs):
        super().__init__()
        self.pools = [pool for (_, _, _, pool) in nodes]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        channels = INPUT_CHANNELS
        for (_, width, _, _) in nodes:
            conv = nn.Conv2d(channels, width, 3, padding=1, bias=False)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            self.convs.append(conv)
            self.norms.append(nn.BatchNorm2d(width, eps=BN_EPS, momentum=BN_MOMENTUM))
            channels = width
        self.head = nn.Conv2d(channels, outputs, 1, bias=True)
        nn.init.normal_(self.head.weight, 0.0, HEAD_STD)
        nn.init.zeros_(self.head.bias)

    def layer_forward(self, layer, x):
        pool = self.pools[layer]
        if pool > 1:
            x = F.max_pool2d(x, pool, pool)
        return F.relu(self.norms[layer](self.convs[layer](x)))

    def head_forward(self, x):
        return self.head(x)


# --- search space ------------------------------------------------------------------------------


def same_stage_edges(nodes, tasks):
    """The reference rule's edges as (target task, target layer, source task, source layer),
    sorted as the crate stores them."""
    edges = []
    for t in range(tasks):
        for i, (stage_i, _, _, _) in enumerate(nodes):
            for s in range(tasks):
                if s == t:
                    continue
                for j, (stage_j, _, _, _) in enumerate(nodes):
                    if stage_j == stage_i and j <= i and i - j < DEPTH_LIMIT:
                        edges.append((t, i, s, j))
    edges.sort()
    return edges


# --- fusion ------------------------------------------------------------------------------------


class NddrFusion(nn.Module):
    """`ReLU(BN(conv1x1_nobias(concat[own, c_1 src_1, ...])))`, `src/fusion/nddr.rs`.

    `inputs`: list of (edge index, source channels) in concatenation order."""

    def __init__(self, channels, inputs, own=1.0, sources=0.0, impl="concat"):
        super().__init__()
        self.channels = channels
        self.inputs = list(inputs)
        self.impl = impl
        total = channels + sum(c for _, c in self.inputs)
        weight = torch.zeros(channels, total, 1, 1)
        weight[:, :channels, 0, 0] += own * torch.eye(channels)
        share = sources / len(self.inputs) if self.inputs else 0.0
        offset = channels
        for _, c in self.inputs:
            weight[:, offset:offset + c, 0, 0] += share * torch.eye(channels, c)
            offset += c
        self.weight = nn.Parameter(weight)
        self.norm = nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, own, sources, c):
        """`sources`: one tensor per input, in order; `c`: [num_edges] connectivity weights."""
        w = self.weight
        blocks = [w[:, : self.channels]]
        scales = []
        offset = self.channels
        for (edge, ch) in self.inputs:
            blocks.append(w[:, offset:offset + ch])
            scales.append(c[edge])
            offset += ch
        if self.impl == "reference":  # scale the features, concatenate, convolve
            x = torch.cat([own] + [s * f for s, f in zip(scales, sources)], 1)
            out = F.conv2d(x, w)
        elif self.impl == "blocks":  # the crate's form: one product per input block, summed
            out = F.conv2d(own, blocks[0])
            for s, b, f in zip(scales, blocks[1:], sources):
                out = out + F.conv2d(f, b * s)
        else:  # concat: scale the weight blocks, one convolution over the concatenation
            weight = torch.cat([blocks[0]] + [b * s for s, b in zip(scales, blocks[1:])], 1)
            out = F.conv2d(torch.cat([own] + list(sources), 1), weight)
        return F.relu(self.norm(out))


# --- supernet ----------------------------------------------------------------------------------


class Supernet(nn.Module):
    """Every branch, an NDDR fusion at every node with edges, one logit per edge
    (`src/net/supernet/`), run on the crate's schedule."""

    def __init__(self, task_names, fusion_impl="concat"):
        super().__init__()
        self.task_names = list(task_names)
        self.nodes = nodes_of(STAGES)
        tasks = len(self.task_names)
        self.branches = nn.ModuleList(
            [SmallCnn(self.nodes, TASK_SPECS[name][0]) for name in self.task_names])
        self.edges = same_stage_edges(self.nodes, tasks)
        self.fusions = nn.ModuleDict()
        for t in range(tasks):
            for i, (_, channels, _, _) in enumerate(self.nodes):
                inputs = [(e, self.nodes[j][1]) for e, (tt, ii, _, j) in enumerate(self.edges)
                          if (tt, ii) == (t, i)]
                if inputs:  # FusionConfig::nddr(1, 0), the searched supernet's
                    self.fusions[f"{t}_{i}"] = NddrFusion(channels, inputs, 1.0, 0.0, fusion_impl)
        self.logits = nn.Parameter(torch.zeros(len(self.edges)))
        # Last layer whose fusions read node (task, layer)'s pre-fusion feature.
        self.last_use = {(t, i): i for t in range(tasks) for i in range(len(self.nodes))}
        for (t, i, s, j) in self.edges:
            self.last_use[(s, j)] = max(self.last_use[(s, j)], i)

    def fusion(self, task, layer):
        return self.fusions[f"{task}_{layer}"] if f"{task}_{layer}" in self.fusions else None

    def forward(self, images, c, trace=None):
        """One output per task. `trace` (a dict), when given, gets every node's size and the
        MACs of the resizes."""
        tasks = len(self.branches)
        pre = {}
        resized = {}
        x = [images] * tasks
        for i in range(len(self.nodes)):
            for t in range(tasks):
                pre[(t, i)] = self.branches[t].layer_forward(i, x[t])
                if trace is not None:
                    trace.setdefault("node_sizes", {})[(t, i)] = list(pre[(t, i)].shape[-2:])
            for t in range(tasks):
                own = pre[(t, i)]
                fusion = self.fusion(t, i)
                if fusion is None:
                    x[t] = own
                    continue
                size = tuple(own.shape[-2:])
                sources = []
                for edge, _ in fusion.inputs:
                    _, _, s, j = self.edges[edge]
                    src = pre[(s, j)]
                    if tuple(src.shape[-2:]) != size:  # never under the same-stage rule
                        key = (s, j, size)
                        if key not in resized:
                            resized[key] = F.interpolate(src, size=size, mode="bilinear",
                                                         align_corners=False)
                            if trace is not None:
                                (hs, ws), (ht, wt) = src.shape[-2:], size
                                ch = src.shape[1]
                                trace["resize_macs"] = (trace.get("resize_macs", 0)
                                                        + ch * hs * ws * wt + ch * ht * hs * wt)
                        src = resized[key]
                    sources.append(src)
                x[t] = fusion(own, sources, c)
            for key in [k for k in pre if self.last_use[k] <= i]:
                del pre[key]
                for r in [r for r in resized if r[:2] == key]:
                    del resized[r]
        return [self.branches[t].head_forward(x[t]) for t in range(tasks)]

    def describe(self, height, width):
        """The counts `search_iteration --describe` prints, from this network's own modules:
        parameters by counting them, MACs per image by running one image through."""
        tasks = len(self.branches)
        macs = {}

        def count(name):
            def hook(module, _inputs, output):
                pixels = output.shape[-2] * output.shape[-1]
                macs[name] = macs.get(name, 0) + module.weight.numel() * pixels
            return hook

        handles = []
        for t, branch in enumerate(self.branches):
            for conv in branch.convs:
                handles.append(conv.register_forward_hook(count(("branch", t))))
            handles.append(branch.head.register_forward_hook(count(("head", t))))
        for key, fusion in self.fusions.items():
            handles.append(fusion.register_forward_hook(count(("fusion", key))))
        trace = {}
        was_training = self.training
        self.eval()
        with torch.no_grad():
            device = self.logits.device
            self(torch.zeros(1, INPUT_CHANNELS, height, width, device=device),
                 torch.ones(len(self.edges), device=device), trace)
        self.train(was_training)
        for h in handles:
            h.remove()

        numel = lambda params: sum(p.numel() for p in params)  # noqa: E731
        fusion_keys = [(t, i) for t in range(tasks) for i in range(len(self.nodes))
                       if self.fusion(t, i) is not None]
        branch_params = [numel(b.convs.parameters()) + numel(b.norms.parameters())
                         for b in self.branches]
        head_params = [numel(b.head.parameters()) for b in self.branches]
        fusion_params = [numel(self.fusion(t, i).parameters()) for t, i in fusion_keys]
        fusion_macs = [macs[("fusion", f"{t}_{i}")] for t, i in fusion_keys]
        running = sum(buf.numel() for name, buf in self.named_buffers()
                      if name.endswith("running_mean") or name.endswith("running_var"))
        total_params = sum(branch_params) + sum(head_params) + sum(fusion_params)
        resize_macs = trace.get("resize_macs", 0)
        branch_macs = [macs[("branch", t)] for t in range(tasks)]
        head_macs = [macs[("head", t)] for t in range(tasks)]
        return {
            "run": "describe",
            "framework": "pytorch",
            "tasks": self.task_names,
            "size": f"{height}x{width}",
            "edges": len(self.edges),
            "fusions": len(fusion_keys),
            "edge_list": [list(e) for e in self.edges],
            "fusion_nodes": [list(k) for k in fusion_keys],
            "node_sizes": [[trace["node_sizes"][(t, i)] for i in range(len(self.nodes))]
                           for t in range(tasks)],
            "branch_params": branch_params,
            "branch_macs": branch_macs,
            "head_params": head_params,
            "head_macs": head_macs,
            "fusion_params": fusion_params,
            "fusion_macs": fusion_macs,
            "resize_macs": resize_macs,
            "total_params": total_params,
            "total_macs": sum(branch_macs) + sum(head_macs) + sum(fusion_macs) + resize_macs,
            "logits": self.logits.numel(),
            # burn's Module::num_params also counts the BN running mean/var and the logits.
            "burn_num_params": total_params + running + self.logits.numel(),
        }


# --- optimisers --------------------------------------------------------------------------------


def weight_optimizer(net):
    """SGD groups by (learning-rate multiplier, decayed): rank >= 2 tensors are decayed."""
    groups = {}

    def add(param, mult):
        groups.setdefault((mult, param.dim() >= 2), []).append(param)

    for branch in net.branches:
        for p in list(branch.convs.parameters()) + list(branch.norms.parameters()):
            add(p, BACKBONE_MULT)
        add(branch.head.weight, CLASSIFIER_WEIGHT_MULT)
        add(branch.head.bias, CLASSIFIER_BIAS_MULT)
    for p in net.fusions.parameters():
        add(p, FUSION_MULT)
    param_groups = [
        {"params": ps, "lr": LR * mult, "mult": mult,
         "weight_decay": WEIGHT_DECAY if decay else 0.0}
        for (mult, decay), ps in groups.items()
    ]
    return torch.optim.SGD(param_groups, lr=LR, momentum=MOMENTUM, dampening=0.0,
                           nesterov=False)


def non_finite_count(params, device):
    """Non-finite gradient entries, as a [1] tensor left on the device."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(1, device=device)
    return torch.stack([(~torch.isfinite(g)).sum() for g in grads]).sum().float().reshape(1)


# --- benchmark ---------------------------------------------------------------------------------


def make_batch(task_names, batch, height, width, device, gen):
    """Random inputs of the synthetic scenes' shapes and ranges (see the docstring)."""
    images = torch.randn(batch, INPUT_CHANNELS, height, width, generator=gen)
    targets = []
    for name in task_names:
        outputs, kind = TASK_SPECS[name]
        if kind == "labels":
            labels = torch.randint(0, outputs, (batch, height, width), generator=gen)
            if name == "material":
                labels[torch.rand(batch, height, width, generator=gen) < 0.6] = IGNORE
            targets.append((labels.to(device),))
        else:
            normals = F.normalize(torch.randn(batch, 3, height, width, generator=gen), dim=1)
            valid = (torch.rand(batch, 1, height, width, generator=gen) < 0.9).float()
            targets.append((normals.to(device), valid.to(device)))
    return images.to(device), targets


COMPARED = ["tasks", "size", "edges", "fusions", "edge_list", "fusion_nodes", "node_sizes",
            "branch_params", "branch_macs", "head_params", "head_macs", "fusion_params",
            "fusion_macs", "resize_macs", "total_params", "total_macs", "logits",
            "burn_num_params"]


def check_describe(ours, path):
    """Compares our counts with the crate's `--describe` line in `path`; True if all match."""
    crate = None
    with open(path) as f:
        for line in f:
            if line.startswith("{") and '"describe"' in line:
                crate = json.loads(line)
    if crate is None:
        sys.exit(f"error: no `search_iteration --describe` JSON line in {path}")

    def show(value):
        if isinstance(value, list) and value and isinstance(value[0], int):
            return f"{len(value)} items, sum {sum(value):,}"
        if isinstance(value, list) and value and isinstance(value[0], list):
            return f"{len(value)} lists"
        if isinstance(value, list):
            return ",".join(map(str, value))
        return f"{value:,}" if isinstance(value, int) else str(value)

    print(f"{'quantity':<16} {'mtl-nas':>26} {'pytorch':>26}  same")
    same = True
    for key in COMPARED:
        a, b = crate.get(key), ours.get(key)
        equal = a == b
        same &= equal
        print(f"{key:<16} {show(a):>26} {show(b):>26}  {'yes' if equal else 'NO'}")
        if not equal and isinstance(a, list) and isinstance(b, list):
            first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            print(f"    first difference at item {first}: mtl-nas "
                  f"{a[first] if first < len(a) else '(none)'}, pytorch "
                  f"{b[first] if first < len(b) else '(none)'}")
    if "data_s" in crate:
        print(f"(the crate's data for one iteration, not in the twin: {crate['data_s']:.5f} s)")
    return same


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--height", type=int, default=24)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--tasks", default="seg,normal,material",
                        help="comma-separated, of seg, normal, material (as the bench's --tasks)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--iterations", type=int, default=55, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    parser.add_argument("--steps", type=int, default=None,
                        help="schedule length (temperature, poly lr, entropy ramp); default "
                             "warmup + iterations, as the bench's --steps")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--fusion-impl", default="concat",
                        choices=["concat", "reference", "blocks"])
    parser.add_argument("--no-finite-check", action="store_true",
                        help="skip the per-step non-finite gradient count the crate does")
    parser.add_argument("--describe", action="store_true",
                        help="print the network's counts as `search_iteration --describe` does")
    parser.add_argument("--check-describe", metavar="FILE",
                        help="compare the counts with the crate's --describe line in FILE")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    task_names = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in task_names if t not in TASK_SPECS]
    if unknown or len(task_names) < 2 or len(set(task_names)) != len(task_names):
        sys.exit(f"error: --tasks needs two or more distinct of {list(TASK_SPECS)}, "
                 f"got {task_names}")
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError as e:  # only settable once, before any inter-op work
        print(f"warning: set_num_interop_threads: {e}", file=sys.stderr)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False")
    smallest = nodes_of(STAGES)[-1][2]
    if min(args.height, args.width) < smallest:
        sys.exit(f"error: the pools need at least {smallest} x {smallest} pixels")
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    net = Supernet(task_names, args.fusion_impl)
    tasks = len(task_names)
    assert len(net.edges) == tasks * (tasks - 1) * 9, len(net.edges)  # 54 for three tasks
    if args.describe or args.check_describe:
        counts = net.describe(args.height, args.width)
        print(json.dumps(counts))
        if args.check_describe:
            sys.exit(0 if check_describe(counts, args.check_describe) else 1)
        return
    fusion_weights = sum(f.weight.numel() for f in net.fusions.values())
    trainable = sum(p.numel() for p in net.parameters()) - net.logits.numel()
    print(f"parameters: edges {len(net.edges)}, fusions {len(net.fusions)}, "
          f"fusion weights {fusion_weights:,}, trainable weights {trainable:,}", flush=True)
    net = net.to(device)
    net.train()

    steps = args.steps if args.steps is not None else args.warmup + args.iterations
    search = make_batch(task_names, args.batch, args.height, args.width, device, gen)
    train = make_batch(task_names, args.batch, args.height, args.width, device, gen)
    average = pair_average(net.edges).to(device)
    arch_opt = torch.optim.Adam([net.logits], lr=ARCH_LR, betas=ARCH_BETAS, eps=ARCH_EPS,
                                weight_decay=ARCH_WEIGHT_DECAY)
    weight_opt = weight_optimizer(net)
    weights = [p for g in weight_opt.param_groups for p in g["params"]]
    check = not args.no_finite_check
    noise_gen = torch.Generator().manual_seed(args.seed + 3)

    def task_loss(batch, c):
        images, targets = batch
        outputs = net(images, c)
        losses = []
        for name, output, target in zip(task_names, outputs, targets):
            if TASK_SPECS[name][1] == "labels":
                losses.append(segmentation_loss(output, *target))
            else:
                losses.append(normals_loss(output, *target))
        return sum(losses[1:], losses[0]), torch.stack([l.detach() for l in losses])

    def iteration(step):
        progress = min(max(step / max(steps, 1), 0.0), 1.0)
        queued = []  # read back together at the end, as the crate's HostReads
        with torch.no_grad():
            queued.append(entropy(net.logits, average).reshape(1))
        # Architecture step: sigmoid relaxation, task losses + lambda H, Adam on alpha, the
        # weights frozen (no weight-gradient products).
        for p in weights:
            p.requires_grad_(False)
        c = torch.sigmoid(net.logits)
        loss, arch_losses = task_loss(search, c)
        loss = loss + ENTROPY_WEIGHT * progress * entropy(net.logits, average)
        arch_opt.zero_grad(set_to_none=True)
        loss.backward()
        for p in weights:
            p.requires_grad_(True)
        queued.append(arch_losses)
        if check:
            queued.append(non_finite_count([net.logits], device))
        arch_opt.step()
        queued.append(net.logits.detach().clone())
        # Weight step: relaxed Bernoulli at T, task losses, SGD on everything but alpha.
        temperature = INITIAL_TEMPERATURE * (1.0 - progress) ** TEMPERATURE_POWER
        u = torch.rand(len(net.edges), generator=noise_gen, dtype=torch.float64)
        u = u.clamp(sys.float_info.min, 1.0 - sys.float_info.epsilon)
        noise = (torch.log(u) - torch.log1p(-u)).float().to(device)
        c = torch.sigmoid((net.logits + noise) / temperature)
        loss, weight_losses = task_loss(train, c)
        weight_opt.zero_grad(set_to_none=True)
        net.logits.grad = None
        loss.backward()
        queued.append(weight_losses)
        if check:
            queued.append(non_finite_count(weights, device))
        factor = (1.0 - progress) ** POLY_POWER
        for group in weight_opt.param_groups:
            group["lr"] = LR * factor * group["mult"]
        weight_opt.step()
        net.logits.grad = None
        values = torch.cat(queued).tolist()  # the iteration's one read of the device
        assert all(math.isfinite(v) for v in values), values
        if check:
            arch_bad = values[1 + tasks]
            weight_bad = values[-1]
            assert arch_bad == 0 and weight_bad == 0, (arch_bad, weight_bad)
        logits = values[2 + tasks if check else 1 + tasks:][: len(net.edges)]
        return values[1:1 + tasks], sum(1 for a in logits if a > 0)

    times = []
    for it in range(args.warmup + args.iterations):
        sync(device)
        start = time.perf_counter()
        losses, kept = iteration(it)
        sync(device)
        elapsed = time.perf_counter() - start
        if it >= args.warmup:
            times.append(elapsed)
        print(f"iteration {it}{' (warm-up)' if it < args.warmup else ''}: {elapsed:.4f} s, "
              + ", ".join(f"{n} {v:.4f}" for n, v in zip(task_names, losses))
              + f", edges kept {kept}", flush=True)

    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 1e6
    else:
        rss_after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mb = (rss_after_kb - rss_before_kb) * 1024 / 1e6  # ru_maxrss is in KiB on Linux
    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": args.threads,
        "batch": args.batch,
        "height": args.height,
        "width": args.width,
        "tasks": task_names,
        "steps": steps,
        "seconds_per_iteration": statistics.median(times) if times else None,
        "mean_s": statistics.mean(times) if times else None,
        "all": times,
        "peak_memory_mb": round(peak_mb, 1),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),
        "mode": "search_iteration",
        "fusion_impl": args.fusion_impl,
        "edges": len(net.edges),
        "fusion_weights": fusion_weights,
        "trainable_weights": trainable,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
