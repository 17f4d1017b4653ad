"""sendemodul.resources finds every file the package ships, and no module finds files another way."""

from conftest import ROOT

from sendemodul import resources


def test_every_shipped_file_is_found():
    assert (resources.templates_dir() / "pin-letter.html.j2").is_file()
    assert (resources.templates_dir() / "web" / "login.html.j2").is_file()
    assert (resources.static_dir() / "style.css").is_file()
    assert (resources.default_keys_dir() / "README.md").is_file()
    assert "makeService" in resources.tac_path().read_text()
    assert resources.profiles().joinpath("11F-2026.toml").is_file()
    assert resources.data_text("kommuner.csv").startswith("kommunenr")


def test_in_a_checkout_they_are_the_top_level_files_not_copies():
    assert resources.templates_dir() == ROOT / "templates"
    assert resources.static_dir() == ROOT / "templates" / "static"
    assert resources.default_keys_dir() == ROOT / "keys"
    assert resources.tac_path() == ROOT / "twistd.tac"


def test_no_module_finds_files_relative_to_its_source_file():
    """``Path(__file__).parent.parent`` names the checkout, which an installed wheel does not have."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "sendemodul").rglob("*.py"))
        if "__file__" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
