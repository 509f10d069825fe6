"""The embedded preset's world: synthetic chain-of-thought data, an offline tokenizer and a tiny Qwen3 model.

Three tasks of graded difficulty (copy a number < next number < two-number addition) are written in the paper's chat
format ``<think>…</think><answer>…\\boxed{…}</answer>``. Test sets are disjoint from the training set by question.
A plain-text corpus of the same facts (no chat template, no tags) pre-trains M0 into a real, weak base model.

The code and logic domains are built on the skill a tiny model learns best, copying a number, so that every stage
that filters keeps rows by design rather than by a tiny model's luck. A logic item asks for a number among four
options; its teacher is the preset's stand-in for the paper's Qwen3-32B, M0 fine-tuned on a teacher set of such items
until it answers them (``logic_data.teacher``: ``embedded:<backbone>``). A code row's program adds the number its
question ends with; a code row's verdict is fixed by construction (a wrong program is off by one). The pre-training
corpus (documents separated by a blank line) holds copy questions with options and the programs, as a real base
model's corpus holds multiple-choice questions and code.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..benchmarks import multiple_choice
from ..eval.code import pack_task
from ..provenance import write_summary
from .chat import load_examples, prompt_messages, write_jsonl
from .logic import raw_files

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


def with_options(question: str, answer: str, rng: random.Random) -> tuple[str, list[str], int]:
    """``question`` rendered as the logic items are (``benchmarks.multiple_choice``: the question, then four lettered
    numeric options, one of them ``answer``); returns (text, options, index of the answer)."""
    right = int(answer)
    values = [right, *rng.sample([v for v in range(10, 1000) if v != right], 3)]
    rng.shuffle(values)
    options = [str(v) for v in values]
    return multiple_choice("", question, options, values.index(right))["question"], options, values.index(right)


def completion(reasoning: str, answer: str) -> str:
    return f"<think>{reasoning}</think><answer>The answer is \\boxed{{{answer}}}.</answer>"


def make_embedded_data(out_dir: str | Path, n_train: int, n_test: int, n_pretrain: int, seed: int) -> None:
    """Write data/math/train.jsonl, data/pretrain.txt, one benchmarks/<task>.jsonl test set per task, the tiny code
    and logic raw files, and the code and logic test sets (benchmarks/synth-code.jsonl, stdio problems;
    benchmarks/synth-logic.jsonl, the held-out logic items) into ``out_dir``."""
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
        kind = len(corpus) % (len(TASKS) + 2)
        if kind == len(TASKS):  # a program of the code rows' form, as the answers write it
            k, shape = rng.randint(1, 9), ("call", "stdio")[len(corpus) % 2]
            program = stdio_program(k) if shape == "stdio" else function_program(k)
            corpus.append(f"Question: {code_question(k, shape, len(corpus))}\n```python\n{program}\n```")
            continue
        q, r, a = _problem(TASKS[0 if kind > len(TASKS) else kind], rng)
        if q in held_out:
            continue
        if kind > len(TASKS):  # a copy question with four options
            q = with_options(q, a, rng)[0]
        corpus.append(f"Question: {q} {r} So the answer is {a}.")
    write_jsonl(out_dir / "data" / "math" / "train.jsonl", train)
    (out_dir / "data" / "pretrain.txt").write_text(CORPUS_SEPARATOR.join(corpus) + "\n")
    for task, rows in tests.items():
        write_jsonl(out_dir / "benchmarks" / f"{task}.jsonl", rows)
    write_jsonl(out_dir / "data" / "code" / "raw" / CODE_ROWS, code_rows(N_CODE, seed))
    write_jsonl(out_dir / "benchmarks" / f"{CODE_BENCHMARK}.jsonl", code_test_set(n_test, seed))
    logic = logic_items(N_LOGIC, seed)
    write_logic_raw(out_dir / "data" / "logic" / "raw", logic)
    write_jsonl(out_dir / "benchmarks" / f"{LOGIC_BENCHMARK}.jsonl", logic_test_set(logic))
    write_jsonl(out_dir / "data" / "logic" / TEACHER_ROWS, teacher_rows(N_TEACHER, seed))
    write_summary(out_dir / "data" / "math.summary.json",
                  {"domain": "math", "source": "embedded synthetic chain-of-thought rows", "kept": len(train),
                   "counts": {"kept": len(train)}})


# ---- the tiny code and logic domains: raw files in the sources' own layouts, prepared by the same rules as the paper's

CORPUS_SEPARATOR = "\n\n"     # between two pre-training documents (a program spans lines)
CODE_ROWS = "am_code.jsonl"  # AM rows (the hub's row layout) under data/code/raw/
TEACHER_ROWS = "teacher_train.jsonl"  # the embedded logic teacher's training set, under data/logic/
# Sizes with margin: the per-domain SFT (2 epochs) of the tiny model answers none of the held-out logic items after
# 45 steps and all of them after 90 (measured with batches of 16); 600 candidates give 150 steps in batches of 8.
N_CODE, N_LOGIC, N_TEACHER = 720, 800, 240
# The code rows' test shapes, by row: stdio (the code benchmark's shape) for seven rows in nine, so that a model that
# has not yet learned to tell the shapes apart writes a stdio program; one call-based and one assert-based row in nine
# keep the code filter's three judges in use. With the three shapes in turn, the code M1 (60 steps of 8 rows) wrote a
# function for every stdio question (0 of 30); with this mix, 30 of 30 (measured).
CODE_SHAPES = ("stdio", "call", "asserts", "stdio", "stdio", "stdio", "stdio", "stdio", "stdio")
LOGIC_BENCHMARK = "synth-logic"  # the held-out logic items as a test set (benchmarks.BENCHMARKS)
CODE_BENCHMARK = "synth-code"    # stdio problems of the code rows' form


def code_question(k: int, shape: str, number: int) -> str:
    """The number to add comes last, next to the answer: the tiny model copies a nearby number reliably."""
    return f"Write a Python program ({shape} task {number}) that adds {k} to a number."


def stdio_program(k: int) -> str:
    return f"print(int(input()) + {k})"


def function_program(k: int) -> str:
    return f"def add_k(x): return x + {k}"


def _am_row(source: str, question: str, k: int, program: str | None, test_case) -> dict:
    """The thinking names the number to add (``Add 7.``), as the copy task's does: right after the question the tiny
    model copies it reliably, and the program copies it from there. With a thinking that names no number the code SFT
    collapsed on one seed to a constant (``+ 3`` for every question; 6 of 30 right) although M0 itself completes the
    program from the plain question 30 of 30 times; naming the number gave 30 of 30 after one epoch (measured)."""
    answer = f"```python\n{program}\n```" if program is not None else "Add the numbers."
    think = f"Add {k}."
    return {"messages": [
        {"role": "user", "content": question, "info": {"source": source, "reference_answer": None,
                                                        "test_case": test_case}},
        {"role": "assistant", "content": f"<think>{think}</think><answer>{answer}</answer>",
         "info": {"source": "embedded", "think_content": think, "answer_content": answer}}]}


def code_rows(n: int, seed: int) -> list[dict]:
    """``n`` AM-layout code rows of the three test shapes; every fourth program is wrong (it fails its tests), every
    sixth row has no code block, and one math row that the code filter skips: ``n * 2 // 3`` rows pass (for ``n`` a
    multiple of 12), a count fixed by construction, whatever model runs later."""
    rng = random.Random(seed)
    rows = [{"messages": [{"role": "user", "content": "What is 1 + 1?", "info": {"source": "embedded-math"}},
                          {"role": "assistant", "content": completion("1 + 1 = 2.", "2")}]}]
    for i in range(n):
        k = rng.randint(1, 9)
        off = k + (1 if i % 4 == 3 else 0)  # a wrong program: off by one
        shape = CODE_SHAPES[i % len(CODE_SHAPES)]
        if shape == "call":
            program = function_program(off)
            tests = json.dumps({"inputs": [{"x": v} for v in (1, 5)], "outputs": [{"output": v + k} for v in (1, 5)]})
        elif shape == "asserts":
            program = function_program(off)
            tests = [f"assert add_k({v}) == {v + k}" for v in (2, 7)]
        else:
            program = stdio_program(off)
            tests = {"ground_truth": json.dumps({"inputs": ["3\n", "8\n"], "outputs": [f"{3 + k}\n", f"{8 + k}\n"]})}
        rows.append(_am_row({"call": "codeio", "asserts": "OpenCoder", "stdio": "prime"}[shape],
                            code_question(k, shape, i), k, None if i % 6 == 5 else program, tests))
    return rows


def code_test_set(n: int, seed: int) -> list[dict]:
    """The embedded code benchmark: ``n`` stdin/stdout problems in the code rows' own question form ("adds k to a
    number", numbered past every training row), judged as LiveCodeBench's stdio problems are (``eval/code.py``)."""
    rng = random.Random(seed + 1)
    rows = []
    for i in range(n):
        k = rng.randint(1, 9)
        task_id = f"synth-code-{i}"
        tests = [{"input": f"{v}\n", "output": f"{v + k}\n", "testtype": "stdin"} for v in (3, 8)]
        rows.append({"id": task_id, "question": code_question(k, "stdio", N_CODE + i), "gold": task_id,
                     "task": pack_task({"judge": "livecodebench", "task_id": task_id, "func_name": None,
                                        "tests": tests})})
    return rows


def logic_items(n: int, seed: int) -> dict[tuple[str, str], list[dict]]:
    """Tiny multiple-choice items in the LogiQA 2.0 and ReClor release layouts, by (source, split): the copy task's
    question ("Write the number 417.") with four numeric options, one right, and no passage; no held-out item's
    number is asked in a training split. Two held-out items (a LogiQA 2.0 test and a ReClor val item) are copied into
    training splits with other spacing and case, for the content filter to find."""
    rng = random.Random(seed)
    q = n // 8
    pool = rng.sample(range(10, 1000), 990)
    held, rest = pool[:2 * q], pool[2 * q:]
    if not rest:
        raise ValueError(f"{n} logic items hold {2 * q} held-out ones: more than the copy task's 990 numbers allow")
    held_index = {i: k for k, i in enumerate([*range(4 * q, 5 * q), *range(7 * q, 8 * q)])}

    def item(i: int) -> tuple[str, str, list[str], int]:
        number = held[held_index[i]] if i in held_index else rng.choice(rest)
        question = f"Write the number {number}."
        _, options, answer = with_options(question, str(number), rng)
        return "", question, options, answer

    def logiqa(i):
        text, question, options, answer = item(i)
        return {"id": i, "answer": answer, "text": text, "question": question, "options": options,
                "type": {"Categorical Reasoning": True}}

    def reclor(i, split):
        text, question, options, answer = item(i)
        return {"context": text, "question": question, "answers": options, "label": answer,
                "id_string": f"{split}_{i}"}

    splits = {("logiqa2", "train"): [logiqa(i) for i in range(3 * q)],
              ("logiqa2", "dev"): [logiqa(i) for i in range(3 * q, 4 * q)],
              ("logiqa2", "test"): [logiqa(i) for i in range(4 * q, 5 * q)],
              ("reclor", "train"): [reclor(i, "train") for i in range(5 * q, 7 * q)],
              ("reclor", "val"): [reclor(i, "val") for i in range(7 * q, 8 * q)]}
    test = splits[("logiqa2", "test")][0]
    splits[("logiqa2", "train")].append(dict(test, id=999, question="  " + test["question"].upper() + " "))
    val = splits[("reclor", "val")][0]
    splits[("logiqa2", "dev")].append({"id": 998, "answer": val["label"], "text": val["context"],
                                       "question": val["question"].lower(), "options": val["answers"], "type": {}})
    return splits


def teacher_rows(n: int, seed: int) -> list[dict]:
    """The embedded logic teacher's training set: ``n`` items of the logic items' form (a copy question with four
    options, no passage) answered as a thinking model answers (Qwen3: the thinking block, then the final answer as
    plain text); drawn apart from the logic items (another stream), so that the teacher answers the candidates from
    the skill, not from memory."""
    rng = random.Random(seed + 2)
    rows = []
    for i in range(n):
        question, reasoning, answer = _problem("synth-copy", rng)
        rows.append({"id": f"teacher-{i}", "question": with_options(question, answer, rng)[0],
                     "completion": f"<think>{reasoning}</think>The answer is \\boxed{{{answer}}}.", "answer": answer})
    return rows


def logic_test_set(splits: dict[tuple[str, str], list[dict]]) -> list[dict]:
    """The embedded logic benchmark: the held-out splits (LogiQA 2.0 test, ReClor val), rendered as the paper's
    LogiQA2 and ReClor test sets are (``{id, question, gold, options}``), which the logic set leaves out by content."""
    rows = [{"id": f"logiqa2-{r['id']}", **multiple_choice(r["text"], r["question"], r["options"], r["answer"])}
            for r in splits[("logiqa2", "test")]]
    rows += [{"id": f"reclor-{r['id_string']}", **multiple_choice(r["context"], r["question"], r["answers"],
                                                                   r["label"])} for r in splits[("reclor", "val")]]
    return rows


def write_logic_raw(root: str | Path, splits: dict[tuple[str, str], list[dict]]) -> None:
    """The splits as released: LogiQA 2.0 JSON Lines, ReClor JSON lists (``data.logic.raw_files``' layout)."""
    for key, path in raw_files(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = splits[key]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows) if key[0] == "logiqa2" else json.dumps(rows))


def chat_text(messages: list[dict]) -> str:
    """``messages`` as ``CHAT_TEMPLATE`` renders them (no generation prompt; jinja2 as transformers configures it):
    the text the model reads in training, before a tokenizer exists."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(CHAT_TEMPLATE).render(messages=messages, add_generation_prompt=False)


def training_texts(train: str | Path, system_prompt: str) -> Iterator[str]:
    """The training set's rows as the chat template renders them, system prompt included: the words the model
    reads after pre-training, which the tokenizer learns too (as a real tokenizer's corpus holds them)."""
    for example in load_examples(train):
        yield chat_text([*prompt_messages(example.question, system_prompt),
                         {"role": "assistant", "content": example.completion}])


def build_tokenizer(corpus_files: list[str | Path], vocab_size: int = 512, texts: Iterable[str] = ()):
    """A byte-level BPE tokenizer trained offline on the lines of ``corpus_files`` and on ``texts``, digits split one
    per token as in Qwen. ``vocab_size`` is a cap: the preset's words are all merged below it (a row of the math set
    is about 75 tokens with its system prompt, 92 when the tokenizer never saw the prompt's words)."""
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

    def lines() -> Iterator[str]:
        for path in corpus_files:
            yield from Path(path).read_text().splitlines()
        yield from texts

    tok.train_from_iterator(lines(), trainer)
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
