import pytest
from pydantic import ValidationError

from evolve.config.llm import LLMConfig, ModelSpec, merge_cli_models, parse_model_arg


def test_routes_and_served_names():
    assert ModelSpec(name="openai/gpt-4o-mini").resolved_route() == "openai"
    assert ModelSpec(name="openai/gpt-4o-mini").served_name() == "gpt-4o-mini"
    assert ModelSpec(name="gpt-4o").provider == "openai"
    assert ModelSpec(name="anthropic/claude-3-5-haiku-latest").resolved_route() == "litellm"
    # an OpenAI-compatible server serving a name with slashes (vLLM): sent as is
    spec = ModelSpec(name="meta-llama/Llama-3-8B", api_base="http://127.0.0.1:8000/v1")
    assert spec.resolved_route() == "openai" and spec.served_name() == "meta-llama/Llama-3-8B"
    assert ModelSpec(name="openai/meta-llama/Llama-3-8B", api_base="http://x/v1").served_name() == "meta-llama/Llama-3-8B"
    assert ModelSpec(name="openai/x", route="litellm").resolved_route() == "litellm"


def test_parse_model_arg_weights_and_tags():
    assert parse_model_arg("openai/gpt-4o-mini") == ModelSpec(name="openai/gpt-4o-mini")
    assert parse_model_arg("openai/gpt-4o-mini:3").weight == 3.0
    assert parse_model_arg("openai/qwen2.5-coder:7b") == ModelSpec(name="openai/qwen2.5-coder:7b")
    spec = parse_model_arg("openai/qwen2.5-coder:7b:0.5")
    assert (spec.name, spec.weight) == ("openai/qwen2.5-coder:7b", 0.5)
    with pytest.raises(ValueError, match="weight"):
        parse_model_arg("m:-1")
    with pytest.raises(ValueError, match="empty"):
        parse_model_arg("  ")


def test_inline_api_keys_are_refused_with_the_fix():
    with pytest.raises(ValidationError, match="api_key_env"):
        ModelSpec.model_validate({"name": "openai/x", "api_key": "sk-123"})
    with pytest.raises(ValidationError, match="environment only"):
        LLMConfig.model_validate({"api_key": "sk-123", "models": [{"name": "openai/x"}]})


def test_config_checks():
    with pytest.raises(ValidationError, match="listed twice"):
        LLMConfig(models=[ModelSpec(name="a"), ModelSpec(name="a")])
    with pytest.raises(ValidationError, match="all weights are 0"):
        LLMConfig(models=[ModelSpec(name="a", weight=0)])
    with pytest.raises(ValidationError, match="exclusive"):
        LLMConfig(record="a.jsonl", replay="b.jsonl")
    with pytest.raises(ValidationError, match="at least one"):
        LLMConfig.model_validate({"edit_weights": {"diff": 0, "rewrite": 0, "crossover": 0}})
    assert not LLMConfig().enabled


def test_effective_fills_table_defaults_but_keeps_model_settings():
    cfg = LLMConfig(api_base="http://127.0.0.1:1/v1", timeout_s=7, temperature=0.3,
                    models=[ModelSpec(name="a"), ModelSpec(name="b", api_base="http://h/v1", temperature=1.0, timeout_s=2)])
    a, b = (cfg.effective(m) for m in cfg.models)
    assert (a.api_base, a.timeout_s, a.temperature) == ("http://127.0.0.1:1/v1", 7, 0.3)
    assert (b.api_base, b.timeout_s, b.temperature) == ("http://h/v1", 2, 1.0)


def test_cli_models_replace_the_file_list_but_keep_file_prices():
    file_cfg = LLMConfig(models=[ModelSpec(name="openai/a", price_in_per_m=1.0, price_out_per_m=2.0), ModelSpec(name="openai/b")])
    merged = merge_cli_models(file_cfg, ["openai/a:3", "openai/c"], api_base="http://127.0.0.1:9/v1")
    assert [m.name for m in merged.models] == ["openai/a", "openai/c"]
    assert merged.models[0].weight == 3 and merged.models[0].price_in_per_m == 1.0
    assert merged.api_base == "http://127.0.0.1:9/v1"
    assert merge_cli_models(file_cfg, []) == file_cfg
