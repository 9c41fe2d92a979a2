import pytest
import torch

import zoo
from zoo.molecules.specformer import SpecFormer


def lorentzian_spectra(n, seed=0, length=3501):
    """log10(1 + Σ Lorentzian bands) on the 500..4000 cm⁻¹ grid, like the IR data: (n, length)."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.linspace(500, 4000, length)
    centres = 500 + 3500 * torch.rand(n, 6, 1, generator=g)
    heights = 10 * torch.rand(n, 6, 1, generator=g)
    bands = heights * 15 ** 2 / ((grid - centres) ** 2 + 15 ** 2)
    return torch.log10(1 + bands.sum(1))


def test_patches_are_the_papers_windows():
    model = SpecFormer(["ir", "uv"])
    assert model.embed["ir"].n_patches == 139 and model.embed["uv"].n_patches == 69  # (L − P) // S + 1
    spectrum = torch.arange(2 * 3501.0).view(2, 3501)
    patches = model.embed["ir"].patches(spectrum)
    assert patches.shape == (2, 139, 50)
    assert torch.equal(patches[1, 7], spectrum[1, 175:225]) and torch.equal(patches[0, -1], spectrum[0, 3450:3500])


def test_condition_shape_and_bad_input():
    model = zoo.create_model("specformer", d_out=24)
    assert model(lorentzian_spectra(3)).shape == (3, 24)
    with pytest.raises(ValueError, match="ir spectrum must be \\(batch, 3501\\) points"):
        model(torch.rand(3, 3500))
    both = zoo.create_model("specformer", spectra=["ir", "uv"])
    batch = {"spectrum": lorentzian_spectra(2), "spectrum_uv": torch.rand(2, 701)}
    assert both(batch).shape == (2, 64)
    with pytest.raises(KeyError, match="needs the batch keys \\['spectrum_uv'\\]"):
        both({"spectrum": batch["spectrum"]})
    with pytest.raises(ValueError, match="pass a dict"):
        both(batch["spectrum"])
    with pytest.raises(ValueError, match="spectra must be distinct names from"):
        SpecFormer(["ir", "nmr"])


def test_residual_attention_adds_the_previous_layers_scores():
    """Layer 2's pre-softmax scores are its own QKᵀ/√d_h plus layer 1's (PatchTST residual attention)."""
    torch.manual_seed(0)
    model = SpecFormer(n_layers=2).eval()
    seen = []
    for layer in model.layers:
        layer.register_forward_hook(lambda module, args, out: seen.append((args[0], out[1])))
    model(lorentzian_spectra(2))
    (x1, scores1), (x2, scores2) = seen
    layer = model.layers[1]
    q, k, _ = layer.qkv(x2).view(2, 139, 3, 4, 8).permute(2, 0, 3, 1, 4)
    assert torch.allclose(scores2, q @ k.mT / 8 ** 0.5 + scores1, atol=1e-5)


def test_masked_patch_objective_is_the_tied_reconstruction_error_of_masked_patches():
    """loss = mean over masked patches k of mean_p ((W_P h_k)_p − x_{k,p})², h = the encoder tokens of the spectrum
    with the masked patches zeroed: values that lie only in masked patches change the targets, not h."""
    torch.manual_seed(0)
    model = SpecFormer(d_model=16, n_layers=1, d_ff=32).double().eval()
    spectra = lorentzian_spectra(2).double()
    masks = {"ir": torch.zeros(2, 139, dtype=torch.bool)}
    masks["ir"][0, [9, 10, 11, 70]] = masks["ir"][1, 3] = True
    hidden = spectra.unfold(-1, 50, 25).clone()
    hidden[masks["ir"]] = 0
    tokens = model.encode({"ir": hidden})
    W = model.embed["ir"].W_P.weight  # (d_model, 50)

    def explicit(values):
        patches = values.unfold(-1, 50, 25)
        pairs = ((0, 9), (0, 10), (0, 11), (0, 70), (1, 3))
        return torch.stack([((tokens[b, k] @ W - patches[b, k]) ** 2).mean() for b, k in pairs]).mean()

    assert torch.allclose(model.loss(spectra, masks)["loss"], explicit(spectra), atol=1e-12)
    changed = spectra.clone()
    changed[0, 275:300] += 1.0  # points covered by patches 10 and 11 only, both masked
    assert torch.allclose(model.loss(changed, masks)["loss"], explicit(changed), atol=1e-12)
    assert not torch.allclose(explicit(changed), explicit(spectra))


def test_random_masks_hit_the_ratio_with_at_least_one_patch_each():
    torch.manual_seed(1)
    model = SpecFormer(["ir", "uv"], mask_ratio=0.1)
    masks = model.random_masks({"ir": torch.zeros(400, 139, 50), "uv": torch.zeros(400, 69, 20)})
    for mask in masks.values():
        assert mask.any(1).all()
        assert abs(mask.float().mean().item() - 0.1) < 0.015


def test_masked_patch_loss_trains():
    """20 Adam steps on a fixed mask lower the objective (every weight it uses gets a gradient)."""
    torch.manual_seed(0)
    model = SpecFormer(d_model=16, n_layers=1, d_ff=32)
    spectra = lorentzian_spectra(8)
    masks = model.random_masks({"ir": spectra.unfold(-1, 50, 25)})
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model.loss(spectra, masks)["loss"].item()
    for _ in range(20):
        loss = model.loss(spectra, masks)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.loss(spectra, masks)["loss"].item() < 0.5 * first
