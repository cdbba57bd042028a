"""Notify's start-up checks: the SMTP settings, webhook URLs and secrets, the coordinators and
template folders of each area. A wrong one stops the process naming the variable or the key."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from marac_platform.areas import AreaConfigError, parse_areas
from marac_platform.settings import SettingsError, load_settings, mail_settings
from services.notify.config import NotifyConfig, configure

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def areas(tmp_path: Path, police: dict[str, Any], notify: dict[str, Any] | None = None) -> Any:
    document = {"areas": [{
        "id": "northshire", "name": "Northshire", "confidentiality_statement": "C.",
        "agencies": [{"id": "police", "name": "Police", "isa_signed": True, **police}],
        "notify": notify or {}}]}
    return parse_areas(document, tmp_path / "areas.yaml")


def test_a_signed_webhook_with_its_secret_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET + "\n")
    built = configure(areas(tmp_path, {"webhook_url": "https://police.example/hook",
                                       "webhook_secret_file": str(tmp_path / "secret")},
                            {"coordinators": ["marac@example.org"]}),
                      load_settings("notify", {}))
    assert isinstance(built, NotifyConfig)
    assert built.area("northshire").webhook_secrets == {"police": SECRET}
    assert built.area("northshire").coordinators == ("marac@example.org",)


@pytest.mark.parametrize(("police", "message"), [
    ({"webhook_url": "https://p.example/h"}, "webhook_url: A webhook needs its signing secret"),
    ({"webhook_url": "http://p.example/h", "webhook_secret_env": "MARAC_X"},
     r"agencies\[police\].webhook_url: must be an https:// URL"),
    ({"webhook_url": "https://p.example/h", "webhook_secret_env": "MARAC_UNSET_SECRET"},
     "the webhook secret in environment variable MARAC_UNSET_SECRET must be 'whsec_'"),
    ({"webhook_url": "https://p.example/h", "webhook_secret_file": "/nonexistent/secret"},
     "webhook_secret_file: cannot read it"),
    ({"opt_out": "caselist_addendum"}, "opt_out: Not a valid list"),
    ({"contacts": ["not an address"]}, "contacts.0: Not a valid email address"),
])
def test_a_wrong_directory_entry_names_its_key(tmp_path: Path, police: dict[str, Any],
                                               message: str, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    monkeypatch.setenv("MARAC_X", SECRET)
    with pytest.raises(AreaConfigError, match=message):
        configure(areas(tmp_path, police), load_settings("notify", {}))


def test_a_missing_template_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(AreaConfigError, match=r"areas\[northshire\].notify.templates: no such"):
        configure(areas(tmp_path, {}, {"templates": "nowhere"}), load_settings("notify", {}))


def test_smtp_defaults_to_starttls_on_587_and_reads_the_password_from_a_file(tmp_path: Path
                                                                              ) -> None:
    assert (mail_settings({}).security, mail_settings({}).port) == ("starttls", 587)
    (tmp_path / "pw").write_text("s3cret\n")
    mail = mail_settings({"MARAC_SMTP_HOST": "relay", "MARAC_SMTP_USERNAME": "marac",
                          "MARAC_SMTP_PASSWORD_FILE": str(tmp_path / "pw")})
    assert (mail.host, mail.username, mail.password) == ("relay", "marac", "s3cret")
    assert mail_settings({"MARAC_SMTP_SECURITY": "tls"}).port == 465


@pytest.mark.parametrize(("env", "message"), [
    ({"MARAC_SMTP_SECURITY": "ssl"}, "MARAC_SMTP_SECURITY: must be one of"),
    ({"MARAC_SMTP_USERNAME": "marac"}, "give both or neither"),
    ({"MARAC_SMTP_USERNAME": "m", "MARAC_SMTP_PASSWORD": "p", "MARAC_SMTP_SECURITY": "none"},
     "would send the SMTP password in clear"),
    ({"MARAC_SMTP_CA_FILE": "/nonexistent/ca.pem"}, "MARAC_SMTP_CA_FILE: no such file"),
    ({"MARAC_SMTP_PASSWORD_FILE": "/nonexistent/pw"}, "MARAC_SMTP_PASSWORD_FILE: cannot read"),
])
def test_a_wrong_smtp_setting_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        mail_settings(env)


def test_the_public_url_is_an_http_url() -> None:
    assert load_settings("notify", {"MARAC_PUBLIC_URL": "https://m.example/"}).public_url == (
        "https://m.example")
    with pytest.raises(SettingsError, match="MARAC_PUBLIC_URL"):
        load_settings("notify", {"MARAC_PUBLIC_URL": "javascript:alert(1)"})
