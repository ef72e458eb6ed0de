import warnings

import pytest

from mmf_ext.common.registry import (
    Registry,
    RegistryError,
    RegistryOverrideWarning,
    registry,
    unavailable_class,
)
from mmf_ext.utils.errors import ConfigError


def test_decorators_register_and_lookups_return_the_class():
    local = Registry()

    @local.register_model("tiny")
    class Tiny:
        pass

    @local.register_metric("m")
    class M:
        pass

    assert local.get_model_class("tiny") is Tiny
    assert local.get_metric_class("m") is M
    assert local.names("model") == ["tiny"]


def test_unknown_name_lists_registered_names_and_close_matches():
    local = Registry()

    @local.register_builder("movingfashion")
    class B:
        pass

    with pytest.raises(RegistryError) as error:
        local.get_builder_class("movingfashon")
    message = str(error.value)
    assert "'movingfashon'" in message and "Did you mean 'movingfashion'" in message
    assert "Registered builders: movingfashion" in message


def test_registering_a_taken_name_to_another_object_is_an_error():
    local = Registry()
    local.register_loss("l")(int)
    local.register_loss("l")(int)  # the same object again is harmless
    with pytest.raises(RegistryError, match="already registered"):
        local.register_loss("l")(float)


def test_state_register_and_get_with_default():
    registry.register("test.key", 5)
    assert registry.get("test.key") == 5
    assert registry.get("test.missing", "default") == "default"


def test_builtin_components_are_found_by_name():
    assert registry.get_metric_class("accuracy").__name__ == "Accuracy"
    assert registry.get_loss_class("cross_entropy").__name__ == "CrossEntropyLoss"
    assert registry.get_trainer_class("lightning").__name__ == "LightningTrainer"


# -- plugins and built-ins ------------------------------------------------------------------------
def _class_from(module: str, name: str) -> type:
    return type(name, (), {"__module__": module})


def test_a_plugin_class_named_like_a_builtin_replaces_it_with_a_warning_naming_both():
    local = Registry()
    builtin = _class_from("mmf_ext.modules.losses", "CrossEntropyLoss")
    plugin = _class_from("my_plugin.losses", "MyCrossEntropy")
    local.register_loss("cross_entropy")(builtin)
    with pytest.warns(RegistryOverrideWarning) as caught:
        local.register_loss("cross_entropy")(plugin)
    message = str(caught[0].message)
    assert "my_plugin.losses.MyCrossEntropy" in message
    assert "mmf_ext.modules.losses.CrossEntropyLoss" in message
    assert local.get_loss_class("cross_entropy") is plugin


def test_a_builtin_registering_after_the_plugin_leaves_the_plugin_the_name_with_a_warning():
    local = Registry()
    plugin = _class_from("my_plugin.metrics", "MyAccuracy")
    local.register_metric("accuracy")(plugin)
    with pytest.warns(RegistryOverrideWarning, match="my_plugin.metrics.MyAccuracy replaces the built-in"):
        local.register_metric("accuracy")(_class_from("mmf_ext.modules.metrics", "Accuracy"))
    assert local.get_metric_class("accuracy") is plugin


def test_two_builtins_under_one_name_are_still_an_error():
    local = Registry()
    local.register_model("m")(_class_from("mmf_ext.a", "A"))
    with pytest.raises(RegistryError, match="already registered"):
        local.register_model("m")(_class_from("mmf_ext.b", "B"))


def test_a_placeholder_for_an_mmf_name_is_replaced_silently_and_refuses_to_build_in_one_line():
    local = Registry()
    placeholder = unavailable_class("processor", "bert_tokenizer", "it needs downloads")
    local.register_processor("bert_tokenizer")(placeholder)
    with pytest.raises(ConfigError, match="processor 'bert_tokenizer' \\(MMF's\\) is not available here: it"):
        local.get_processor_class("bert_tokenizer")()
    mine = _class_from("my_plugin.text", "MyTokenizer")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        local.register_processor("bert_tokenizer")(mine)
    assert local.get_processor_class("bert_tokenizer") is mine


@pytest.mark.parametrize(
    "kind",
    [
        "fusion",
        "pooler",
        "encoder",
        "decoder",
        "datamodule",
        "test_reporter",
        "iteration_strategy",
        "torchmetric",
        "transformer_backend",
        "transformer_head",
    ],
)
def test_mmf_registration_kinds_have_their_decorator_and_lookup(kind):
    local = Registry()
    thing = _class_from("my_plugin", f"Thing_{kind}")
    getattr(local, f"register_{kind}")("x")(thing)
    lookup = {"datamodule": "get_builder_class"}.get(kind, f"get_{kind}_class")
    assert getattr(local, lookup)("x") is thing


def test_mmf_spellings_of_lookups_work():
    local = Registry()
    reporter, pool = _class_from("p", "Reporter"), _class_from("p", "Pool")
    local.register_test_reporter("r")(reporter)
    local.register_pooler("avg")(pool)
    assert local.get_test_rerporter_class("r") is reporter and local.get_test_reporter_class("r") is reporter
    assert local.get_pool_class("avg") is pool and local.get_pooler_class("avg") is pool
    local.register_datamodule("dm")(reporter)
    assert local.get_datamodule_class("dm") is reporter
    assert local.mapping["builder_name_mapping"]["dm"] is reporter  # MMF's mapping layout reads work


def test_unknown_names_of_a_new_kind_list_what_is_registered():
    local = Registry()
    local.register_fusion("linear_sum")(_class_from("p", "LinearSum"))
    with pytest.raises(RegistryError, match="No fusion registered under the name 'linear_summ'.*linear_sum"):
        local.get_fusion_class("linear_summ")


# -- state ------------------------------------------------------------------------------------------
def test_dotted_register_nests_and_get_walks_or_returns_the_dict():
    local = Registry()
    local.register("a.b.c", 1)
    local.register("a.d", 2)
    assert local.get("a.b.c") == 1 and local.get("a") == {"b": {"c": 1}, "d": 2}
    assert local.get("a.b.missing", "dflt") == "dflt" and local.get("a.d.deeper", None) is None
    assert local.get("nothing") is None


def test_unregister_removes_a_dotted_key_and_returns_its_value():
    local = Registry()
    local.register("x.y", 3)
    assert local.unregister("x.y") == 3 and local.get("x") == {}
    assert local.unregister("x.nope") is None and local.unregister("top.level.absent") is None


def test_a_missing_key_warns_through_a_registered_writer_unless_no_warning():
    class Writer:
        def __init__(self):
            self.lines = []

        def warning(self, text):
            self.lines.append(text)

    local, writer = Registry(), Writer()
    local.register("writer", writer)
    local.get("missing", 0, no_warning=True)
    assert writer.lines == []
    local.get("missing", 0)
    assert writer.lines == ["Key missing is not present in registry, returning default value of 0"]


def test_registering_under_a_key_holding_a_value_is_an_error():
    local = Registry()
    local.register("k", 5)
    with pytest.raises(RegistryError, match="'k' already holds a int"):
        local.register("k.sub", 1)


def test_a_miss_imports_the_builtins_of_that_kind():
    assert registry.get_processor_class("simple_sentence").__name__ == "SimpleSentenceProcessor"
    assert registry.get_metric_class("r@1_retrieval").__name__ == "RecallAt1_ret"
    assert registry.get_class("metric", "no_such_metric", None) is None
