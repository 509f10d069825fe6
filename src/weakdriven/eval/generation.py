"""One generation interface, two backends: transformers (CPU, batched) and vLLM (GPU, imported only when used).

Both write the same records: prompt id, sample index, text, token counts, finish reason, protocol, checkpoint hash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..device import model_dtype, to_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Protocol:
    """How a model is sampled: the evaluation's protocols are named in the config (``evaluation.protocols``, the
    name a path level); the training-data methods (DPO, SPIN, SSB, the logic teacher) build their own."""

    name: str
    temperature: float  # 0: greedy (then n = 1)
    top_p: float
    n: int              # samples per problem: pass@1 is their mean, pass@k for every k <= n
    top_k: int = 0      # 0: off (vLLM's default; transformers would otherwise apply its own default of 50)


PASS_KS = (1, 4, 8, 16, 32, 64)  # Table 10's k (those <= n are reported)


def _records(prompt_ids, outputs, protocol: Protocol, checkpoint: str) -> list[dict]:
    return [
        {"prompt_id": pid, "sample_index": i, "text": text, "prompt_tokens": n_prompt,
         "completion_tokens": n_out, "finish_reason": reason, "protocol": protocol.name,
         "temperature": protocol.temperature, "top_p": protocol.top_p, "top_k": protocol.top_k,
         "checkpoint_sha256": checkpoint}
        for pid, samples in zip(prompt_ids, outputs, strict=True)
        for i, (text, n_prompt, n_out, reason) in enumerate(samples)
    ]


def generate_transformers(model_dir: str, prompts: list[str], prompt_ids: list[str], protocol: Protocol,
                          max_new_tokens: int, batch_size: int, seed: int, checkpoint: str, device=None,
                          bf16: bool = False) -> list[dict]:
    """``device``: the job's (``weakdriven.device.job_device``; None = the CPU)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = device or torch.device("cpu")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=model_dtype(bf16)).to(device).eval()
    stop_ids = model.generation_config.eos_token_id
    stop_ids = set(stop_ids if isinstance(stop_ids, list) else [stop_ids])
    sampling = protocol.temperature > 0
    outputs = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start:start + batch_size]
        enc = to_device(tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False), device)
        with torch.no_grad():
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=sampling, num_return_sequences=protocol.n,
                temperature=protocol.temperature if sampling else None, top_p=protocol.top_p if sampling else None,
                top_k=protocol.top_k if sampling else None,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1]:]
        for j in range(len(batch)):
            n_prompt = int(enc["attention_mask"][j].sum())
            samples = []
            for tokens in new[j * protocol.n:(j + 1) * protocol.n].tolist():
                stop_at = next((k for k, t in enumerate(tokens) if t in stop_ids), None)
                kept = tokens if stop_at is None else tokens[:stop_at]
                text = tokenizer.decode(kept, skip_special_tokens=False)
                samples.append((text, n_prompt, len(kept), "length" if stop_at is None else "stop"))
            outputs.append(samples)
        log.info("generated %d/%d prompts", min(start + batch_size, len(prompts)), len(prompts))
    return _records(prompt_ids, outputs, protocol, checkpoint)


def generate_vllm(model_dir: str, batches: list[tuple[list[str], list[str], int]], protocol: Protocol, seed: int,
                  checkpoint: str, tensor_parallel: int = 1) -> list[list[dict]]:
    """Records per batch, ``batches``: (prompts, prompt ids, max new tokens), e.g. one per benchmark, all in one
    vLLM call (the engine starts once). Each request carries the seed, so a prompt's samples do not depend on the
    other prompts of the call."""
    from vllm import LLM, SamplingParams  # GPU only; never imported on the CPU path

    llm = LLM(model=model_dir, dtype="bfloat16", seed=seed, tensor_parallel_size=tensor_parallel)
    prompts, params = [], []
    for batch_prompts, _, max_new_tokens in batches:
        one = SamplingParams(n=protocol.n, temperature=protocol.temperature, top_p=protocol.top_p,
                             top_k=protocol.top_k or -1,
                             max_tokens=max_new_tokens, seed=seed)
        prompts += batch_prompts
        params += [one] * len(batch_prompts)
    results = iter(llm.generate(prompts, params))
    out = []
    for batch_prompts, ids, _ in batches:
        outputs = [
            [(o.text, len(r.prompt_token_ids), len(o.token_ids), "length" if o.finish_reason == "length" else "stop")
             for o in r.outputs]
            for r in (next(results) for _ in batch_prompts)
        ]
        out.append(_records(ids, outputs, protocol, checkpoint))
    return out
