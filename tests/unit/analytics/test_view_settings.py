"""The views' settings: off by default; the facility's time zone must be an IANA name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gruponos.settings.model import SinkSettings


def test_views_are_off_by_default_and_a_zone_is_optional() -> None:
    sink = SinkSettings()
    assert sink.views is False
    assert sink.time_zone is None
    assert SinkSettings(time_zone="America/Mexico_City").time_zone == "America/Mexico_City"


@pytest.mark.parametrize("zone", ["Mars/Base", "UTC'; drop table x --", ""])
def test_a_zone_that_is_not_iana_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="must be an IANA time zone"):
        SinkSettings(time_zone=zone)
