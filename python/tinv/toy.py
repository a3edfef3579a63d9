"""The toy world the bundled toy model was trained on (see docs/toy-world.md): procedural pictures
of one shape in one colour with a caption, and the checker that says which shape and colour a
picture shows."""

import ctypes

from . import _check, _lib
from .images import Image

#: Shape and colour names of the toy world.
SHAPES = ("circle", "square", "triangle", "ring", "cross")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")


def toy_draw(seed, side=32, shape=None, colour=None):
    """Draw one ``side`` x ``side`` picture from ``seed``; ``shape`` / ``colour`` force that
    attribute (a name from SHAPES / COLOURS) or are None for a random one. Returns
    ``(Image, caption)``."""
    seed = _check.seed(seed)
    side = _check.integer(side, "side", 16, 1024)
    shape = _check.text(shape, "shape", allow_none=True)
    colour = _check.text(colour, "colour", allow_none=True)
    shape = shape.encode() if isinstance(shape, str) else shape
    colour = colour.encode() if isinstance(colour, str) else colour
    rgb = (ctypes.c_uint8 * (side * side * 3))()
    caption = ctypes.create_string_buffer(256)
    _lib.check(_lib.api().tinv_toy_draw(seed, side, shape, colour, rgb, caption, len(caption)))
    return Image(bytes(rgb), side, side, 3), caption.value.decode()


def toy_classify(image):
    """The checker: ``(shape, colour)`` names that a square RGB :class:`Image` shows, or
    ``(None, None)`` when nothing stands out from the background."""
    if not isinstance(image, Image) or image.channels != 3 or image.width != image.height:
        raise TypeError("toy_classify expects a square RGB tinv.Image")
    shape, colour = ctypes.c_char_p(), ctypes.c_char_p()
    buf = (ctypes.c_uint8 * len(image.data)).from_buffer_copy(image.data)
    _lib.check(_lib.api().tinv_toy_classify(buf, image.width, ctypes.byref(shape), ctypes.byref(colour)))
    return (shape.value.decode() if shape.value else None, colour.value.decode() if colour.value else None)
