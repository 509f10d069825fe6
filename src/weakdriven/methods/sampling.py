"""Answers of a start model to training prompts, for the methods with a generation phase (SPIN, DPO, SSB): the
evaluation's two backends (vLLM on a cluster, transformers on CPU) behind one call, and math-verify's verdicts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..checks import checked_checkpoint
from ..data.chat import prompt_text
from ..data.gemma import wrap_for_vllm
from ..device import job_device
from ..eval.generation import Protocol, generate_transformers, generate_vllm
from ..eval.grading import grade_many


def answer_prompts(job, protocol: Protocol, max_new_tokens: int, questions: list[tuple[str, str]] | None = None,
                   max_prompt_tokens: int | None = None) -> list[dict]:
    """Generation records (prompt id, sample index, text, tokens, finish reason, checkpoint hash) of ``job.model`` on
    the chat prompts of ``questions`` ((id, text) pairs; default: those of ``job.examples``, a
    :class:`weakdriven.methods.DataJob`); a prompt longer than ``max_prompt_tokens`` (default
    ``evaluation.max_prompt_tokens``) is an error naming its row, before anything is generated."""
    from transformers import AutoTokenizer

    from ..training import checkpoint_sha256

    stage = job.stage
    if questions is None:
        questions = [(ex.id, ex.question) for ex in job.examples]
    tokenizer = AutoTokenizer.from_pretrained(checked_checkpoint(job.model))
    prompts = [prompt_text(tokenizer, q, stage.prompt.system_prompt) for _, q in questions]
    limit = max_prompt_tokens or stage.max_prompt_tokens
    too_long = [i for (i, _), p in zip(questions, prompts, strict=True)
                if len(tokenizer(p, add_special_tokens=False)["input_ids"]) > limit]
    if too_long:
        raise ValueError(f"run {stage.run}: prompts longer than {limit} tokens "
                         f"({'the method' if max_prompt_tokens else 'evaluation.max_prompt_tokens'}): {too_long[:5]}")
    ids = [i for i, _ in questions]
    checkpoint = checkpoint_sha256(job.model)
    if stage.backend == "vllm":
        batches = [(prompts, ids, max_new_tokens)]
        if stage.prompt.family == "gemma" and stage.gemma_multimodal_base:
            with tempfile.TemporaryDirectory(prefix="weakdriven-gemma-") as tmp:  # vLLM loads Gemma-3 multimodal only
                wrapped = Path(tmp) / "wrapped"
                wrap_for_vllm(job.model, stage.gemma_multimodal_base, wrapped)
                (records,) = generate_vllm(str(wrapped), batches, protocol, stage.seed, checkpoint,
                                           stage.tensor_parallel)
            return records
        (records,) = generate_vllm(str(job.model), batches, protocol, stage.seed, checkpoint, stage.tensor_parallel)
        return records
    return generate_transformers(job.model, prompts, ids, protocol, max_new_tokens, stage.batch_size, stage.seed,
                                 checkpoint, device=job_device(stage.gpus), bf16=stage.bf16)


def grade(job, records: list[dict], gold: dict[str, str]) -> list[bool]:
    """math-verify's verdict on each record against the gold answer of its prompt; a record without a verdict is an
    error of the job, never a silent "incorrect"."""
    stage = job.stage
    verdicts = grade_many("math", [r["text"] for r in records], [gold[r["prompt_id"]] for r in records],
                          stage.grader_workers, stage.grader_timeout_s)
    errors = [(r["prompt_id"], r["sample_index"], err) for r, (_, err) in zip(records, verdicts, strict=True) if err]
    if errors:
        raise RuntimeError(f"run {stage.run}: math-verify gave no verdict on {len(errors)} answer(s), e.g. "
                           f"{errors[:3]}")
    return [ok for ok, _ in verdicts]


def graded_rollouts(job, protocol: Protocol, max_new_tokens: int) -> list[dict]:
    """``protocol.n`` answers of ``job.model`` per prompt of ``job.examples``, each graded by math-verify against the
    row's gold answer: rows ``{"id", "sample_index", "text", "correct", ...}`` (``read_rollouts`` reads them back)."""
    records = answer_prompts(job, protocol, max_new_tokens)
    verdicts = grade(job, records, {ex.id: ex.answer for ex in job.examples})
    return [{"id": r["prompt_id"], "sample_index": r["sample_index"], "text": r["text"], "correct": ok,
             "completion_tokens": r["completion_tokens"], "finish_reason": r["finish_reason"],
             "checkpoint_sha256": r["checkpoint_sha256"]} for r, ok in zip(records, verdicts, strict=True)]
