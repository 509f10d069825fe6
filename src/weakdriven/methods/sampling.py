"""Answers of a start model to training prompts, for the methods with a generation phase (SPIN, DPO, SSB): the
evaluation's two backends (vLLM on a cluster, transformers on CPU) behind one call, and the verdicts of each domain's
grader (math-verify, the option letter, the code row's own tests)."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..checks import checked_checkpoint
from ..data.am_code import final_program, verify
from ..data.chat import prompt_text
from ..data.gemma import wrap_for_vllm
from ..data.logic import split_thinking
from ..device import job_device
from ..eval.generation import Protocol, generate_transformers, generate_vllm
from ..eval.grading import extract_choice, grade_many, last_boxed
from ..eval.sandbox import SandboxUnavailable, resolve_isolation


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


def row_domain(stage_domain: str, example) -> str:
    """How a training row's answers are graded: its set's domain, or for a mixture row its own ``domain`` field."""
    if stage_domain != "mix":
        return stage_domain
    if example.domain is None:
        raise ValueError(f"row {example.id}: a mixture row needs its 'domain' (math, code or logic)")
    return example.domain


def final_answer(domain: str, text: str) -> str | None:
    """What an answer answers, to compare answers with each other (SSB's most frequent wrong answer): the last boxed
    expression (math), the option letter (logic), the program (code)."""
    if domain == "logic":
        return extract_choice(text)
    if domain == "code":
        return final_program(split_thinking(text)[1])  # not a program written while thinking
    return last_boxed(text)



def _code_verdicts(job, records: list[dict], examples: dict) -> list[tuple[bool, str | None]]:
    """Each answer's program run against its row's own tests in the sandbox, as the code set was verified
    (``code_data``'s program choice, limits and sandbox); an answer without a program is incorrect."""
    code = job.stage.code
    if code is None:
        raise ValueError(f"run {job.stage.run}: code rows are graded with the 'code_data' section; configure it")

    def one(record: dict) -> tuple[bool, str | None]:
        example = examples[record["prompt_id"]]
        if example.tests is None:
            raise ValueError(f"run {job.stage.run}: code row {example.id} has no 'tests' to grade an answer with")
        program = final_program(split_thinking(record["text"])[1], code.program)
        if program is None:
            return False, None
        candidate = {"id": example.id, "tests": example.tests, "program": program}
        return verify(candidate, code.timeout_s, code.memory_mb, isolation) == "kept", None

    try:
        isolation = resolve_isolation(code.isolation)  # once: a sandbox that cannot start fails the job here
        with ThreadPoolExecutor(max_workers=max(1, job.stage.grader_workers)) as pool:
            return list(pool.map(one, records))
    except SandboxUnavailable as err:
        raise SandboxUnavailable(f"{err} (the code rows' answers are run with 'code_data.isolation')") from None


def grade(job, records: list[dict], examples: dict) -> list[bool]:
    """Each record's verdict against the training row it answers (``examples``: id -> row), by the row's domain:
    math-verify on the gold answer (math), the option letter (logic), the row's tests in the sandbox (code). A record
    without a verdict is an error of the job, never a silent "incorrect"."""
    stage = job.stage
    by_domain: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_domain.setdefault(row_domain(stage.domain, examples[r["prompt_id"]]), []).append(i)
    verdicts: list[tuple[bool, str | None]] = [(False, None)] * len(records)
    for domain, indices in by_domain.items():
        chosen = [records[i] for i in indices]
        if domain == "code":
            found = _code_verdicts(job, chosen, examples)
        else:
            found = grade_many("choice" if domain == "logic" else "math", [r["text"] for r in chosen],
                               [examples[r["prompt_id"]].answer for r in chosen], stage.grader_workers,
                               stage.grader_timeout_s)
        for i, verdict in zip(indices, found, strict=True):
            verdicts[i] = verdict
    errors = [(r["prompt_id"], r["sample_index"], err) for r, (_, err) in zip(records, verdicts, strict=True) if err]
    if errors:
        raise RuntimeError(f"run {stage.run}: the grader gave no verdict on {len(errors)} answer(s), e.g. "
                           f"{errors[:3]}")
    return [ok for ok, _ in verdicts]


def graded_rollouts(job, protocol: Protocol, max_new_tokens: int) -> list[dict]:
    """``protocol.n`` answers of ``job.model`` per prompt of ``job.examples``, each graded against its row
    (:func:`grade`): rows ``{"id", "sample_index", "text", "correct", ...}`` (``read_rollouts`` reads them back)."""
    records = answer_prompts(job, protocol, max_new_tokens)
    verdicts = grade(job, records, {ex.id: ex for ex in job.examples})
    return [{"id": r["prompt_id"], "sample_index": r["sample_index"], "text": r["text"], "correct": ok,
             "completion_tokens": r["completion_tokens"], "finish_reason": r["finish_reason"],
             "checkpoint_sha256": r["checkpoint_sha256"]} for r, ok in zip(records, verdicts, strict=True)]
