"""What an uploaded document really is, from its bytes alone (never the client's name or media
type): a PDF that pypdf can read, or a JPEG, PNG or WebP image that Pillow decodes whole.
Parsing is CPU-bound: callers run it in a worker thread."""

import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader

from app.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from app.pictures.images import FORMATS, decoded_bytes, too_large_to_decode

PDF = ("application/pdf", ".pdf")
NOT_A_DOCUMENT = "Upload a PDF, or a JPEG, PNG or WebP image."
EMPTY = "The submitted file is empty."

# pypdf logs what it repairs in a damaged file, quoting the file: never in our logs.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    extension: str


def sniff(data: bytes, *, max_bytes: int, max_decoded_bytes: int) -> Sniffed:
    """The document's media type, once its bytes parse as one; 413 past `max_bytes`, 415 for
    anything else, 400 for an empty file or an image too large to decode."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(max_bytes)
    if not data:
        raise ValidationFailed.on("file", EMPTY)
    if data.lstrip()[:5] == b"%PDF-":
        return _pdf(data)
    return _image(data, max_decoded_bytes)


def _pdf(data: bytes) -> Sniffed:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # The pages of a password-protected file cannot be counted: its structure parsed.
            return Sniffed(*PDF)
        if len(reader.pages) < 1:
            raise UnsupportedMediaType(NOT_A_DOCUMENT)
    except UnsupportedMediaType:
        raise
    except Exception:  # pypdf raises many kinds for a damaged or forged file
        raise UnsupportedMediaType(NOT_A_DOCUMENT) from None
    return Sniffed(*PDF)


def _image(data: bytes, max_decoded_bytes: int) -> Sniffed:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in FORMATS:
                    raise UnsupportedMediaType(NOT_A_DOCUMENT)
                width, height = image.size
                if decoded_bytes(width, height, image.mode) > max_decoded_bytes:
                    raise too_large_to_decode(max_decoded_bytes)
                image.load()  # a truncated or corrupt image fails here
                media_type, extension = FORMATS[image.format]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # A real image past Pillow's own ceiling, found before its size could be read: the
        # decode limit's rule failed, as for a picture, not the format's.
        raise too_large_to_decode(max_decoded_bytes) from None
    except UnidentifiedImageError:
        raise UnsupportedMediaType(NOT_A_DOCUMENT) from None
    except (OSError, ValueError, SyntaxError):
        raise UnsupportedMediaType(NOT_A_DOCUMENT) from None
    return Sniffed(media_type, extension)
