"""effnn.compression: k-means sharing, Huffman coding, relative indices and the size accounting."""
import pytest
import torch
from torch import nn

from effnn import compression as C


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_kmeans_codebook_has_2_to_the_bits_entries(bits):
    w = torch.randn(20, 30, generator=torch.Generator().manual_seed(bits))
    centroids, index = C.kmeans_codebook(w, bits)
    assert centroids.shape == (2 ** bits,)
    assert index.shape == w.shape and index.min() >= 0 and index.max() < 2 ** bits
    err = (centroids[index] - w).pow(2).mean()
    assert err < w.pow(2).mean() / (2 ** bits)  # sharing beats the trivial one-value code


def test_kmeans_respects_mask_and_recovers_clusters():
    w = torch.tensor([[0.0, 1.0, 1.1], [-2.0, -2.1, 0.0]])
    centroids, index = C.kmeans_codebook(w, 1, mask=w != 0)
    assert sorted(round(c, 2) for c in centroids.tolist()) == [-2.05, 1.05]
    assert index[0, 1] == index[0, 2] and index[1, 0] == index[1, 1] and index[0, 1] != index[1, 0]


def test_shared_weight_gradient_is_summed_per_cluster():
    layer = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [1.0, -1.0, 0.0]]))
    shared = C.SharedWeight(layer, 1, bias_bits=None)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    shared(x).sum().backward()
    # dL/dW[o, i] = x[i]; the +1 cluster holds W[0,0], W[1,0] -> 1 + 1; the -1 cluster W[0,2], W[1,1] -> 3 + 2
    grads = dict(zip([round(c) for c in shared.centroids.tolist()], shared.centroids.grad.tolist()))
    assert grads == {1: 2.0, -1: 5.0}
    assert torch.equal(shared.weight(), layer.weight)  # two values, two clusters: exact


def test_huffman_is_prefix_free_and_decodes_exactly():
    g = torch.Generator().manual_seed(0)
    symbols = torch.multinomial(torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]), 500, True, generator=g).tolist()
    code = C.huffman_code(symbols)
    assert C.is_prefix_free(code)
    bits = C.huffman_encode(symbols, code)
    assert C.huffman_decode(bits, code) == symbols
    assert len(code[0]) <= len(code[4])  # the frequent symbol gets the shorter word
    assert len(bits) == C.huffman_bits(symbols)


def test_huffman_known_lengths():
    code = C.huffman_code(["a"] * 4 + ["b"] * 2 + ["c", "d"])
    assert {s: len(w) for s, w in code.items()} == {"a": 1, "b": 2, "c": 3, "d": 3}
    assert C.huffman_code(["x", "x"]) == {"x": "0"}


def test_huffman_bad_input():
    with pytest.raises(ValueError, match="symbols"):
        C.huffman_code([])
    with pytest.raises(ValueError, match="codeword"):
        C.huffman_encode(["z"], {"a": "0"})
    with pytest.raises(ValueError, match="codeword"):
        C.huffman_decode("1", {"a": "0", "b": "10"})


def test_relative_index_pads_long_gaps_and_round_trips():
    mask = torch.zeros(20, dtype=torch.bool)
    mask[[1, 3, 12, 19]] = True
    gaps, padding = C.relative_index(mask, 3)  # gaps of at most 7
    assert gaps == [2, 2, 7, 2, 7] and padding == [0, 0, 1, 0, 0]
    assert C.decode_positions(gaps, padding) == [1, 3, 12, 19]


def test_layer_storage_by_hand_on_a_tiny_layer():
    # 2x4 weights, 3 kept, 2 centroids, 2-bit gaps: positions 0, 1, 7 -> gaps 1, 1, 3, 3 (a pad).
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.bool)
    index = torch.tensor([[0, 1, 0, 0], [0, 0, 0, 1]])
    s = C.layer_storage("tiny", index, mask, 2, index_bits=2, bias_numel=2, bias_bits_each=8)
    # weight symbols 0, 1, pad(2), 1 -> counts {1: 2, 0: 1, 2: 1} -> lengths 1, 2, 2 -> 6 bits
    assert s.weight_bits == 6
    # gaps 1, 1, 3, 3 -> two symbols, one bit each -> 4 bits
    assert s.index_bits == 4
    assert s.codebook_bits == 2 * 32
    assert s.table_bits == C.TABLE_BITS_PER_SYMBOL * (3 + 4)
    assert s.bias_bits == 16
    assert s.total_bits == 6 + 4 + 64 + 35 + 16
    plain = C.layer_storage("tiny", index, mask, 2, index_bits=2, huffman=False)
    assert plain.weight_bits == 4 * 2 and plain.index_bits == 4 * 2 and plain.table_bits == 0


def test_compression_table_ratio():
    mask = torch.ones(4, 4, dtype=torch.bool)
    s = C.layer_storage("l", torch.zeros(4, 4, dtype=torch.long), mask, 1, index_bits=1, huffman=False)
    t = C.compression_table(dense_bytes=64, layers=[s])
    assert s.total_bits == 16 * 1 + 16 * 1 + 32
    assert t["ratio"] == pytest.approx(64 * 8 / 64) and t["kept"] == 1.0


def test_share_weights_and_model_storage():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].weight[model[0].weight.abs() < 0.2] = 0
    C.share_weights(model, [3, 2])
    layers = C.shared_layers(model)
    assert [l.centroids.numel() for l in layers] == [8, 4]
    assert torch.equal(layers[0].weight() == 0, layers[0].layer.weight == 0)
    storage = C.model_storage(model)
    assert [s.nonzero for s in storage] == [int(layers[0].mask.sum()), 24]
    best = C.model_storage(model, index_bits=None)
    assert all(b.total_bits <= s.total_bits for b, s in zip(best, storage))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="bits"):
        C.kmeans_codebook(torch.randn(5), 0)
    with pytest.raises(TypeError, match="weights"):
        C.kmeans_codebook([1.0, 2.0], 2)
    with pytest.raises(ValueError, match="index_bits"):
        C.relative_index(torch.ones(3, dtype=torch.bool), 0)
    with pytest.raises(ValueError, match="bits"):
        C.share_weights(nn.Sequential(nn.Linear(2, 2)), [2, 2])
    with pytest.raises(ValueError, match="SharedWeight"):
        C.model_storage(nn.Linear(2, 2))


def test_prune_and_retrain_reaches_the_per_layer_sparsity():
    from effnn.train import TrainConfig

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 20), nn.ReLU(), nn.Linear(20, 3))
    data = (torch.randn(40, 8), torch.randint(0, 3, (40,)))
    C.prune_and_retrain(model, [0.9, 0.5], data, TrainConfig(epochs=1, fast_epochs=1, batch_size=20), steps=2)
    assert float((model[0].weight == 0).float().mean()) == pytest.approx(0.9, abs=0.01)
    assert float((model[2].weight == 0).float().mean()) == pytest.approx(0.5, abs=0.02)
    assert not hasattr(model[0], "weight_mask")  # masks made permanent
    with pytest.raises(ValueError, match="amounts"):
        C.prune_and_retrain(model, [0.5], data, None)
