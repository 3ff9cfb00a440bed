"""Checkpoints: round trip, fp16 storage, atomic writes, and one-line errors for bad files."""

import json

import pytest
import torch

from portrait_edge.errors import NotAvailableError, PortraitEdgeError
from portrait_edge.nn import create_model
from portrait_edge.train.checkpoint import card_path, load_checkpoint, load_model, save_checkpoint


def _card(**overrides):
    return {"task": "parsing", "role": "student", "arch": "mobile_unet", "arch_kwargs": {"width": 4},
            "in_channels": 3, "out_channels": 19, **overrides}


def _model():
    torch.manual_seed(0)
    model = create_model("mobile_unet", in_channels=3, out_channels=19, width=4)
    model.train()
    model(torch.rand(2, 3, 32, 32))  # move the BatchNorm statistics away from their defaults
    return model.eval()


def test_round_trip(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "m", model, _card(metrics={"miou": 0.5}))
    assert path.name == "m.safetensors" and card_path(path).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert path.stat().st_mode & 0o777 == 0o644
    loaded, card = load_model(tmp_path / "m.json")
    assert not loaded.training
    assert card["metrics"] == {"miou": 0.5} and card["code_version"]["package"]
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_fp16_storage_loads_as_float32(tmp_path):
    model = _model()
    save_checkpoint(tmp_path / "m", model, _card(), dtype="float16")
    state, card = load_checkpoint(tmp_path / "m.safetensors")
    assert card["dtype"] == "float16"
    assert all(t.dtype == torch.float16 for t in state.values() if t.is_floating_point())
    loaded, _ = load_model(tmp_path / "m.safetensors")
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=5e-2)


def test_corrupt_file_is_a_one_line_error(tmp_path):
    path = save_checkpoint(tmp_path / "m", _model(), _card())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(PortraitEdgeError, match="sha256 differs") as info:
        load_model(path)
    assert "\n" not in str(info.value)
    card = json.loads(card_path(path).read_text())
    del card["sha256"]
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(PortraitEdgeError, match="corrupt checkpoint"):
        load_model(path)
    card_path(path).write_text("{not json")
    with pytest.raises(PortraitEdgeError, match="corrupt checkpoint card"):
        load_model(path)


def test_mismatched_shapes_and_unknown_arch(tmp_path):
    path = save_checkpoint(tmp_path / "m", _model(), _card())
    card = json.loads(card_path(path).read_text())
    card_path(path).write_text(json.dumps({**card, "arch_kwargs": {"width": 8}}))
    with pytest.raises(PortraitEdgeError, match="does not fit the model.*shape"):
        load_model(path)
    card_path(path).write_text(json.dumps({**card, "arch": "unet", "arch_kwargs": {"width": 4}}))
    with pytest.raises(PortraitEdgeError, match="does not fit the model.*missing"):
        load_model(path)
    card_path(path).write_text(json.dumps({**card, "arch": "no_such_net"}))
    with pytest.raises(NotAvailableError, match="no_such_net"):
        load_model(path)
    with pytest.raises(PortraitEdgeError, match="not found"):
        load_model(tmp_path / "other.safetensors")


def test_card_needs_identity():
    with pytest.raises(ValueError, match="card needs"):
        save_checkpoint("/tmp/never", {}, {"task": "parsing"})
