"""Word lists the offline rule parser reads: intent cues, negators, fillers, noun classes, values, domains."""

from __future__ import annotations

from enum import StrEnum


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
        "appear", "show up", "visible", "present", "stand out",
    ],
    Cue.MODIFY: [
        "change", "vary", "variable", "varied", "variation", "different", "differ", "flexible", "editable",
        "swap", "switch", "alter", "adjust", "modify", "become", "any", "free", "free to change",
        "random", "randomise", "randomize", "promptable", "controllable", "customisable", "customizable",
        "interchangeable", "touch", "replace", "recolour", "recolor", "up to the prompt", "diverse",
        "whichever", "any other",
    ],
    Cue.DELETE: [
        "remove", "delete", "get rid of", "rid of", "drop", "lose", "strip", "erase", "eliminate",
        "exclude", "without", "ditch", "avoid", "hide", "clean up", "take out", "take away", "leave out",
        "cut out", "filter out", "omit", "must go", "has to go", "have to go", "go away", "free of",
        "unwanted", "scrub", "purge", "mask out", "gone", "disappear", "vanish", "skip", "ban", "nuke",
        "clean off", "wipe", "get out", "can go", "should go", "need to go", "needs to go", "got to go",
        "gotta go", "be gone",
    ],
    Cue.IGNORE: [
        "not matter", "no matter", "not care", "not care less", "care less", "not important", "unimportant", "irrelevant",
        "whatever", "anything", "ignore", "not bother", "not mind", "up to you", "not relevant",
        "disregard", "who care", "not a concern", "not concern", "not fuss", "arbitrary", "any old",
        "does not count", "not count",
    ],
    Cue.FORGET: ["never mind", "forget about", "forget", "scratch", "no need to mention"],
    Cue.WANT: ["want", "need", "love", "prefer", "wish", "would like", "show", "see"],
    Cue.NO: ["no", "none"],
    Cue.NEGATE: ["not", "never", "no longer", "stop", "nor", "neither", "no more", "any more", "anymore"],
}

_IRREGULAR = {
    "keep": ["kept"], "lose": ["lost"], "get": ["got", "gotten"], "hold": ["held"],
    "become": ["became"], "see": ["seen", "saw"], "have": ["has", "had"], "forget": ["forgot", "forgotten"],
    "go": ["goes", "went"], "stick": ["stuck"], "show": ["shown"], "take": ["took", "taken"],
    "wipe": ["wiped"], "care": ["cares", "cared"],
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


# Words whose inflections would collide with other meanings are matched literally.
_LITERAL = {"same", "the", "as", "is", "it", "any", "other", "free", "open", "not", "no", "none", "never",
            "nor", "neither", "more", "anymore", "anything", "whatever", "whichever", "gone", "out", "of",
            "to", "on", "up", "you", "a", "away", "old", "with", "without", "over", "off", "less", "who"}

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
    "some", "all", "every", "each", "whole", "entire", "both", "any", "zis", "such",
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
}

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
    "location", "place", "time of day", "camera",
}
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
    },
    "length": {"short", "long", "medium", "shoulder-length", "cropped"},
    "texture": {"curly", "straight", "wavy", "smooth", "rough", "fluffy", "glossy", "matte", "shiny"},
    "material": {"leather", "denim", "wool", "cotton", "silk", "metal", "wooden", "plastic", "velvet"},
    "pattern": {"striped", "checked", "plaid", "spotted", "floral", "dotted", "plain"},
}
VALUE_CATEGORY = {word: category for category, words in VALUES.items() for word in words}

# Subject words that set the spec's domain ("my character zxq", "a style lora").
DOMAIN_NOUNS = {
    "character": "character", "person": "character", "girl": "character", "boy": "character",
    "woman": "character", "man": "character", "oc": "character", "mascot": "character",
    "avatar": "character", "self": "character", "selfie": "character", "face": "character",
    "style": "style", "artstyle": "style", "aesthetic": "style",
    "object": "object", "product": "object", "item": "object", "toy": "object", "mug": "object",
    "bottle": "object", "shoe": "object", "shoes": "object", "car": "object", "bag": "object",
    "dog": "animal", "cat": "animal", "pet": "animal", "animal": "animal", "puppy": "animal",
    "place": "scene", "building": "scene", "room": "scene", "landscape": "scene", "location": "scene",
}
