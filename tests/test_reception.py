"""SSB's side of the way back (issue 17): ``ssb check`` runs the control rules on a delivered package's records
(rows by row id and journalnummer, identifiers as pseudonyms), and ``ssb answer`` writes an answer signed with SSB's
key that the TPF's checks accept, and refuse once tampered with."""

import json

import pytest
from conftest import run_cli
from server import make_extract_container

from sendemodul import answer, keydir, package, reception, signing
from sendemodul.errors import AnswerInvalid, AnswerSignatureInvalid

ERRORS = {3: "CODE", 5: "ID_INVALID", 7: "DUPLICATE_ID"}


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """A dev home, and a package (as the pseudonymizer makes it) of an 11F extract with three errors left in."""
    base = tmp_path_factory.mktemp("reception")
    home = base / "home"
    run_cli("admin", "init", "--dev", "--home", home)
    _, journal, _ = make_extract_container(home, base / "c.tar", records=12, errors=ERRORS)
    keys = keydir.load_key_dir(home / "keys")
    import datetime

    path = base / "SM-20270115-7KQ2XW9D.tar"
    package.make_package(
        base / "c.tar",
        path,
        tpf_identities=keydir.load_age_identities(home / "private" / "tpf.agekey"),
        master_key=bytes.fromhex((home / "private" / "pseudonym-master.key").read_text().strip()),
        environment="dev",
        key_version=1,
        tpf_signing_key=signing.load_private_key(home / "private" / "tpf-signing.key"),
        ssb_recipients=keys.sealing_keys("ssb", datetime.date.today()),
    )
    return home, path, journal


def test_admin_init_dev_makes_ssb_signing_key_and_answers_folder(delivered):
    home, _, _ = delivered
    key = keydir.load_key_dir(home / "keys").get("ssb-signing-dev")
    assert key.role == "ssb-signing"
    private = signing.load_private_key(home / "private" / "ssb-signing.key")
    assert private.public_key().public_bytes_raw() == key.signing_key().public_bytes_raw()
    assert (home / "ssb-answers").is_dir()
    assert (home / "private" / "ssb-signing.key").stat().st_mode & 0o077 == 0


def test_reception_check_names_rows_by_row_id_and_journalnummer(delivered):
    """The rules find the code error, the invalid ID (by its class) and the duplicate ID (by pseudonym), each row
    named by its row id and journalnummer, never by an ID number or line."""
    home, path, journal = delivered
    keys = keydir.load_key_dir(home / "keys")
    result = reception.check_package(
        path,
        "SM-20270115-7KQ2XW9D",
        ssb_identities=keydir.load_age_identities(home / "private" / "ssb.agekey"),
        tpf_signing_keys=[k for k in keys if k.role == "tpf-signing"],
    )
    report = result.as_dict()
    assert report["records"] == 12 and report["result"] == "ERROR"
    by_rule = {}
    for f in report["findings"]:
        by_rule.setdefault(f["rule"], []).append(f)
    assert {"ID_INVALID", "DUPLICATE_ID"} <= by_rule.keys()
    assert by_rule["ID_INVALID"][0]["journalnr"] == journal[5]
    # record 7 repeats record 6's ID; rows travel in row id order, so either of the two can be the second one seen
    assert by_rule["DUPLICATE_ID"][0]["journalnr"] in (journal[6], journal[7])
    code = [f for f in report["findings"] if f["journalnr"] == journal[3] and f["severity"] == "ERROR"]
    assert code, report["findings"]
    for f in report["findings"]:
        if f["row_id"] is not None:
            assert len(f["row_id"]) == 24 and int(f["row_id"], 16) >= 0
        assert "line" not in f
    assert report["package_sha256"] == answer.package_digest(path)


def test_ssb_check_and_answer_commands_write_a_signed_answer(delivered, tmp_path):
    home, path, journal = delivered
    report = tmp_path / "report.json"
    proc = run_cli(
        "ssb",
        "check",
        path,
        "--identity",
        home / "private" / "ssb.agekey",
        "-o",
        report,
        "--keys",
        home / "keys",
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "ID_INVALID" in proc.stdout and journal[5] in proc.stdout
    out = tmp_path / "answer.json"
    run_cli(
        "ssb",
        "answer",
        path,
        "--return",
        "--message",
        "Rett feilene og send på nytt.",
        "--report",
        report,
        "--signing-key",
        home / "private" / "ssb-signing.key",
        "-o",
        out,
    )
    parsed = answer.Answer.parse(out.read_bytes())
    assert parsed.decision == "returned" and parsed.reference == "SM-20270115-7KQ2XW9D"
    assert parsed.package_sha256 == answer.package_digest(path)
    assert journal[5] in {e["journalnr"] for e in parsed.errors}
    assert parsed.verify(list(keydir.load_key_dir(home / "keys"))) == "ssb-signing-dev"

    # one changed byte of the message: the signature no longer holds
    obj = json.loads(out.read_bytes())
    obj["message"] = "Godkjent."
    tampered = answer.canonical_json(obj)
    with pytest.raises(AnswerSignatureInvalid):
        answer.Answer.parse(tampered).verify(list(keydir.load_key_dir(home / "keys")))
    with pytest.raises(AnswerInvalid):
        answer.Answer.parse(out.read_bytes().replace(b'"decision"', b' "decision"'))


def test_ssb_answer_refuses_bad_input_with_one_error_line(delivered, tmp_path):
    home, path, _ = delivered
    key = home / "private" / "ssb-signing.key"
    cases = [
        (["--return"], "--return needs --message"),
        (["--accept", "--message", "x" * 4001], "at most 4000"),
        ([], "give --accept or --return"),
    ]
    for args, expected in cases:
        proc = run_cli("ssb", "answer", path, *args, "--signing-key", key, "-o", tmp_path / "a.json", check=False)
        assert proc.returncode == 1 and expected in proc.stderr, proc.stderr
        assert proc.stderr.startswith("ERROR: ") and "Traceback" not in proc.stderr
    other = tmp_path / "other.tar"
    other.write_bytes(path.read_bytes())
    proc = run_cli("ssb", "answer", other, "--accept", "--signing-key", key, "-o", tmp_path / "b.json", check=False)
    assert proc.returncode == 1 and "--reference" in proc.stderr
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()
    help_text = run_cli("ssb", "answer", "--help").stdout
    assert "Example" in help_text and "--return" in help_text
    assert "Example" in run_cli("ssb", "check", "--help").stdout


def test_redact_ids_blanks_valid_id_numbers_only():
    from sendemodul import identity

    fnr = identity.generate_fnr(__import__("datetime").date(1990, 5, 17), 123, kind="synthetic")
    text = f"rad med {fnr} og journalnr 20260000001"
    redacted = answer.redact_ids(text)
    assert fnr not in redacted and answer.REDACTED in redacted


@pytest.mark.parametrize("register", ["15F", "IPLOS", "11CF"])
def test_reception_check_runs_on_every_register(delivered, tmp_path, register):
    """The same reception control on XML registers (the header line from the data part) and the other fixed-width
    one: an invalid ID is found by its class and named by journalnummer (where the register has one)."""
    import datetime

    home, _, _ = delivered
    source = tmp_path / "c.tar"
    _, journal, _ = make_extract_container(home, source, register=register, records=6, errors={3: "ID_INVALID"})
    keys = keydir.load_key_dir(home / "keys")
    path = tmp_path / "SM-20270115-2222AAAA.tar"
    package.make_package(
        source,
        path,
        tpf_identities=keydir.load_age_identities(home / "private" / "tpf.agekey"),
        master_key=bytes.fromhex((home / "private" / "pseudonym-master.key").read_text().strip()),
        environment="dev",
        key_version=1,
        tpf_signing_key=signing.load_private_key(home / "private" / "tpf-signing.key"),
        ssb_recipients=keys.sealing_keys("ssb", datetime.date.today()),
    )
    result = reception.check_package(
        path,
        "SM-20270115-2222AAAA",
        ssb_identities=keydir.load_age_identities(home / "private" / "ssb.agekey"),
        tpf_signing_keys=[k for k in keys if k.role == "tpf-signing"],
    ).as_dict()
    assert result["records"] == 6
    invalid = [f for f in result["findings"] if f["rule"] == "ID_INVALID"]
    assert len(invalid) == 1 and invalid[0]["journalnr"] == journal[3]
    assert not [f for f in result["findings"] if f["rule"] in ("XML", "SCHEMA", "RECORD_LENGTH")], result["findings"]
