"""One decoded input record to an event, or to a rejection saying why it is not one.

A record is either a festina event or a ProactiveBench trace item; the two shapes are told
apart by ProactiveBench's `observation` key. Every source, the HTTP API and the gate's
training data read records through here, so they all accept and refuse the same ones.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from core import proactivebench
from core.events import Event, describe_validation_error
from core.sources import Rejection, SourceItem

logger = logging.getLogger("festina.sources")


def record_to_item(record: Any, *, origin: str, position: int, raw: str) -> SourceItem:
    """Validate one decoded record; a bad record becomes a `Rejection` with the reason."""
    try:
        if proactivebench.is_proactivebench_item(record):
            record = proactivebench.to_event_record(record, trace=origin, step=position)
        elif isinstance(record, dict):
            record = {"source": f"jsonl:{origin}", **record}
        else:
            return Rejection(
                origin, position, f"expected a JSON object, got {type(record).__name__}", raw
            )
        return Event.model_validate(record)
    except ValidationError as error:
        return Rejection(origin, position, describe_validation_error(error), raw)
    except ValueError as error:  # from converting a ProactiveBench item
        return Rejection(origin, position, str(error), raw)
    except Exception as error:
        # A fault in validation must cost this one record, kept whole for a retry, never
        # the stream or the valid records sent with it.
        logger.exception("validating record %s:%d failed", origin, position)
        return Rejection(origin, position, f"internal error validating it: {error!r}", raw)
