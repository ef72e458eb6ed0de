import pytest

from mmf_ext.common.registry import Registry, RegistryError, registry


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
