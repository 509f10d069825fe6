"""SSB, Semantic Soft Bootstrapping (Mitra & Ulukus 2025; App. E.6): the model as its own hint-prompted teacher.

Before training, the generic ``method_data`` rule makes two parts on the per-seed subsample (App. E.5: 20K prompts,
shared with SPIN):

* ``rollouts``: the student start (M1) samples ``rollouts`` answers per prompt (4, T 0.8, top-k 50), each graded by
  math-verify against the row's gold answer;
* ``teacher`` (reads ``rollouts``): for every question with at least one correct and one incorrect rollout, the same
  model answers a hint prompt that shows it one correct and one incorrect solution (T 0.4); the answer is kept only
  if math-verify still finds it correct. For each kept reply the teacher's top-``top_k`` logits per reply token are
  computed with the hint prompt as context and stored compactly (``data/topk.py``: ids, values and the logsumexp at
  the distillation temperature, in checksummed shards beside the index).

Training (``train``) puts LoRA adapters (peft; r 32, alpha 32, every linear projection) on M1 and fits the *plain*
question (no hints) followed by the teacher's reply on ``kd_weight`` * KD + (1 - ``kd_weight``) * CE over the reply
tokens (equations.py: ``topk_distillation_loss``, ``ssb_loss``); the adapters are merged into the weights at the end,
so the run's model is an ordinary checkpoint.

The paper and the reference code disagree or are silent in places; each is a setting of ``methods.ssb`` (README:
"Settings that resolve paper/code ambiguities"): ``tail`` (how the top-k are used: ``renormalize`` over the k tokens,
or ``bucket`` with the rest of the vocabulary as one outcome), ``kd_weight`` (0.5: the paper's equal mix; 1.0: the
reference code's KD only), ``kd_temperature`` (paper 1.5, code 2), ``learning_rate`` (paper 1e-4, code 2e-4),
``student_prompt`` (``chat``: the system prompt and the question, as every method here; ``plain``: the question alone),
``wrong_answer`` (``most_frequent``: the reference code's choice of the incorrect solution shown; ``first``),
``hint_template`` (the paper does not print its hint prompt; :data:`HINT_TEMPLATE` follows the reference code's
instructions in words of its own).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..checks import check_yield
from ..data.chat import prompt_text, write_jsonl
from ..data.generated import read_rollouts, rollouts_by_prompt
from ..data.topk import read_topk, write_topk
from ..device import job_device, model_dtype
from ..eval.generation import Protocol
from .base import M1, DataPart, Method, full_rows
from .sampling import answer_prompts, final_answer, grade, graded_rollouts, row_domain

log = logging.getLogger(__name__)

ROLLOUTS = "rollouts"
TEACHER = "teacher"
TABLE11_SSB_HOURS = 18.0  # Table 11: "~18h" on Qwen3-4B-Base, against SFT's 4h30m per epoch

HINT_TEMPLATE = (
    "{question}\n\n"
    "Below are two attempts at this problem. The first reaches the correct answer; the second does not.\n\n"
    "Correct attempt:\n{correct}\n\n"
    "Incorrect attempt:\n{incorrect}\n\n"
    "Write your own complete, coherent step-by-step solution of the problem. Do not mention or refer to the attempts "
    "above. {answer_format}"
)
# The last sentence of the default hint prompt, by the training row's domain: the form its grader reads.
ANSWER_FORMATS = {"math": "Put the final answer in \\boxed{}.",
                  "logic": "End your response with 'The answer is (X).'",
                  "code": "Give the complete program in one ```python code block."}


@dataclass(frozen=True)
class SSBSettings:
    prompts: int = 20000            # App. E.5: the 20K subsample of the math pool (shared with SPIN)
    rollouts: int = 4               # App. E.6
    rollout_temperature: float = 0.8
    rollout_top_k: int = 50
    teacher_temperature: float = 0.4
    max_new_tokens: int = 4096      # not in the paper: the training max length
    max_hint_tokens: int = 12288    # App. E.6's max_model_len 16384 less the reply; a longer hint prompt is skipped
    top_k: int = 20                 # App. E.6: top-20 logits per token (">95 % of the softmax mass")
    tail: str = "renormalize"       # renormalize | bucket (unspecified)
    kd_temperature: float = 1.5     # App. E.6 (reference code: 2)
    kd_weight: float = 0.5          # App. E.6: an equal mix of KD and CE (reference code: 1.0, KD only)
    learning_rate: float = 1e-4     # App. E.6 (reference code: 2e-4)
    epochs: float = 2.0             # App. E.6
    global_batch_size: int | None = 256  # App. E.6; None: training.global_batch_size
    lora_r: int = 32
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: str = "all-linear"  # peft's name for every linear projection but the output layer
    student_prompt: str = "chat"    # chat | plain
    wrong_answer: str = "most_frequent"  # most_frequent | first
    hint_template: str | None = None  # None: HINT_TEMPLATE; else a text with {question}, {correct}, {incorrect}
    shard_rows: int = 1000          # replies per top-k shard
    min_questions: int = 1          # fewer questions with a correct and an incorrect rollout fail the rollouts job
    min_replies: int = 1            # fewer hint-prompted answers still correct fail the teacher job


def hint_prompt(question: str, correct: str, incorrect: str, template: str | None = None, *,
                domain: str = "math") -> str:
    """The teacher's prompt: ``template`` (default :data:`HINT_TEMPLATE`, ending with the answer form of the row's
    ``domain``) filled with the question and the two attempts (a template may leave either attempt out)."""
    if template is None:
        return HINT_TEMPLATE.format(question=question, correct=correct, incorrect=incorrect,
                                    answer_format=ANSWER_FORMATS[domain])
    try:
        return template.format(question=question, correct=correct, incorrect=incorrect)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"methods.ssb.hint_template: {err!r}; it may name only {{question}}, {{correct}} and "
                         "{incorrect} (write literal braces as {{ }})") from None


def hint_pairs(examples: list, rollouts: list[dict], source: str, wrong_answer: str,
               domain: str = "math") -> tuple[list[dict], dict]:
    """Per question with at least one correct and one incorrect rollout: its first correct rollout and the incorrect
    one to show (``most_frequent``: the first rollout of the most frequent wrong answer, ties broken by sampling
    order; ``first``: the first incorrect rollout). Questions without both are counted and skipped. An answer is what
    the row's grader reads (``domain``, the training set's: the boxed expression, the option, the program)."""
    if wrong_answer not in ("most_frequent", "first"):
        raise ValueError(f"unknown methods.ssb.wrong_answer {wrong_answer!r}; expected most_frequent or first")
    by_prompt = rollouts_by_prompt(examples, rollouts, source)
    pairs, all_correct, all_wrong = [], 0, 0
    for ex in examples:
        ordered = by_prompt[ex.id]
        right = [r for r in ordered if r["correct"]]
        wrong = [r for r in ordered if not r["correct"]]
        if not right:
            all_wrong += 1
            continue
        if not wrong:
            all_correct += 1
            continue
        shown = wrong[0]
        row = row_domain(domain, ex)
        if wrong_answer == "most_frequent":
            answers = [final_answer(row, r["text"]) for r in wrong]
            counts = Counter(answers)
            top = max(counts.values())
            shown = wrong[next(i for i, a in enumerate(answers) if counts[a] == top)]
        pairs.append({"id": ex.id, "question": ex.question, "answer": ex.answer, "domain": row,
                      "correct": right[0]["text"], "incorrect": shown["text"]})
    return pairs, {"prompts": len(examples), "questions_with_both": len(pairs), "skipped_all_correct": all_correct,
                   "skipped_all_incorrect": all_wrong}


def reply_token_ids(tokenizer, reply: str) -> list[int]:
    """The reply as an assistant turn, as every method's completion is encoded (``data.chat.encode_example``): its
    text and the chat template's end of turn (``<|im_end|>`` for Qwen, ``<end_of_turn>`` for Gemma), not the EOS."""
    messages = [{"role": "user", "content": "?"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": reply}], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template does not render the prompt as a prefix of the conversation")
    return tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]


def teacher_topk(model_dir: str, rows: list[dict], system_prompt: str | None, top_k: int, temperature: float,
                 device=None, bf16: bool = False) -> Iterator[tuple]:
    """Per row (``hint``, ``reply_ids``), one at a time: the teacher's top-k logits (ids, values) and logsumexp(z / T)
    at each reply token, with the hint prompt as context; numpy arrays [len(reply_ids), k], [.., k], [..]."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or torch.device("cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=model_dtype(bf16)).to(device).eval()
    vocab = model.get_output_embeddings().weight.shape[0]
    if top_k > vocab:
        raise ValueError(f"methods.ssb.top_k {top_k} exceeds the model's vocabulary of {vocab}")

    @torch.no_grad()
    def each():
        for row in rows:
            prompt = tokenizer(prompt_text(tokenizer, row["hint"], system_prompt), add_special_tokens=False)
            ids = prompt["input_ids"] + row["reply_ids"]
            n = len(row["reply_ids"])
            # position t predicts token t + 1: the last n + 1 positions but the last one (no [T, V] of the prompt)
            logits = model(torch.tensor([ids], device=device), use_cache=False, logits_to_keep=n + 1).logits[0]
            at = logits[:n].float()
            values, top = at.topk(top_k, dim=-1)
            lse = torch.logsumexp(at / temperature, dim=-1)
            yield (top.cpu().numpy().astype(np.int32), values.cpu().numpy().astype(np.float32),
                   lse.cpu().numpy().astype(np.float32))

    return each()


class SSB(Method):
    def models(self, run, exp) -> dict[str, str]:
        return {"strong": M1}

    def epochs(self, exp) -> float:
        return self.settings(exp).epochs

    def data_parts(self, run, exp) -> tuple[DataPart, ...]:
        s = self.settings(exp)
        return (DataPart(ROLLOUTS, M1, s.prompts, s.rollouts), DataPart(TEACHER, M1, s.prompts, 1, after=(ROLLOUTS,)))

    def training_overrides(self, exp) -> dict:
        s = self.settings(exp)
        over = {"learning_rate": s.learning_rate}
        if s.global_batch_size is not None:
            over["global_batch_size"] = s.global_batch_size
        return over

    def options(self, exp) -> dict:
        return asdict(self.settings(exp))

    def data_options(self, exp, part: str) -> dict:
        """Each part's own knobs: a teacher setting (T, top-k, the hint) leaves the rollouts alone."""
        o = self.options(exp)
        keys = (("prompts", "rollouts", "rollout_temperature", "rollout_top_k", "max_new_tokens", "wrong_answer",
                 "min_questions") if part == ROLLOUTS
                else ("prompts", "teacher_temperature", "max_new_tokens", "max_hint_tokens", "top_k", "kd_temperature",
                      "wrong_answer", "hint_template", "shard_rows", "min_replies"))
        return {k: o[k] for k in keys}

    def cost_factor(self, exp, domain: str) -> float:
        """Training only (the generation phases are priced per sample): LoRA on the kept replies of the subsample,
        whose forward and backward cost about what full fine-tuning costs per token."""
        return min(self.settings(exp).prompts, full_rows(exp, domain)) / full_rows(exp, domain)

    def make_data(self, part: str, job) -> dict:
        o = job.stage.options
        if part == ROLLOUTS:
            protocol = Protocol("ssb-rollouts", temperature=o["rollout_temperature"], top_p=1.0, n=o["rollouts"],
                                top_k=o["rollout_top_k"])
            rows = graded_rollouts(job, protocol, o["max_new_tokens"])
            _, counts = hint_pairs(job.examples, rows, str(job.out), o["wrong_answer"], job.stage.domain)
            check_yield(f"run {job.run.name}: SSB questions with a correct and an incorrect rollout",
                        counts["questions_with_both"], o["min_questions"], counts, "methods.ssb.min_questions")
            write_jsonl(job.out, rows)
            summary = {"part": part, **counts, "rollouts": len(rows), "correct": sum(r["correct"] for r in rows),
                       "model": str(job.model)}
        elif part == TEACHER:
            summary = self._teacher(job, o)
        else:
            return super().make_data(part, job)
        log.info("SSB %s: %s", part, json.dumps(summary))
        return summary

    def _teacher(self, job, o: dict) -> dict:
        from transformers import AutoTokenizer

        if ROLLOUTS not in job.parts:
            raise ValueError(f"run {job.run.name}: the teacher part reads the graded rollouts: pass "
                             f"--parts {ROLLOUTS}=<file>")
        source = job.parts[ROLLOUTS]
        pairs, counts = hint_pairs(job.examples, read_rollouts(source), source, o["wrong_answer"], job.stage.domain)
        check_yield(f"{source}: SSB questions with a correct and an incorrect rollout", counts["questions_with_both"],
                    1, counts, "methods.ssb.min_questions")
        tokenizer = AutoTokenizer.from_pretrained(job.model)
        hints = {}
        for p in pairs:  # a hint prompt (the question and two whole attempts) over the limit is skipped and counted
            text = hint_prompt(p["question"], p["correct"], p["incorrect"], o["hint_template"], domain=p["domain"])
            prompt = prompt_text(tokenizer, text, job.stage.prompt.system_prompt)
            if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= o["max_hint_tokens"]:
                hints[p["id"]] = text
        counts["skipped_hint_too_long"] = len(pairs) - len(hints)
        if not hints:
            raise ValueError(f"run {job.run.name}: every hint prompt exceeds methods.ssb.max_hint_tokens "
                             f"({o['max_hint_tokens']}): no teacher data")
        protocol = Protocol("ssb-teacher", temperature=o["teacher_temperature"], top_p=1.0, n=1)
        records = answer_prompts(job, protocol, o["max_new_tokens"], questions=list(hints.items()),
                                 max_prompt_tokens=o["max_hint_tokens"])
        verdicts = grade(job, records, {ex.id: ex for ex in job.examples})
        by_id = {p["id"]: p for p in pairs}
        kept = []
        for r, ok in zip(records, verdicts, strict=True):
            if not ok or r["finish_reason"] == "length":
                continue
            reply_ids = reply_token_ids(tokenizer, r["text"])
            kept.append({"id": r["prompt_id"], "question": by_id[r["prompt_id"]]["question"],
                         "hint": hints[r["prompt_id"]], "reply": r["text"], "reply_ids": reply_ids,
                         "kd_temperature": o["kd_temperature"], "checkpoint_sha256": r["checkpoint_sha256"]})
        check_yield(f"run {job.run.name}: SSB teacher replies (hint-prompted answers still correct)", len(kept),
                    max(o["min_replies"], 1), {**counts, "teacher_answers": len(records),
                                               "teacher_incorrect": sum(not ok for ok in verdicts),
                                               "teacher_truncated": sum(r["finish_reason"] == "length"
                                                                        for r in records)},
                    "methods.ssb.min_replies")
        targets = teacher_topk(job.model, kept, job.stage.prompt.system_prompt, o["top_k"], o["kd_temperature"],
                               device=job_device(job.stage.gpus), bf16=job.stage.bf16)
        written = write_topk(job.out, kept, targets, o["shard_rows"])
        return {"part": TEACHER, **counts, "teacher_answers": len(records),
                "teacher_incorrect": sum(not ok for ok in verdicts),
                "teacher_truncated": sum(r["finish_reason"] == "length" for r in records), "kept": len(kept),
                "top_k": o["top_k"], "kd_temperature": o["kd_temperature"], **written, "model": str(job.model)}

    def train(self, job) -> dict:
        from ..training import train_topk_distilled

        s, o = job.settings, job.options
        if TEACHER not in job.parts:
            raise ValueError(f"run {job.run.name} trains on the teacher's top-k logits: pass --parts {TEACHER}=<file>")
        source = job.parts[TEACHER]
        rows = read_topk(source)
        k = {r["topk_ids"].shape[1] for r in rows}
        if k != {o["top_k"]}:
            raise ValueError(f"{source}: stored top-k {sorted(k)} but methods.ssb.top_k is {o['top_k']}: remake it")
        temperatures = {r.get("kd_temperature") for r in rows}
        if temperatures != {o["kd_temperature"]}:  # the stored logsumexp is at that T (the bucket tail reads it)
            raise ValueError(f"{source}: stored at kd_temperature {sorted(temperatures, key=str)} but "
                             f"methods.ssb.kd_temperature is {o['kd_temperature']}: remake it")
        system_prompt = job.system_prompt if o["student_prompt"] == "chat" else None
        lora = {"r": o["lora_r"], "alpha": o["lora_alpha"], "dropout": o["lora_dropout"],
                "target_modules": o["lora_targets"]}
        extra = {"method": self.name, "seed": s.seed, "start": str(job.strong), "teacher": str(Path(source)),
                 "student_prompt": o["student_prompt"]}
        return train_topk_distilled(job.strong, rows, system_prompt, s, job.out, o["kd_temperature"], o["tail"],
                                    o["kd_weight"], lora, source, keep=job.keep, extra_summary=extra)


METHOD = SSB("ssb", "SSB", loss="distill", settings_type=SSBSettings)
