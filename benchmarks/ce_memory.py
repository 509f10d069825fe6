"""Peak memory and time per training step: SFT and WD-JT, naive (full [B, T, V] logits) vs chunked fused loss.

    python benchmarks/ce_memory.py                      # CPU: V = 151,936, T = 1024, hidden 64 (a few minutes)
    python benchmarks/ce_memory.py --loss-only          # the WD-JT (Eq. 6) and UNDIAL losses alone, fwd + bwd
    python benchmarks/ce_memory.py --device cuda --seq-len 4096 --hidden 256

``--loss-only`` times the WD-JT loss on random final hidden states [N, d] and output embeddings [V, d] of both
models: the naive path (two [N, V] logit tensors, mixed_logit_loss, autograd) against the fused chunked one; and
UNDIAL's soft-target loss (student and frozen teacher; naive: undial_target_logits + soft_target_cross_entropy).

Each variant runs in its own process. Peak memory is the step's peak above the memory held before it (CPU: peak RSS
via /proc/self/clear_refs + VmHWM; CUDA: torch.cuda.max_memory_allocated), measured on the second step so that the
optimizer state already exists. Prints one row per variant and the chunked/naive ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

VARIANTS = ("sft-naive", "sft-chunked", "wdjt-naive", "wdjt-chunked")
LOSS_VARIANTS = ("loss-naive", "loss-fused", "undial-naive", "undial-fused")


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _loss_step(args):
    """The mixed loss alone (forward + backward) on random hidden states and output embeddings of both models."""
    import torch

    from weakdriven.fused import fused_mixed_linear_cross_entropy, fused_soft_target_cross_entropy
    from weakdriven.methods.equations import mixed_logit_loss, soft_target_cross_entropy, undial_target_logits

    torch.manual_seed(0)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    n = args.batch * args.seq_len
    tensors = [torch.randn(*shape, device=device, dtype=dtype, requires_grad=True)
               for shape in ((n, args.hidden), (n, args.hidden), (args.vocab, args.hidden), (args.vocab, args.hidden))]
    labels = torch.randint(0, args.vocab, (n,), device=device)
    penalty = torch.ones(n, device=device)
    if args.variant.startswith("undial"):
        tensors[0].requires_grad_(False)  # the teacher: frozen
        tensors[2].requires_grad_(False)

    def step():
        for t in tensors:
            t.grad = None
        h_w, h_s, w_w, w_s = tensors
        if args.variant == "undial-naive":
            target = undial_target_logits(h_w @ w_w.T, labels, penalty)
            loss = soft_target_cross_entropy(h_s @ w_s.T, target, labels)
        elif args.variant == "undial-fused":
            loss = fused_soft_target_cross_entropy(h_s, w_s, h_w, w_w, labels, penalty, chunk_size=args.chunk_size)
        elif args.variant == "loss-naive":
            loss = mixed_logit_loss(h_w @ w_w.T, h_s @ w_s.T, labels, 0.5)
        else:
            loss = fused_mixed_linear_cross_entropy(h_w, h_s, w_w, w_s, labels, 0.5, chunk_size=args.chunk_size)
        loss.backward()
        return float(loss)

    return step


def run_variant(args) -> dict:
    import torch

    if args.variant.startswith(("loss", "undial")):
        return _measure(args, _loss_step(args), torch.device(args.device))
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from weakdriven.methods.equations import mixed_logit_loss
    from weakdriven.training import FusedCausalLM, PairedModel, shifted_targets

    torch.manual_seed(0)
    device = torch.device(args.device)
    cfg = Qwen3Config(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=args.hidden // 4, intermediate_size=2 * args.hidden,
                      tie_word_embeddings=True, max_position_embeddings=args.seq_len)
    strong = Qwen3ForCausalLM(cfg).to(device)
    weak = Qwen3ForCausalLM(cfg).to(device) if args.variant.startswith("wdjt") else None
    ids = torch.randint(0, args.vocab, (args.batch, args.seq_len), device=device)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
    if args.variant == "sft-chunked":
        module = FusedCausalLM(strong)
    elif args.variant == "wdjt-chunked":
        module = PairedModel(weak, strong, lam=0.5, freeze_weak=False)
    else:
        module = torch.nn.ModuleList([m for m in (weak, strong) if m is not None])

    def loss_fn():
        if args.variant == "sft-naive":
            return strong(**batch).loss  # the HF causal-LM loss: [B, T, V] logits, upcast to fp32
        if args.variant == "wdjt-naive":
            z_s = strong(input_ids=ids, attention_mask=batch["attention_mask"]).logits
            z_w = weak(input_ids=ids, attention_mask=batch["attention_mask"]).logits
            return mixed_logit_loss(z_w, z_s, shifted_targets(batch["labels"]), 0.5)
        return module(**batch)["loss"]

    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        return float(loss)

    return _measure(args, step, device)


def _measure(args, step, device) -> dict:
    import torch

    step()  # warm-up: optimizer state / gradients allocated
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        base = _rss_kb("VmRSS") * 1024
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak-RSS counter (VmHWM)
    loss = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _rss_kb("VmHWM") * 1024 - base
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"variant": args.variant, "peak_mb": peak / 2**20, "step_s": min(times), "loss": loss}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--vocab", type=int, default=151_936, help="vocabulary size (Qwen3: 151,936)")
    p.add_argument("--seq-len", type=int, default=1024, help="tokens per sequence")
    p.add_argument("--batch", type=int, default=1, help="sequences per step")
    p.add_argument("--hidden", type=int, default=64, help="hidden size of the two-layer test models")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per variant (the minimum is reported)")
    p.add_argument("--loss-only", action="store_true", help="the mixed loss alone on random hidden states")
    p.add_argument("--dtype", default="float32", help="loss-only: dtype of the hidden states and embeddings")
    p.add_argument("--chunk-size", type=int, default=None, help="loss-only: positions per chunk (default: auto)")
    p.add_argument("--variant", choices=VARIANTS + LOSS_VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    rows = {}
    for variant in LOSS_VARIANTS if args.loss_only else VARIANTS:
        cmd = [sys.executable, __file__, "--variant", variant] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
            if k not in ("variant", "loss_only") and v is not None]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows[variant] = json.loads(out.strip().splitlines()[-1])
    print(f"device={args.device} V={args.vocab} T={args.seq_len} B={args.batch} hidden={args.hidden}"
          + (f" dtype={args.dtype} (loss only)" if args.loss_only else ""))
    print(f"{'variant':14s} {'peak MB':>10s} {'step s':>9s} {'loss':>9s}")
    for r in rows.values():
        print(f"{r['variant']:14s} {r['peak_mb']:10.1f} {r['step_s']:9.3f} {r['loss']:9.4f}")
    if args.loss_only:
        for name, prefix in (("mixed loss", "loss"), ("UNDIAL loss", "undial")):
            naive, fused = rows[f"{prefix}-naive"], rows[f"{prefix}-fused"]
            print(f"{name}: fused/naive peak memory {fused['peak_mb'] / naive['peak_mb']:.3f}x, time "
                  f"{fused['step_s'] / naive['step_s']:.3f}x, |loss diff| {abs(fused['loss'] - naive['loss']):.2e}")
        return
    for name in ("sft", "wdjt"):
        naive, chunked = rows[f"{name}-naive"], rows[f"{name}-chunked"]
        print(f"{name}: chunked/naive peak memory {chunked['peak_mb'] / naive['peak_mb']:.3f}x, "
              f"step time {chunked['step_s'] / naive['step_s']:.3f}x, |loss diff| "
              f"{abs(chunked['loss'] - naive['loss']):.2e}")


if __name__ == "__main__":
    main()
