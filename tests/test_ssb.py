"""SSB: the top-k distillation loss against hand values and the full-vocabulary KL, the compact top-k storage read
back with its checks, the hint pairs, the method's declarations and cost, and LoRA training on a tiny model whose
adapters are merged into an ordinary checkpoint."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from weakdriven.checks import LowYield
from weakdriven.config import Experiment
from weakdriven.cost import Job, job_gpu_hours
from weakdriven.data.chat import Example, load_examples
from weakdriven.data.topk import read_topk, write_topk
from weakdriven.methods import M1, METHODS, DataJob, Run, TrainJob
from weakdriven.methods.base import DataPart
from weakdriven.methods.equations import ssb_loss, topk_distillation_loss, topk_teacher_probs
from weakdriven.methods.ssb import hint_pairs, reply_token_ids, teacher_topk
from weakdriven.settings import TrainSettings


# ---- the loss (App. E.6) ------------------------------------------------------------------------------------------
def test_renormalized_top_k_kd_by_hand():
    """Teacher top-2 logits (2, 0) at T = 1: q = (e^2, 1) / (e^2 + 1); a uniform student over V = 3 has log p =
    -ln 3 at each, so KL = sum q ln q + ln 3."""
    q0 = math.exp(2) / (math.exp(2) + 1)
    expected = q0 * math.log(q0) + (1 - q0) * math.log(1 - q0) + math.log(3)
    kd = topk_distillation_loss(torch.zeros(1, 3), torch.tensor([[0, 2]]), torch.tensor([[2.0, 0.0]]), 1.0,
                                "renormalize")
    assert kd.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.73327, abs=1e-5)
    # T = 2: the logits are halved and the KL is scaled by T^2 = 4
    q0 = math.exp(1) / (math.exp(1) + 1)
    at_t2 = 4 * (q0 * math.log(q0) + (1 - q0) * math.log(1 - q0) + math.log(3))
    assert topk_distillation_loss(torch.zeros(1, 3), torch.tensor([[0, 2]]), torch.tensor([[2.0, 0.0]]), 2.0,
                                  "renormalize").item() == pytest.approx(at_t2, abs=1e-6)


def test_bucket_kd_by_hand_and_it_is_the_full_kl_when_the_student_matches():
    """Teacher z = (2, 0, 1), top-2 = tokens 0 and 2: q = (e^2, e, 1) / (e^2 + 1 + e) with token 1 as the tail
    bucket; a uniform student puts 1/3 on each of the three outcomes."""
    z = torch.tensor([[2.0, 0.0, 1.0]])
    lse = torch.logsumexp(z, dim=-1)
    total = math.exp(2) + 1 + math.exp(1)
    q = [math.exp(2) / total, math.exp(1) / total, 1 / total]
    probs = topk_teacher_probs(torch.tensor([[2.0, 1.0]]), 1.0, "bucket", lse)
    assert probs[0].tolist() == pytest.approx(q, abs=1e-6)
    expected = sum(p * math.log(p * 3) for p in q)
    kd = topk_distillation_loss(torch.zeros(1, 3), torch.tensor([[0, 2]]), torch.tensor([[2.0, 1.0]]), 1.0, "bucket",
                                lse)
    assert kd.item() == pytest.approx(expected, abs=1e-6)
    # a student equal to the teacher: bucket KD is 0; renormalize still charges the mass outside the k tokens
    assert topk_distillation_loss(z, torch.tensor([[0, 2]]), torch.tensor([[2.0, 1.0]]), 1.0, "bucket",
                                  lse).item() == pytest.approx(0.0, abs=1e-6)
    assert topk_distillation_loss(z, torch.tensor([[0, 2]]), torch.tensor([[2.0, 1.0]]), 1.0,
                                  "renormalize").item() > 0.05
    with pytest.raises(ValueError, match="logsumexp"):
        topk_teacher_probs(torch.tensor([[2.0, 1.0]]), 1.0, "bucket")
    with pytest.raises(ValueError, match="unknown SSB top-k tail 'rest'"):
        topk_teacher_probs(torch.tensor([[2.0, 1.0]]), 1.0, "rest")


@pytest.mark.parametrize("tail", ["renormalize", "bucket"])
def test_with_every_token_stored_both_tails_are_the_full_kl_times_t_squared(tail):
    gen = torch.Generator().manual_seed(0)
    teacher, student, t = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen), 1.5
    values, ids = teacher.topk(7, dim=-1)
    full = torch.nn.functional.kl_div(torch.log_softmax(student / t, -1), torch.log_softmax(teacher / t, -1),
                                      log_target=True, reduction="none").sum(-1) * t**2
    kd = topk_distillation_loss(student, ids, values, t, tail, torch.logsumexp(teacher / t, -1))
    assert torch.allclose(kd, full, atol=1e-5)


def test_the_mix_is_kd_weight_kd_plus_the_rest_ce():
    assert ssb_loss(torch.tensor(2.0), torch.tensor(4.0), 0.5).item() == 3.0
    assert ssb_loss(torch.tensor(2.0), torch.tensor(4.0), 1.0).item() == 2.0  # the reference code: KD only


# ---- storage ------------------------------------------------------------------------------------------------------
def _targets(n: int, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 50, (n, k)).astype(np.int32), rng.normal(size=(n, k)).astype(np.float32),
            rng.normal(size=n).astype(np.float32))


def _rows(lengths):
    return [{"id": f"q{i}", "question": f"question {i}", "reply": "r", "reply_ids": list(range(1, n + 1))}
            for i, n in enumerate(lengths)]


def test_top_k_targets_round_trip_through_checksummed_shards(tmp_path):
    index = tmp_path / "teacher.jsonl"
    targets = [_targets(n, seed=n) for n in (2, 3, 1)]
    counts = write_topk(index, _rows([2, 3, 1]), targets, shard_rows=2)
    assert counts == {"replies": 3, "shards": 2, "tokens": 6}
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["teacher.topk-00000.npz", "teacher.topk-00001.npz"]
    rows = read_topk(index)
    for row, (ids, values, lse) in zip(rows, targets, strict=True):
        assert np.array_equal(row["topk_ids"], ids) and np.array_equal(row["topk_values"], values)
        assert np.array_equal(row["teacher_lse"], lse)
    assert [(r["shard"], r["start"], r["length"]) for r in rows] == [
        ("teacher.topk-00000.npz", 0, 2), ("teacher.topk-00000.npz", 2, 3), ("teacher.topk-00001.npz", 0, 1)]
    with pytest.raises(ValueError, match="do not match its 3 reply tokens"):
        write_topk(tmp_path / "other.jsonl", _rows([3]), [_targets(2)], shard_rows=2)
    with pytest.raises(ValueError, match="no target arrays for id 'q1'"):
        write_topk(tmp_path / "other.jsonl", _rows([2, 3]), iter([_targets(2)]), shard_rows=2)
    with pytest.raises(ValueError, match="more target arrays than the 1 rows"):
        write_topk(tmp_path / "other.jsonl", _rows([2]), [_targets(2), _targets(2)], shard_rows=2)
    assert not (tmp_path / "other.jsonl").exists()  # no index over a partial write


def test_an_altered_or_missing_shard_and_a_bad_row_are_named(tmp_path):
    index = tmp_path / "teacher.jsonl"
    write_topk(index, _rows([2, 3, 1]), [_targets(n) for n in (2, 3, 1)], shard_rows=2)
    lines = index.read_text().splitlines()
    shard = tmp_path / "teacher.topk-00001.npz"
    saved = shard.read_bytes()
    np.savez(shard, **{k: v + 1 for k, v in dict(zip(("ids", "values", "lse"), _targets(1), strict=True)).items()})
    with pytest.raises(ValueError, match=r"teacher.jsonl:3: shard .*teacher.topk-00001.npz does not match its sha256"):
        read_topk(index)
    shard.unlink()
    with pytest.raises(FileNotFoundError, match=r"teacher.jsonl:3: shard .* does not exist"):
        read_topk(index)
    shard.write_bytes(saved)
    bad = [
        ({"reply_ids": []}, "reply_ids must be a non-empty list"),
        ({"length": 5}, "length 5 but 3 reply tokens"),
        ({"start": 3}, r"tokens 3..6 lie beyond shard teacher.topk-00000.npz's 5 rows"),
        ({"shard": "../x.npz"}, "shard must be a file name next to the index"),
        ({"question": 3}, r"missing or non-string field\(s\) \['question'\]"),
        ({"start": None}, "start must be an integer >= 0, got None"),
    ]
    for change, message in bad:
        row = {**json.loads(lines[1]), **change}
        index.write_text("\n".join([lines[0], json.dumps(row), lines[2]]) + "\n")
        with pytest.raises(ValueError, match=f"teacher.jsonl:2: {message}"):
            read_topk(index)


# ---- hint pairs ---------------------------------------------------------------------------------------------------
def _examples(n=3):
    return [Example(f"q{i}", f"question {i}", f"completion {i}", str(i)) for i in range(n)]


def test_hint_pairs_show_the_first_correct_and_the_most_frequent_wrong_answer():
    texts = {0: "\\boxed{5}", 1: "\\boxed{7}", 2: "\\boxed{0}", 3: "\\boxed{7}"}
    rollouts = [{"id": "q0", "sample_index": i, "text": texts[i], "correct": i == 2} for i in range(4)]
    rollouts += [{"id": "q1", "sample_index": i, "text": "\\boxed{1}", "correct": True} for i in range(4)]
    rollouts += [{"id": "q2", "sample_index": i, "text": "\\boxed{9}", "correct": False} for i in range(4)]
    pairs, counts = hint_pairs(_examples(), rollouts, "r.jsonl", "most_frequent")
    assert pairs == [{"id": "q0", "question": "question 0", "answer": "0", "domain": "math", "correct": "\\boxed{0}",
                      "incorrect": "\\boxed{7}"}]  # 7 twice beats 5 once
    assert counts == {"prompts": 3, "questions_with_both": 1, "skipped_all_correct": 1, "skipped_all_incorrect": 1}
    first, _ = hint_pairs(_examples(), rollouts, "r.jsonl", "first")
    assert first[0]["incorrect"] == "\\boxed{5}"
    with pytest.raises(ValueError, match="r.jsonl: no rollouts of 1 prompt"):
        hint_pairs(_examples(4), rollouts, "r.jsonl", "first")


def test_the_hint_template_is_a_setting_naming_its_fields(embedded_raw):
    from weakdriven.config import ConfigError
    from weakdriven.methods.ssb import hint_prompt

    default = hint_prompt("Q?", "right", "wrong")
    assert default.startswith("Q?") and "right" in default and "wrong" in default and "\\boxed{}" in default
    assert hint_prompt("Q?", "right", "wrong", "{question} (hint: {correct})") == "Q? (hint: right)"
    with pytest.raises(ValueError, match=r"hint_template: KeyError\('answer'\)"):
        hint_prompt("Q?", "right", "wrong", "{question} {answer}")
    raw = {**embedded_raw, "methods": {**embedded_raw["methods"],
                                       "ssb": {**embedded_raw["methods"]["ssb"], "hint_template": "no fields"}}}
    with pytest.raises(ConfigError, match="methods.ssb.hint_template"):
        Experiment.from_dict(raw)


# ---- the method ---------------------------------------------------------------------------------------------------
def test_ssb_declares_its_two_generation_parts_the_papers_settings_and_its_cost(paper_raw, embedded_raw):
    from weakdriven import stages

    paper = Experiment.from_dict(paper_raw)
    # vLLM: wrapped (App. E.4)
    gemma = stages.MethodDataStage.build(paper, "gemma-3-4b-pt", "math", 42, "ssb", "rollouts")
    assert gemma.gemma_multimodal_base == "results/paper/models/gemma-3-4b-pt/base/multimodal"
    qwen = stages.MethodDataStage.build(paper, "qwen3-4b-base", "math", 42, "ssb", "rollouts")
    assert qwen.gemma_multimodal_base is None
    method, run = METHODS["ssb"], Run.parse("ssb")
    assert method.data_parts(run, paper) == (DataPart("rollouts", M1, 20000, 4),
                                             DataPart("teacher", M1, 20000, 1, after=("rollouts",)))
    assert method.models(run, paper) == {"strong": M1} and method.epochs(paper) == 2.0
    assert method.training_overrides(paper) == {"learning_rate": 1e-4, "global_batch_size": 256}
    options = method.options(paper)
    rollouts, teacher = method.data_options(paper, "rollouts"), method.data_options(paper, "teacher")
    assert (options["top_k"], options["kd_temperature"], options["kd_weight"], options["lora_r"]) == (20, 1.5, 0.5, 32)
    assert "learning_rate" not in teacher and "tail" not in teacher and teacher["top_k"] == 20  # training knobs
    assert set(rollouts) == {"prompts", "rollouts", "rollout_temperature", "rollout_top_k", "max_new_tokens",
                             "wrong_answer", "min_questions"}  # the rollouts job counts the questions it yields
    assert method.cost_factor(paper, "math") == pytest.approx(20000 / 111657)
    wc = {"backbone": "qwen3-4b-base", "seed": "42", "run": "ssb"}
    assert job_gpu_hours(Job("method_data", {**wc, "part": "rollouts"}), paper) == pytest.approx(20000 * 4 * 5.5 / 3600)
    assert job_gpu_hours(Job("train", wc), paper) == pytest.approx(2 * 36.0 * 20000 / 111657)


def test_the_cost_model_prices_spin_and_ssb_near_table_11(paper_raw):
    """Table 11 on Qwen3-4B-Base, 8 GPUs: SPIN 7h53m (63 GPU-h), SSB ~18h (144 GPU-h), generation included."""
    paper = Experiment.from_dict(paper_raw)
    wc = {"backbone": "qwen3-4b-base", "seed": "42"}

    def total(run, parts):
        return (job_gpu_hours(Job("train", {**wc, "run": run}), paper)
                + sum(job_gpu_hours(Job("method_data", {**wc, "run": run, "part": p}), paper) for p in parts))

    spin, ssb = total("spin", ["generated"]), total("ssb", ["rollouts", "teacher"])
    assert spin == pytest.approx(63.1, rel=0.25) and ssb == pytest.approx(144.0, rel=0.25)
    assert (round(spin), round(ssb)) == (48, 166)


@pytest.fixture(scope="module")
def teacher_rows(tiny_training_inputs):
    """Replies = the gold completions, the 'hint' = the plain question: teacher and student see the same context."""
    from transformers import AutoTokenizer

    base = str(tiny_training_inputs / "base")
    tok = AutoTokenizer.from_pretrained(base)
    examples = load_examples(tiny_training_inputs / "data" / "math" / "train.jsonl")[:16]
    rows = [{"id": ex.id, "question": ex.question, "hint": ex.question, "reply": ex.completion,
             "reply_ids": reply_token_ids(tok, ex.completion), "kd_temperature": 1.5} for ex in examples]
    return rows, list(teacher_topk(base, rows, "Answer.", top_k=4, temperature=1.5))


def test_a_reply_ends_like_every_methods_completion_with_the_templates_end_of_turn(tiny_training_inputs):
    from transformers import AutoTokenizer

    from weakdriven.data.chat import encode_example

    tok = AutoTokenizer.from_pretrained(tiny_training_inputs / "base")
    ex = load_examples(tiny_training_inputs / "data" / "math" / "train.jsonl")[0]
    encoded = encode_example(tok, ex, "Answer.", 512, "completion")
    completion = [t for t in encoded["labels"] if t != -100]
    assert reply_token_ids(tok, ex.completion) == completion
    assert tok.convert_ids_to_tokens(completion[-2]) == "<|im_end|>" and tok.eos_token_id not in completion[:-2]


def test_teacher_top_k_are_the_models_largest_logits_at_the_reply_positions(tiny_training_inputs, teacher_rows):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from weakdriven.data.chat import prompt_text

    rows, targets = teacher_rows
    base = str(tiny_training_inputs / "base")
    tok, model = AutoTokenizer.from_pretrained(base), AutoModelForCausalLM.from_pretrained(base).eval()
    prompt = tok(prompt_text(tok, rows[0]["hint"], "Answer."), add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + rows[0]["reply_ids"]])).logits[0]
    at = logits[len(prompt) - 1:-1]
    ids, values, lse = targets[0]
    assert ids.shape == (len(rows[0]["reply_ids"]), 4)
    assert np.allclose(values, at.topk(4).values.numpy(), atol=1e-5)
    assert np.allclose(lse, torch.logsumexp(at / 1.5, -1).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="exceeds the model's vocabulary"):
        teacher_topk(base, rows[:1], "Answer.", top_k=10**6, temperature=1.0)


def _settings(**kw):
    base = dict(learning_rate=5e-3, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.0, max_grad_norm=1.0,
                max_length=64, per_device_batch_size=8, global_batch_size=8, epochs=2, bf16=False,
                gradient_checkpointing=False, logging_steps=1, seed=0)
    return TrainSettings(**{**base, **kw})


OPTIONS = {"kd_temperature": 1.5, "tail": "bucket", "kd_weight": 1.0, "lora_r": 4, "lora_alpha": 8,
           "lora_dropout": 0.0, "lora_targets": "all-linear", "student_prompt": "chat", "top_k": 4}


def test_lora_training_starts_at_zero_kd_for_an_identical_context_and_saves_merged_weights(
        tiny_training_inputs, teacher_rows, tmp_path):
    """The student starts as the teacher (LoRA's B = 0) and sees the same context, so the bucket KD is 0 at step 1;
    CE then moves only the LoRA-targeted linear weights, merged into an ordinary checkpoint."""
    from weakdriven.training import load_causal_lm

    rows, targets = teacher_rows
    index = tmp_path / "data" / "teacher.jsonl"
    write_topk(index, rows, targets, shard_rows=5)
    run, start = Run.parse("ssb"), str(tiny_training_inputs / "base")
    job = TrainJob(run=run, strong=start, weak=None, examples=[], system_prompt="Answer.", settings=_settings(),
                   out=str(tmp_path / "ssb"), keep=None, options=OPTIONS, parts={"teacher": str(index)})
    summary = run.method.train(job)
    logged = [h["loss"] for h in summary["log_history"] if "loss" in h]
    assert logged[0] == pytest.approx(0.0, abs=1e-4) and summary["steps"] == 4 and summary["replies"] == 16
    assert summary["trainable_parameters"] > 0 and summary["lora"]["r"] == 4
    assert not list((tmp_path / "ssb").glob("adapter_*"))  # merged, not an adapter directory
    trained, _ = load_causal_lm(tmp_path / "ssb")
    before, _ = load_causal_lm(start)
    moved = {n for (n, a), (_, b) in zip(trained.named_parameters(), before.named_parameters(), strict=True)
             if not torch.equal(a, b)}
    assert moved and all(n.endswith("proj.weight") for n in moved)  # embeddings, norms, lm_head untouched
    # the LoRA init is seeded by training.seed, not by the process: a second run from another generator state
    # trains the same weights
    torch.manual_seed(12345)
    run.method.train(TrainJob(**{**job.__dict__, "out": str(tmp_path / "again")}))
    assert ((tmp_path / "again" / "model.safetensors").read_bytes()
            == (tmp_path / "ssb" / "model.safetensors").read_bytes())
    # CE pulls the student towards the replies: with kd_weight 0 the loss falls
    ce = run.method.train(TrainJob(**{**job.__dict__, "out": str(tmp_path / "ce"),
                                      "options": {**OPTIONS, "kd_weight": 0.0}}))
    ce_logged = [h["loss"] for h in ce["log_history"] if "loss" in h]
    assert ce_logged[-1] < ce_logged[0]
    # a snapshots folder gets its manifest; a kept model cannot be (the merge ends training)
    from weakdriven.training import Keep

    with pytest.raises(ValueError, match="keeps no epoch model or relative checkpoint"):
        run.method.train(TrainJob(**{**job.__dict__, "out": str(tmp_path / "k"),
                                     "keep": Keep(steps={"ck50": 1}, snapshots_out=str(tmp_path / "snap"))}))
    # a teacher part stored at another distillation temperature is refused (its logsumexp is at that T)
    with pytest.raises(ValueError, match=r"stored at kd_temperature \[1.5\] but methods.ssb.kd_temperature is 2.0"):
        run.method.train(TrainJob(**{**job.__dict__, "out": str(tmp_path / "t"),
                                     "options": {**OPTIONS, "kd_temperature": 2.0}}))
    # a teacher part made with another top-k is refused before training
    with pytest.raises(ValueError, match=r"stored top-k \[4\] but methods.ssb.top_k is 20"):
        run.method.train(TrainJob(**{**job.__dict__, "out": str(tmp_path / "x"), "options": {**OPTIONS, "top_k": 20}}))


def test_the_teacher_part_keeps_only_still_correct_hinted_answers(tiny_training_inputs, embedded_raw, monkeypatch,
                                                                  tmp_path):
    import weakdriven.methods.ssb as ssb
    from weakdriven import stages
    from weakdriven.data.chat import write_jsonl

    exp = Experiment.from_dict(embedded_raw)
    examples = _examples(4)
    rollouts = tmp_path / "rollouts.jsonl"
    long = " ".join(["step"] * 500)  # q1's hint prompt exceeds max_hint_tokens (400 in the embedded preset)
    write_jsonl(rollouts, [{"id": f"q{q}", "sample_index": i, "text": long if (q, ok) == (1, False) else
                            f"answer {q}.{i}", "correct": ok}
                           for q, oks in enumerate([[True, False], [False, True], [True, True], [False, True]])
                           for i, ok in enumerate(oks)])
    seen = {}

    def answers(job, protocol, max_new, questions, max_prompt_tokens):
        seen["questions"], seen["protocol"], seen["limit"] = questions, protocol, max_prompt_tokens
        return [{"prompt_id": q, "sample_index": 0, "text": f"hinted {q}", "completion_tokens": 2,
                 "finish_reason": "stop", "checkpoint_sha256": "x"} for q, _ in questions]

    monkeypatch.setattr(ssb, "answer_prompts", answers)
    monkeypatch.setattr(ssb, "grade", lambda job, records, gold: [r["prompt_id"] == "q0" for r in records])
    stage = stages.MethodDataStage.build(exp, "tiny-qwen3", "math", 42, "ssb", "teacher")
    stage = dataclasses.replace(stage, options={**stage.options, "hint_template": None})  # the paper's hint prompt
    out = tmp_path / "teacher.jsonl"
    job = DataJob(run=Run.parse("ssb"), model=str(tiny_training_inputs / "base"), examples=examples, stage=stage,
                  out=str(out), parts={"rollouts": str(rollouts)})
    # the preset's floor (methods.ssb.min_replies: 2) fails the teacher job itself, naming every count
    with pytest.raises(LowYield, match=r"kept 1, fewer than the minimum of 2 \(config key 'methods.ssb.min_replies'\)"
                                       r"\. Per reason: prompts 4, questions_with_both 3, .*teacher_incorrect 1"):
        METHODS["ssb"].make_data("teacher", job)
    assert not out.exists()
    job = DataJob(**{**job.__dict__, "stage": dataclasses.replace(stage, options={**stage.options, "min_replies": 1})})
    summary = METHODS["ssb"].make_data("teacher", job)
    assert [q for q, _ in seen["questions"]] == ["q0", "q3"]  # q2 had no incorrect rollout, q1's hint is too long
    assert "answer 0.0" in seen["questions"][0][1] and "answer 0.1" in seen["questions"][0][1]
    assert (seen["protocol"].temperature, seen["protocol"].n, seen["limit"]) == (0.4, 1, 400)
    assert (summary["questions_with_both"], summary["skipped_hint_too_long"]) == (3, 1)
    assert (summary["kept"], summary["teacher_incorrect"]) == (1, 1)
    rows = read_topk(out)
    assert [r["id"] for r in rows] == ["q0"] and rows[0]["topk_ids"].shape[1] == exp.methods["ssb"].top_k
    with pytest.raises(ValueError, match="pass --parts rollouts=<file>"):
        METHODS["ssb"].make_data("teacher", DataJob(**{**job.__dict__, "parts": {}, "out": str(tmp_path / "t2")}))
