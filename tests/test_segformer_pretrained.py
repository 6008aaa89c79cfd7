"""The pretrained path of A1: a local ``save_pretrained`` folder loaded the way the notebook loads
MiT-b0 (``S.load_baseline(pretrained=...)``), pruned, saved and reloaded; missing folders say so."""
import pytest
import torch

from autograder.reference import segformer as R
from effnn import segformer as S
from effnn.models import build_segformer

TINY = dict(hidden_sizes=[8, 16, 40, 64], num_attention_heads=[1, 2, 5, 8], decoder_hidden_size=32)


@pytest.fixture
def pretrained_folder(tmp_path):
    """A tiny Segformer with a 3-label head saved by save_pretrained: a stand-in for a local mit-b0."""
    model = build_segformer(3, seed=7, **TINY).eval()
    folder = tmp_path / "mit-b0"
    model.save_pretrained(folder)
    return folder, model


def test_load_baseline_reads_a_save_pretrained_folder(pretrained_folder):
    folder, saved = pretrained_folder
    model = S.load_baseline(pretrained=folder)
    assert not model.training and model.config.num_labels == 2  # the notebook's two labels
    assert model.config.hidden_sizes == TINY["hidden_sizes"]
    # the encoder's weights are the saved ones; only the 3-label classifier was replaced
    mine, theirs = model.state_dict(), saved.state_dict()
    encoder = [k for k in theirs if k.startswith("segformer.")]
    assert encoder and all(torch.equal(mine[k], theirs[k]) for k in encoder)
    assert mine["decode_head.classifier.weight"].shape[0] == 2
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.segformer(x).last_hidden_state, saved.segformer(x).last_hidden_state)


def test_a_pretrained_model_prunes_saves_and_reloads(pretrained_folder, tmp_path):
    folder, _ = pretrained_folder
    model = R.prune(S.load_baseline(pretrained=folder), "magnitude", 0.5)
    path = R.save_pruned(model, tmp_path / "pruned.pt")
    again = R.load_pruned(path)
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model(x).logits, again(x).logits, atol=1e-5)


def test_missing_or_wrong_pretrained_folders_raise_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="pretrained.*save_pretrained folder"):
        S.load_baseline(pretrained=tmp_path / "no_such_folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        S.load_baseline(pretrained=tmp_path / "empty")
    with pytest.raises(TypeError, match="pretrained"):
        S.load_baseline(pretrained=3)
    with pytest.raises(ValueError, match="not both"):
        S.load_baseline(tmp_path / "a.pt", pretrained=tmp_path)
