"""Profile pictures decoded and checked with Pillow, and re-encoded from their pixels alone.
Pillow's work is CPU-bound: callers run it in a worker thread."""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
}
NOT_AN_IMAGE = "Upload a valid JPEG, PNG or WebP image."


@dataclass(frozen=True)
class Picture:
    content: bytes
    extension: str


def clean_picture(data: bytes, *, max_bytes: int, max_side: int) -> Picture:
    """The image re-encoded from its pixels alone: no EXIF, GPS, ICC or text chunks survive."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(max_bytes)
    try:
        with warnings.catch_warnings():
            # Pillow warns, then refuses, past MAX_IMAGE_PIXELS: refuse at the warning.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise UnsupportedMediaType(NOT_AN_IMAGE)
            width, height = image.size
            if width > max_side or height > max_side:
                raise ValidationFailed.on(
                    "file", f"Image must be at most {max_side}x{max_side} pixels."
                )
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsupportedMediaType(NOT_AN_IMAGE) from None
    except (OSError, ValueError, SyntaxError):  # truncated or corrupt image data
        raise UnsupportedMediaType(NOT_AN_IMAGE) from None
    return _reencode(image)


def _reencode(image: Image.Image) -> Picture:
    image_format = image.format or "PNG"
    upright = ImageOps.exif_transpose(image)
    has_alpha = "A" in upright.getbands() or "transparency" in upright.info
    mode = "RGBA" if has_alpha and image_format != "JPEG" else "RGB"
    pixels = upright.convert(mode)
    clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if image_format == "JPEG":
        clean.save(out, "JPEG", quality=90, optimize=True)
    elif image_format == "WEBP":
        clean.save(out, "WEBP", quality=90)
    else:
        clean.save(out, "PNG", optimize=True)
    return Picture(content=out.getvalue(), extension=FORMATS[image_format][1])
