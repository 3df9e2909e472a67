import pytest

from reprobook.run import configure


CONFIGS = {"smoke": {"epochs": 1, "lr": 0.1}, "short": {"epochs": 10, "lr": 0.5}}


def test_configure_picks_the_scale_and_applies_overrides():
    cfg = configure(CONFIGS, "short", lr=0.2)
    assert cfg.epochs == 10 and cfg.lr == 0.2 and cfg.scale == "short"
    with pytest.raises(TypeError):
        cfg["epochs"] = 3


def test_unknown_scale_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown scale 'huge'; valid scales: smoke, short, paper"):
        configure(CONFIGS, "huge")
    with pytest.raises(ValueError, match="not configured here; configured: smoke, short"):
        configure(CONFIGS, "paper")


def test_unknown_override_lists_the_valid_keys():
    with pytest.raises(ValueError, match="unknown parameter.*epoch.*valid: epochs, lr"):
        configure(CONFIGS, "smoke", epoch=3)
    with pytest.raises(AttributeError, match="keys:"):
        configure(CONFIGS, "smoke").batch
