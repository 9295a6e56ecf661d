#!/usr/bin/env python3
"""PyTorch twin of the crate's two-task VGG-16 MTL-NAS supernet, for a speed comparison.

What it replicates
------------------
One search iteration of MTL-NAS (Gao et al., CVPR 2020) on the network that
``examples/nyuv2.rs`` builds with this crate, layer for layer and in the same order:

* two VGG-16 DeepLab-LargeFOV branches with batch norm (``src/branch/vgg.rs``): segmentation
  (40 classes) and surface normals (3 channels). Each of the 13 nodes is
  ``[pool?] -> conv3x3 (no bias) -> BN(eps 1e-3, momentum 0.05) -> ReLU``; pools 1-3 pad one
  zero row/column at the bottom/right then max-pool 3 / stride 2 (321 -> 160 -> 80 -> 40), pool 4
  is max-pool 3 / stride 1 / padding 1, conv5_x use dilation 2. Head: max-pool 3/1/1,
  avg-pool 3/1/1 (padding not counted), fc6 3x3 dilation 12 512->1024 + BN + ReLU + dropout 0.5,
  fc7 1x1 1024->1024 + BN + ReLU + dropout 0.5, fc8 1x1 with bias. Output stride 8. Only the 13
  conv layers are nodes (fc6-fc8 are the head).
* the reference edge rule (``EdgeRule::same_stage()``, depth limit 3, ``src/space/``): target
  layer i of one task takes source layer j of the other iff both are in the same VGG block,
  j <= i and i - j < 3 -> 24 edges per direction, 48 edges, 26 fusions (every node has at
  least one edge). Edges are ordered by (target task, target layer, source task, source
  layer), one architecture logit per edge, initialised to 0.
* NDDR fusion at every node (``src/fusion/nddr.rs``):
  ``ReLU(BN(conv1x1_nobias(concat[own, c_e1 * src_e1, c_e2 * src_e2, ...])))`` with the
  sources' pre-fusion features, initialised as the example does (``FusionConfig::nddr(1, 0)``:
  identity on the own feature, zeros on the sources). 10,821,632 fusion 1x1 weights.
* one iteration of ``Search`` (``src/search/mod.rs``) with ``SearchConfig::nyuv2_reference()``:
  - architecture step (train mode): ``c = sigmoid(alpha)``, loss =
    ``CE_seg + 20 * (1 - mean cos) + 10 * H`` where ``H`` (``src/arch/regularizer.rs``) is the
    mean over task pairs of the mean edge entropy ``softplus(a) - a * sigmoid(a)``; backward
    through the whole network (as burn's ``loss.backward()`` does); Adam on the logits only
    (lr 1e-3, betas (0.5, 0.999), coupled weight decay 1e-3);
  - weight step (train mode): relaxed Bernoulli ``c = sigmoid((alpha + ln u - ln(1-u)) / T)``
    with ``T = (1 - step / steps)^2``, task losses only, backward, SGD (momentum 0.9, no
    dampening) on every weight except the logits, base lr ``1e-3 * (1 - step/steps)^0.9`` with
    multipliers branches x1, fc8 weight x10, fc8 bias x20, fusions (1x1 weights and their BN)
    x100, weight decay 2.5e-4 on tensors of rank >= 2 only (the crate's default; the reference
    also decays BN parameters and biases: ``--decay-norms-and-biases``).
  - Losses as ``src/task/segmentation.rs`` (cross-entropy over 40 classes, labels 255 ignored,
    logits bilinearly upsampled with ``align_corners=True`` to the label size) and
    ``src/task/normals.rs`` (``1 - mean over valid pixels of cos(pred, gt)``, prediction upsampled
    the same way, norms clamped at 1e-8).
  - Like the crate, each task loss is read back to the host and every gradient is checked to
    be finite once per step (``--no-finite-check`` turns the check off).

Not timed: data loading and augmentation. The inputs are fixed random tensors made once on the
device (images ~ N(0, 1); labels uniform in [0, 40) with ~10% set to 255; normals random unit
vectors, every pixel valid), one batch for the architecture step and another for the weight
step, as the crate draws a "search" and a "train" batch.

``--inference`` instead times the derived network's forward: edges with a positive logit kept
(a seeded random ``--keep`` fraction of the 48, default all), the pruned inputs' 1x1 weight
columns dropped as ``Supernet::derive`` does, eval mode, no autograd, outputs at stride 8 (no
upsampling).

``--fusion-impl`` picks how the NDDR 1x1 convolution is computed (all give the same values):
``concat`` (default: concatenate the features, scale the source weight blocks by c_e, one 1x1
convolution), ``reference`` (the reference code's form: scale the features by c_e, concatenate,
convolve) and ``blocks`` (the crate's form: one 1x1 convolution per input block, summed).

This file was written for the comparison from the crate's Rust sources and the method notes
(``shared/spec/method.md``); it is not copied from the reference implementation
(bhpfelix/MTLNAS).

Commands (the PyTorch environment used for the comparison is ``/work/torchenv``)::

    # search iteration, batch 4 x 128 x 128, CPU, 2 threads
    /work/torchenv/bin/python benches/pytorch_reference.py --batch 4 --height 128 --width 128 \\
        --threads 2 --iterations 3 --warmup 1 --device cpu
    # search iteration at the reference crop, batch 2 x 321 x 321
    /work/torchenv/bin/python benches/pytorch_reference.py --batch 2 --height 321 --width 321 \\
        --threads 2 --iterations 3 --warmup 1 --device cpu
    # derived-network inference on one full NYUv2 image, 480 x 640, all 48 edges
    /work/torchenv/bin/python benches/pytorch_reference.py --inference --batch 1 --height 480 \\
        --width 640 --threads 2 --iterations 3 --warmup 1 --device cpu --keep 1.0
    # tiny smoke run
    /work/torchenv/bin/python benches/pytorch_reference.py --batch 1 --height 65 --width 65 \\
        --iterations 1 --warmup 0 --threads 1

Use ``--device cuda`` on a GPU. The last line printed (on stdout) is one JSON object; peak memory is the
growth of the process's peak resident set size from before the network is built to the end
(CPU), or ``torch.cuda.max_memory_allocated`` (CUDA), in MB of 10^6 bytes.
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

# --- the crate's constants ---------------------------------------------------------------------

VGG_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
VGG_STAGES = [0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
DEPTH_LIMIT = 3
BN_EPS = 1e-3
BN_MOMENTUM = 0.05
DROPOUT = 0.5
SEG_CLASSES = 40
IGNORE = 255
TASK_WEIGHTS = [1.0, 20.0]  # SearchConfig::nyuv2_reference: normals x20
ENTROPY_WEIGHT = 10.0
STEPS = 20001  # schedule length (temperature, poly lr)
LR = 1e-3
MOMENTUM = 0.9
WEIGHT_DECAY = 2.5e-4
CLASSIFIER_WEIGHT_MULT = 10.0
CLASSIFIER_BIAS_MULT = 20.0
FUSION_MULT = 100.0
ARCH_LR = 1e-3
ARCH_BETAS = (0.5, 0.999)
ARCH_EPS = 1e-8
ARCH_WEIGHT_DECAY = 1e-3
NORMAL_EPS = 1e-8

# Full-width counts the Rust side reports (tests/vgg_supernet.rs).
EXPECTED_EDGES = 48
EXPECTED_FUSIONS = 26
EXPECTED_FUSION_WEIGHTS = 10_821_632


# --- branch ------------------------------------------------------------------------------------


class Vgg16LargeFov(nn.Module):
    """VGG-16 DeepLab-LargeFOV with BN as `src/branch/vgg.rs`: 13 node layers plus a head."""

    def __init__(self, outputs, width_divisor=1):
        super().__init__()
        narrow = lambda w: max(w // width_divisor, 1)  # noqa: E731
        self.widths = [narrow(c) for c in VGG_CHANNELS]
        fc = narrow(1024)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        channels = 3
        for layer, width in enumerate(self.widths):
            dilation = 2 if layer >= 10 else 1
            conv = nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation, bias=False)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            self.convs.append(conv)
            self.norms.append(nn.BatchNorm2d(width, eps=BN_EPS, momentum=BN_MOMENTUM))
            channels = width

        def fan_in_conv(cin, cout, kernel, padding, dilation, bias):
            conv = nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=bias)
            nn.init.normal_(conv.weight, 0.0, 1.0 / math.sqrt(cin * kernel * kernel))
            if bias:
                nn.init.zeros_(conv.bias)
            return conv

        self.fc6 = fan_in_conv(self.widths[12], fc, 3, 12, 12, False)
        self.fc6_norm = nn.BatchNorm2d(fc, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.fc7 = fan_in_conv(fc, fc, 1, 0, 1, False)
        self.fc7_norm = nn.BatchNorm2d(fc, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.fc8 = fan_in_conv(fc, outputs, 1, 0, 1, True)
        self.dropout = nn.Dropout(DROPOUT)

    def layer_forward(self, layer, x):
        if layer in (2, 4, 7):
            # TF-"SAME" emulation: one zero row/column at the bottom/right, then pool 3 / 2.
            x = F.max_pool2d(F.pad(x, (0, 1, 0, 1)), 3, 2)
        elif layer == 10:
            x = F.max_pool2d(x, 3, 1, 1)
        return F.relu(self.norms[layer](self.convs[layer](x)))

    def head_forward(self, x):
        x = F.max_pool2d(x, 3, 1, 1)
        x = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        x = self.dropout(F.relu(self.fc6_norm(self.fc6(x))))
        x = self.dropout(F.relu(self.fc7_norm(self.fc7(x))))
        return self.fc8(x)


# --- search space ------------------------------------------------------------------------------


def same_stage_edges(tasks=2, layers=13):
    """The reference rule's edges as (target task, target layer, source task, source layer),
    sorted as the crate stores them."""
    edges = []
    for t in range(tasks):
        for i in range(layers):
            for s in range(tasks):
                if s == t:
                    continue
                for j in range(layers):
                    if VGG_STAGES[j] == VGG_STAGES[i] and j <= i and i - j < DEPTH_LIMIT:
                        edges.append((t, i, s, j))
    edges.sort()
    return edges


# --- fusion ------------------------------------------------------------------------------------


class NddrFusion(nn.Module):
    """`ReLU(BN(conv1x1_nobias(concat[own, c_1 src_1, ...])))`, `src/fusion/nddr.rs`.

    `inputs`: list of (edge index, source channels) in concatenation order."""

    def __init__(self, channels, inputs, own=1.0, sources=0.0):
        super().__init__()
        self.channels = channels
        self.inputs = list(inputs)
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
        self.impl = "concat"

    def forward(self, own, sources, c):
        """`sources`: one tensor (or None = skipped) per input; `c`: [num_edges] weights."""
        w = self.weight
        blocks = [w[:, : self.channels]]
        feats = [own]
        scales = []
        offset = self.channels
        for (edge, ch), src in zip(self.inputs, sources):
            if src is not None:
                blocks.append(w[:, offset:offset + ch])
                feats.append(src)
                scales.append(c[edge])
            offset += ch
        if self.impl == "reference":
            x = torch.cat([own] + [s * f for s, f in zip(scales, feats[1:])], 1)
            out = F.conv2d(x, torch.cat(blocks, 1))
        elif self.impl == "blocks":
            out = F.conv2d(own, blocks[0])
            for s, b, f in zip(scales, blocks[1:], feats[1:]):
                out = out + F.conv2d(f, b * s)
        else:  # concat
            weight = torch.cat([blocks[0]] + [b * s for s, b in zip(scales, blocks[1:])], 1)
            x = torch.cat(feats, 1) if len(feats) > 1 else own
            out = F.conv2d(x, weight)
        return F.relu(self.norm(out))

    def prune(self, keep):
        """Drops the weight columns of inputs whose edge `keep` rejects (`Supernet::derive`)."""
        w = self.weight.detach()
        blocks = [w[:, : self.channels]]
        inputs = []
        offset = self.channels
        for edge, ch in self.inputs:
            if keep(edge):
                blocks.append(w[:, offset:offset + ch])
                inputs.append((edge, ch))
            offset += ch
        self.weight = nn.Parameter(torch.cat(blocks, 1).contiguous())
        self.inputs = inputs


# --- supernet ----------------------------------------------------------------------------------


class Supernet(nn.Module):
    """Both branches, an NDDR fusion at every node with edges, one logit per edge
    (`src/net/supernet.rs`). Runs layer by layer across tasks: layer i of every task, then
    the fusion of node i of every task (the crate's schedule for this space)."""

    def __init__(self, width_divisor=1, fusion_impl="concat"):
        super().__init__()
        self.branches = nn.ModuleList(
            [Vgg16LargeFov(SEG_CLASSES, width_divisor), Vgg16LargeFov(3, width_divisor)]
        )
        self.edges = same_stage_edges(len(self.branches), 13)
        widths = self.branches[0].widths
        self.fusions = nn.ModuleList()
        self.has_fusion = []
        for t in range(len(self.branches)):
            row = nn.ModuleList()
            flags = []
            for i in range(13):
                inputs = [(e, widths[j]) for e, (tt, ii, _, j) in enumerate(self.edges)
                          if tt == t and ii == i]
                fusion = NddrFusion(widths[i], inputs, 1.0, 0.0)
                fusion.impl = fusion_impl
                row.append(fusion)  # every node has an edge under this rule
                flags.append(bool(inputs))
            self.fusions.append(row)
            self.has_fusion.append(flags)
        self.logits = nn.Parameter(torch.zeros(len(self.edges)))
        # Last layer whose fusion reads node (task, layer)'s pre-fusion feature.
        self.last_use = {}
        for (t, i, s, j) in self.edges:
            self.last_use[(s, j)] = max(self.last_use.get((s, j), j), i)

    def forward(self, images, c, active=None):
        tasks = len(self.branches)
        pre = {}
        x = [images] * tasks
        for i in range(13):
            for t in range(tasks):
                pre[(t, i)] = self.branches[t].layer_forward(i, x[t])
            for t in range(tasks):
                own = pre[(t, i)]
                if not self.has_fusion[t][i]:
                    x[t] = own
                    continue
                fusion = self.fusions[t][i]
                sources = []
                for edge, _ in fusion.inputs:
                    if active is not None and not active[edge]:
                        sources.append(None)
                        continue
                    _, _, s, j = self.edges[edge]
                    src = pre[(s, j)]
                    assert src.shape[-2:] == own.shape[-2:], "the same-stage rule never resizes"
                    sources.append(src)
                x[t] = fusion(own, sources, c)
            # Release pre-fusion features nobody reads any more.
            for key in [k for k in pre if self.last_use.get(k, k[1]) <= i]:
                del pre[key]
        return [self.branches[t].head_forward(x[t]) for t in range(tasks)]

    def derive(self, mask):
        for row in self.fusions:
            for fusion in row:
                fusion.prune(lambda e: mask[e])
        with torch.no_grad():
            self.logits.copy_(torch.tensor([1.0 if k else -1.0 for k in mask]))
        return self

    def parameter_counts(self):
        branch = sum(p.numel() for b in self.branches for p in b.parameters())
        fusion_weights = sum(f.weight.numel() for row in self.fusions for f in row)
        fusion_all = sum(p.numel() for row in self.fusions for p in row.parameters())
        running = sum(buf.numel() for name, buf in self.named_buffers()
                      if name.endswith("running_mean") or name.endswith("running_var"))
        logits = self.logits.numel()
        return {
            "edges": len(self.edges),
            "fusions": sum(sum(flags) for flags in self.has_fusion),
            "fusion_weights": fusion_weights,
            "fusion_parameters": fusion_all,
            "branch_parameters": branch,
            "trainable_weights": branch + fusion_all,
            "logits": logits,
            "bn_running_stats": running,
            # burn's Module::num_params also counts the BN running mean/var and the logits.
            "burn_num_params_equivalent": branch + fusion_all + logits + running,
        }


# --- losses and regulariser --------------------------------------------------------------------


def segmentation_loss(pred, labels):
    logits = F.interpolate(pred, size=labels.shape[-2:], mode="bilinear", align_corners=True)
    return F.cross_entropy(logits, labels, ignore_index=IGNORE)


def normals_loss(pred, normals, valid):
    pred = F.interpolate(pred, size=normals.shape[-2:], mode="bilinear", align_corners=True)
    dot = (pred * normals).sum(1)
    norm = lambda t: t.square().sum(1).clamp_min(NORMAL_EPS * NORMAL_EPS).sqrt()  # noqa: E731
    cosine = dot / (norm(pred) * norm(normals))
    valid = valid[:, 0]  # [B, 1, H, W] -> [B, H, W], the cosine's shape (no broadcast to [B, B, H, W])
    count = valid.sum().clamp_min(1.0)
    return 1.0 - (cosine * valid).sum() / count


def pair_average(edges):
    """1 / (pairs * edges of the pair) per edge: mean over task pairs of the mean over edges."""
    pairs = {}
    for (t, _, s, _) in edges:
        pairs[(t, s)] = pairs.get((t, s), 0) + 1
    return torch.tensor([1.0 / (len(pairs) * pairs[(t, s)]) for (t, _, s, _) in edges])


def entropy(logits, average):
    return ((F.softplus(logits) - logits * torch.sigmoid(logits)) * average).sum()


# --- optimisers --------------------------------------------------------------------------------


def weight_optimizer(net, decay_norms_and_biases):
    groups = {}

    def add(param, mult, decay):
        key = (mult, decay)
        groups.setdefault(key, []).append(param)

    for branch in net.branches:
        for name, p in branch.named_parameters():
            if name == "fc8.weight":
                add(p, CLASSIFIER_WEIGHT_MULT, True)
            elif name == "fc8.bias":
                add(p, CLASSIFIER_BIAS_MULT, decay_norms_and_biases)
            else:
                add(p, 1.0, p.dim() >= 2 or decay_norms_and_biases)
    for p in net.fusions.parameters():
        add(p, FUSION_MULT, p.dim() >= 2 or decay_norms_and_biases)
    param_groups = [
        {"params": ps, "lr": LR * mult, "mult": mult,
         "weight_decay": WEIGHT_DECAY if decay else 0.0}
        for (mult, decay), ps in groups.items()
    ]
    return torch.optim.SGD(param_groups, lr=LR, momentum=MOMENTUM, dampening=0.0,
                           nesterov=False)


def grads_finite(params):
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    bad = torch.stack([(~torch.isfinite(g)).sum() for g in grads]).sum()
    return bad.item() == 0


# --- benchmark ---------------------------------------------------------------------------------


def make_batch(batch, height, width, device, gen):
    images = torch.randn(batch, 3, height, width, generator=gen).to(device)
    labels = torch.randint(0, SEG_CLASSES, (batch, height, width), generator=gen)
    labels[torch.rand(batch, height, width, generator=gen) < 0.1] = IGNORE
    normals = F.normalize(torch.randn(batch, 3, height, width, generator=gen), dim=1)
    valid = torch.ones(batch, 1, height, width)
    return images, labels.to(device), normals.to(device), valid.to(device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fusion_only(args, device, gen, rss_before_kb):
    """Forward + backward of one NDDR fusion (the `fusion` case of benches/backends.rs): 256
    own channels and three 256-channel sources at a quarter of the image size, the loss the sum
    of the output, gradients of inputs, edge weights and the 1x1 weight."""
    h, w = args.height // 4, args.width // 4
    fusion = NddrFusion(256, [(e, 256) for e in range(3)], own=0.9, sources=0.1).to(device)
    fusion.impl = args.fusion_impl
    fusion.train()
    own = torch.randn(args.batch, 256, h, w, generator=gen).to(device).requires_grad_()
    sources = [torch.randn(args.batch, 256, h, w, generator=gen).to(device).requires_grad_()
               for _ in range(3)]
    c = torch.full((3,), 0.5, device=device, requires_grad=True)
    times = []
    for it in range(args.warmup + args.iterations):
        sync(device)
        start = time.perf_counter()
        fusion.zero_grad(set_to_none=True)
        fusion(own, sources, c).sum().backward()
        sync(device)
        if it >= args.warmup:
            times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 1e6
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb) * 1024 / 1e6
    print(json.dumps({
        "framework": "pytorch", "torch": torch.__version__,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": args.threads, "batch": args.batch, "height": h, "width": w,
        "seconds_per_iteration": statistics.median(times), "all": times,
        "peak_memory_mb": round(peak_mb, 1),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),
        "mode": "fusion", "fusion_impl": args.fusion_impl,
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--inference", action="store_true",
                        help="time the derived network's inference instead of a search iteration")
    parser.add_argument("--keep", type=float, default=1.0,
                        help="fraction of the 48 edges the derived network keeps (--inference)")
    parser.add_argument("--fusion-only", action="store_true",
                        help="time forward + backward of one NDDR fusion instead (256 own "
                             "channels, three 256-channel sources, at 1/4 of --height x --width)")
    parser.add_argument("--keep-every", type=int, default=0,
                        help="keep edges whose index is a multiple of N instead (--inference; "
                             "the Rust benchmark keeps every third: --keep-every 3)")
    parser.add_argument("--fusion-impl", default="concat",
                        choices=["concat", "reference", "blocks"])
    parser.add_argument("--width-divisor", type=int, default=1,
                        help="divide every width (1 = VGG-16, the compared network)")
    parser.add_argument("--decay-norms-and-biases", action="store_true",
                        help="also decay BN parameters and biases (the reference's defect)")
    parser.add_argument("--no-finite-check", action="store_true",
                        help="skip the per-step finite-gradient check the crate does")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(args.threads)
    except RuntimeError as e:  # only settable once, before any inter-op work
        print(f"warning: set_num_interop_threads: {e}", file=sys.stderr)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False")
    if min(args.height, args.width) < 8:
        sys.exit("error: the three stride-2 pools need at least 8 x 8 pixels")
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    if args.fusion_only:
        fusion_only(args, device, gen, rss_before_kb)
        return

    net = Supernet(args.width_divisor, args.fusion_impl)
    counts = net.parameter_counts()
    print("parameters: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()), flush=True)
    assert counts["edges"] == EXPECTED_EDGES, counts
    assert counts["fusions"] == EXPECTED_FUSIONS, counts
    if args.width_divisor == 1:
        assert counts["fusion_weights"] == EXPECTED_FUSION_WEIGHTS, counts
    net = net.to(device)

    times = []
    if args.inference:
        if args.keep_every > 0:
            mask = [e % args.keep_every == 0 for e in range(len(net.edges))]
            kept = sum(mask)
        else:
            kept = round(args.keep * len(net.edges))
            order = torch.randperm(len(net.edges), generator=gen).tolist()
            mask = [False] * len(net.edges)
            for e in order[:kept]:
                mask[e] = True
        net.derive(mask).to(device).eval()
        derived_weights = sum(f.weight.numel() for row in net.fusions for f in row)
        print(f"derived network: {kept} of {len(net.edges)} edges kept, "
              f"fusion weights {derived_weights:,}", flush=True)
        images = torch.randn(args.batch, 3, args.height, args.width, generator=gen).to(device)
        c = (net.logits.detach() > 0).float()  # Connectivity::Hard: 1 on kept edges
        with torch.inference_mode():
            for it in range(args.warmup + args.iterations):
                sync(device)
                start = time.perf_counter()
                outputs = net(images, c, active=mask)
                sync(device)
                elapsed = time.perf_counter() - start
                if it >= args.warmup:
                    times.append(elapsed)
        print("output shapes: " + ", ".join(str(tuple(o.shape)) for o in outputs))
    else:
        net.train()
        search = make_batch(args.batch, args.height, args.width, device, gen)
        train = make_batch(args.batch, args.height, args.width, device, gen)
        average = pair_average(net.edges).to(device)
        arch_opt = torch.optim.Adam([net.logits], lr=ARCH_LR, betas=ARCH_BETAS, eps=ARCH_EPS,
                                    weight_decay=ARCH_WEIGHT_DECAY)
        weight_opt = weight_optimizer(net, args.decay_norms_and_biases)
        weights = [p for g in weight_opt.param_groups for p in g["params"]]
        check = not args.no_finite_check

        def task_loss(batch, c):
            images, labels, normals, valid = batch
            seg, normal = net(images, c)
            losses = [segmentation_loss(seg, labels), normals_loss(normal, normals, valid)]
            values = [l.item() for l in losses]  # the crate reads each loss back
            assert all(math.isfinite(v) for v in values), values
            return TASK_WEIGHTS[0] * losses[0] + TASK_WEIGHTS[1] * losses[1], values

        def iteration(step):
            # Architecture step: sigmoid relaxation, task losses + lambda H, Adam on alpha.
            c = torch.sigmoid(net.logits)
            loss, _ = task_loss(search, c)
            loss = loss + ENTROPY_WEIGHT * entropy(net.logits, average)
            arch_opt.zero_grad(set_to_none=True)
            weight_opt.zero_grad(set_to_none=True)
            loss.backward()
            if check:
                assert grads_finite([net.logits])
            arch_opt.step()
            # Weight step: relaxed Bernoulli at T, task losses, SGD on everything but alpha.
            progress = min(max(step / STEPS, 0.0), 1.0)
            temperature = (1.0 - progress) ** 2
            u = torch.rand(len(net.edges), device=device).clamp(1e-12, 1.0 - 1e-7)
            noise = torch.log(u) - torch.log1p(-u)
            c = torch.sigmoid((net.logits + noise) / temperature)
            loss, values = task_loss(train, c)
            arch_opt.zero_grad(set_to_none=True)
            weight_opt.zero_grad(set_to_none=True)
            loss.backward()
            if check:
                assert grads_finite(weights)
            factor = (1.0 - progress) ** 0.9
            for group in weight_opt.param_groups:
                group["lr"] = LR * factor * group["mult"]
            weight_opt.step()
            kept = int((net.logits.detach() > 0).sum().item())  # the crate logs kept edges
            return values, kept

        for it in range(args.warmup + args.iterations):
            sync(device)
            start = time.perf_counter()
            values, kept = iteration(it)
            sync(device)
            elapsed = time.perf_counter() - start
            if it >= args.warmup:
                times.append(elapsed)
            print(f"iteration {it}{' (warm-up)' if it < args.warmup else ''}: {elapsed:.3f} s, "
                  f"seg {values[0]:.4f}, normal {values[1]:.4f}, edges kept {kept}", flush=True)

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
        "seconds_per_iteration": statistics.median(times) if times else None,
        "all": times,
        "peak_memory_mb": round(peak_mb, 1),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),
        "mode": "inference" if args.inference else "search_iteration",
        "fusion_impl": args.fusion_impl,
        "width_divisor": args.width_divisor,
        "edges_kept": sum(mask) if args.inference else len(net.edges),
        "fusion_weights": counts["fusion_weights"],
        "trainable_weights": counts["trainable_weights"],
    }
    if args.inference:
        result["derived_fusion_weights"] = derived_weights
    print(json.dumps(result))


if __name__ == "__main__":
    main()
