from tuitune.evaluate.prompts import PromptKind, alternative_prompt, build_prompts, concept_noun
from tuitune.intent.spec import Concept, IntentSpec


def _spec() -> IntentSpec:
    return IntentSpec(
        trigger_words=["zxq"],
        domain="character",
        concepts=[
            Concept(name="face", granularity="instance", operation="keep", references=[1]),
            Concept(name="hair colour", granularity="attribute", operation="modify", value="red",
                    alternatives=["blue", "green"]),
            Concept(name="watermark", granularity="instance", operation="delete"),
        ],
    )


def test_one_prompt_per_alternative_and_seed_names_the_value():
    prompts = build_prompts(_spec(), seeds=[1, 2])
    alts = prompts.of_kind(PromptKind.ALTERNATIVE)
    assert {(p.text, p.alternative) for p in alts} == {
        ("zxq with blue hair", "blue"), ("zxq with green hair", "green")
    }
    assert sorted(p.seed for p in alts) == [1, 1, 2, 2]
    assert all(p.concept == "hair colour" for p in alts)


def test_trigger_prompts_carry_the_trigger_and_neutral_ones_do_not():
    prompts = build_prompts(_spec())
    assert prompts.of_kind(PromptKind.TRIGGER)
    assert all("zxq" in p.text for p in prompts.of_kind(PromptKind.TRIGGER))
    neutral = prompts.of_kind(PromptKind.NEUTRAL)
    assert neutral and all("zxq" not in p.text for p in neutral)


def test_exact_training_captions_are_left_out_case_and_space_insensitively():
    prompts = build_prompts(
        _spec(),
        training_captions=["ZXQ  with blue hair", "a picture of zxq"],
        trigger_templates=["{t}", "a picture of {t}"],
    )
    texts = {p.text for p in prompts.prompts}
    assert "zxq with blue hair" not in texts and "a picture of zxq" not in texts
    assert "zxq with green hair" in texts and "zxq" in texts
    assert set(prompts.excluded) == {"zxq with blue hair", "a picture of zxq"}


def test_attribute_of_the_whole_subject_reads_as_adjective():
    colour = Concept(name="colour", granularity="attribute", operation="modify", alternatives=["blue"])
    jacket = Concept(name="jacket", granularity="instance", operation="modify", alternatives=["green"])
    assert concept_noun(colour) == ""
    assert alternative_prompt("zxq", colour, "blue") == "a blue zxq"
    assert alternative_prompt("zxq", jacket, "green") == "zxq with a green jacket"


def test_spec_without_trigger_still_gives_neutral_prompts_and_says_why():
    prompts = build_prompts(IntentSpec(trigger_words=[]))
    assert prompts.prompts and all(p.kind is PromptKind.NEUTRAL for p in prompts.prompts)
    assert any("no trigger word" in n for n in prompts.notes)


def test_prompt_set_round_trips_through_json():
    prompts = build_prompts(_spec())
    again = type(prompts).from_json(prompts.to_json())
    assert again.prompts == prompts.prompts
