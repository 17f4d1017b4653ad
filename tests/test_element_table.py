"""15F's rule table (sendemodul/profiles/15F.controls.json) and its machinery (element_table.py, element_expr.py):
the table gives exactly the findings the hand-written controls gave (id, severity, field, Bokmål and Nynorsk text,
order) on many individer; each load error is a TableError naming the control; each operator, ``some_after`` and the
per-tag numbering of ``{"tags": [...]}`` do what docs/profiles.md says."""

import copy
import gzip
import json
import pickle
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sendemodul.i18n import Bilingual
from sendemodul.profiles.rules.barnevern_facts import Facts
from sendemodul.profiles.rules.element_table import ElementControls, element_controls
from sendemodul.profiles.rules.report import Severity
from sendemodul.profiles.rules.rule_table_file import TableError, load_table

EXPECTED = Path(__file__).parent / "data" / "barnevern_controls_expected.json.gz"


def _findings(found):
    return [
        [rule, severity.name, field, str(message), message.in_language("nn")]
        for rule, severity, field, message in found
    ]


def test_the_table_gives_what_the_hand_written_controls_gave():
    """On every case, the table's findings are the hand-written controls' (stored in EXPECTED before those were
    removed): the same ids, severities, fields, Bokmål and Nynorsk texts, in the same order; and every control of
    the table finds something in some case."""
    with gzip.open(EXPECTED, "rt", encoding="utf-8") as f:
        stored = json.load(f)
    assert len(stored) > 1500
    fired = set()
    for case in stored:
        facts = Facts(*case["facts"])
        got = _findings(element_controls("15F", facts.periode).run(ET.fromstring(case["individ"]), facts))
        assert got == case["findings"], case["individ"]
        fired.update(f[0] for f in got)
    ids = {c["id"] for c in _controls(load_table("15F")["controls"])}
    assert ids - fired == set()


def _controls(items):
    for item in items:
        if "id" in item:
            yield item
        else:
            yield from _controls(item["controls"])


def test_every_control_of_the_table_is_exercised():
    """Each control (id and field) of the table finds something in some stored case."""
    with gzip.open(EXPECTED, "rt", encoding="utf-8") as f:
        stored = json.load(f)
    fired = {(f[0], f[2]) for case in stored for f in case["findings"]}
    assert {(c["id"], c["field"]) for c in _controls(load_table("15F")["controls"])} - fired == set()


FACTS = Facts(2026, "3401", 30, "mod11", "none")


def table(*controls, defs=None, macros=None):
    return {"register": "T", "periodes": [2026], "macros": macros or {}, "defs": defs or {}, "controls": list(controls)}


def control(when, message="x", rule="X01", **more):
    return {
        "id": rule,
        "severity": "ERROR",
        "field": None,
        "when": when,
        "message": {"nb": message, "nn": message},
        **more,
    }


def run(t, xml="<Individ/>", facts=FACTS):
    return [
        (rule, field, str(message))
        for rule, _, field, message in ElementControls(t, "t.json", 2026).run(ET.fromstring(xml), facts)
    ]


def value(expr, xml="<Individ/>", facts=FACTS, defs=None):
    """The value of ``expr`` on ``xml`` (shown through a message; a text in quotes, to tell "1" from 1)."""
    shown = ["if", ["==", ["var", "v"], None], "null", ["if", ["in", ["var", "v"], ["set"]], "", "{v}"]]
    t = table(control(True, rule="V", let={"v": expr, "t": ["starts", ["var", "v"], ""]}), defs=defs)
    t["controls"][0]["message"] = {"nb": ["if", ["var", "t"], "'{v}'", shown], "nn": "n"}
    return run(t, xml, facts)[0][2]


TILTAK = (
    '<Individ StartDato="2026-01-01"><Melding Id="1"/><Tiltak Id="a" StartDato=" 2026-01-01 ">'
    '<Kategori Kode="1.2"> tekst </Kategori></Tiltak><Melding Id="2"><Undersokelse Id="u"/></Melding>'
    '<Tiltak Id="b" StartDato="2026-03-01"/><Tiltak Id="c" StartDato="2026-05-01"/></Individ>'
)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (["attr", "StartDato"], "'2026-01-01'"),
        (["attr", "Nothing"], "''"),
        (["attr", "StartDato", "Tiltak"], "'2026-01-01'"),  # the first, stripped
        (["attr", "Kode", "Tiltak/Kategori"], "'1.2'"),
        (["attr", "Kode", "Plan"], "''"),
        (["text", "Tiltak/Kategori"], "'tekst'"),
        (["text", "Plan"], "''"),
        (["count", "Tiltak"], "3"),
        (["count", "Melding/Undersokelse"], "1"),
        (["count", "Plan"], "0"),
        (["tag"], "'Individ'"),
        (["year"], "2026"),
        (["date", "2026-01-02"], str(739618)),
        (["date", "2026-02-30"], "null"),
        (["date", "2026-1-02"], "null"),
        (["date", ""], "null"),
        (["ymd", 2026, 1, 2], str(739618)),
        (["ymd", ["year"], 12, 31], str(739981)),
        (["year_of", ["ymd", 2025, 12, 31]], "2025"),
        (["year_of", None], "null"),
        (["+", 2, 3], "5"),
        (["-", 2, 3], "-1"),
        (["min", 2, 3], "2"),
        (["max", 2, 3], "3"),
        (["+", None, 3], "null"),
        (["-", 2, None], "null"),
        (["min", None, 3], "null"),
        (["max", 2, None], "null"),
        (["<", 2, 3], "true"),
        (["<=", 3, 3], "true"),
        ([">", 2, 3], "false"),
        ([">=", 3, 3], "true"),
        (["<", None, 3], "false"),
        ([">=", None, None], "false"),
        (["==", None, None], "true"),
        (["==", 1, True], "false"),
        (["==", "1", 1], "false"),
        (["!=", "1", 1], "true"),
        (["==", "a", "a"], "true"),
        (["and", True, 1, "x"], "true"),
        (["and", True, 0], "false"),
        (["and", False, ["ymd", ["year"], 2, 30]], "false"),  # short-circuit: the impossible date is not made
        (["or", False, "", None], "false"),
        (["or", 0, "a"], "true"),
        (["or", True, ["ymd", ["year"], 2, 30]], "true"),
        (["not", ""], "true"),
        (["if", ["null", None], "a", ["ymd", ["year"], 2, 30]], "'a'"),
        (["null", ""], "false"),
        (["coalesce", None, 3], "3"),
        (["coalesce", 0, 3], "0"),
        (["blank", ""], "true"),
        (["blank", None], "false"),
        (["filled", " "], "true"),
        (["in", "b", ["set", "a", "b"]], "true"),
        (["in", "c", ["set", "a", "b"]], "false"),
        (["starts", "2.3", "1.", "2."], "true"),
        (["starts", "8.2", "1.", "2."], "false"),
        (["starts", None, "1."], "false"),
        (["some", "Tiltak", ["==", ["attr", "Id"], "c"]], "true"),
        (["some", "Tiltak", ["==", ["attr", "Id"], "d"]], "false"),
        (["some", "Tiltak/Kategori", ["==", ["tag"], "Kategori"]], "true"),
        (["some", "Tiltak", ["==", ["var", "start"], ["date", ["attr", "StartDato"]]]], "true"),
        (["var", "start"], "739617"),
        (["var", "age"], "30"),
        (["var", "fnr"], "'mod11'"),
        (["var", "duf"], "'none'"),
        (["var", "kommunenr"], "'3401'"),
        (["macro", "first"], "'a'"),
    ],
)
def test_each_operator(expr, expected):
    defs = {"start": ["date", ["attr", "StartDato"]]}
    t_value = value(expr, TILTAK, defs=defs) if expr[0] != "macro" else None
    if expr[0] == "macro":
        t = table(control(True, let={"v": expr}, message="'{v}'"), macros={"first": ["attr", "Id", "Tiltak"]})
        t_value = run(t, TILTAK)[0][2]
    assert t_value == expected


def test_an_impossible_date_made_while_running_is_an_error():
    with pytest.raises(TableError, match="ymd 2026-2-30 is not a date"):
        value(["ymd", ["year"], 2, 30])


def test_a_group_numbers_its_elements_and_nests():
    """``number`` is the position among the group's elements; a nested group has its own; a let of the group is read
    with its element current."""
    t = table(
        {
            "each": "Melding",
            "let": {"id": ["attr", "Id"]},
            "controls": [
                control(True, "M{number} {id}"),
                {"each": "Undersokelse", "controls": [control(True, "U{number} of {id}")]},
            ],
        }
    )
    xml = '<Individ><Melding Id="a"/><Melding Id="b"><Undersokelse/><Undersokelse/></Melding></Individ>'
    assert [m for _, _, m in run(t, xml)] == ["M1 a", "M2 b", "U1 of b", "U2 of b"]


def test_tags_iterate_the_subtree_in_document_order_numbered_per_tag():
    t = table(
        control(
            True,
            "{tag}{number} {id}",
            each={"tags": ["Individ", "Melding", "Undersokelse", "Tiltak"]},
            let={"tag": ["tag"], "id": ["attr", "Id"]},
        )
    )
    xml = (
        '<Individ Id="i"><Melding Id="m1"><Undersokelse Id="u1"/></Melding><Plan Id="p"/>'
        '<Melding Id="m2"><Undersokelse Id="u2"/></Melding><Tiltak Id="t1"/></Individ>'
    )
    assert [m for _, _, m in run(t, xml)] == [
        "Individ1 i",
        "Melding1 m1",
        "Undersokelse1 u1",
        "Melding2 m2",
        "Undersokelse2 u2",
        "Tiltak1 t1",
    ]


def test_a_control_guarded_by_a_tag_runs_only_on_that_tag():
    """In a ``tags`` group a control whose ``when`` begins with ["==", ["tag"], T] is skipped for other tags (the
    same findings, without evaluating it); other controls run on every element."""
    each = {"tags": ["Melding", "Tiltak"]}
    guarded = control(["and", ["==", ["tag"], "Tiltak"], True], "T{number}")
    t = table({"each": each, "controls": [guarded, control(True, "any{number}")]})
    xml = "<Individ><Melding/><Tiltak/><Melding/></Individ>"
    assert [m for _, _, m in run(t, xml)] == ["any1", "T1", "any1", "any2"]


def test_some_after_looks_at_the_later_elements_of_the_group_only():
    """Tiltak09's shape: a finding for each element that a later one matches, the outer let still visible."""
    t = table(
        control(
            ["some_after", ["==", ["attr", "Kode"], ["var", "kode"]]],
            "{number} {kode}",
            each="Tiltak",
            let={"kode": ["attr", "Kode"]},
        )
    )
    xml = (
        '<Individ><Tiltak Kode="a"/><Tiltak Kode="b"/><Tiltak Kode="a"/><Tiltak Kode="b"/><Tiltak Kode="a"/></Individ>'
    )
    assert [m for _, _, m in run(t, xml)] == ["1 a", "2 b", "3 a"]


def test_a_let_first_read_inside_some_after_is_computed_with_its_own_element():
    t = table(
        {
            "each": "Tiltak",
            "let": {"own": ["attr", "Kode"]},
            "controls": [control(["some_after", ["!=", ["attr", "Kode"], ["var", "own"]]], "{number} {own}")],
        }
    )
    xml = '<Individ><Tiltak Kode="a"/><Tiltak Kode="b"/><Tiltak Kode="b"/></Individ>'
    assert [m for _, _, m in run(t, xml)] == ["1 a"]


def test_a_message_chooses_with_if_and_shows_null_as_nothing():
    t = table(control(True, let={"n": None, "a": ["var", "age"]}))
    t["controls"][0]["message"] = {"nb": ["if", [">", ["var", "a"], 18], "voksen{n} {a}", "barn"], "nn": "vaksen {a}"}
    found = list(ElementControls(t, "t.json", 2026).run(ET.fromstring("<Individ/>"), FACTS))
    assert found == [("X01", Severity.ERROR, None, "voksen 30")]
    message = found[0][3]
    assert isinstance(message, Bilingual) and message.in_language("nn") == "vaksen 30"
    assert message.in_language("nb") == "voksen 30"
    assert pickle.loads(pickle.dumps(message)).in_language("nn") == "vaksen 30"


def _fails(t, match):
    with pytest.raises(TableError, match=match):
        ElementControls(t, "t.json", 2026)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c.update(when=["nope", 1]), r"controls\[0\] \(X01\) when: unknown operator 'nope'"),
        (lambda c: c.update(when=["not", 1, 2]), r"controls\[0\] \(X01\) when: 'not' takes 1 arguments, not 2"),
        (lambda c: c.update(when=["and"]), r"\(X01\) when: 'and' takes 1 or more arguments, not 0"),
        (lambda c: c.update(when=["var", "nowhere"]), r"\(X01\) when: the name 'nowhere' is not defined"),
        (lambda c: c.update(let={"a": ["var", "b"], "b": 1}), r"\(X01\) let a: the name 'b' is not defined here"),
        (lambda c: c.update(let={"age": 1}), r"\(X01\) let: the name 'age' is defined twice on one path"),
        (lambda c: c.update(let={"start": 1}), r"\(X01\) let: the name 'start' is defined twice on one path"),
        (lambda c: c.update(message={"nb": "{nothing}", "nn": "x"}), r"\(X01\) message nb: \{nothing\} is not a name"),
        (lambda c: c.update(message={"nb": "x", "nn": "{number}"}), r"\(X01\) message nn: 'number' is only known in a"),
        (lambda c: c.update(message={"nb": "x"}), r"\(X01\): 'message' must have exactly 'nb' and 'nn'"),
        (lambda c: c.update(message={"nb": "{a!r}", "nn": "x"}), r"\(X01\) message nb: \{a\} must be a plain name"),
        (lambda c: c.update(severity="FATAL"), r"\(X01\): unknown severity 'FATAL'"),
        (lambda c: c.update(when=["some_after", True]), r"\(X01\) when: 'some_after' is only allowed inside a group"),
        (lambda c: c.update(when=["macro", "zzz"]), r"\(X01\) when: unknown macro 'zzz'"),
        (lambda c: c.update(when=["in", "a", ["b"]]), r"\(X01\) when: the second argument of 'in' must be"),
        (lambda c: c.update(when=["set", "a"]), r"\(X01\) when: 'set' is only allowed as the second argument of 'in'"),
        (lambda c: c.update(when=["attr", ["tag"]]), r"\(X01\) when: an attribute name must be a literal text"),
        (lambda c: c.update(when=["count", "../x"]), r"\(X01\) when: '../x' is not a plain path"),
        (lambda c: c.update(when=["starts", "a", 1]), r"\(X01\) when: a prefix must be a literal text"),
        (lambda c: c.update(when=["ymd", 2026, 2, 30]), r"\(X01\) when: ymd 2026-2-30 is not a date"),
        (lambda c: c.update(when={"a": 1}), r"\(X01\) when: \{'a': 1\} is not an expression"),
        (lambda c: c.update(each="Melding//x"), r"controls\[0\]: 'each' must be a plain path"),
        (lambda c: c.update(each={"tags": []}), r"controls\[0\]: 'each' must be a plain path"),
        (lambda c: c.update(whatever=1), r"controls\[0\] \(X01\): unknown keys \['whatever'\]"),
        (lambda c: c.pop("when"), r"controls\[0\] \(X01\): a control needs 'when'"),
        (lambda c: c.update(field=3), r"\(X01\): 'field' must be a text or null"),
    ],
)
def test_each_load_error_names_the_control(change, match):
    c = control(True)
    change(c)
    _fails(table(c, defs={"start": 1}, macros={"a": ["attr", "Id"]}), match)


def test_load_errors_in_groups_defs_and_macros_name_their_place():
    nested = {"each": "Melding", "controls": [control(True), control(["var", "x"], rule="X02")]}
    _fails(table(control(True), nested), r"controls\[1\]\.controls\[1\] \(X02\) when: the name 'x' is not defined")
    _fails(table({"each": "Melding"}), r"controls\[0\]: an item is a control \(with 'id'\) or a group")
    _fails(table({"each": "Melding", "controls": []}), r"controls\[0\]: a group's 'controls' must be a non-empty")
    _fails(table(control(True), defs={"a": ["var", "b"]}), r"t\.json defs a: the name 'b' is not defined here")
    _fails(table(control(True), macros={"a": ["macro", "a"]}), r"t\.json macros: the macros a -> a form a cycle")
    cycle = {"a": ["not", ["macro", "b"]], "b": ["and", True, ["macro", "a"]]}
    _fails(table(control(True), macros=cycle), r"t\.json macros: the macros a -> b -> a form a cycle")
    _fails(table(control(True), macros={"a": ["macro", "nope"]}), r"t\.json macros\.a: unknown macro 'nope'")
    group_let = {"each": "Melding", "let": {"n": 1}, "controls": [control(True, let={"n": 2})]}
    _fails(table(group_let), r"controls\[0\]\.controls\[0\] \(X01\) let: the name 'n' is defined twice")
    sibling = {"each": "Melding", "controls": [control(True, let={"n": 1}), control(True, let={"n": 2})]}
    ElementControls(table(sibling), "t.json", 2026)  # siblings may reuse a let's name


def test_the_15f_table_is_refused_for_a_year_it_does_not_list():
    with pytest.raises(TableError, match=r"15F\.controls\.json does not list the reporting year 2031"):
        element_controls("15F", 2031)
    broken = copy.deepcopy(load_table("15F"))
    broken["controls"][1]["severity"] = "SEVERE"
    with pytest.raises(TableError, match=r"15F\.controls\.json controls\[1\] \(Individ03\): unknown severity"):
        ElementControls(broken, "15F.controls.json", 2026)


def test_profiles_export_carries_the_15f_table_as_the_file_has_it():
    """The browser module gets the table from ``profiles export``: 15F's XML profile carries it, macros not expanded
    (the JS interpreter expands them); IPLOS, without register controls, has none."""
    from sendemodul.profiles.export import combined_table

    exported = json.loads(json.dumps(combined_table(2026)))
    by_register = {p["register"]: p for p in exported["xml_profiles"]}
    table = by_register["15F"]["element_controls"]
    assert table == json.loads((Path(__file__).parent.parent / "sendemodul/profiles/15F.controls.json").read_text())
    assert "omsorgstiltak" in table["macros"] and "element_controls" not in by_register["IPLOS"]
