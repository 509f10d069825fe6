"""Answers of a start model to training prompts, for the methods with a generation phase (SPIN, DPO): the
evaluation's two backends (vLLM on a cluster, transformers on CPU) behind one call."""

from __future__ import annotations

from ..checks import checked_checkpoint
from ..data.chat import prompt_text
from ..device import job_device
from ..eval.generation import Protocol, generate_transformers, generate_vllm


def answer_prompts(job, protocol: Protocol, max_new_tokens: int) -> list[dict]:
    """Generation records (prompt id, sample index, text, tokens, finish reason, checkpoint hash) of ``job.model`` on
    the chat prompts of ``job.examples`` (a :class:`weakdriven.methods.DataJob`); a prompt longer than
    ``evaluation.max_prompt_tokens`` is an error naming its row, before anything is generated."""
    from transformers import AutoTokenizer

    from ..training import checkpoint_sha256

    stage = job.stage
    tokenizer = AutoTokenizer.from_pretrained(checked_checkpoint(job.model))
    prompts = [prompt_text(tokenizer, ex.question, stage.prompt.system_prompt) for ex in job.examples]
    too_long = [ex.id for ex, p in zip(job.examples, prompts, strict=True)
                if len(tokenizer(p, add_special_tokens=False)["input_ids"]) > stage.max_prompt_tokens]
    if too_long:
        raise ValueError(f"run {stage.run}: prompts longer than evaluation.max_prompt_tokens: {too_long[:5]}")
    ids = [ex.id for ex in job.examples]
    checkpoint = checkpoint_sha256(job.model)
    if stage.backend == "vllm":
        (records,) = generate_vllm(str(job.model), [(prompts, ids, max_new_tokens)], protocol, stage.seed, checkpoint,
                                   stage.tensor_parallel)
        return records
    return generate_transformers(job.model, prompts, ids, protocol, max_new_tokens, stage.batch_size, stage.seed,
                                 checkpoint, device=job_device(stage.gpus), bf16=stage.bf16)
