"""Stage settings: one typed object per stage, built from the config and the job's wildcards, JSON both ways, holding
only what the stage uses (so a config change reruns exactly the stages it reaches)."""

import json

import pytest
from conftest import mutate

from weakdriven import stages
from weakdriven.config import ConfigError, Experiment
from weakdriven.tables import TABLES


@pytest.fixture
def exp(embedded_raw):
    return Experiment.from_dict(embedded_raw)


def every_stage(exp):
    return [
        stages.DataStage.build(exp),
        stages.BackboneStage.build(exp, "tiny-qwen3"),
        stages.SftStage.build(exp, "tiny-qwen3", "math", "42", rule="sft", epochs=2),
        stages.TrainStage.build(exp, "tiny-qwen3", "math", "42", "wmss_lam0.5_k2"),
        stages.TrainStage.build(exp, "tiny-qwen3", "math", "42", "neftune"),
        stages.EntropyStage.build(exp, "tiny-qwen3", "math"),
        stages.WddsStage.build(exp),
        stages.DiagnosticsStage.build(exp, "tiny-qwen3", "math"),
        stages.EvalStage.build(exp, "tiny-qwen3", "synth-add", "passk"),
        stages.GenerateStage.build(exp, "tiny-qwen3", "passk", ("synth-next", "synth-add")),
        stages.TableStage.build(exp, TABLES["figure5"]),
        stages.DiffStage.build(exp),
    ]


def test_every_stage_reads_back_into_the_same_object(exp):
    for stage in every_stage(exp):
        text = stage.to_json()
        again = type(stage).from_json(text)
        assert again == stage and again.to_json() == text, type(stage).__name__


def test_training_stages_carry_the_methods_budget_and_arguments(exp):
    sft = stages.SftStage.build(exp, "tiny-qwen3", "math", "42", rule="sft", epochs=2)
    assert (sft.training.seed, sft.training.epochs, sft.training.learning_rate) == (42, 2, 2e-3)
    assert sft.snapshots == ("ck100", "ck200")  # Figure 5's weak sides (config/embedded.yaml)
    assert sft.prompt.system_prompt.startswith("Think inside <think>") and sft.prompt.family == "qwen"
    k2 = stages.TrainStage.build(exp, "tiny-qwen3", "math", "42", "wmss_lam0.5_k2")
    assert k2.training.epochs == 1 and k2.training.trainer_arguments == {} and k2.snapshots == ()
    assert k2.options == {"freeze_weak": False, "joint_loss_mask": "completion", "joint_system_prompt": True}
    neftune = stages.TrainStage.build(exp, "tiny-qwen3", "math", "7", "neftune")
    assert neftune.training.trainer_arguments == {"neftune_noise_alpha": 5.0} and neftune.training.seed == 7
    assert neftune.options == {}  # the WMSS options are not NEFTune's: changing them does not rerun it
    frozen = stages.TrainStage.build(exp, "tiny-qwen3", "math", "42", "wdjt_frozen_lam0.5")
    assert frozen.snapshots == ("ck50", "ck100", "ck150", "ck200")  # Table 3 follows it
    pretrain = stages.BackboneStage.build(exp, "tiny-qwen3").pretrain
    assert (pretrain.learning_rate, pretrain.global_batch_size, pretrain.epochs) == (3e-3, 32, 2)
    backbone = stages.BackboneStage.build(exp, "tiny-qwen3")  # the tokenizer learns the rows as they are prompted
    assert backbone.prompt == stages.Prompt.build(exp, "tiny-qwen3", "math")


def test_a_change_reaches_only_the_stages_that_use_it(embedded_raw, exp):
    changed = Experiment.from_dict(mutate(embedded_raw, "wmss.formula", "paper_v2"))
    before, after = every_stage(exp), every_stage(changed)
    moved = {type(a).__name__ for a, b in zip(before, after, strict=True) if a.to_json() != b.to_json()}
    assert moved == {"WddsStage"}
    alpha = Experiment.from_dict(mutate(embedded_raw, "methods.neftune.noise_alpha", 3.0))
    moved = [b.run for a, b in zip(every_stage(exp), every_stage(alpha), strict=True)
             if a.to_json() != b.to_json()]
    assert moved == ["neftune"]
    joint = Experiment.from_dict(mutate(embedded_raw, "wmss.joint_loss_mask", "all_tokens"))
    moved = {b.run for a, b in zip(every_stage(exp), every_stage(joint), strict=True)
             if isinstance(b, stages.TrainStage) and a.to_json() != b.to_json()}
    assert moved == {"wmss_lam0.5_k2"}  # the joint stage's options reach the WMSS run, not NEFTune's


def test_evaluation_stages_take_the_jobs_protocol_and_the_benchmarks_prompt(paper_raw):
    exp = Experiment.from_dict(mutate(paper_raw, "tables.table1.backbones", ["qwen3-4b-base", "gemma-3-4b-pt"]))
    greedy = stages.EvalStage.build(exp, "qwen3-4b-base", "MATH500")
    assert greedy.evaluation.protocol == "paper-greedy" and greedy.gemma_multimodal_base is None
    assert stages.EvalStage.build(exp, "qwen3-4b-base", "MATH500", "passk").evaluation.protocol == "passk"
    gemma = stages.EvalStage.build(exp, "gemma-3-4b-pt", "MBPP+")
    assert gemma.prompt == stages.Prompt("Provide clean, correct Python code.", "gemma")  # App. E.4, code domain
    assert gemma.gemma_multimodal_base == "results/paper/models/gemma-3-4b-pt/base/multimodal"
    assert json.loads(gemma.to_json())["tensor_parallel"] == 1 and gemma.gpus == 1
    # the typed section serialises to the config's own keys and values, with only the job's protocol defined
    greedy_def = {"name": "paper-greedy", "temperature": 0.0, "top_p": 1.0, "n": 1, "top_k": 0}
    assert json.loads(greedy.to_json())["evaluation"] == dict(exp.raw["evaluation"], protocol="paper-greedy",
                                                              protocols={"paper-greedy": greedy_def})
    assert stages.EvalStage.from_json(gemma.to_json()).evaluation.code.workers == exp.evaluation.code.workers


def test_one_generation_job_per_model_covers_the_benchmarks_of_its_training_domain(paper_raw):
    from weakdriven.tables import generation_plan

    exp = Experiment.from_dict(mutate(paper_raw, "tables.table1.backbones", ["qwen3-4b-base", "gemma-3-4b-pt"]))
    plan = generation_plan(exp)
    math = ("AIME2025", "MATH500", "AMC23", "AQuA", "GSM8K", "MAWPS", "SVAMP")
    code = ("HumanEval+", "MBPP+", "BigCodeBench", "LiveCodeBench")
    # per-domain runs: Table 1's math columns are the math run's, its code columns the code run's (registry order)
    assert plan[("qwen3-4b-base", "math", "42", "sft", "paper-greedy")] == math
    assert plan[("qwen3-4b-base", "code", "42", "sft", "paper-greedy")] == code
    assert plan[("gemma-3-4b-pt", "logic", "42", "ssb", "paper-greedy")] == ("LogiQA2", "ReClor")  # Table 5
    assert ("qwen3-4b-base", "logic", "42", "wdds_only", "paper-greedy") not in plan  # Table 2 is math only
    assert plan[("qwen3-4b-base", "math", "42", "wmss_lam0.5", "passk")] == ("AIME2025", "MATH500", "AMC23")  # Table 10
    assert plan[("qwen3-4b-base", "math", "42", "wdjt_frozen_lam0.5", "paper-greedy")] == ("MATH500", "GSM8K")
    assert ("qwen2.5-3b", "math", "42", "wdds_only", "paper-greedy") not in plan  # Table 2 is Qwen3-4B-Base only
    gen = stages.GenerateStage.build(exp, "gemma-3-4b-pt", "paper-greedy",
                                     plan[("gemma-3-4b-pt", "code", "42", "sft", "paper-greedy")])
    assert gen.benchmarks == code and gen.evaluation.protocol == "paper-greedy"
    assert gen.for_benchmark("MBPP+") == stages.EvalStage.build(exp, "gemma-3-4b-pt", "MBPP+")  # the code prompt
    with pytest.raises(ValueError, match="no configured table reads backbone 'qwen2.5-3b'"):
        stages.GenerateStage.build(exp, "qwen2.5-3b", "passk", ())
    no_gemma = {k: v for k, v in paper_raw["tables"].items() if k not in ("table4", "table5")}
    mixture = Experiment.from_dict(mutate(mutate(paper_raw, "train_domains", "mixture"), "tables", no_gemma))
    mixed = generation_plan(mixture)
    assert mixed[("qwen3-4b-base", "mix", "42", "sft", "paper-greedy")] == math + code  # one model per method
    assert {key[1] for key in mixed} == {"mix"}


def test_training_stages_prompt_gemma_with_the_training_sets_domain(paper_raw):
    exp = Experiment.from_dict(paper_raw)
    logic = stages.SftStage.build(exp, "gemma-3-4b-pt", "logic", 42, rule="sft", epochs=2)
    assert logic.prompt.system_prompt == paper_raw["prompt"]["gemma_system_prompt"]["logic"]
    code = stages.TrainStage.build(exp, "gemma-3-4b-pt", "code", 42, "wmss_lam0.5")
    assert code.prompt.system_prompt == paper_raw["prompt"]["gemma_system_prompt"]["code"]
    assert stages.TrainStage.build(exp, "qwen3-4b-base", "code", 42, "wmss_lam0.5").prompt.system_prompt == \
        paper_raw["prompt"]["system_prompt"]  # Qwen: one tagged prompt for every domain
    data = stages.MethodDataStage.build(exp, "qwen3-4b-base", "code", 42, "ssb", "rollouts")
    assert data.domain == "code" and data.code == exp.code_data  # code answers are run against their row's tests
    assert stages.MethodDataStage.build(exp, "qwen3-4b-base", "math", 42, "ssb", "rollouts").code is None


def test_a_stage_refuses_settings_of_another_stage(exp):
    with pytest.raises(TypeError):
        stages.TrainStage.from_json(stages.EntropyStage.build(exp, "tiny-qwen3", "math").to_json())


def test_tables_6_and_7_read_the_models_their_captions_name_or_table_1s(paper_raw):
    """Table 6 "at Epoch 3": WMSS after two outer iterations (Figure 3's epoch 3); Table 7 "only the strong branch is
    updated": WD-JT with the weak M0 frozen. The other choices: Table 1's WMSS for both."""
    exp = Experiment.from_dict(paper_raw)
    stage = stages.DiagnosticsStage.build(exp, "qwen3-4b-base", "math")
    assert (stage.table6_run, stage.table7_run) == ("wmss_lam0.5_k2", "wdjt_frozen_lam0.5")
    budget = mutate(mutate(paper_raw, "diagnostics.table6_wmss", "budget"), "diagnostics.table7_update", "joint")
    assert stages.diagnostics_runs(Experiment.from_dict(budget)) == ("wmss_lam0.5", "wmss_lam0.5")
    with pytest.raises(ConfigError, match=r"'diagnostics.table6_wmss': 'epoch2' is not one of \['epoch3', 'budget'\]"):
        Experiment.from_dict(mutate(paper_raw, "diagnostics.table6_wmss", "epoch2"))
