"""One decoded input record to an event, or to a rejection saying why it is not one.

A record is a festina event. A source that reads another format (ProactiveBench's trace
items: `gate.proactivebench`) names it explicitly and passes its adapter, which maps the
record to a festina event record first; nothing here guesses a format from a record's
shape. Every source, the HTTP API and the gate's training data read records through
here, so they all accept and refuse the same ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from core.events import Event, describe_validation_error
from core.sources import Rejection, SourceItem

logger = logging.getLogger("festina.sources")

#: Maps one decoded JSON object of an input format to a festina event record, given the
#: record's origin and 1-based position; raises ValueError (the reason) for one it cannot.
RecordAdapter = Callable[[dict[str, Any], str, int], dict[str, Any]]


def record_to_item(
    record: Any,
    *,
    origin: str,
    position: int,
    raw: str,
    adapt: RecordAdapter | None = None,
) -> SourceItem:
    """Validate one decoded record, first mapped by `adapt` when the input is of another
    format; a bad record becomes a `Rejection` with the reason."""
    try:
        if not isinstance(record, dict):
            return Rejection(
                origin, position, f"expected a JSON object, got {type(record).__name__}", raw
            )
        if adapt is None:
            record = {"source": f"jsonl:{origin}", **record}
        else:
            record = adapt(record, origin, position)
        return Event.model_validate(record)
    except ValidationError as error:
        return Rejection(origin, position, describe_validation_error(error), raw)
    except ValueError as error:  # from the adapter: not a record of its format
        return Rejection(origin, position, str(error), raw)
    except Exception as error:
        # A fault in validation must cost this one record, kept whole for a retry, never
        # the stream or the valid records sent with it.
        logger.exception("validating record %s:%d failed", origin, position)
        return Rejection(origin, position, f"internal error validating it: {error!r}", raw)
