"""Word lists the offline rule parser reads: intent cues, negators, fillers, noun classes, values, domains."""

from __future__ import annotations

import functools
import gzip
import importlib.util
from enum import StrEnum
from pathlib import Path


class Cue(StrEnum):
    """What a cue word says about the concept near it (more than the three spec operations)."""

    KEEP = "keep"
    MODIFY = "modify"
    DELETE = "delete"
    IGNORE = "ignore"  # "doesn't matter": not learned, left as the base model draws it
    FORGET = "forget"  # "never mind the jacket": take the concept out of the spec
    WANT = "want"  # weak: "I want the jacket" keeps, "I don't want the watermark" deletes
    NO = "no"  # weak: "no watermark" deletes when nothing stronger is said
    NEGATE = "negate"


# Phrases, base forms only; inflections ("kept", "removing", "stays") are generated below.
_PHRASES: dict[Cue, list[str]] = {
    Cue.KEEP: [
        "keep", "preserve", "retain", "maintain", "stay", "remain", "unchanged", "intact", "same",
        "the same", "as is", "as it is", "consistent", "fixed", "constant", "learn", "capture", "faithful",
        "identical", "protect", "hold on to", "stick with", "important", "matter", "essential", "crucial",
        "focus on", "include", "reproduce", "lock", "leave", "untouched", "unaltered", "unmodified",
        "must have", "always have", "carry over", "recognisable", "recognizable", "accurate", "exact",
        "appear", "show up", "visible", "present", "stand out", "hold", "freeze", "frozen", "pin",
        "stay true", "true to", "same as", "consistent with", "persist", "keep as is", "not go", "never go",
    ],
    Cue.MODIFY: [
        "change", "vary", "variable", "varied", "variation", "different", "differ", "flexible", "editable",
        "swap", "switch", "alter", "adjust", "modify", "become", "any", "free", "free to change",
        "random", "randomise", "randomize", "promptable", "controllable", "customisable", "customizable",
        "interchangeable", "touch", "replace", "recolour", "recolor", "repaint", "restyle", "up to the prompt", "diverse",
        "whichever", "any other", "mix up", "mix", "shuffle", "alternate", "interchange", "is open",
        "are open", "open to", "up to you", "up to the model", "your call", "your choice", "optional",
        "up for grabs", "can differ", "randomly",
    ],
    Cue.DELETE: [
        "remove", "delete", "get rid of", "rid of", "drop", "lose", "strip", "erase", "eliminate",
        "exclude", "without", "ditch", "avoid", "hide", "clean up", "take out", "take away", "leave out",
        "cut out", "filter out", "omit", "must go", "has to go", "have to go", "go away", "free of",
        "unwanted", "scrub", "purge", "mask out", "gone", "disappear", "vanish", "skip", "ban", "nuke",
        "clean off", "wipe", "get out", "can go", "should go", "need to go", "needs to go", "got to go",
        "gotta go", "be gone", "goes", "scrap", "chuck", "toss", "kill", "dump", "cut", "take off", "crop out",
        "edit out", "paint out", "inpaint", "clear away", "wipe away", "blur out",
    ],
    Cue.IGNORE: [
        "not matter", "no matter", "not care", "not care less", "care less", "not important", "unimportant", "irrelevant",
        "whatever", "anything", "ignore", "not bother", "not mind", "not relevant",
        "disregard", "who care", "not a concern", "not concern", "not fuss", "arbitrary", "any old",
        "does not count", "not count", "not worry", "no preference", "not picky", "not make a difference",
    ],
    Cue.FORGET: ["never mind", "forget about", "forget", "scratch", "no need to mention"],
    Cue.WANT: ["want", "need", "needed", "love", "prefer", "wish", "would like", "show", "see"],
    Cue.NO: ["no", "none"],
    Cue.NEGATE: ["not", "never", "no longer", "stop", "nor", "neither", "no more", "any more", "anymore",
                 "nothing", "no need to", "not necessary to", "need not", "no reason to"],
}

_IRREGULAR = {
    "keep": ["kept"], "lose": ["lost"], "get": ["got", "gotten"], "hold": ["held"],
    "become": ["became"], "see": ["seen", "saw"], "have": ["has", "had"], "forget": ["forgot", "forgotten"],
    "go": ["goes", "went"], "stick": ["stuck"], "show": ["shown"], "take": ["took", "taken"],
    "wipe": ["wiped"], "care": ["cares", "cared"], "freeze": ["froze"],
}


def forms(word: str) -> frozenset[str]:
    """The base form, its common English inflections and its irregular forms."""
    out = {word, word + "s", word + "es", word + "ed", word + "d", word + "ing"}
    if word.endswith("e"):
        out.add(word[:-1] + "ing")
    if word.endswith("y"):
        out |= {word[:-1] + "ies", word[:-1] + "ied"}
    if len(word) > 2 and word[-1] not in "aeiouwy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        out |= {word + word[-1] + "ed", word + word[-1] + "ing"}  # strip -> stripped, drop -> dropping
    out.update(_IRREGULAR.get(word, []))
    return frozenset(out)


def singular(word: str) -> str:
    """"eyes" -> "eye" when a noun becomes a modifier ("eye colour")."""
    if word in {"glasses", "trousers", "pants", "jeans", "shorts", "clothes", "sunglasses", "goggles"}:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


# Words whose inflections would collide with other meanings are matched literally.
_LITERAL = {"same", "the", "as", "is", "it", "any", "other", "free", "open", "not", "no", "none", "never",
            "nor", "neither", "more", "anymore", "anything", "whatever", "whichever", "gone", "out", "of",
            "to", "on", "up", "you", "a", "away", "old", "with", "without", "over", "off", "less", "who",
            "true", "your", "call", "choice", "for", "grabs", "are", "model", "nothing", "need", "reason",
            "necessary", "optional", "randomly", "frozen", "persist", "goes", "scratch"}

CUE_TABLE: list[tuple[tuple[frozenset[str], ...], Cue]] = sorted(
    (
        (tuple(frozenset({w}) if w in _LITERAL else forms(w) for w in phrase.split()), cue)
        for cue, phrases in _PHRASES.items()
        for phrase in phrases
    ),
    key=lambda entry: -len(entry[0]),
)

CONTRACTIONS = {
    "don't": "do not", "doesn't": "does not", "didn't": "did not", "shouldn't": "should not",
    "can't": "can not", "cannot": "can not", "won't": "will not", "wouldn't": "would not",
    "isn't": "is not", "aren't": "are not", "mustn't": "must not", "needn't": "need not",
    "couldn't": "could not", "wasn't": "was not", "weren't": "were not", "shan't": "shall not",
    "i'd": "i would", "i'm": "i am", "let's": "let us", "it's": "it is", "that's": "that is",
}
# Typed without the apostrophe; "wont" and "cant" stay out, they are words too.
CONTRACTIONS |= {short.replace("'", ""): long for short, long in CONTRACTIONS.items()
                 if short.endswith("n't") and short not in {"won't", "can't"}}

INTENSIFIERS = {"really", "truly", "particularly", "especially", "very", "much"}

# Discourse words that open a clause and change how it combines with the rest.
CORRECTIONS = {"actually", "instead", "rather", "wait", "correction", "oops", "sorry", "no"}
ADDITIVE = {"also", "too", "additionally", "plus", "besides", "furthermore", "moreover", "again"}

SPLIT_WORDS = {"and", "but", "while", "whereas", "though", "although", "however", "yet", "plus"}
SPLIT_PHRASES = ["as well as", "along with", "together with", "on the other hand", "apart from that"]
# "remove everything except the face": what follows gets the opposite of what came before.
EXCEPT_WORDS = ["except for", "except", "excluding", "apart from", "other than", "save for"]

DETERMINERS = {
    "the", "a", "an", "her", "his", "their", "its", "my", "our", "your", "this", "that", "these", "those",
    "some", "all", "every", "each", "whole", "entire", "both", "any", "zis", "such", "teh", "hte", "tha",
}
PRONOUNS = {"it", "them", "they", "that", "this", "those", "these", "one", "ones", "thing"}

FILLER = {
    "i", "we", "you", "me", "us", "please", "pls", "just", "only", "really", "very", "so", "then", "there",
    "here", "can", "could", "may", "might", "should", "must", "will", "would", "shall", "be", "is", "are",
    "was", "were", "been", "being", "am", "do", "does", "did", "to", "make", "sure", "let", "lets",
    "allowed", "able", "totally", "completely", "entirely", "definitely", "always", "fully", "exactly",
    "well", "okay", "ok", "oh", "hey", "hmm", "yes", "yeah", "think", "guess", "feel", "lora", "model",
    "training", "train", "trained", "also", "too", "additionally", "plus", "again", "actually", "instead",
    "rather", "wait", "correction", "oops", "sorry", "much", "more", "less", "either", "whether", "get",
    "try", "kindly", "go", "ahead", "what", "how", "about", "regarding", "concerning", "now",
    "from", "image", "images", "picture", "pictures", "photo", "photos", "dataset", "data", "of", "course",
    "mind", "honestly", "basically", "probably", "need", "needs", "want", "wants",
    "something", "someone", "part", "parts", "properly", "exact", "as", "possible", "ever", "thats",
    "said", "say", "have", "has", "had", "got", "though", "anyway", "anyways", "bit", "lot", "everything", "he", "she",
    "else", "rest", "remainder", "stuff", "anything", "nothing", "across", "generated", "output",
    "outputs", "results", "every", "time", "times", "shot", "shots", "ought", "fine", "acceptable", "pick",
    "choose", "way", "alone", "everywhere", "anywhere", "throughout", "consistently",
}
# Modal words: "can be blue or green" permits values (modify), "should be white" states the one it has (keep).
PERMIT_MODALS = {"can", "could", "may", "might"}
OBLIGE_MODALS = {"should", "must", "shall", "will", "ought", "always", "has", "have", "needs", "need"}
OBLIGE_MODALS |= {"sure"}  # "make sure the background is white"
HAVE = {"has", "have", "needs", "need"}
# An auxiliary alone stands for the verb said before it ("the hat can change, the scarf can't").
AUXILIARIES = {"can", "could", "may", "might", "should", "must", "will", "would", "shall", "do", "does", "did"}
ELLIPSIS_WORDS = AUXILIARIES | {"not", "never", "nor", "neither", "so", "too", "either", "please", "though",
                                "i", "we", "you", "actually"}
# Verbs of having: "she should have red hair", "he must wear glasses" state what is kept.
POSSESSION = {"have", "has", "wear", "wears", "carry", "carries"}  # obliging only before "to": "has to be white", not "has a watermark"
# Keep-cues about sameness rather than presence: "needn't stay the same" lets it vary, "needn't stay" drops it.
SAMENESS = {"same", "unchanged", "consistent", "identical", "constant", "fixed", "intact", "untouched",
            "unaltered", "unmodified", "faithful", "accurate", "exact", "frozen", "as"}
# Delete-cues that negate the verb after them: "avoid changing the eyes" keeps them.
NEGATING_VERBS = {"avoid", "without", "skip", "ban"} | forms("avoid")
# Verbs that give their object a new value: "make the hair blonde", "turn the shirt green".
CAUSATIVE_VERBS = {"make", "turn", "paint", "dye", "colour"}
CAUSATIVE_FORMS = frozenset().union(*(forms(v) for v in CAUSATIVE_VERBS)) | {"made"}
# Determiners after which a cue word is a noun: "the scratches", "a drop of water".
ARTICLES = {"the", "a", "an", "her", "his", "their", "its", "my", "our", "your", "some", "each", "every",
            "these", "those"}
# Words for "all the rest": a clause about them names no concept ("everything else can change").
QUANTIFIERS = {"everything", "else", "rest", "remainder", "anything", "stuff", "others"}
# Verbs that end a noun phrase ("what the sky looks like", "the girl wears a hat").
PHRASE_ENDING_VERBS = {
    "look", "looks", "looked", "looking", "wear", "wears", "wearing", "seem", "seems", "shows", "gets",
    "appears", "sits", "stands", "holds", "goes", "comes", "turns", "ends", "happens",
}
# Words that open a condition ("if there's a watermark, drop it"): the clause names, the next one instructs.
CONDITION_WORDS = {"if", "when", "whenever", "wherever", "in case", "in the case", "where"}

# Words after which the noun phrase is over (its tail is examined for values only).
CUT_WORDS = {
    "in", "on", "at", "near", "behind", "from", "to", "into", "that", "which", "who", "where", "when",
    "because", "as", "if", "for", "with", "by", "across", "around", "over", "under", "like", "so",
    "since", "unless", "until", "than", "whenever", "wherever", "become", "becomes", "or", "per",
}

# Attributes that belong to whatever was just named ("keep the jacket, its colour can change").
GENERIC_ATTRIBUTES = {"colour", "color", "size", "shape", "length", "material", "pattern", "texture", "finish",
                      "fabric", "thickness", "width", "height", "shade", "hue", "tone"}
ATTRIBUTE_NOUNS = {
    "colour", "color", "colours", "colors", "length", "texture", "size", "shape", "pattern", "material",
    "hairstyle", "haircut", "expression", "pose", "tone", "shade", "hue", "finish", "print", "fit",
    "thickness", "width", "height", "age", "fabric", "brightness", "saturation",
    "style",
}
IMAGERY_NOUNS = {
    "background", "backgrounds", "backdrop", "setting", "scene", "scenery", "surroundings", "environment",
    "lighting", "light", "lights", "illumination", "shadows", "style", "mood", "atmosphere", "palette",
    "scheme", "grading", "composition", "framing", "angle", "perspective", "weather", "season", "vibe",
    "aesthetic", "look", "grain", "rendering", "medium", "artstyle", "colours", "colors", "sky", "landscape",
    "location", "place", "time of day", "camera", "strokes", "stroke", "brushstrokes", "brushwork",
    "linework", "lineart", "shading", "hatching", "inking", "cel", "cel-shading", "impasto", "bokeh",
    "contrast", "exposure", "depth of field",
}
# In a style LoRA these name the style itself, which the trigger word carries.
STYLE_SUBJECTS = {"style", "look", "aesthetic", "artstyle", "art style", "vibe", "feel"}
# In a style LoRA these are the look of the whole picture, not things in it ("the lines", "the paper").
STYLE_IMAGERY_NOUNS = {"lines", "line", "outlines", "ink", "paint", "paper", "edges", "textures", "texture",
                       "details", "detail", "colours", "colors", "brush", "wash", "washes", "gradients"}
# "style" is imagery on its own and after these words; after anything else ("hair style") an attribute.
IMAGERY_STYLE_PREFIXES = {"art", "drawing", "painting", "visual", "artistic", "rendering", "overall",
                          "image", "photo", "illustration", "anime", "cartoon", "graphic", "colour", "color"}
# Marks that "ignore" should strip rather than leave to the base model.
ARTEFACT_NOUNS = {
    "watermark", "watermarks", "logo", "logos", "signature", "signatures", "text", "caption", "border",
    "frame", "timestamp", "artifacts", "artefacts", "noise", "blur", "stamp", "username", "url",
    "copyright", "jpeg", "compression", "banner", "label", "sticker", "lettering", "writing",
}

VALUES: dict[str, set[str]] = {
    "colour": {
        "red", "blue", "green", "black", "white", "yellow", "orange", "purple", "pink", "brown", "grey",
        "gray", "silver", "gold", "golden", "blonde", "blond", "teal", "cyan", "magenta", "beige", "violet",
        "navy", "crimson", "turquoise", "ginger", "auburn", "brunette", "platinum", "lilac", "maroon",
        "neon", "pastel", "khaki", "indigo", "scarlet", "burgundy", "lavender", "ivory", "charcoal", "emerald",
        "cream", "bronze", "copper", "colourful", "monochrome", "multicoloured",
    },
    "length": {"short", "long", "medium", "shoulder-length", "cropped"},
    "texture": {"curly", "straight", "wavy", "smooth", "rough", "fluffy", "glossy", "matte", "shiny"},
    "material": {"leather", "denim", "wool", "cotton", "silk", "metal", "wooden", "plastic", "velvet"},
    "pattern": {"striped", "checked", "plaid", "spotted", "floral", "dotted", "plain"},
    "size": {"small", "large", "big", "tiny", "huge", "tall", "little", "oversized", "thin", "thick"},
}
VALUE_CATEGORY = {word: category for category, words in VALUES.items() for word in words}

# Subject words that set the spec's domain ("my character zxq", "a style lora").
DOMAIN_NOUNS = {
    "character": "character", "person": "character", "girl": "character", "boy": "character",
    "woman": "character", "man": "character", "oc": "character", "mascot": "character",
    "avatar": "character", "self": "character", "selfie": "character", "face": "character",
    "style": "style", "artstyle": "style", "aesthetic": "style", "artist": "style", "painter": "style",
    "illustrator": "style", "ocs": "character", "people": "character", "waifu": "character",
    "object": "object", "product": "object", "item": "object", "toy": "object", "mug": "object",
    "bottle": "object", "shoe": "object", "shoes": "object", "car": "object", "bag": "object",
    "dog": "animal", "cat": "animal", "pet": "animal", "animal": "animal", "puppy": "animal",
    "place": "scene", "building": "scene", "room": "scene", "landscape": "scene", "location": "scene",
}

# The subject itself, whose possessive adds nothing to a concept's name: "the mascot's outfit" is the outfit.
SUBJECT_NOUNS = {word for word, domain in DOMAIN_NOUNS.items() if domain in {"character", "animal"}} - {
    "face", "self", "selfie"} | {"subject"}

# Words that are never a trigger even though no dictionary lists them.
MODEL_WORDS = {"lora", "loras", "sdxl", "sd", "sd1", "sd15", "sd2", "sd21", "flux", "lycoris", "locon", "ckpt",
               "dreambooth", "safetensors", "textual", "ai", "pls", "plz", "thx", "ok", "okay", "pic", "pics",
               "img", "imgs", "bg", "teh", "hte", "tha", "u", "ur", "im", "ive", "dont", "doesnt", "cant"}
# A word whose CLIP BPE rank is below this is common enough to be a word, not a made-up trigger.
COMMON_RANK = 30_000


@functools.cache
def _dictionary() -> frozenset[str]:
    """English words from the english-words lists (web2 + gcide); empty when the package is missing."""
    try:
        from english_words import get_english_words_set
    except ImportError:
        return frozenset()
    return frozenset(get_english_words_set(["web2", "gcide"], lower=True, alpha=True))


@functools.cache
def _clip_ranks() -> dict[str, int]:
    """Whole-word tokens of the CLIP BPE vocabulary open_clip ships, by merge rank (lower = more common)."""
    spec = importlib.util.find_spec("open_clip")  # finds the package without importing it (and torch)
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        return {}
    ranks: dict[str, int] = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        next(handle)  # version line
        for rank, line in enumerate(handle):
            if rank >= 49152 - 256 - 2:  # the merges CLIP's tokenizer uses
                break
            parts = line.split()
            if len(parts) == 2 and parts[1].endswith("</w>"):
                ranks.setdefault((parts[0] + parts[1])[:-4], rank)
    return ranks


@functools.cache
def _known() -> frozenset[str]:
    """Every word this lexicon itself uses."""
    words: set[str] = set()
    for table in (FILLER, DETERMINERS, PRONOUNS, CUT_WORDS, ATTRIBUTE_NOUNS, IMAGERY_NOUNS, ARTEFACT_NOUNS,
                  STYLE_IMAGERY_NOUNS, PHRASE_ENDING_VERBS, INTENSIFIERS, SPLIT_WORDS, MODEL_WORDS,
                  set(DOMAIN_NOUNS), set(VALUE_CATEGORY)):
        words |= set(table)
    for phrase, _ in CUE_TABLE:
        for options in phrase:
            words |= options
    return frozenset(words)


def _stems(word: str) -> set[str]:
    out = {word}
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"),
                         ("ly", ""), ("er", ""), ("est", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            out.add(word[: -len(suffix)] + repl)
    return out


def is_word(token: str) -> bool:
    """True for an ordinary English word (or one of the lexicon's); False for a rare made-up token like 'sks'."""
    word = token.lower().strip("'\"")
    if not word or any(ch.isdigit() or ch == "_" for ch in word):
        return False  # "zxq9", "mirabel_v2": names, not words
    if "-" in word:
        return all(is_word(part) for part in word.split("-") if part)
    if word in _known():
        return True
    dictionary = _dictionary()
    if any(stem in dictionary for stem in _stems(word)):
        return True
    rank = _clip_ranks().get(word)
    return rank is not None and rank < COMMON_RANK
