"""Config validation: the schema, the typed objects, and Snakemake refusing a bad config before any job."""

import re

import pytest
import yaml
from conftest import DELETE, REPO, mutate, snakemake, workflow_copy

from weakdriven.benchmarks import BENCHMARKS
from weakdriven.cluster import LAUNCHERS
from weakdriven.config import SCHEMA_PATH, ConfigError, Experiment, load_config, schema
from weakdriven.methods import METHODS
from weakdriven.stages import EvalStage, GenerateStage
from weakdriven.tables import TABLES


def test_paper_and_embedded_configs_load(paper_raw, embedded_raw):
    paper = load_config(REPO / "config" / "config.yaml")
    assert [b.name for b in paper.backbones] == ["qwen3-4b-base", "qwen3-8b-base", "qwen2.5-3b", "gemma-3-4b-pt"]
    assert all(re.fullmatch("[0-9a-f]{40}", b.revision) for b in paper.backbones)
    assert (paper.wmss.lam, paper.wmss.alpha, paper.wmss.beta, paper.wmss.gamma) == (0.5, 0.1, 0.8, 0.1)
    assert paper.training.learning_rate == 1e-5 and paper.training.max_length == 4096
    assert Experiment.from_dict(embedded_raw).train_data.source == "embedded"


def test_embedded_preset_restates_every_paper_key(paper_raw, embedded_raw):
    assert set(paper_raw) == set(embedded_raw)
    for section in ("training", "wmss", "evaluation", "prompt"):
        assert set(paper_raw[section]) == set(embedded_raw[section]), section


def test_schema_takes_its_names_from_the_registries(embedded_raw):
    written = yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]
    assert all("enum" not in written[d] for d in ("method", "mixed_method", "benchmark", "launcher"))
    defs = schema()["$defs"]
    assert defs["method"]["enum"] == list(METHODS) and "neftune" in METHODS
    assert defs["mixed_method"]["enum"] == ["wmss", "wdjt_only", "wdjt_frozen"]
    assert defs["benchmark"]["enum"] == list(BENCHMARKS)
    assert defs["launcher"]["enum"] == list(LAUNCHERS)
    bad = {**embedded_raw, "tables": {"table1": {**embedded_raw["tables"]["table1"], "methods": ["sft", "grpo"]}}}
    with pytest.raises(ConfigError, match=r"tables\.table1\.methods\.1.*'grpo' is not one of \['sft', 'undial'"):
        Experiment.from_dict(bad)


def test_the_config_tables_are_the_registered_tables_in_their_plugins_form(embedded_raw):
    """A table plug-in names its config form; the schema lists no table itself, so a registered table is configurable
    without touching the schema or the config module."""
    written = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["tables"]["properties"]
    assert written == {}
    tables = schema()["properties"]["tables"]["properties"]
    assert set(tables) == {name for name, t in TABLES.items() if t.schema}
    assert "table6" not in tables  # configured by the diagnostics section
    assert tables["table5"] == {"$ref": "#/$defs/score_table"}
    assert tables["figure4"] == {"$ref": "#/$defs/trajectory_table"}
    assert all(t.schema in schema()["$defs"] for t in TABLES.values() if t.schema)
    with pytest.raises(ConfigError, match=r"tables\.table6.*Additional properties|tables.*'table6' was unexpected"):
        Experiment.from_dict({**embedded_raw, "tables": {**embedded_raw["tables"], "table6": {}}})
    # a plug-in's own config check is raised naming its key
    bad = {**embedded_raw, "tables": {**embedded_raw["tables"],
                                      "figure5": {**embedded_raw["tables"]["figure5"], "weak": ["base", "ck7"]}}}
    with pytest.raises(ConfigError, match=r"tables\.figure5\.weak\.1.*'ck7' is not one of"):
        Experiment.from_dict(bad)


def test_method_settings_are_typed_with_the_method_defaults(embedded_raw):
    exp = Experiment.from_dict(embedded_raw)
    assert (exp.methods["neftune"].noise_alpha, exp.methods["neftune"].start) == (5.0, "m1")
    assert Experiment.from_dict({**embedded_raw, "methods": {}}).methods["neftune"].noise_alpha == 5.0
    for value, key in ((0, "noise_alpha"), ("m2", "start")):
        raw = {**embedded_raw, "methods": {"neftune": {**embedded_raw["methods"]["neftune"], key: value}}}
        with pytest.raises(ConfigError, match=f"methods.neftune.{key}"):
            Experiment.from_dict(raw)


@pytest.mark.parametrize(
    "key,value,named",
    [
        ("wmss.lam", 1.5, "wmss.lam"),
        ("wmss.alpha", -0.1, "wmss.alpha"),
        ("wmss.formula", "paper_v3", "wmss.formula"),
        ("wmss.colour", "blue", "wmss"),
        ("training.learning_rate", DELETE, "training"),
        ("tables.table1.methods", ["sft", "grpo"], "tables.table1.methods.1"),
        ("tables.table1.benchmarks", ["GSM8K", "GSM9K"], "tables.table1.benchmarks.1"),
        ("tables.table1.backbones", ["qwen3-4b-base", "llama-3"], "tables.table1.backbones.1"),
        ("backbones.0.revision", "main", "backbones.0.revision"),
        ("backbones.0.hub_id", DELETE, "backbones.0"),
        ("seeds", [], "seeds"),
        ("training.per_device_batch_size", 3, "training.global_batch_size"),
        ("evaluation.backend", "tgi", "evaluation.backend"),
        ("wmss.iterations", 0, "wmss.iterations"),
        ("tables.table3.methods", ["wdjt_only", "sft"], "tables.table3.methods.1"),  # SFT has no weak side
        ("tables.figure5.weak", ["base", "ck75"], "tables.figure5.weak.1"),  # not a kept relative checkpoint
        ("tables.figure5.weak", ["base", "step50"], "tables.figure5.weak.1"),
        ("trajectory.checkpoints", ["ck0"], "trajectory.checkpoints.0"),
        ("tables.figure4.backbones", ["llama-3"], "tables.figure4.backbones.0"),
    ],
)
def test_malformed_config_is_rejected_naming_the_key(paper_raw, key, value, named):
    with pytest.raises(ConfigError) as err:
        Experiment.from_dict(mutate(paper_raw, key, value))
    assert f"'{named}" in str(err.value)


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path, paper_raw):
    work = workflow_copy(tmp_path)
    (work / "bad.yaml").write_text(yaml.safe_dump(mutate(paper_raw, "wmss.lam", 2.0)))
    result = snakemake(work, "-n", "--configfile", "bad.yaml")
    assert result.returncode != 0
    assert "lam" in result.stderr + result.stdout
    assert "Job stats" not in result.stdout


def test_load_config_names_a_missing_or_malformed_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_missing_files_are_named(paper_raw, tmp_path):
    raw = mutate(paper_raw, "train_data", {"source": "local", "path": str(tmp_path / "nope.jsonl"), "domain": "math",
                                          "max_rows": None})
    with pytest.raises(ConfigError, match=r"'train_data.path'.*nope.jsonl"):
        Experiment.from_dict(raw)
    raw = mutate(paper_raw, "backbones.1", {"name": "mine", "source": "local", "path": str(tmp_path),
                                            "family": "qwen", "params_b": 1.0})
    with pytest.raises(ConfigError, match=r"'backbones.1.path'.*no config.json"):
        Experiment.from_dict(raw)


def test_a_table_names_its_protocol_and_table10_needs_samples(paper_raw):
    exp = Experiment.from_dict(paper_raw)
    assert exp.tables["table1"].protocol == "paper-greedy" and exp.tables["table10"].protocol == "passk"
    greedy = mutate(paper_raw, "tables.table10.protocol", "paper-greedy")
    with pytest.raises(ConfigError, match=r"'tables.table10.protocol': 'paper-greedy' draws one sample"):
        Experiment.from_dict(greedy)
    default = mutate(paper_raw, "tables.table10.protocol", DELETE)  # falls back to evaluation.protocol (greedy)
    with pytest.raises(ConfigError, match="pass@k needs a sampling protocol"):
        Experiment.from_dict(default)
    with pytest.raises(ConfigError, match=r"'tables.table2.protocol': unknown protocol 'greedy'; evaluation.protocols "
                       r"defines \['paper-greedy', 'passk', 'sampled-10x', 'sampled-3x'\]"):
        Experiment.from_dict(mutate(paper_raw, "tables.table2.protocol", "greedy"))
    few = mutate(paper_raw, "evaluation.protocols.few", {"temperature": 1.0, "top_p": 1.0, "n": 8})
    assert Experiment.from_dict(mutate(few, "tables.table10.protocol", "few")).tables["table10"].protocol == "few"


def test_protocols_are_the_configs_own(paper_raw):
    """Each protocol's sample count and temperature come from evaluation.protocols; a job carries only its own, so
    defining a protocol reruns nothing and redefining one reruns its jobs (Snakemake's params trigger)."""
    exp = Experiment.from_dict(paper_raw)
    assert {p.name: (p.temperature, p.top_p, p.n) for p in exp.evaluation.protocols.values()} == {
        "paper-greedy": (0.0, 1.0, 1), "sampled-3x": (0.5, 0.95, 3), "sampled-10x": (0.5, 0.95, 10),
        "passk": (0.7, 0.95, 64)}
    stage = GenerateStage.build(exp, "qwen3-4b-base", "passk", ("AIME2025",))
    assert list(stage.evaluation.protocols) == ["passk"] and stage.evaluation.sampling.n == 64
    assert GenerateStage.from_json(stage.to_json()) == stage
    more = Experiment.from_dict(mutate(paper_raw, "evaluation.protocols.wide", {"temperature": 1.0, "top_p": 1.0,
                                                                                "n": 16}))
    assert GenerateStage.build(more, "qwen3-4b-base", "passk", ("AIME2025",)).to_json() == stage.to_json()
    redefined = Experiment.from_dict(mutate(paper_raw, "evaluation.protocols.passk.n", 32))
    changed = GenerateStage.build(redefined, "qwen3-4b-base", "passk", ("AIME2025",))
    assert changed.to_json() != stage.to_json() and changed.evaluation.sampling.n == 32
    assert (EvalStage.build(redefined, "qwen3-4b-base", "AIME2025").to_json()
            == EvalStage.build(exp, "qwen3-4b-base", "AIME2025").to_json())  # the greedy jobs stay as they are
    with pytest.raises(ConfigError, match=r"'evaluation.protocols.paper-greedy.n': a greedy protocol \(temperature 0\) "
                       "draws one sample per problem, not 3"):
        Experiment.from_dict(mutate(paper_raw, "evaluation.protocols.paper-greedy.n", 3))
    with pytest.raises(ConfigError, match="'evaluation.protocol': unknown protocol 'greedy'"):
        Experiment.from_dict(mutate(paper_raw, "evaluation.protocol", "greedy"))
    for name in ("snapshots", "Greedy", "a/b"):  # a path level beside eval/.../<run>/snapshots/
        with pytest.raises(ConfigError, match="'evaluation.protocols'"):
            Experiment.from_dict(mutate(paper_raw, f"evaluation.protocols.{name}", {"temperature": 0.0, "top_p": 1.0,
                                                                                    "n": 1}))
    with pytest.raises(ConfigError, match=r"'evaluation.protocols.passk'.*'top_p' is a required property"):
        Experiment.from_dict(mutate(paper_raw, "evaluation.protocols.passk", {"temperature": 0.7, "n": 64}))


def test_several_nodes_need_the_srun_launcher(paper_raw):
    two = mutate(paper_raw, "cluster.train_nodes", 2)
    with pytest.raises(ConfigError, match=r"'cluster.train_nodes': 2 nodes need 'cluster.launcher: srun-torchrun'"):
        Experiment.from_dict(two)
    Experiment.from_dict(mutate(two, "cluster.launcher", "srun-torchrun"))


def test_a_seed_that_is_another_seeds_replicate_seed_is_refused(paper_raw):
    """Table 9 trains three runs per lambda: replicate 3 of seed 42 trains with seed 2042."""
    assert Experiment.from_dict(mutate(paper_raw, "seeds", [42, 3042])).seeds == (42, 3042)
    with pytest.raises(ConfigError, match=r"'seeds': replicate 3 of seed 42 trains with seed 2042, as seed 2042's own "
                       r"run does \(replicates: 3\)"):
        Experiment.from_dict(mutate(paper_raw, "seeds", [42, 2042]))
