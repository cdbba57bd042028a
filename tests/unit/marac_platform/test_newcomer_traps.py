"""The traps a new operator fell into (issue 16), each fixed where it is met."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from marac_devinfra import commands as infra
from marac_devinfra.kafka import LocalKafka
from marac_platform import cli
from marac_platform.areas import parse_areas
from marac_platform.commands.run import MAIL_CATCHER_PORT, mail_port, try_it


def kafka_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="marac")
    infra.register(root.add_subparsers(dest="command"))
    return root


def test_kafka_start_starts_the_local_broker_its_own_address_names(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The README's "one service alone" exports the local address first; it used to print
    # "using that cluster" and start nothing, so nothing answered on it.
    started: list[int] = []
    monkeypatch.setattr(LocalKafka, "start", lambda self, timeout=120.0: started.append(self.port)
                        or f"127.0.0.1:{self.port}")
    for configured in ("127.0.0.1:19092", "localhost:19092"):
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", configured)
        args = kafka_parser().parse_args(["kafka", "start", "--port", "19092"])
        assert args.func(args) == 0
    assert started == [19092, 19092]
    assert "Kafka broker ready: KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092" in capsys.readouterr().out


def test_a_token_minted_with_a_new_key_pair_says_which_data_folder_accepts_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("MARAC_JWKS_URL", "MARAC_JWT_PUBLIC_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARAC_DATA_DIR", str(tmp_path / "elsewhere"))
    argv = ["token", "mint", "--role", "coordinator", "--area", "northshire"]
    assert cli.main(argv) == 0
    first = capsys.readouterr()
    assert first.out.count(".") == 2  # the token (a JWT) on stdout, alone
    elsewhere = tmp_path / "elsewhere"
    assert first.err == (f"marac token mint: made a new development key pair in {elsewhere / 'keys'}; "
                         f"only services started with MARAC_DATA_DIR={elsewhere} accept its tokens\n")
    assert cli.main(argv) == 0
    assert capsys.readouterr().err == ""  # the same key pair from then on: nothing to say


def test_the_local_mail_catcher_listens_where_marac_smtp_port_says_or_on_1025() -> None:
    assert mail_port({}) == MAIL_CATCHER_PORT == 1025
    assert mail_port({"MARAC_SMTP_PORT": "2526"}) == 2526


def test_the_banner_suggests_an_area_the_areas_file_holds() -> None:
    # It said northshire whatever the file held; a token for an area not served is no use.
    document = {"areas": [{"id": "westshire", "name": "Westshire MARAC", "confidentiality_statement": "x",
                           "agencies": [{"id": "police", "name": "Police", "isa_signed": True}]}]}
    lines = try_it(parse_areas(document, Path("areas.yaml")))
    assert "--area westshire" in lines and "northshire" not in lines
