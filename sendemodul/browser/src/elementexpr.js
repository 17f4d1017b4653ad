// The expression language of an element rule table (15F's barnevern controls; docs/profiles.md "The rule table"),
// compiled to closures (the page's CSP forbids eval) as sendemodul/profiles/rules/element_expr.py compiles it to
// Python source (CPython is the reference): the operators and their arities, checked when the table loads (an unknown
// operator, a wrong number of arguments, a name used before it is defined or defined twice: an ElementRulesError
// naming the control), the names visible at a place (Scope; a let or def is computed the first time it is read), and
// days as Python's date counts them. elementrules.js reads the table's shape (items, groups, lets, macros, messages)
// and calls the Compiler here: the two are apart as the two Python modules are, the language here, the table there.
// An element is xml.js's tree ({tag, attrs: [[name, value]], children, text}); attribute values and texts are read
// stripped as Python's str.strip() strips them.

import { pyStrip } from "./xml.js";

export class ElementRulesError extends Error {}

// The names a table may use without defining them.
export const BUILTINS = ["number", "age", "fnr", "duf", "kommunenr"];

// -- Days as Python's date.toordinal() counts them (0001-01-01 is day 1) -------------------------------------------

const leap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const monthDays = (y, m) => [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
const before = (y) => {
  const p = y - 1;
  return p * 365 + Math.floor(p / 4) - Math.floor(p / 100) + Math.floor(p / 400);
};
const CUMULATIVE = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

export function ordinal(y, m, d) {
  return before(y) + CUMULATIVE[m - 1] + (m > 2 && leap(y) ? 1 : 0) + d;
}

export function yearOf(n) {
  let y = Math.floor((n - 1) / 365.2425) + 1;
  while (before(y) >= n) y -= 1;
  while (before(y + 1) < n) y += 1;
  return y;
}

const validYmd = (y, m, d) => y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= monthDays(y, m);
const ASCII10 = /^[\x00-\x7f]{10}$/;
const isDigits = (text, from, n) => {
  for (let i = from; i < from + n; i++) {
    const c = text.charCodeAt(i);
    if (!(c >= 48 && c <= 57)) return false;
  }
  return true;
};

// Python's date.fromisoformat on a text of exactly 10 characters (CPython 3.11's parser: YYYY-MM-DD, YYYYMMDD and the
// ISO week forms, whatever follows the date itself), as a day number, or null.
export function isoDay(text) {
  if (typeof text !== "string" || !ASCII10.test(text) || !isDigits(text, 0, 4)) return null;
  const year = Number(text.slice(0, 4));
  const sep = text[4] === "-";
  let p = sep ? 5 : 4;
  if (text[p] === "W") {
    p += 1;
    if (!isDigits(text, p, 2)) return null;
    const week = Number(text.slice(p, p + 2));
    p += 2;
    if (sep && text[p++] !== "-") return null;
    if (!isDigits(text, p, 1)) return null;
    const day = Number(text[p]);
    if (week <= 0 || week >= 53) {
      const first = (ordinal(year, 1, 1) + 6) % 7; // Monday 0
      if (!(week === 53 && (first === 3 || (first === 2 && leap(year))))) return null;
    }
    if (day <= 0 || day >= 8) return null;
    const jan1 = ordinal(year, 1, 1);
    const weekday = (jan1 + 6) % 7;
    const monday = jan1 - weekday + (weekday > 3 ? 7 : 0);
    const n = monday + (week - 1) * 7 + day - 1;
    const y = yearOf(n);
    return y >= 1 && y <= 9999 ? n : null;
  }
  if (!isDigits(text, p, 2)) return null;
  const month = Number(text.slice(p, p + 2));
  p += 2;
  if (sep && text[p++] !== "-") return null;
  if (!isDigits(text, p, 2)) return null;
  const day = Number(text.slice(p, p + 2));
  return validYmd(year, month, day) ? ordinal(year, month, day) : null;
}

// -- Elements --------------------------------------------------------------------------------------------------------

const attrOf = (node, name) => {
  for (const [k, v] of node.attrs) if (k === name) return pyStrip(v);
  return "";
};

const PATH = /^[A-Za-z_][A-Za-z0-9_]*(?:\/[A-Za-z_][A-Za-z0-9_]*)*$/;
export const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// ElementTree's iterfind on a plain path of tags: {all, first, count} of the elements at the path below a node,
// in document order.
export function compilePath(path, where) {
  if (typeof path !== "string" || !PATH.test(path)) {
    throw new ElementRulesError(`${where}: ${JSON.stringify(path)} is not a path of element names`);
  }
  const steps = path.split("/");
  if (steps.length === 1) {
    const [tag] = steps;
    return {
      all: (node) => node.children.filter((c) => c.tag === tag),
      first: (node) => node.children.find((c) => c.tag === tag) ?? null,
      count: (node) => {
        let n = 0;
        for (const c of node.children) if (c.tag === tag) n += 1;
        return n;
      },
    };
  }
  const all = (node) => {
    let found = [node];
    for (const tag of steps) {
      const next = [];
      for (const n of found) for (const c of n.children) if (c.tag === tag) next.push(c);
      found = next;
    }
    return found;
  };
  return { all, first: (node) => all(node)[0] ?? null, count: (node) => all(node).length };
}

// -- Values: null, order, truth as Python has them -----------------------------------------------------------------

const isNull = (v) => v === null || v === undefined;
const lessThan = (a, b) => {
  if (typeof a === "string" && typeof b === "string") {
    const x = [...a].map((c) => c.codePointAt(0));
    const y = [...b].map((c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return x.length - y.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
};
export const truthy = (v) => !(v === null || v === undefined || v === false || v === 0 || v === "");

// -- The compiler ----------------------------------------------------------------------------------------------------

// Each operator: [fewest arguments, most (Infinity: any)].
const ARITY = {
  attr: [1, 2],
  text: [1, 1],
  count: [1, 1],
  tag: [0, 0],
  var: [1, 1],
  macro: [1, 1],
  year: [0, 0],
  date: [1, 1],
  ymd: [3, 3],
  year_of: [1, 1],
  "+": [2, 2],
  "-": [2, 2],
  min: [2, 2],
  max: [2, 2],
  "<": [2, 2],
  "<=": [2, 2],
  ">": [2, 2],
  ">=": [2, 2],
  "==": [2, 2],
  "!=": [2, 2],
  and: [1, Infinity],
  or: [1, Infinity],
  not: [1, 1],
  if: [3, 3],
  null: [1, 1],
  coalesce: [2, 2],
  blank: [1, 1],
  filled: [1, 1],
  in: [2, 2],
  starts: [2, Infinity],
  some_after: [1, 1],
  some: [2, 2],
};

const text = (x) => (typeof x === "string" ? x : null);

// A let or def not computed yet.
export const UNSET = Symbol("unset");

// The names visible at a place in the table: name -> {slot, depth} (a let's or def's slot, and the depth of the
// element it is computed with: 0 the individ, 1... the nested groups'), and the depth of the innermost group.
export class Scope {
  constructor(names, depth) {
    this.names = names;
    this.depth = depth;
  }
  child(depth = this.depth) {
    return new Scope(new Map(this.names), depth);
  }
}

// The state of one individ's run: the facts, every let's and def's value (UNSET until read), and per depth the
// element current there, its number and its group's iteration [elements, index] (for some_after).
// Expressions are functions of (node, st): the current element and this state.

// Compiles one table's expressions; `thunks` holds each let's and def's expression by slot.
export class Compiler {
  constructor() {
    this.thunks = [];
    // the deepest group's depth
    this.depth = 0;
  }

  // A let or def `name` = `expr` in `scope` (computed with the element current at scope.depth), after the names
  // before it; its slot.
  define(scope, name, expr, where, exprWhere = `${where}, let ${JSON.stringify(name)}`) {
    if (typeof name !== "string" || !NAME.test(name)) throw new ElementRulesError(`${where}: ${JSON.stringify(name)} is not a plain name`);
    if (scope.names.has(name) || BUILTINS.includes(name)) throw new ElementRulesError(`${where}: ${JSON.stringify(name)} is defined twice`);
    const thunk = this.expr(expr, scope, exprWhere);
    const slot = this.thunks.length;
    this.thunks.push(thunk);
    scope.names.set(name, { slot, depth: scope.depth });
    return slot;
  }

  // The value of `name` where `scope` is: a let or def (computed the first time it is read, as CPython does: an
  // expression that would fail, an impossible ["ymd", ...], fails only where it is read; with its own element
  // current, inside some_after too), else a built-in.
  name(name, scope, where) {
    const found = scope.names.get(name);
    if (found) {
      const { slot, depth } = found;
      const thunks = this.thunks;
      return (node, st) => {
        let value = st.slots[slot];
        if (value === UNSET) value = st.slots[slot] = thunks[slot](st.elements[depth], st);
        return value;
      };
    }
    if (name === "number" && scope.depth > 0) {
      const depth = scope.depth;
      return (node, st) => st.numbers[depth];
    }
    if (name === "age") return (node, st) => st.facts.age ?? null;
    if (name === "fnr" || name === "duf" || name === "kommunenr") return (node, st) => st.facts[name];
    throw new ElementRulesError(`${where}: ${JSON.stringify(name)} is used before it is defined`);
  }

  expr(expr, scope, where) {
    const c = (e) => this.expr(e, scope, where);
    if (expr === null || typeof expr === "string" || typeof expr === "boolean") return () => expr;
    if (typeof expr === "number") {
      if (!Number.isInteger(expr)) throw new ElementRulesError(`${where}: ${expr} is not a whole number`);
      return () => expr;
    }
    if (!Array.isArray(expr) || !expr.length || typeof expr[0] !== "string") {
      throw new ElementRulesError(`${where}: ${JSON.stringify(expr)} is not an expression`);
    }
    const [op, ...a] = expr;
    if (!Object.hasOwn(ARITY, op)) throw new ElementRulesError(`${where}: unknown operator ${JSON.stringify(op)}`);
    const [least, most] = ARITY[op];
    if (a.length < least || a.length > most) {
      throw new ElementRulesError(`${where}: ${JSON.stringify(op)} takes ${least === most ? least : `${least} or more`} argument(s), not ${a.length}`);
    }
    const literalText = (x, what) => {
      if (typeof x !== "string") throw new ElementRulesError(`${where}: ${JSON.stringify(op)} wants ${what} as a literal text`);
      return x;
    };
    switch (op) {
      case "attr": {
        const name = literalText(a[0], "an attribute name");
        if (a.length === 1) return (node) => attrOf(node, name);
        const path = compilePath(a[1], where);
        return (node) => {
          const found = path.first(node);
          return found ? attrOf(found, name) : "";
        };
      }
      case "text": {
        const path = compilePath(a[0], where);
        return (node) => {
          const found = path.first(node);
          return found ? pyStrip(found.text ?? "") : "";
        };
      }
      case "count":
        return compilePath(a[0], where).count;
      case "tag":
        return (node) => node.tag;
      case "var":
        return this.name(literalText(a[0], "a name"), scope, where);
      case "macro":
        throw new ElementRulesError(`${where}: macro left unexpanded`); // (elementrules.js expands each first)
      case "year":
        return (node, st) => st.year;
      case "date": {
        const x = c(a[0]);
        return (node, st) => isoDay(x(node, st));
      }
      case "ymd": {
        if (!a.every((v) => Number.isInteger(v))) {
          const [y, m, d] = a.map(c);
          return (node, st) => {
            const [yy, mm, dd] = [y(node, st), m(node, st), d(node, st)];
            if (![yy, mm, dd].every(Number.isInteger) || !validYmd(yy, mm, dd)) {
              throw new ElementRulesError(`${where}: ["ymd", ${yy}, ${mm}, ${dd}] is not a date`);
            }
            return ordinal(yy, mm, dd);
          };
        }
        if (!validYmd(...a)) throw new ElementRulesError(`${where}: ${JSON.stringify(expr)} is not a date`);
        const day = ordinal(...a);
        return () => day;
      }
      case "year_of": {
        const x = c(a[0]);
        return (node, st) => {
          const v = x(node, st);
          return isNull(v) ? null : yearOf(v);
        };
      }
      case "+":
      case "-":
      case "min":
      case "max": {
        const [x, y] = a.map(c);
        const f = { "+": (p, q) => p + q, "-": (p, q) => p - q, min: Math.min, max: Math.max }[op];
        return (node, st) => {
          const p = x(node, st);
          if (isNull(p)) return null;
          const q = y(node, st);
          return isNull(q) ? null : f(p, q);
        };
      }
      case "<":
      case "<=":
      case ">":
      case ">=": {
        const [x, y] = a.map(c);
        const f = { "<": (r) => r < 0, "<=": (r) => r <= 0, ">": (r) => r > 0, ">=": (r) => r >= 0 }[op];
        return (node, st) => {
          const p = x(node, st);
          if (isNull(p)) return false;
          const q = y(node, st);
          return !isNull(q) && f(lessThan(p, q));
        };
      }
      case "==":
      case "!=": {
        const [x, y] = a.map(c);
        const same = (p, q) => (isNull(p) ? isNull(q) : p === q);
        return op === "==" ? (n, st) => same(x(n, st), y(n, st)) : (n, st) => !same(x(n, st), y(n, st));
      }
      case "and": {
        const xs = a.map(c);
        return (n, st) => {
          for (const x of xs) if (!truthy(x(n, st))) return false;
          return true;
        };
      }
      case "or": {
        const xs = a.map(c);
        return (n, st) => {
          for (const x of xs) if (truthy(x(n, st))) return true;
          return false;
        };
      }
      case "not": {
        const x = c(a[0]);
        return (n, st) => !truthy(x(n, st));
      }
      case "if": {
        const [cond, yes, no] = a.map(c);
        return (n, st) => (truthy(cond(n, st)) ? yes(n, st) : no(n, st));
      }
      case "null": {
        const x = c(a[0]);
        return (n, st) => isNull(x(n, st));
      }
      case "coalesce": {
        const [x, y] = a.map(c);
        return (n, st) => {
          const v = x(n, st);
          return isNull(v) ? y(n, st) : v;
        };
      }
      case "blank":
      case "filled": {
        const x = c(a[0]);
        return op === "blank" ? (n, st) => x(n, st) === "" : (n, st) => x(n, st) !== "";
      }
      case "in": {
        const x = c(a[0]);
        const set = a[1];
        if (!Array.isArray(set) || set[0] !== "set" || !set.slice(1).every((v) => typeof v === "string")) {
          throw new ElementRulesError(`${where}: "in" wants ["set", text, ...] as its second argument`);
        }
        const members = new Set(set.slice(1));
        return (n, st) => members.has(x(n, st));
      }
      case "starts": {
        const x = c(a[0]);
        const prefixes = a.slice(1).map((p) => literalText(p, "its prefixes"));
        return (n, st) => {
          const v = text(x(n, st));
          return v !== null && prefixes.some((p) => v.startsWith(p));
        };
      }
      case "some": {
        // whether any element at the path (below the current one) makes the expression true, with it current
        const path = compilePath(a[0], where);
        const x = c(a[1]);
        return (node, st) => path.all(node).some((found) => truthy(x(found, st)));
      }
      case "some_after": {
        if (scope.depth === 0) throw new ElementRulesError(`${where}: "some_after" outside a group`);
        const depth = scope.depth;
        const x = c(a[0]);
        return (node, st) => {
          const [items, index] = st.iterations[depth];
          for (let i = index + 1; i < items.length; i++) if (truthy(x(items[i], st))) return true;
          return false;
        };
      }
    }
    throw new ElementRulesError(`${where}: unknown operator ${JSON.stringify(op)}`);
  }
}
