"""Claims as config (cifar_sweep/claims.py): the study's six files load and compose, and every bad
claim is one line naming its field, before anything runs (cifar_sweep/decide.py checks them first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cifar_sweep import claims, decide, sequential
from cifar_sweep.report.claims import STUDY, study_claims

GOOD = {"key": "optimizer.lr", "cell": "3e-3", "others": "[1e-9]", "kind": "better"}


def test_the_studys_six_claims_load_and_each_cell_composes_into_a_valid_config():
    loaded = study_claims()
    assert [c.name for c in loaded] == list(STUDY)
    assert [c.kind for c in loaded] == ["overfits", "winner", "winner", "winner", "winner", "reaches"]
    for claim in loaded:
        claims.check_cells(claim, None, [])
    regularization = loaded[1]
    assert regularization.per == "model"
    assert decide.per_values(regularization, None) == ["vgg11", "vgg16", "vgg19"]


def test_a_users_claims_file_through_config_dir(tmp_path):
    write(tmp_path, "mine", {**GOOD, "mode": "min", "metric": "test_loss"})
    (claim,) = claims.load(["mine"], str(tmp_path))
    assert (claim.name, claim.cells, claim.mode) == ("c", ["0.003", "1e-09"], "min")
    rule = claims.sequential_claim(claim)
    assert rule == sequential.Claim("better", "0.003", ("1e-09",), 0.0, 0.05)


def write(root: Path, name: str, fields: dict[str, str], claim: str = "c") -> None:
    (root / "claims").mkdir(exist_ok=True)
    lines = [f"{claim}:"] + [f"  {k}: {v}" for k, v in fields.items()]
    (root / "claims" / f"{name}.yaml").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "change, line",
    [
        ({"kind": "bigger"}, "claims.c.kind='bigger': must be one of winner, better, equivalent, reaches, overfits"),
        ({"kind": "equivalent"}, "claims.c.margin=0.0: an equivalent claim needs its margin d > 0"),
        ({"kind": "reaches"}, "claims.c.value=None: a reaches claim needs its value"),
        ({"min_seeds": "5", "max_seeds": "3"}, "claims.c.max_seeds=3: must be >= min_seeds (5)"),
        ({"min_seeds": "1"}, "claims.c.min_seeds=1: must be >= 2: a t-test needs two seeds a cell"),
        ({"others": "[3e-3]"}, "claims.c.others=['0.003']: cells must differ"),
        ({"others": "[1e-9, 1e-8]"}, "claims.c.others=['1e-09', '1e-08']: a better claim names exactly one other"),
        ({"metric": "accuracy"}, "claims.c.metric='accuracy': must be one of"),
        ({"budget": "{runs: 0}"}, "claims.c.budget="),
        (
            {"seeds": "3"},
            "claims.c: ConfigKeyError: Key 'seeds' not in 'Claim'. Did you mean one of: 'min_seeds', 'max_seeds'?",
        ),
        ({"alpha": "often"}, "claims.c: ValidationError: Value 'often' of type 'str' could not be converted to Float"),
        (
            {"key": "optimizer.typo"},
            "claims.c: optimizer.typo=0.003 (grid []): ConfigCompositionException: Could not override "
            "'optimizer.typo'. (ConfigAttributeError: Key 'typo' is not in struct)",
        ),
        (
            {"key": "optimizer", "cell": "lbfgs", "others": "[adam]"},
            "claims.c: optimizer=lbfgs (grid []): MissingConfigException: In 'config': "
            "Could not find 'optimizer/lbfgs'",
        ),
        ({"cell": "-1.0"}, "claims.c: optimizer.lr=-1.0 (grid []): optimizer.lr=-1.0: must be a positive number"),
    ],
)
def test_a_bad_claim_is_one_line_naming_its_field_and_nothing_runs(tmp_path, capsys, monkeypatch, change, line):
    write(tmp_path, "bad", {**GOOD, **change})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        decide.main(["--config-dir", str(tmp_path), "claims=bad", "data=synthetic"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error: " + line), err
    assert not (tmp_path / "multirun").exists()


@pytest.mark.parametrize(
    "argv, line",
    [
        (["data=synthetic"], "error: claims: name the claims file once, as claims=NAME"),
        (["claims=nosuch"], "error: claims=nosuch: no such claims file; there are: batch_sizes, optimizers, "),
        (
            ["--config-dir", "/nonexistent/conf", "claims=optimizers"],
            "error: --config-dir='/nonexistent/conf': no such folder",
        ),
    ],
)
def test_a_bad_command_is_one_line(tmp_path, capsys, monkeypatch, argv, line):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        decide.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith(line), err
