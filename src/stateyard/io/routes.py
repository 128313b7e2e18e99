"""``GET /download/<link>``: stream an export an action planned.

The link's signature and expiry are checked, then the export is planned again with the
permissions its requester has now, and the first chunk is produced before the answer
starts, so every refusal is still a problem+json and not a broken download.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Stream

from stateyard.core.http import platform_of


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


@get("/download/{link:str}", name="exports:download")
async def download(request: Request[Any, Any, Any], link: FromPath[str]) -> Stream:
    """The file of an export; the link comes from ``POST /action/<entity>/export``."""
    exports = platform_of(request).exports
    subject, entity, spec = await exports.resolve_link(link)
    plan = await exports.plan(subject, entity, spec)
    chunks = exports.stream(subject, plan)
    first = await anext(chunks)
    name = f"{plan.model.name}.{plan.writer.extension}"
    return Stream(
        _prepend(first, chunks),
        media_type=plan.writer.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


ROUTES = [download]
