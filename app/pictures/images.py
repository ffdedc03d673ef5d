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


def clean_picture(data: bytes, *, max_bytes: int, max_side: int, max_decoded_bytes: int) -> Picture:
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
            mode = _target_mode(image)
            if decoded_bytes(width, height, image.mode, mode) > max_decoded_bytes:
                raise too_large_to_decode(max_decoded_bytes)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # A real image, past Pillow's own ceiling (89 Mpx) before its size could be read: the
        # decode limit's rule failed, not the format's.
        raise too_large_to_decode(max_decoded_bytes) from None
    except UnidentifiedImageError:
        raise UnsupportedMediaType(NOT_AN_IMAGE) from None
    except (OSError, ValueError, SyntaxError):  # truncated or corrupt image data
        raise UnsupportedMediaType(NOT_AN_IMAGE) from None
    return _reencode(image, mode)


def too_large_to_decode(max_decoded_bytes: int) -> ValidationFailed:
    return ValidationFailed.on(
        "file",
        f"Image is too large to decode: at most {_mib(max_decoded_bytes)} of pixels "
        "(width x height x bytes per pixel).",
    )


def decoded_bytes(width: int, height: int, *modes: str) -> int:
    """Bytes Pillow allocates for the pixels in the widest of `modes`: 1 a pixel for 1, L and P,
    2 for I;16, 4 for every other mode (RGB included, and 16-bit PNG RGB(A), narrowed to 8 bits
    a sample as it is decoded)."""
    return width * height * max(_PIXEL_BYTES.get(mode, 4) for mode in modes)


_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


def _mib(n_bytes: int) -> str:
    mib, rest = divmod(n_bytes, 1024 * 1024)
    return f"{mib} MiB" if not rest else f"{n_bytes} bytes"


def _target_mode(image: Image.Image) -> str:
    """The mode the picture is re-encoded in, known from the header alone."""
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return "RGBA" if has_alpha and image.format != "JPEG" else "RGB"


def _reencode(image: Image.Image, mode: str) -> Picture:
    # At most two copies of the pixels at any time: the decoded ones and the clean ones.
    image_format = image.format or "PNG"
    ImageOps.exif_transpose(image, in_place=True)
    pixels = image.convert(mode)
    image.close()
    clean = Image.new(mode, pixels.size)  # no info, EXIF or ICC profile to carry over
    clean.paste(pixels)
    pixels.close()
    out = io.BytesIO()
    if image_format == "JPEG":
        clean.save(out, "JPEG", quality=90, optimize=True)
    elif image_format == "WEBP":
        clean.save(out, "WEBP", quality=90)
    else:
        clean.save(out, "PNG", optimize=True)
    return Picture(content=out.getvalue(), extension=FORMATS[image_format][1])
