"""What every operator command checks before it starts anything (marac_platform.preflight)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from marac_platform.areas import AreaConfigError, parse_areas
from marac_platform.preflight import Port, PortInUse, check_ports, check_settings
from marac_platform.settings import SettingsError

AREA = {"id": "testshire", "name": "Testshire MARAC", "confidentiality_statement": "x",
        "agencies": [{"id": "police", "name": "Police", "isa_signed": True}]}


def test_an_unknown_key_of_an_area_is_refused_naming_it() -> None:
    # It used to be dropped without a word, leaving retention at its default.
    document: Any = yaml.safe_load(yaml.safe_dump({"areas": [{**AREA, "retention_day": 30}]}))
    with pytest.raises(AreaConfigError) as raised:
        parse_areas(document, Path("areas.yaml"))
    assert str(raised.value) == "areas.yaml: areas.0.retention_day: Unknown field."


def test_a_taken_port_is_named_with_the_setting_that_moves_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse) as raised:
            check_ports([Port("127.0.0.1", port, "risk web port", "MARAC_RISK_PORT")])
    assert str(raised.value) == (f"risk web port 127.0.0.1:{port}: already in use "
                                 "(choose another with MARAC_RISK_PORT)")
    check_ports([Port("127.0.0.1", port, "risk web port", "MARAC_RISK_PORT")])  # free again


def test_a_configured_key_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "audit-key"
    with pytest.raises(SettingsError) as raised:
        check_settings(["risk"], {"MARAC_AUDIT_KEY_FILE": str(missing)})
    assert str(raised.value) == f"MARAC_AUDIT_KEY_FILE: no such file {missing}"
    missing.write_text("k" * 40)
    assert set(check_settings(["risk"], {"MARAC_AUDIT_KEY_FILE": str(missing)})) == {"risk"}
