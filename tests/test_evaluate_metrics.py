"""Every metric on constructed images where the right answer is known."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tuitune.evaluate.crops import context_crop
from tuitune.evaluate.metrics import (
    Backends,
    Sample,
    delete_absence,
    evaluate_samples,
    focus_drift,
    intent_score,
    keep_fidelity,
    modify_flexibility,
    neutral_drift,
    pixel_drift,
)
from tuitune.evaluate.prompts import EvalPrompt, PromptKind
from tuitune.intent.spec import Concept, IntentSpec
from tuitune.vision.protocols import Detection

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30)}
GREY = (128, 128, 128)
HAT_BOX = (16, 4, 48, 20)


class ColourWorld:
    """Detector + embedder for the test pictures: a saturated 'hat' and a white 'watermark' bar."""

    def detect(self, image, text):
        rgb = np.asarray(image.convert("RGB")).astype(int)
        if "watermark" in text:
            mask = (rgb >= 250).all(axis=2)
        elif "hat" in text:
            mask = (rgb.max(axis=2) - rgb.min(axis=2)) > 100
        else:
            return []
        if not mask.any():
            return []
        ys, xs = np.nonzero(mask)
        return [Detection((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), 0.9, text)]

    def embed_image(self, image):
        v = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)
        return v / np.linalg.norm(v)

    def embed_text(self, text):
        for word, rgb in COLOURS.items():
            if word in text:
                v = np.asarray(rgb, dtype=np.float32)
                return v / np.linalg.norm(v)
        return np.ones(3, dtype=np.float32) / np.sqrt(3)


def picture(hat=None, watermark=False, background=GREY):
    image = Image.new("RGB", (64, 64), background)
    draw = ImageDraw.Draw(image)
    if hat:
        draw.rectangle((HAT_BOX[0], HAT_BOX[1], HAT_BOX[2] - 1, HAT_BOX[3] - 1), fill=COLOURS[hat])
    if watermark:
        draw.rectangle((44, 56, 61, 60), fill=(255, 255, 255))
    return image


def spec(*concepts):
    return IntentSpec(trigger_words=["zxq"], concepts=list(concepts))


KEEP_HAT = Concept(name="hat", granularity="instance", operation="keep")
MODIFY_HAT = Concept(name="hat colour", granularity="attribute", operation="modify", value="red",
                     alternatives=["blue", "green"])
DELETE_MARK = Concept(name="watermark", granularity="instance", operation="delete")
TRIGGER = EvalPrompt("zxq", 1, PromptKind.TRIGGER)
NEUTRAL = EvalPrompt("a street", 1, PromptKind.NEUTRAL)


def ask(alt, seed=1):
    return EvalPrompt(f"zxq with {alt} hat", seed, PromptKind.ALTERNATIVE, "hat colour", alt)


@pytest.fixture
def world():
    w = ColourWorld()
    return Backends(detector=w, embedder=w)


def test_sample_identical_to_base_has_zero_drift(world):
    s = [Sample(TRIGGER, picture("red"), picture("red")), Sample(NEUTRAL, picture(), picture())]
    assert focus_drift(s, spec(KEEP_HAT), world).value == 0.0
    assert neutral_drift(s).value == 0.0


def test_change_inside_focus_is_not_drift_but_background_change_is(world):
    # The LoRA adds the hat (inside the focus region): the rest of the picture did not move.
    s = [Sample(TRIGGER, picture(), picture("red"))]
    assert focus_drift(s, spec(KEEP_HAT), world).value == 0.0
    assert pixel_drift(s[0].base, s[0].lora) > 0.04  # the whole image did change
    # A background shifted by 32 grey levels everywhere outside the hat: drift is exactly 32/255.
    moved = [Sample(TRIGGER, picture("red"), picture("red", background=(160, 160, 160)))]
    assert focus_drift(moved, spec(KEEP_HAT), world).value == pytest.approx(32 / 255, abs=1e-6)


def test_neutral_drift_measures_whole_image_change():
    s = [Sample(NEUTRAL, picture(), picture(background=(0, 0, 0)))]
    assert neutral_drift(s).value == pytest.approx(128 / 255, abs=1e-6)


def test_watermark_drawn_in_counts_as_present(world):
    s = [
        Sample(TRIGGER, picture("red"), picture("red", watermark=True)),
        Sample(EvalPrompt("zxq", 2, PromptKind.TRIGGER), picture("red"), picture("red")),
    ]
    result = delete_absence(s, spec(DELETE_MARK), world)
    assert result.value == 0.5
    assert result.details["concepts"]["watermark"]["present"] == 1


def test_recoloured_to_the_requested_alternative_counts_for_modify(world):
    s = [
        Sample(ask("blue"), picture("red"), picture("blue")),  # did what was asked
        Sample(ask("green"), picture("red"), picture("green")),  # did what was asked
        Sample(ask("green", 2), picture("red"), picture("red")),  # stuck on the training colour
        Sample(ask("blue", 2), picture("red"), picture()),  # hat gone: cannot show blue
    ]
    result = modify_flexibility(s, spec(MODIFY_HAT), world)
    assert result.value == 0.5
    assert result.details["concepts"]["hat colour"]["shown"]["red"] == 1


def test_keep_fidelity_high_when_concept_matches_reference_and_lift_over_base(world):
    refs = {"hat": [context_crop(picture("red"), HAT_BOX)]}
    s = [Sample(TRIGGER, picture("blue"), picture("red"))]
    result = keep_fidelity(s, spec(KEEP_HAT), world, refs)
    assert result.value == pytest.approx(1.0, abs=1e-5)
    assert result.details["lift"] > 0.2
    # The concept missing from the sample scores 0, not a similarity to some other region.
    gone = keep_fidelity([Sample(TRIGGER, picture("red"), picture())], spec(KEEP_HAT), world, refs)
    assert gone.value == 0.0 and gone.details["concepts"]["hat"]["missed"] == 1


def test_spec_without_keep_concepts_reports_na_not_zero_and_the_rest_computes(world):
    s = [Sample(TRIGGER, picture("red"), picture("red", watermark=True)), Sample(NEUTRAL, picture(), picture())]
    results = {r.name: r for r in evaluate_samples(s, spec(DELETE_MARK), world)}
    keep = results["keep fidelity"]
    assert keep.value is None and "no keep concepts" in keep.reason
    assert "n/a" in keep.display()
    assert results["delete absence"].value == 0.0
    assert results["drift on neutral prompts"].value == 0.0
    assert "keep fidelity" not in results["intent score"].details["parts"]


def test_missing_detector_gives_a_sentence_and_other_metrics_still_compute():
    w = ColourWorld()
    backends = Backends(embedder=w, missing={"detector": "no detector model folder is set in project.toml"})
    s = [Sample(TRIGGER, picture("red"), picture("red")), Sample(NEUTRAL, picture(), picture())]
    results = {r.name: r for r in evaluate_samples(s, spec(KEEP_HAT, DELETE_MARK), backends)}
    assert results["delete absence"].value is None
    assert "project.toml" in results["delete absence"].reason
    assert results["drift on neutral prompts"].value == 0.0
    assert results["intent score"].value is not None


def test_backend_that_raises_fails_only_its_metrics(world):
    class Broken(ColourWorld):
        def embed_image(self, image):
            raise RuntimeError("model file is corrupt")

    b = Broken()
    backends = Backends(detector=b, embedder=b)
    s = [Sample(TRIGGER, picture("red"), picture("red"))]
    results = {r.name: r for r in evaluate_samples(s, spec(KEEP_HAT, DELETE_MARK), backends, {"hat": [picture()]})}
    assert results["keep fidelity"].value is None and "corrupt" in results["keep fidelity"].reason
    assert results["delete absence"].value == 1.0


def test_intent_score_combines_available_parts_and_shows_them(world):
    s = [
        Sample(TRIGGER, picture("red"), picture("red", watermark=True)),
        Sample(NEUTRAL, picture(), picture()),
    ]
    results = evaluate_samples(s, spec(KEEP_HAT, DELETE_MARK), world, {"hat": [context_crop(picture("red"), HAT_BOX)]})
    score = results[-1]
    parts = score.details["parts"]
    assert parts["delete absence"] == 0.0 and parts["keep fidelity"] == pytest.approx(1.0, abs=1e-5)
    assert score.value == pytest.approx(np.mean(list(parts.values())))
    assert "delete absence 0.00" in score.reason
    assert intent_score([]).value is None
