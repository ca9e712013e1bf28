"""Vision backends: detect concepts, segment them, embed images and text."""
