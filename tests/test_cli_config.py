"""refset train --config, the shipped configurations, and one default per setting."""
import json
import re

import pytest

import refset
from refset import configs
from refset.cli import _DEFAULTS, _PARAMS, build_parser, main


def _help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_cli_defaults_are_the_estimators(capsys):
    """Every model option's help shows SparseMLP's default, and unset options stay unset."""
    defaults = refset.SparseMLP().get_params()
    text = _help(capsys)
    shown = {"epochs": "default 100", "batch_size": "default 32", "learning_rate": "default 0.01",
             "momentum": "default 0.9", "weight_decay": "default 0.0002",
             "dtype": "default float64", "epsilon": "default 20", "zeta": "default 0.3",
             "weight_decay_style": "default coupled", "loss": "default cross_entropy",
             "dropout": "default 0.0", "update_interval": "default 1", "threads": "default 1",
             "method": "default set", "prune": "default sign"}
    for param, phrase in shown.items():
        assert phrase in text, (param, phrase)
        assert f"{defaults[param]:g}" if isinstance(defaults[param], float) else True
    assert "0.3333333333333333" not in text and "default 1/3" in text
    args = build_parser().parse_args(["train"])
    assert all(getattr(args, dest) is None for dest in _PARAMS)   # nothing overrides SparseMLP
    assert _DEFAULTS == defaults


def test_style_options_are_explained(capsys):
    text = _help(capsys)
    assert "w ← w + v − λw" in text and "v ← μv − η(g + λw)" in text
    assert "sigmoid + squared error" in text and "the smallest |w|" in text


@pytest.mark.parametrize("name", configs.names())
def test_shipped_configs_build_valid_models(name):
    config = configs.load_train_config(name)
    params = dict(config["model"])
    model = refset.SparseMLP(**params)
    model._validate_params()
    assert config["data"]["dataset"] in refset.datasets.list_datasets()


def test_shipped_configs_cover_the_papers():
    assert {"set-original-coil20", "set-original-tox171", "set-original-lung",
            "cavallaro-coil20-zeta0.02", "cht-mnist-1x", "cht-mnist-2x",
            "naji-fashion-mnist"} <= set(configs.names())
    cht = configs.load_train_config("cht-mnist-2x")["model"]
    assert cht["hidden_layer_sizes"] == [1568] * 3 and cht["weight_decay"] == 1e-5
    assert cht["method_options"]["sparsity"] == 0.99


def test_config_file_and_overrides(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('[data]\ndataset = "synthetic"\n[data.synthetic]\nn_samples = 120\n'
                    '[model]\nhidden_layer_sizes = [12, 12]\nepsilon = 3\nzeta = 0.1\n'
                    'epochs = 2\nloss = "mse"\n')
    out = tmp_path / "r"
    assert main(["train", "--config", str(path), "--zeta", "0.2", "--quiet", "--out",
                 str(out)]) == 0
    stored = json.loads((out / "config.json").read_text())
    assert stored["model"]["zeta"] == 0.2                 # the command line wins
    assert stored["model"]["loss"] == "mse" and stored["model"]["epochs"] == 2
    assert stored["model"]["hidden_layer_sizes"] == [12, 12]
    assert stored["data"]["synthetic"] == {"n_samples": 120}


@pytest.mark.parametrize("text, message", [
    ("[model]\nnot_a_param = 1\n", "model.not_a_param is not a SparseMLP parameter"),
    ("[data]\ndatasets = ['x']\n", "unknown key data.datasets"),
    ("[grid]\nzeta = [0.1]\n", "unknown table [grid]"),
    ("[model\n", "not valid TOML"),
])
def test_bad_config_files_are_named(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(path) in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_cht_without_hidden_uses_the_1x_widths(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--method", "cht", "--n-features", "150", "--n-samples", "200",
                 "--epochs", "1", "--out", str(out)]) == 0
    assert "hidden layers 150 x 3 (CSTI 1x" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["model"]["hidden_layer_sizes"] == \
        [150, 150, 150]


@pytest.mark.parametrize("args, flag", [
    (["--threads", "0"], "--threads must be"), (["--batch-size", "0"], "--batch-size must be"),
    (["--lr", "-1"], "--lr must be"), (["--hidden", "10", "--epsilon", "0"], "--epsilon must be"),
])
def test_messages_name_the_flag_at_the_cli(tmp_path, capsys, args, flag):
    assert main(["train", *args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"refset: error: {re.escape(flag)}", err), err


def test_messages_name_the_parameter_in_python():
    with pytest.raises(ValueError, match=r"^learning_rate must be"):
        refset.SparseMLP(learning_rate=-1)._validate_params()
