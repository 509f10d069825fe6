"""SPIN: the shared per-seed subsample, the generated answers read row by row, the preference pairs, and DPO through
TRL's DPOTrainer on a tiny model (its sigmoid loss starts at ln 2, where the policy equals its reference)."""

import dataclasses
import json
import math

import pytest

from weakdriven.checks import LowYield
from weakdriven.config import Experiment
from weakdriven.cost import Job, job_gpu_hours
from weakdriven.data.chat import Example, load_examples
from weakdriven.data.generated import read_generated
from weakdriven.data.subsample import draw_subsample, read_subsample, subsample_stage
from weakdriven.methods import M1, METHODS, Run
from weakdriven.methods.base import DataPart
from weakdriven.methods.spin import preference_pairs
from weakdriven.settings import TrainSettings

IDS = [f"row-{i}" for i in range(100)]


def test_the_subsample_is_drawn_once_per_seed_without_replacement_in_file_order():
    first = draw_subsample(IDS, 10, seed=42)
    assert first == draw_subsample(IDS, 10, seed=42) and len(set(first)) == 10
    assert first == sorted(first, key=IDS.index)  # training-set order
    assert first != draw_subsample(IDS, 10, seed=7)
    assert draw_subsample(IDS, 500, seed=42) == IDS  # a subsample at least the pool's size is the pool
    with pytest.raises(ValueError, match="at least one row"):
        draw_subsample(IDS, 0, seed=42)


def test_the_subsample_file_names_its_rows_and_a_foreign_id_is_refused(tiny_training_inputs, tmp_path):
    data = tiny_training_inputs / "data" / "math" / "train.jsonl"
    examples = load_examples(data)
    out = tmp_path / "n8_seed3.json"
    subsample_stage(str(data), 8, 3, str(out))
    record = json.loads(out.read_text())
    assert (record["rows"], record["seed"], record["pool"]) == (8, 3, len(examples))
    assert [ex.id for ex in read_subsample(out, examples)] == record["ids"]
    out.write_text(json.dumps({"ids": ["nope", *record["ids"]]}))
    with pytest.raises(ValueError, match=r"n8_seed3.json: 1 id\(s\) not in the training set"):
        read_subsample(out, examples)


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "a"}', r"gen.jsonl:2: missing or non-string field\(s\) \['text'\]"),
    ('{"id": "a", "text": 3}', r"gen.jsonl:2: missing or non-string field\(s\) \['text'\]"),
    ("not json", r"gen.jsonl:2: not valid JSON"),
    ('{"id": "a", "text": "x", "finish_reason": "eos"}', r"gen.jsonl:2: finish_reason 'eos'"),
])
def test_a_bad_generated_row_is_named_by_file_and_line(tmp_path, line, message):
    path = tmp_path / "gen.jsonl"
    path.write_text('{"id": "z", "text": "ok", "finish_reason": "stop"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        read_generated(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="no generated rows"):
        read_generated(path)


def _examples(n=3):
    return [Example(f"q{i}", f"question {i}", f"gold {i}", str(i)) for i in range(n)]


def test_pairs_take_the_gold_completion_as_chosen_and_the_answer_as_rejected():
    generated = [{"id": "q0", "text": "wrong 0"}, {"id": "q1", "text": "gold 1"}, {"id": "q2", "text": "wrong 2"}]
    pairs, counts = preference_pairs(_examples(), generated, "gen.jsonl")
    assert pairs[0] == {"id": "q0", "question": "question 0", "chosen": "gold 0", "rejected": "wrong 0"}
    assert counts == {"prompts": 3, "pairs": 3, "rejected_equal_to_chosen": 1}
    with pytest.raises(ValueError, match="gen.jsonl: no answer to 1 prompt"):
        preference_pairs(_examples(), generated[:2], "gen.jsonl")
    with pytest.raises(ValueError, match="two answers to id 'q0'"):
        preference_pairs(_examples(), [*generated, generated[0]], "gen.jsonl")
    with pytest.raises(ValueError, match="answer to id 'q9'"):
        preference_pairs(_examples(), [*generated, {"id": "q9", "text": "x"}], "gen.jsonl")


def test_spin_declares_its_start_generation_phase_and_the_papers_dpo_settings(embedded_raw, paper_raw):
    exp, paper = Experiment.from_dict(embedded_raw), Experiment.from_dict(paper_raw)
    spin, run = METHODS["spin"], Run.parse("spin")
    assert list(METHODS)[:4] == ["sft", "undial", "neftune", "spin"]  # Table 1's row order
    assert spin.models(run, exp) == {"strong": M1} and spin.epochs(exp) == 1
    assert spin.data_parts(run, paper) == (DataPart("generated", M1, 20000),)  # App. E.5's 20K prompts
    assert spin.training_overrides(paper) == {"learning_rate": 5e-7, "max_grad_norm": 0.5, "warmup_ratio": 0.1}
    assert (spin.options(paper)["beta"], spin.options(paper)["temperature"]) == (0.1, 1.0)
    from weakdriven import stages

    train = stages.TrainStage.build(paper, "qwen3-4b-base", "math", 42, "spin")
    assert (train.training.learning_rate, train.training.max_grad_norm) == (5e-7, 0.5)
    data = stages.MethodDataStage.build(paper, "qwen3-4b-base", "math", 42, "spin", "generated")
    assert data.options["max_new_tokens"] == 4096 and data.backend == paper.evaluation.backend
    with pytest.raises(ValueError, match="makes no data part 'rollouts'"):
        stages.MethodDataStage.build(paper, "qwen3-4b-base", "math", 42, "spin", "rollouts")
    # the generation phase is priced per answer: 20K prompts x 2 GPU-s at 4B
    hours = job_gpu_hours(Job("method_data", {"backbone": "qwen3-4b-base", "seed": "42", "run": "spin",
                                              "part": "generated"}), paper)
    assert hours == pytest.approx(20000 * 5.5 / 3600)


def test_dpo_through_trl_starts_at_ln2_and_separates_chosen_from_rejected(tiny_training_inputs, tmp_path):
    """At step 1 the policy equals its frozen reference: every margin is 0 and the sigmoid loss is ln 2. Training
    then raises the chosen answers' reward above the rejected ones'."""
    from weakdriven.training import load_causal_lm, train_preference

    examples = load_examples(tiny_training_inputs / "data" / "math" / "train.jsonl")[:16]
    pairs = [{"id": ex.id, "question": ex.question, "chosen": ex.completion, "rejected": "I do not know."}
             for ex in examples]
    settings = TrainSettings(learning_rate=1e-3, lr_scheduler="constant", warmup_ratio=0.0, weight_decay=0.0,
                             max_grad_norm=0.5, max_length=64, per_device_batch_size=8, global_batch_size=8,
                             epochs=3, bf16=False, gradient_checkpointing=False, logging_steps=1, seed=0)
    start = str(tiny_training_inputs / "base")
    summary = train_preference(start, pairs, "Answer.", settings, str(tmp_path / "spin"), beta=0.1,
                               loss_type="sigmoid", extra_summary={"method": "spin"})
    logged = [h for h in summary["log_history"] if "loss" in h]
    assert summary["steps"] == 6 and summary["pairs"] == 16 and summary["beta"] == 0.1
    assert logged[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert logged[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)
    assert logged[-1]["rewards/margins"] > 0.05 and logged[-1]["loss"] < math.log(2)
    trained, _ = load_causal_lm(tmp_path / "spin")  # an ordinary checkpoint: the policy
    assert trained.config.vocab_size == load_causal_lm(start)[0].config.vocab_size


# ---- DPO (Table 10): pairs from the warm start's own graded rollouts --------------------------------------------
def _rollouts(verdicts: dict[str, list[bool]]) -> list[dict]:
    return [{"id": pid, "sample_index": i, "text": f"{pid} answer {i}", "correct": ok}
            for pid, oks in verdicts.items() for i, ok in enumerate(oks)]


def test_dpo_pairs_the_first_correct_and_first_incorrect_rollout_and_skips_the_rest():
    from weakdriven.methods.dpo import rollout_pairs

    rollouts = _rollouts({"q0": [False, True, False, True], "q1": [True, True, True, True],
                          "q2": [False, False, False, False]})
    pairs, counts = rollout_pairs(_examples(), list(reversed(rollouts)), "r.jsonl")  # order of the file: irrelevant
    assert pairs == [{"id": "q0", "question": "question 0", "chosen": "q0 answer 1", "rejected": "q0 answer 0"}]
    assert counts == {"prompts": 3, "pairs": 1, "skipped_all_correct": 1, "skipped_all_incorrect": 1}
    with pytest.raises(ValueError, match="r.jsonl: no rollouts of 1 prompt"):
        rollout_pairs(_examples(), rollouts[:8], "r.jsonl")
    with pytest.raises(ValueError, match="two rollouts 0 of id 'q0'"):
        rollout_pairs(_examples(), [*rollouts, rollouts[0]], "r.jsonl")


@pytest.mark.parametrize(("row", "message"), [
    ('{"id": "a", "text": "x", "sample_index": "0", "correct": true}', r"r.jsonl:2: sample_index must be"),
    ('{"id": "a", "text": "x", "sample_index": 1, "correct": 1}', r"r.jsonl:2: correct must be true or false"),
])
def test_a_bad_rollout_row_is_named_by_file_and_line(tmp_path, row, message):
    from weakdriven.data.generated import read_rollouts

    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a", "text": "x", "sample_index": 0, "correct": false}\n' + row + "\n")
    with pytest.raises(ValueError, match=message):
        read_rollouts(path)


def test_dpo_declares_four_rollouts_of_every_row_and_refuses_an_ungraded_one(paper_raw, embedded_raw, monkeypatch,
                                                                            tmp_path):
    from weakdriven import stages
    from weakdriven.methods import DataJob

    paper, exp = Experiment.from_dict(paper_raw), Experiment.from_dict(embedded_raw)
    method, run = METHODS["dpo"], Run.parse("dpo")
    assert method.data_parts(run, paper) == (DataPart("rollouts", M1, None, 4),)  # every training row, 4 each
    assert method.training_overrides(paper) == {"learning_rate": 1e-6}  # TRL's default: the paper names none
    hours = job_gpu_hours(Job("method_data", {"backbone": "qwen3-4b-base", "seed": "42", "run": "dpo",
                                              "part": "rollouts"}), paper)
    assert hours == pytest.approx(111657 * 4 * 5.5 / 3600)
    # labelling: a rollout math-verify gives no verdict on fails the job (never a silent "incorrect")
    records = [{"prompt_id": "q0", "sample_index": i, "text": "t", "completion_tokens": 1, "finish_reason": "stop",
                "checkpoint_sha256": "x"} for i in range(4)]
    import weakdriven.methods.sampling as sampling

    monkeypatch.setattr(sampling, "answer_prompts", lambda job, protocol, max_new: records)
    stage = stages.MethodDataStage.build(exp, "tiny-qwen3", "math", 42, "dpo", "rollouts")
    job = DataJob(run=run, model="m", examples=_examples(1), stage=stage, out=str(tmp_path / "r.jsonl"))
    monkeypatch.setattr(sampling, "grade_many", lambda *a, **k: [(True, None), (False, None), (False, "Timeout"),
                                                            (True, None)])
    with pytest.raises(RuntimeError, match=r"no verdict on 1 answer\(s\), e.g. \[\('q0', 2, 'Timeout'\)\]"):
        method.make_data("rollouts", job)
    assert not (tmp_path / "r.jsonl").exists()
    monkeypatch.setattr(sampling, "grade_many", lambda *a, **k: [(True, None), (False, None), (False, None),
                                                            (True, None)])
    # the preset's floor (methods.dpo.min_pairs: 4) fails the rollouts job itself, before it writes anything
    with pytest.raises(LowYield, match=r"DPO pairs .*: kept 1, fewer than the minimum of 4 \(config key "
                                       r"'methods.dpo.min_pairs'\)\. Per reason: prompts 1, pairs 1, skipped_all_corr"):
        method.make_data("rollouts", job)
    assert not (tmp_path / "r.jsonl").exists()
    job = DataJob(run=run, model="m", examples=_examples(1), out=str(tmp_path / "r.jsonl"),
                  stage=dataclasses.replace(stage, options={**stage.options, "min_pairs": 1}))
    summary = method.make_data("rollouts", job)
    assert (summary["correct"], summary["pairs"], summary["skipped_all_correct"]) == (2, 1, 0)
    from weakdriven.data.generated import read_rollouts

    assert [r["correct"] for r in read_rollouts(tmp_path / "r.jsonl")] == [True, False, False, True]
