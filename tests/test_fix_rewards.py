"""Rewards of the fix loop: the shipped critic finds the world's watermark, Grad-CAM gives a heatmap to a
reward without one, files of the wrong kind and unknown names are one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tuitune.errors import UserError
from tuitune.fix.gradcam import gradcam
from tuitune.fix.networks import DefectCritic, Scorer, save_network
from tuitune.fix.rewards import load_reward


def redness_scorer(path: Path) -> Path:
    """A scorer whose score falls with the red pixels of a picture: one conv channel sees red, the head is negative."""
    net = Scorer(channels=(2,))
    with torch.no_grad():
        conv = net.features[0][0]
        conv.weight.zero_()
        conv.bias.zero_()
        # Inputs are scaled to [-1, 1]: red - green - blue - 0.5 is positive on red only.
        conv.weight[0, 0, 1, 1], conv.weight[0, 1, 1, 1], conv.weight[0, 2, 1, 1] = 1.0, -1.0, -1.0
        conv.bias[0] = -0.5
        net.head.weight.zero_()
        net.head.weight[0, 0] = -10.0
    return save_network(net, path)


def test_a_reward_without_a_heatmap_gets_one_through_gradcam(tmp_path):
    reward = load_reward(f"scorer:{redness_scorer(tmp_path / 'red.safetensors')}")
    images = torch.full((2, 3, 32, 32), 0.9)  # white pictures
    images[0, 1:, 4:12, 20:28] = 0.1  # a red patch top right in the first, bottom left in the second
    images[1, 1:, 22:30, 2:10] = 0.1
    assert reward.heatmap(images, ["a", "b"]) is None
    heat = gradcam(reward, images, ["a", "b"])
    assert heat.shape == (2, 32, 32) and float(heat.max()) == pytest.approx(1.0)
    assert heat[0, 4:12, 20:28].mean() > 0.5 > heat[0, 22:30, 2:10].mean() + 0.4
    assert heat[1, 22:30, 2:10].mean() > 0.5 > heat[1, 4:12, 20:28].mean() + 0.4


def test_the_shipped_critic_finds_the_watermark_the_world_generator_drew():
    from tuitune.toyworld.critic_training import HELD_OUT_SEED
    from tuitune.toyworld.world import WorldSampler, watermark_box

    reward = load_reward("toyworld-critic")
    sampler = WorldSampler(seed=HELD_OUT_SEED + 77)
    marked = [sampler.sample(watermark=True) for _ in range(8)]
    clean = [sampler.sample(watermark=False) for _ in range(8)]
    images = torch.from_numpy(np.stack([np.asarray(r.image, dtype=np.float32).transpose(2, 0, 1) / 255
                                        for r in marked + clean]))
    said = reward.heatmap(images, [""] * 16) >= 0.5
    x0, y0, x1, y1 = watermark_box()
    covered = said[:, y0:y1, x0:x1].float().mean(dim=(1, 2))
    assert (covered[:8] >= 0.5).all(), covered  # every watermark found
    assert (covered[8:] < 0.1).all(), covered  # and no corner marked where there is none
    truth = torch.from_numpy(np.stack([r.watermark_mask for r in marked]))
    assert (said[:8] & ~truth).float().mean() < 0.01  # next to nothing marked beside the watermark
    assert float(reward.score(images[:8], [""] * 8).mean()) < float(reward.score(images[8:], [""] * 8).mean())


def test_a_file_of_the_wrong_kind_and_an_unknown_reward_are_one_sentence(tmp_path):
    critic = save_network(DefectCritic(), tmp_path / "critic.safetensors")
    with pytest.raises(UserError, match="is not a tuitune scorer"):
        load_reward(f"scorer:{critic}")
    with pytest.raises(UserError, match="Unknown reward 'clip'; use toyworld-critic"):
        load_reward("clip")
    with pytest.raises(UserError, match="does not exist"):
        load_reward(f"critic:{tmp_path / 'none.safetensors'}")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_reward(f"critic:{tmp_path / 'junk.safetensors'}")


TINY_CLIP = {"embed_dim": 16,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def test_open_clip_prompt_similarity_loads_a_local_checkpoint_and_is_differentiable(tmp_path):
    import open_clip
    from safetensors.torch import save_file

    config = tmp_path / "tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP), encoding="utf-8")
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-clip", pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "tiny.safetensors"))
    reward = load_reward(f"open_clip:{tmp_path / 'tiny.safetensors'}", config=str(config))
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    scores = reward.score(images, ["a red circle", "a blue square"])
    assert scores.shape == (2,) and bool(((scores >= -1) & (scores <= 1)).all())
    scores.sum().backward()
    assert images.grad is not None and float(images.grad.abs().sum()) > 0
    heat = gradcam(reward, images.detach(), ["a red circle", "a blue square"])  # on the patch embedding
    assert heat.shape == (2, 64, 64)
    other = {k: v for k, v in model.state_dict().items() if not k.startswith("visual.")}
    save_file({k: v.contiguous() for k, v in other.items()}, str(tmp_path / "half.safetensors"))
    with pytest.raises(UserError, match="does not fit the open_clip model"):
        load_reward(f"open_clip:{tmp_path / 'half.safetensors'}", config=str(config))
