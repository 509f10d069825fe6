"""The logic training set (App. E.3) from LogiQA 2.0 and ReClor files in their release layouts: merging, held-out
items removed by content, the teacher's answers kept only when their option is the gold one."""

import json

import pytest
from conftest import BENCHMARK_DATA

from weakdriven.benchmarks import load_benchmark
from weakdriven.checks import LowYield
from weakdriven.data.logic import (
    assert_no_evaluation_items,
    check_counts,
    distilled_rows,
    logic_candidates,
    raw_files,
    read_split,
    split_thinking,
    teacher_prompt,
)

HAS_LOGIQA = (BENCHMARK_DATA / "logiqa2_test.jsonl").is_file()


def logiqa_row(i, text=None, answer=0):
    return {"id": 1000 + i % 3, "answer": answer, "text": text or f"Passage {i}: every P is a Q.",  # ids repeat
            "question": "Which of the following can be concluded?",
            "options": [f"claim {i}-{k}" for k in range(4)], "type": {"Categorical Reasoning": True}}


def reclor_row(i, split, context=None, label=1):
    return {"context": context or f"Context {split} {i}: no R is an S.", "question": "Which must be true?",
            "answers": [f"answer {i}-{k}" for k in range(4)], "label": label, "id_string": f"{split}_{i}"}


def write_release(root, logiqa=None, reclor=None):
    """The raw splits as released: LogiQA 2.0 JSON Lines (train 6, dev 2, test 3), ReClor JSON lists (train 4,
    val 2); ``logiqa``/``reclor`` replace whole splits."""
    splits = {("logiqa2", "train"): [logiqa_row(i) for i in range(6)],
              ("logiqa2", "dev"): [logiqa_row(i) for i in range(10, 12)],
              ("logiqa2", "test"): [logiqa_row(i) for i in range(20, 23)],
              ("reclor", "train"): [reclor_row(i, "train") for i in range(4)],
              ("reclor", "val"): [reclor_row(i, "val") for i in range(2)],
              **(logiqa or {}), **(reclor or {})}
    files = raw_files(root)
    for key, rows in splits.items():
        files[key].parent.mkdir(parents=True, exist_ok=True)
        if key[0] == "logiqa2":
            files[key].write_text("".join(json.dumps(r) + "\n" for r in rows))
        else:
            files[key].write_text(json.dumps(rows, indent=1))
    return files


def read_all(files):
    return [it for (source, split), path in files.items() for it in read_split(source, split, path)]


def test_the_splits_merge_into_one_format_and_held_out_items_leave_by_content(tmp_path):
    # a LogiQA 2.0 test passage copied into ReClor train with other spacing and punctuation, and a ReClor val item
    # copied into LogiQA 2.0 dev: both leave, whatever split they sit in
    test_passage = logiqa_row(21)["text"]
    copied = dict(reclor_row(3, "train", context="  passage 21 -- EVERY P is a Q  "),
                  question="Which of the following can be concluded?", answers=[f"claim 21-{k}" for k in range(4)])
    val = reclor_row(0, "val")
    val_copy = logiqa_row(11, text=val["context"])
    val_copy.update(question=val["question"], options=val["answers"])
    files = write_release(tmp_path, logiqa={("logiqa2", "dev"): [logiqa_row(10), val_copy]},
                          reclor={("reclor", "train"): [reclor_row(i, "train") for i in range(3)] + [copied]})
    items = read_all(files)
    assert len(items) == 17 and {it["id"] for it in items} >= {"logiqa2-train-1", "reclor-train-3"}
    first = next(it for it in items if it["id"] == "logiqa2-train-1")
    assert first["question"] == ("Passage 0: every P is a Q.\nWhich of the following can be concluded?\n"
                                 "A. claim 0-0\nB. claim 0-1\nC. claim 0-2\nD. claim 0-3")
    assert first["gold"] == "A" and first["options"][3] == "claim 0-3"
    assert test_passage in next(it for it in items if it["id"] == "logiqa2-test-2")["question"]
    candidates, counts = logic_candidates(items)
    ids = {it["id"] for it in candidates}
    assert "reclor-train-3" not in ids and "logiqa2-dev-2" not in ids
    assert dict(counts) == {"merged": 17, "held out": 5, "held-out content": 2, "candidates": 10}
    # the paper's other reading: the candidates of LogiQA 2.0 train and ReClor train only
    train_only, counts = logic_candidates(items, splits=("logiqa2/train", "reclor/train"))
    assert counts["candidates"] == 9 and counts["not a candidate split"] == 2 and len(train_only) == 9
    with pytest.raises(ValueError, match=r"'logic_data.splits': \['logiqa2/test'\] are not training splits"):
        logic_candidates(items, splits=("logiqa2/train", "logiqa2/test"))


def test_an_evaluation_item_planted_in_the_candidates_is_removed_and_a_leak_is_an_error(tmp_path):
    files = write_release(tmp_path)
    items = read_all(files)
    evaluation = {"ReClor": ["Context train 2: no R is an S.\nWhich must be true?\nA. answer 2-0\nB. answer 2-1\n"
                             "C. answer 2-2\nD. answer 2-3"]}  # ReClor train 2, as an evaluation file renders it
    candidates, counts = logic_candidates(items, evaluation["ReClor"])
    assert "reclor-train-2" not in {it["id"] for it in candidates} and counts["held-out content"] == 1
    assert_no_evaluation_items(candidates, evaluation)  # nothing left
    everything, _ = logic_candidates(items)
    with pytest.raises(ValueError, match=r"1 evaluation item\(s\) remain .*\('ReClor', 'reclor-train-2'\)"):
        assert_no_evaluation_items(everything, evaluation)


@pytest.mark.skipif(not HAS_LOGIQA, reason="the real LogiQA 2.0 test set is not beside the repo")
def test_a_real_logiqa2_test_item_in_the_training_split_is_found_against_the_evaluation_file(tmp_path):
    real = [json.loads(line) for line in (BENCHMARK_DATA / "logiqa2_test.jsonl").read_text().splitlines()[:3]]
    files = write_release(tmp_path, logiqa={("logiqa2", "test"): real,
                                            ("logiqa2", "train"): [logiqa_row(0), dict(real[1], id=7)]})
    evaluation = [r["question"] for r in load_benchmark("LogiQA2", BENCHMARK_DATA)]
    candidates, counts = logic_candidates(read_all(files), evaluation)
    assert counts["held-out content"] == 1 and "logiqa2-train-2" not in {it["id"] for it in candidates}
    assert_no_evaluation_items(candidates, {"LogiQA2": evaluation})


def test_bad_raw_rows_are_named_by_file_and_line(tmp_path):
    files = write_release(tmp_path)
    path = files[("logiqa2", "train")]
    lines = path.read_text().splitlines()
    lines[2] = json.dumps({**json.loads(lines[2]), "answer": 4})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"train.txt:3: answer index 4 is not within the 4 options"):
        read_split("logiqa2", "train", path)
    bad = [reclor_row(0, "train")] + [{k: v for k, v in reclor_row(1, "train").items() if k != "label"}]
    files[("reclor", "train")].write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"train.json: item 1: missing field\(s\) \['label'\]"):
        read_split("reclor", "train", files[("reclor", "train")])
    with pytest.raises(FileNotFoundError, match="reclor val: .*nothing.json not found"):
        read_split("reclor", "val", tmp_path / "nothing.json")


@pytest.mark.parametrize("text, thinking, final", [
    ("<think>\nAll P are Q, so (B) fails.\n</think>\n\nThe answer is (C).", "All P are Q, so (B) fails.",
     "The answer is (C)."),
    ("P implies Q.\n</think>\nThe answer is (A).", "P implies Q.", "The answer is (A)."),  # opened by the template
    ("The answer is (D).", None, "The answer is (D)."),
    ("<think>\n</think>The answer is (B).", "", "The answer is (B)."),  # an empty block: no thinking
])
def test_the_thinking_block_and_the_final_answer_are_split(text, thinking, final):
    assert split_thinking(text) == (thinking, final)


def test_a_teacher_answer_is_kept_only_when_the_final_option_is_gold(tmp_path):
    files = write_release(tmp_path)
    candidates, _ = logic_candidates(read_all(files))
    by_id = {it["id"]: it for it in candidates}
    ids = sorted(by_id)
    gold = {i: by_id[i]["gold"] for i in ids}
    wrong = {i: "D" if gold[i] != "D" else "A" for i in ids}
    texts = {
        ids[0]: (f"<think>Not ({wrong[ids[0]]}).</think>\nThe answer is ({gold[ids[0]]}).", "stop"),  # kept
        ids[1]: (f"<think>Maybe ({gold[ids[1]]}).</think>\nThe answer is ({wrong[ids[1]]}).", "stop"),  # wrong
        ids[2]: ("<think>Hmm.</think>\nI cannot tell.", "stop"),  # no option
        ids[3]: (f"<think>So ({gold[ids[3]]})", "length"),  # truncated
        ids[4]: (f"The answer is ({gold[ids[4]]}).", "stop"),  # no thinking block
        ids[5]: (f"<think> </think>The answer is ({gold[ids[5]]}).", "stop"),  # an empty one
    }
    records = [{"id": i, "text": texts.get(i, (f"<think>x</think>The answer is {gold[i]}.", "stop"))[0],
                "finish_reason": texts.get(i, ("", "stop"))[1]} for i in ids]
    rows, counts = distilled_rows(candidates, records)
    assert dict(counts) == {"kept": len(ids) - 5, "wrong option": 1, "no option": 1, "truncated": 1, "no thinking": 2}
    first = next(r for r in rows if r["id"] == ids[0])
    assert first == {"id": ids[0], "question": by_id[ids[0]]["question"], "answer": gold[ids[0]],
                     "completion": f"<think>\nNot ({wrong[ids[0]]}).\n</think>\n<answer>The answer is "
                                   f"({gold[ids[0]]}).</answer>"}
    # a teacher that writes no thinking (the embedded preset's tiny model) is accepted when thinking is not required
    _, loose = distilled_rows(candidates, records, require_thinking=False)
    assert loose["kept"] == len(ids) - 3 and "no thinking" not in loose
    with pytest.raises(ValueError, match=r"1 unanswered \['" + ids[-1]):
        distilled_rows(candidates, records[:-1])
    with pytest.raises(ValueError, match="1 answered twice"):
        distilled_rows(candidates, records + records[:1])


def test_the_prompt_template_and_the_expected_counts_are_checked(tmp_path):
    item = {"question": "Q?\nA. a\nB. b"}
    assert teacher_prompt(item, "Solve: {question}") == "Solve: Q?\nA. a\nB. b"
    with pytest.raises(ValueError, match=r"prompt_template: KeyError\('options'\)"):
        teacher_prompt(item, "{question} {options}")
    from collections import Counter

    check_counts(Counter(candidates=5, kept=4), {"kept": 4})
    with pytest.raises(ValueError, match=r"kept 4 \(expected 14,882\)"):
        check_counts(Counter(candidates=5, kept=4), {"kept": 14_882})


def test_the_jobs_merge_the_teacher_shards_into_the_set_and_table_12_counts_it(tmp_path):
    from weakdriven.config import LogicData
    from weakdriven.data.logic import candidates_stage, merge_stage, read_candidates
    from weakdriven.stages import LogicDataStage
    from weakdriven.tables import TABLES
    from weakdriven.tables.base import Inputs

    write_release(tmp_path / "raw")
    logic = LogicData(source="local", path=str(tmp_path / "raw"), teacher={"model": "base:tiny"}, shards=2,
                      require_thinking=False, expected={"merged": 17, "candidates": 12})
    stage = LogicDataStage(str(tmp_path / "raw"), logic, "transformers", 4, 0, False)
    stage = LogicDataStage.from_json(stage.to_json())  # as the job reads it
    evaluation = tmp_path / "ReClor.jsonl"  # a prepared evaluation file holding ReClor train 1's text
    evaluation.write_text(json.dumps({"id": "ReClor-0", "question": "Context train 1: no R is an S.\nWhich must be "
                                      "true?\nA. answer 1-0\nB. answer 1-1\nC. answer 1-2\nD. answer 1-3",
                                      "gold": "B"}) + "\n")
    cand = tmp_path / "candidates.jsonl"
    candidates_stage(stage, [str(evaluation)], str(cand))
    items = read_candidates(cand)
    assert len(items) == 11 and "reclor-train-1" not in {it["id"] for it in items}
    shards = []
    for i in range(2):
        path = tmp_path / f"teacher.shard{i}-of-2.jsonl"
        path.write_text("".join(json.dumps({"id": it["id"], "text": f"The answer is ({it['gold']}).",
                                            "finish_reason": "stop"}) + "\n" for it in items[i::2]))
        shards.append(str(path))
    with pytest.raises(ValueError, match=r"candidates 11 \(expected 12\)"):
        merge_stage(stage, str(cand), shards, str(tmp_path / "train.jsonl"), str(tmp_path / "logic.summary.json"))
    stage = LogicDataStage(stage.raw_dir, LogicData(**{**logic.__dict__, "expected": {"candidates": 11}}),
                           "transformers", 4, 0, False)
    merge_stage(stage, str(cand), shards, str(tmp_path / "train.jsonl"), str(tmp_path / "logic.summary.json"))
    summary = json.loads((tmp_path / "logic.summary.json").read_text())
    assert summary["kept"] == 11 and summary["counts"]["held-out content"] == 1 and summary["paper"]["kept"] == 14882
    # A teacher that answers no candidate on its option fails the merge job itself, naming each reason's count
    wrong = []
    for i in range(2):
        bad = tmp_path / f"wrong.shard{i}-of-2.jsonl"
        bad.write_text("".join(json.dumps({"id": it["id"], "text": text, "finish_reason": reason}) + "\n"
                               for k, it in enumerate(items[i::2]) for text, reason in
                               [("The answer is (E)." if k % 2 else "I am not sure", "stop" if k < 3 else "length")]))
        wrong.append(str(bad))
    floor = LogicDataStage(stage.raw_dir, LogicData(**{**stage.logic.__dict__, "min_kept": 1}), "transformers", 4, 0,
                           False)
    with pytest.raises(LowYield, match=r"kept 0, fewer than the minimum of 1 \(config key 'logic_data.min_kept'\)\. "
                                       r"Per reason: kept 0, truncated 5, no option 4, wrong option 2, no thinking 0"):
        merge_stage(floor, str(cand), wrong, str(tmp_path / "empty.jsonl"), str(tmp_path / "empty.summary.json"))
    assert not (tmp_path / "empty.jsonl").exists() and not (tmp_path / "empty.summary.json").exists()
    floor = LogicDataStage(stage.raw_dir, LogicData(**{**stage.logic.__dict__, "min_kept": 12}), "transformers", 4, 0,
                           False)
    with pytest.raises(LowYield, match="kept 11, fewer than the minimum of 12"):
        merge_stage(floor, str(cand), shards, str(tmp_path / "short.jsonl"), str(tmp_path / "short.summary.json"))
    math = tmp_path / "math.summary.json"
    math.write_text(json.dumps({"domain": "math", "kept": 1500}))
    code = tmp_path / "code.summary.json"
    code.write_text(json.dumps({"domain": "code", "kept": 16}))
    t12 = TABLES["table12"].build(Inputs(files=[str(tmp_path / "logic.summary.json"), str(math), str(code)]), {})
    assert t12.to_dict("records") == [{"group": "", "row": "Math", "#Samples": 1500},
                                      {"group": "", "row": "Code", "#Samples": 16},
                                      {"group": "", "row": "Logic", "#Samples": 11}]
    from weakdriven.tables.diff import diff_against_paper

    diff = diff_against_paper("table12", t12, comparable=True).set_index("row")
    assert diff.loc["Code", "reported"] == 19457 and diff.loc["Code", "delta"] == 16 - 19457
    code.write_text(json.dumps({"domain": "code"}))
    with pytest.raises(ValueError, match="code.summary.json: not a training-set summary"):
        TABLES["table12"].build(Inputs(files=[str(code)]), {})


def test_the_logic_config_is_checked_before_any_job(paper_raw, embedded_raw):
    from conftest import mutate

    from weakdriven.config import ConfigError, Experiment

    with pytest.raises(ConfigError, match="'logic_data.teacher.revision': a hub teacher needs its pinned commit"):
        Experiment.from_dict(mutate(paper_raw, "logic_data.teacher", {"model": "Qwen/Qwen3-32B", "gpus": 4}))
    with pytest.raises(ConfigError, match="'logic_data.teacher.model': 'nope' is not a backbone"):
        Experiment.from_dict(mutate(embedded_raw, "logic_data.teacher", {"model": "m1:nope"}))
    with pytest.raises(ConfigError, match="'logic_data.source': embedded items are written by the embedded preset"):
        Experiment.from_dict(mutate(paper_raw, "logic_data", {"source": "embedded",
                                                              "teacher": {"model": "base:qwen3-4b-base"}}))
    if paper_raw["evaluation"]["backend"] == "vllm":
        with pytest.raises(ConfigError, match="'logic_data.teacher.gpus': vllm"):
            Experiment.from_dict(mutate(paper_raw, "logic_data.teacher.gpus", 0))
    with pytest.raises(ConfigError, match="'tables.table12': Table 12 counts the three training sets"):
        raw = mutate(paper_raw, "tables.table12", {})
        raw.pop("code_data")
        Experiment.from_dict(raw)
    exp = Experiment.from_dict(paper_raw)
    assert exp.logic_data.splits == ("logiqa2/train", "logiqa2/dev", "reclor/train")
    assert exp.logic_data.teacher.tensor_parallel == 4 and exp.code_data.expected_rows == 19457
