"""One short run on one GPU that shows the cluster path works there, and what the mixed loss costs at paper scale.

    python benchmarks/gpu_check.py                          # on a GPU node, a few minutes
    python benchmarks/gpu_check.py --device cpu --small     # the same script on a CPU, tiny sizes (checks the script)

1. Stages on the device the device rule picks (weakdriven.device.job_device), each with a tiny model built here: the
   WD-DS entropy pass, the logit statistics, generation with the transformers backend, one SFT and one WD-JT training
   step in bf16. Each prints its device, wall time and peak device memory.
2. The WD-JT loss at V = 151,936, d = 2560, N = 4096 and 16384 tokens in bf16, forward + backward: naive (two [N, V]
   logit tensors), weakdriven's fused chunked loss, and Liger-Kernel's fused linear cross-entropy fed the
   concatenated inputs [lam*h_s | (1-lam)*h_w] and [W_s | W_w] (which give the mixed logits exactly). Peak memory and
   time of each, and the ratios to naive. A variant that runs out of memory is reported as such.

Needs torch, transformers, accelerate (and liger-kernel for the Liger column; without it that column says so).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ARCH = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            intermediate_size=128)


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_mb(device) -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")


def _reset(device):
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def stage_checks(root: Path, device, gpus: int) -> list[dict]:
    """Every model-running stage once, through the same code the workflow runs."""
    from weakdriven.cli import main as cli
    from weakdriven.config import CodeJudging, Evaluation
    from weakdriven.data.chat import load_examples
    from weakdriven.data.embedded import build_tiny_model, build_tokenizer, make_embedded_data
    from weakdriven.eval.generation import Protocol
    from weakdriven.eval.pipeline import generate_records
    from weakdriven.methods import Run, TrainJob
    from weakdriven.methods.sft import run_sft
    from weakdriven.settings import TrainSettings
    from weakdriven.stages import DiagnosticsStage, EntropyStage, EvalStage, Prompt

    make_embedded_data(root / "w", n_train=32, n_test=8, n_pretrain=32, seed=0)
    data = root / "w" / "data" / "train.jsonl"
    tok = build_tokenizer([root / "w" / "data" / "pretrain.txt", data])
    build_tiny_model(tok, ARCH, seed=0).save_pretrained(root / "m0")
    tok.save_pretrained(root / "m0")
    prompt = "Answer with <answer>."
    rows = []

    def timed(name, fn):
        _reset(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        rows.append({"stage": name, "wall_s": round(time.perf_counter() - start, 2), "peak_mb": _peak_mb(device)})
        print(f"  {name:28s} {rows[-1]['wall_s']:7.2f} s   peak {rows[-1]['peak_mb']:9.1f} MB", flush=True)

    bf16 = device.type == "cuda"
    settings = TrainSettings(learning_rate=1e-3, lr_scheduler="linear", warmup_ratio=0.0, weight_decay=0.0,
                             max_grad_norm=1.0, max_length=128, per_device_batch_size=4, global_batch_size=4,
                             epochs=0.125, bf16=bf16, gradient_checkpointing=True, logging_steps=1, seed=0, gpus=gpus)
    examples = load_examples(data)
    timed("train-sft (bf16, 1 step)", lambda: run_sft(root / "m0", examples, prompt, settings, root / "sft"))
    run = Run.parse("wmss_lam0.5")
    options = {"freeze_weak": False, "joint_loss_mask": "completion", "joint_system_prompt": True}
    timed("train wmss (bf16)", lambda: run.method.train(TrainJob(
        run=run, strong=str(root / "sft"), weak=str(root / "m0"), examples=examples, system_prompt=prompt,
        settings=settings, out=str(root / "wmss"), keep=None, options=options)))
    entropy = EntropyStage(gpus=gpus, bf16=bf16, attn_implementation="sdpa", prompt=Prompt(prompt, "qwen"),
                           system_prompt=False, max_length=128).to_json()
    timed("entropy (WD-DS, Eq. 7)", lambda: cli(["entropy", "--settings", entropy, "--model", str(root / "sft"),
                                                 "--data", str(data), "--out", str(root / "entropy.jsonl")]))
    stats = DiagnosticsStage(gpus=gpus, bf16=bf16, n_examples=8, seed=0, prompt=Prompt(prompt, "qwen"),
                             max_length=128).to_json()
    timed("logit-stats (Tables 6/7)", lambda: cli(["logit-stats", "--settings", stats, "--weak",
                                                   str(root / "m0"), "--strong-pre", str(root / "sft"),
                                                   "--strong-post", str(root / "wmss"), "--sft", str(root / "sft"),
                                                   "--data", str(data), "--out-dir", str(root / "stats")]))
    greedy = Protocol("paper-greedy", temperature=0.0, top_p=1.0, n=1)
    evaluation = Evaluation(backend="transformers", protocol=greedy.name, protocols={greedy.name: greedy},
                            max_new_tokens=16, long_max_new_tokens=16,
                            long_benchmarks=(), max_prompt_tokens=128, batch_size=8, grader_workers=1,
                            grader_timeout_s=5, max_grader_errors=0,
                            code=CodeJudging(workers=1, timeout_s=10, test_timeout_s=3, memory_mb=4096,
                                             isolation="auto"))
    bench = [{"id": f"p{i}", "question": ex.question, "gold": "0"} for i, ex in enumerate(examples[:16])]
    stage = EvalStage(evaluation, Prompt(prompt, "qwen"), gpus, bf16, 1, None)
    timed("generate (transformers)", lambda: generate_records(root / "wmss", "synth-next", bench, stage, 0,
                                                              "gpu_check"))
    summary = json.loads((root / "wmss" / "train_summary.json").read_text())
    rows.append({"stage": "wmss summary", "steps": summary["steps"], "loss": summary["last_logged_loss"]})
    return rows


def loss_checks(device, tokens: list[int], vocab: int, hidden: int, dtype_name: str) -> list[dict]:
    import torch

    from weakdriven.fused import fused_mixed_linear_cross_entropy
    from weakdriven.methods.equations import mixed_logit_loss

    try:
        from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss
    except ImportError as err:
        LigerFusedLinearCrossEntropyLoss, liger_missing = None, f"liger-kernel not importable ({err})"
    else:
        liger_missing = None
    dtype = getattr(torch, dtype_name)
    lam = 0.5
    results = []
    for n in tokens:
        torch.manual_seed(0)
        h_w, h_s = (torch.randn(n, hidden, device=device, dtype=dtype) * 0.5 for _ in range(2))
        w_w, w_s = (torch.randn(vocab, hidden, device=device, dtype=dtype) * 0.02 for _ in range(2))
        labels = torch.randint(0, vocab, (n,), device=device)

        def naive(hw, hs, ww, ws, labels=labels):
            return mixed_logit_loss(hw @ ww.T, hs @ ws.T, labels, lam)

        def fused(hw, hs, ww, ws, labels=labels):
            return fused_mixed_linear_cross_entropy(hw, hs, ww, ws, labels, lam)

        def liger(hw, hs, ww, ws, labels=labels):  # [W_s | W_w] and [lam h_s | (1-lam) h_w]: the mixed logits
            loss = LigerFusedLinearCrossEntropyLoss()
            return loss(torch.cat([ws, ww], 1), torch.cat([lam * hs, (1 - lam) * hw], 1), labels)

        for name, fn in (("naive", naive), ("fused", fused), ("liger-concat", liger)):
            if name == "liger-concat" and liger_missing:
                results.append({"tokens": n, "variant": name, "error": liger_missing})
                continue
            leaves = [t.detach().clone().requires_grad_(True) for t in (h_w, h_s, w_w, w_s)]
            try:
                fn(*leaves).backward()  # warm-up (kernel compilation, allocator)
                for t in leaves:
                    t.grad = None
                _reset(device)
                _sync(device)
                start = time.perf_counter()
                loss = fn(*leaves)
                loss.backward()
                _sync(device)
                results.append({"tokens": n, "variant": name, "s": time.perf_counter() - start,
                                "peak_mb": _peak_mb(device), "loss": loss.item()})
            except torch.OutOfMemoryError:
                results.append({"tokens": n, "variant": name, "error": "out of memory"})
            del leaves
        naive_row = next(r for r in results if r["tokens"] == n and r["variant"] == "naive")
        for r in results:
            if r["tokens"] == n and "s" in r and "s" in naive_row:
                r["time_vs_naive"] = r["s"] / naive_row["s"]
                r["memory_vs_naive"] = r["peak_mb"] / naive_row["peak_mb"]
            line = f"  N={r['tokens']:6d} {r['variant']:13s} " + (
                f"{r['s']:8.3f} s  peak {r['peak_mb']:10.1f} MB  loss {r['loss']:.4f}"
                + (f"  time {r['time_vs_naive']:.3f}x  memory {r['memory_vs_naive']:.3f}x" if "time_vs_naive" in r
                   else "") if "s" in r else r["error"])
            if r["tokens"] == n:
                print(line, flush=True)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--small", action="store_true", help="tiny loss sizes (a CPU check of the script)")
    p.add_argument("--out", help="write the measurements here as JSON")
    args = p.parse_args()
    import torch

    from weakdriven.device import job_device

    gpus = 1 if args.device == "cuda" else 0
    device = job_device(gpus)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), torch "
          f"{torch.__version__}", flush=True)
    print("stages (tiny model):", flush=True)
    with tempfile.TemporaryDirectory(prefix="weakdriven-gpu-check-") as tmp:
        stages = stage_checks(Path(tmp), device, gpus)
    print("mixed loss, forward + backward:", flush=True)
    if args.small:
        losses = loss_checks(device, [64], 4096, 32, "float32")
    else:
        losses = loss_checks(device, [4096, 16384], 151_936, 2560, "bfloat16")
    if args.out:
        Path(args.out).write_text(json.dumps({"device": str(device), "stages": stages, "loss": losses}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
