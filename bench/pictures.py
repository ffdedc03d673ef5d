"""Peak memory of one worker while profile pictures are uploaded at once (issue 13).

    .venv/bin/python -m bench.pictures                        # this checkout
    .venv/bin/python -m bench.pictures --root /tmp/baseline   # another checkout (git archive)

One uvicorn worker serves a fresh database `bench_pictures` on BENCH_DATABASE_URL's server;
eight uploads of a 4096x4096 16-bit RGBA PNG (about 140 kB each) are sent at once, and the
worker's resident set (VmRSS) and peak (VmHWM, from /proc) are read before and after.
"""

import argparse
import asyncio
import os
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx

from bench.cores import Cores
from bench.run import (
    ADMIN,
    ROOT,
    Service,
    database_url,
    python,
    service_env,
    sql,
)

SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NAME = "bench_pictures"


def png_16bit_rgba(width: int, height: int) -> bytes:
    """A valid 16-bit RGBA PNG of one colour: kilobytes compressed, 8 bytes a pixel inflated."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + b"\x12\x34\x56\x78\x9a\xbc\xff\xff" * width
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


async def upload_all(base: str, token: str, uploads: int, data: bytes) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        ids = []
        for n in range(uploads):
            body = {
                "password": "bench-password-1",
                "first_name": "Pic",
                "last_name": f"Ture{n}",
                "phone_no": f"+6{time.time_ns() % 10**10:010d}{n}",
                "allergies_and_medication": "",
                "date_of_birth": "1990-01-01",
                "sex": "O",
            }
            created = await client.post("/api/patients/", json=body)
            created.raise_for_status()
            ids.append(created.json()["id"])
        answers = await asyncio.gather(
            *(
                client.put(
                    f"/api/patients/{patient}/profile_picture/",
                    files={"file": ("deep.png", data, "image/png")},
                )
                for patient in ids
            )
        )
        return [answer.status_code for answer in answers]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--uploads", type=int, default=8, help="uploads sent at once")
    parser.add_argument("--side", type=int, default=4096, help="the PNG's width and height")
    options = parser.parse_args(argv)

    url = database_url(SERVER, NAME)
    sql(SERVER, f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)', f'CREATE DATABASE "{NAME}"')
    with tempfile.TemporaryDirectory(prefix="bench-pictures-") as out:
        env = {**service_env(url, Path(out), reuse=False), "ALLOWED_HOSTS": '["127.0.0.1"]'}
        python("-m", "app", "migrate", env=env, capture=True)
        python(
            *("-m", "app", "createsuperuser", "--username", ADMIN[0], "--password", ADMIN[1]),
            env=env,
            capture=True,
        )
        data = png_16bit_rgba(options.side, options.side)
        cpus = frozenset(os.sched_getaffinity(0))
        service = Service(
            env, cores=Cores(cpus, cpus), log=Path(out) / "service.log", root=options.root
        )
        try:
            service.wait_ready()
            token = service.token()
            ((_, rss_before, _),) = service.memory()
            statuses = asyncio.run(upload_all(service.base, token, options.uploads, data))
            ((_, rss_after, peak),) = service.memory()
        finally:
            service.stop()
    print(f"served: {options.root}")
    print(
        f"{options.uploads} parallel uploads of a {options.side}x{options.side} 16-bit RGBA PNG "
        f"({len(data) / 1024:.0f} KiB): statuses {sorted(statuses)}"
    )
    print(
        f"worker RSS before {rss_before:.0f} MiB, peak during {peak:.0f} MiB "
        f"(+{peak - rss_before:.0f} MiB), after {rss_after:.0f} MiB"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
