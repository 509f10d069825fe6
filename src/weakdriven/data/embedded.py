"""The embedded preset's world: synthetic chain-of-thought data, an offline tokenizer and a tiny Qwen3 model.

Three tasks of graded difficulty (copy a number < next number < two-number addition) are written in the paper's chat
format ``<think>…</think><answer>…\\boxed{…}</answer>``. Test sets are disjoint from the training set by question.
A plain-text corpus of the same facts (no chat template, no tags) pre-trains M0 into a real, weak base model.
"""

from __future__ import annotations

import random
from pathlib import Path

from .chat import write_jsonl

TASKS = ("synth-copy", "synth-next", "synth-add")
POOL = {"synth-copy": 990, "synth-next": 989, "synth-add": 900}  # distinct questions each task can generate
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _problem(task: str, rng: random.Random) -> tuple[str, str, str]:
    """(question, reasoning, answer) of one random problem of ``task``."""
    if task == "synth-copy":
        n = rng.randint(10, 999)
        return f"Write the number {n}.", f"The number is {n}.", str(n)
    if task == "synth-next":
        n = rng.randint(10, 998)
        return f"What number comes after {n}?", f"{n} + 1 = {n + 1}.", str(n + 1)
    if task == "synth-add":
        a, b = rng.randint(1, 30), rng.randint(1, 30)
        return f"What is {a} + {b}?", f"{a} + {b} = {a + b}.", str(a + b)
    raise ValueError(f"unknown synthetic task {task!r}")


def completion(reasoning: str, answer: str) -> str:
    return f"<think>{reasoning}</think><answer>The answer is \\boxed{{{answer}}}.</answer>"


def make_embedded_data(out_dir: str | Path, n_train: int, n_test: int, n_pretrain: int, seed: int) -> None:
    """Write train.jsonl, pretrain.txt and one <task>.jsonl test set per task into ``out_dir``."""
    per_task = -(-n_train // len(TASKS)) + n_test
    short = [t for t in TASKS if per_task > POOL[t]]
    if short:
        raise ValueError(f"n_train={n_train} and n_test={n_test} need {per_task} distinct questions per task; "
                         f"{short} have only {[POOL[t] for t in short]}")
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    tests: dict[str, list[dict]] = {task: [] for task in TASKS}
    held_out: set[str] = set()
    for task in TASKS:
        while len(tests[task]) < n_test:
            q, _, a = _problem(task, rng)
            if q not in held_out:
                held_out.add(q)
                tests[task].append({"id": f"{task}-{len(tests[task])}", "question": q, "gold": a})
    train, seen = [], set()
    while len(train) < n_train:
        task = TASKS[len(train) % len(TASKS)]
        q, r, a = _problem(task, rng)
        if q in held_out or q in seen:
            continue
        seen.add(q)
        train.append({"id": f"train-{len(train)}", "question": q, "completion": completion(r, a), "answer": a})
    corpus = []
    while len(corpus) < n_pretrain:
        q, r, a = _problem(TASKS[len(corpus) % len(TASKS)], rng)
        if q not in held_out:
            corpus.append(f"Question: {q} {r} So the answer is {a}.")
    write_jsonl(out_dir / "data" / "train.jsonl", train)
    (out_dir / "data" / "pretrain.txt").write_text("\n".join(corpus) + "\n")
    for task, rows in tests.items():
        write_jsonl(out_dir / "benchmarks" / f"{task}.jsonl", rows)


def build_tokenizer(corpus_files: list[str | Path], vocab_size: int = 384):
    """A byte-level BPE tokenizer trained offline on ``corpus_files``, digits split one per token as in Qwen."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS + TAG_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train([str(f) for f in corpus_files], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(tokenizer, architecture: dict, seed: int):
    """A randomly initialised Qwen3ForCausalLM of the given ``architecture`` (tied embeddings, as Qwen3-4B-Base)."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **architecture,
    )
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    return model
