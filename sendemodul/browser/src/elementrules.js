// SSB's controls over a whole record element (15F's barnevern controls over an <Individ>), run from the same table
// the CLI interprets (sendemodul/profiles/15F.controls.json; docs/profiles.md specifies it, CPython is the reference:
// sendemodul/profiles/rules/element_table.py). loadElementRules(table) checks the table's shape once (its keys, the
// items' keys, ids, severities, groups, lets, macros and messages; the load errors name the control), has
// elementexpr.js compile every expression to a closure, and gives run(element, facts): one element's findings in
// emission order as [id, severity, field, message in Bokmål, message in Nynorsk]. The element is xml.js's tree.

import { BUILTINS, Compiler, ElementRulesError, NAME, Scope, UNSET, compilePath, truthy } from "./elementexpr.js";

export { ElementRulesError };

const SEVERITIES = new Set(["ERROR", "WARNING", "INFO"]);
const CONTROL_KEYS = new Set(["id", "severity", "field", "each", "let", "when", "message"]);
const GROUP_KEYS = new Set(["each", "let", "controls"]);

function subtree(node, tags, out) {
  if (tags.has(node.tag)) out.push(node);
  for (const c of node.children) subtree(c, tags, out);
  return out;
}

// A value as a message shows it: a text as written, a whole number in decimal, null as nothing.
const shown = (v) => (v === null || v === undefined ? "" : String(v));

// The macros with their uses expanded (a macro may use the macros before it; a cycle is an error).
function expandMacros(macros, file) {
  const done = new Map();
  const expanding = new Set();
  const expand = (expr, where) => {
    if (!Array.isArray(expr)) return expr;
    if (expr[0] === "macro") {
      const name = expr[1];
      if (expr.length !== 2 || typeof name !== "string") throw new ElementRulesError(`${where}: "macro" takes one name`);
      if (!Object.hasOwn(macros, name)) throw new ElementRulesError(`${where}: no macro ${JSON.stringify(name)}`);
      if (done.has(name)) return done.get(name);
      if (expanding.has(name)) throw new ElementRulesError(`${where}: macro ${JSON.stringify(name)} uses itself (a macro cycle)`);
      expanding.add(name);
      const body = expand(macros[name], `${file} macros.${name}`);
      expanding.delete(name);
      done.set(name, body);
      return body;
    }
    return expr.map((e, i) => (i === 0 ? e : expand(e, where)));
  };
  for (const name of Object.keys(macros)) expand(["macro", name], `${file} macros.${name}`);
  return expand;
}

// A message {nb, nn}: each a template ("{name}" a visible name; "{{" and "}}" a brace) or ["if", cond, m, m], to
// a function of (node, st) giving [nb, nn].
function compileMessage(cx, message, scope, where) {
  const keys = message !== null && typeof message === "object" && !Array.isArray(message) ? Object.keys(message).sort() : [];
  if (keys.join() !== "nb,nn") throw new ElementRulesError(`${where}: a message is {"nb": ..., "nn": ...}`);
  const one = (m) => {
    if (typeof m === "string") {
      // [text, name, text, name, ..., text]
      const parts = [""];
      const token = /\{\{|\}\}|\{([^{}]*)\}|[{}]/g;
      let last = 0;
      for (const found of m.matchAll(token)) {
        parts[parts.length - 1] += m.slice(last, found.index);
        last = found.index + found[0].length;
        if (found[0] === "{{" || found[0] === "}}") parts[parts.length - 1] += found[0][0];
        else if (found[1] === undefined) throw new ElementRulesError(`${where}: a single ${found[0]} in a message (write it twice)`);
        else if (!NAME.test(found[1]) || !(scope.names.has(found[1]) || BUILTINS.includes(found[1]))) {
          throw new ElementRulesError(`${where}: the message names {${found[1]}}, which is not visible there`);
        } else {
          try {
            parts.push(cx.name(found[1], scope, where), "");
          } catch {
            throw new ElementRulesError(`${where}: the message names {${found[1]}}, which is not visible there`);
          }
        }
      }
      parts[parts.length - 1] += m.slice(last);
      return (node, st) => {
        let out = parts[0];
        for (let i = 1; i < parts.length; i += 2) out += shown(parts[i](node, st)) + parts[i + 1];
        return out;
      };
    }
    if (Array.isArray(m) && m[0] === "if" && m.length === 4) {
      const cond = cx.expr(m[1], scope, where);
      const [yes, no] = [one(m[2]), one(m[3])];
      return (n, st) => (truthy(cond(n, st)) ? yes(n, st) : no(n, st));
    }
    throw new ElementRulesError(`${where}: a message is a text or ["if", condition, message, message]`);
  };
  const nb = one(message.nb);
  const nn = one(message.nn);
  return (n, st) => [nb(n, st), nn(n, st)];
}

// EACH: a path, or {"tags": [...]} (the element's subtree, itself included, in document order).
function compileEach(each, where) {
  if (each !== null && typeof each === "object" && !Array.isArray(each)) {
    const tags = each.tags;
    if (Object.keys(each).length !== 1 || !Array.isArray(tags) || !tags.every((t) => typeof t === "string")) {
      throw new ElementRulesError(`${where}: "each" is a path or {"tags": [...]}`);
    }
    if (!tags.length || !tags.every((t) => NAME.test(t))) throw new ElementRulesError(`${where}: "tags" lists element names`);
    const set = new Set(tags);
    return (node) => subtree(node, set, []);
  }
  return compilePath(each, where).all;
}

// The lets of a group or control ({name: expr}, in order) in `scope`: their slots.
function compileLets(cx, lets, scope, where, ex) {
  if (lets === undefined) return [];
  if (lets === null || typeof lets !== "object" || Array.isArray(lets)) throw new ElementRulesError(`${where}: "let" is an object`);
  return Object.entries(lets).map(([name, expr]) => cx.define(scope, name, ex(expr), where));
}

const expandMessage = (m, ex) => (Array.isArray(m) && m[0] === "if" && m.length === 4 ? ["if", ex(m[1]), expandMessage(m[2], ex), expandMessage(m[3], ex)] : m);

// An item at `place` (`15F.controls.json controls[3].controls[1]`, the name its load errors give, with its id) to
// a function of (node, st, out) that pushes its findings on `out`.
function compileItem(cx, item, outer, expand, place, oneControl = false) {
  if (item === null || typeof item !== "object" || Array.isArray(item)) {
    throw new ElementRulesError(`${place}: an item is a control or a group`);
  }
  const where = item.id !== undefined ? `${place} (${item.id})` : place;
  const ex = (e) => expand(e, where);
  const unknown = Object.keys(item).filter((k) => !(item.id !== undefined ? CONTROL_KEYS : GROUP_KEYS).has(k));
  if (unknown.length) throw new ElementRulesError(`${where}: unknown keys ${JSON.stringify(unknown.sort())}`);
  if (item.each !== undefined && item.id !== undefined) {
    // a control with "each": a group of that one control (at the control's own place)
    const { each, ...control } = item;
    return compileItem(cx, { each, controls: [control] }, outer, expand, place, true);
  }
  if (item.id === undefined) {
    if (item.each === undefined || !Array.isArray(item.controls) || !item.controls.length) {
      throw new ElementRulesError(`${where}: a group has "each" and "controls" (not empty)`);
    }
    const each = compileEach(item.each, where);
    const scope = outer.child(outer.depth + 1);
    const depth = scope.depth;
    cx.depth = Math.max(cx.depth, depth);
    const slots = compileLets(cx, item.let, scope, where, ex);
    const children = item.controls.map((child, i) =>
      compileItem(cx, child, scope, expand, oneControl ? place : `${place}.controls[${i}]`),
    );
    return (node, st, out) => {
      const items = each(node);
      if (!items.length) return;
      const numbers = new Map();
      for (let i = 0; i < items.length; i++) {
        const element = items[i];
        const number = (numbers.get(element.tag) || 0) + 1;
        numbers.set(element.tag, number);
        st.elements[depth] = element;
        st.numbers[depth] = number;
        st.iterations[depth] = [items, i];
        for (const slot of slots) st.slots[slot] = UNSET;
        for (const child of children) child(element, st, out);
      }
    };
  }
  if (typeof item.id !== "string" || !item.id) throw new ElementRulesError(`${place}: a control's id is a text`);
  if (!SEVERITIES.has(item.severity)) throw new ElementRulesError(`${where}: unknown severity ${JSON.stringify(item.severity)}`);
  if (item.field !== null && typeof item.field !== "string") throw new ElementRulesError(`${where}: "field" is a text or null`);
  if (item.when === undefined) throw new ElementRulesError(`${where}: a control has "when"`);
  const scope = outer.child();
  const slots = compileLets(cx, item.let, scope, where, ex);
  const when = cx.expr(ex(item.when), scope, where);
  const messages = item.message;
  const expanded =
    messages && typeof messages === "object" && !Array.isArray(messages)
      ? Object.fromEntries(Object.entries(messages).map(([lang, m]) => [lang, expandMessage(m, ex)]))
      : messages;
  const message = compileMessage(cx, expanded, scope, where);
  const { id, severity, field } = item;
  return (node, st, out) => {
    for (const slot of slots) st.slots[slot] = UNSET;
    if (truthy(when(node, st))) {
      const [nb, nn] = message(node, st);
      out.push([id, severity, field, nb, nn]);
    }
  };
}

// The table (15F.controls.json, or the export's "element_controls") checked and compiled for reporting year
// `periode` (which the table must list): {register, titles, recordControls, headerControls, headerPatterns, ids,
// run(element, facts)}, where facts is {kommunenr, age, fnr, duf} (and periode: the table's year is `periode`) and
// run gives [[id, severity, field, nb, nn], ...].
export function loadElementRules(table, periode) {
  if (table === null || typeof table !== "object") throw new ElementRulesError("the table is not an object");
  if (!Array.isArray(table.periodes) || !table.periodes.includes(periode)) {
    // (a new year is a decision: docs/profiles.md)
    throw new ElementRulesError(`${table.register}.controls.json does not list the reporting year ${periode} in "periodes"`);
  }
  for (const key of ["titles", "record_controls", "header_controls", "header_patterns", "controls"]) {
    if (!(key in table)) throw new ElementRulesError(`the table has no ${JSON.stringify(key)}`);
  }
  const file = `${table.register}.controls.json`;
  const expand = expandMacros(table.macros || {}, file);
  const cx = new Compiler();
  const top = new Scope(new Map(), 0);
  // the defs: named values of the individ, in order
  for (const [name, expr] of Object.entries(table.defs || {})) {
    const where = `${file} defs.${name}`;
    cx.define(top, name, expand(expr, where), where, where);
  }
  if (!Array.isArray(table.controls)) throw new ElementRulesError('"controls" is a list');
  const items = table.controls.map((item, i) => compileItem(cx, item, top, expand, `${file} controls[${i}]`));
  const ids = new Set();
  const collect = (list) => {
    for (const item of list) {
      if (item.id !== undefined) ids.add(item.id);
      if (Array.isArray(item.controls)) collect(item.controls);
    }
  };
  collect(table.controls);
  const slotCount = cx.thunks.length;
  const depth = cx.depth + 1;
  function run(element, facts) {
    const st = {
      year: periode,
      facts,
      slots: new Array(slotCount).fill(UNSET),
      elements: new Array(depth).fill(element),
      numbers: new Array(depth).fill(0),
      iterations: new Array(depth).fill(null),
    };
    const out = [];
    for (const item of items) item(element, st, out);
    return out;
  }
  return {
    register: table.register,
    titles: table.titles,
    recordControls: table.record_controls,
    headerControls: table.header_controls,
    headerPatterns: table.header_patterns,
    ids,
    run,
  };
}
