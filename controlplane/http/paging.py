"""The one pagination shape of list routes: `?limit=&offset=`, answered with
`{items, total, limit, offset}`."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from ..accounts.queries import MAX_PAGE_SIZE

DEFAULT_PAGE_SIZE = 50

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)]
MAX_OFFSET = 2**31 - 1
"""Past this, databases overflow their integer type (found by the schema fuzz test)."""

Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)]
