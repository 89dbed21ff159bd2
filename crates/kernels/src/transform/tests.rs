//! The transform's output for many inputs; what the output does when Node
//! runs it is tested with the kernel (tests/javascript.rs).

use super::*;

fn js(source: &str) -> String {
    transform_cell(source, false).unwrap_or_else(|e| panic!("{source:?}: {e}"))
}

fn ts(source: &str) -> String {
    transform_cell(source, true).unwrap_or_else(|e| panic!("{source:?}: {e}"))
}

/// The first line (declarations and the async function's start) and the
/// cell's own lines, without the closing `})()`.
fn split(out: &str) -> (String, Vec<String>) {
    let (prologue, rest) = out.split_once('\n').unwrap();
    let body = rest.strip_suffix("\n})()").expect("closed");
    (
        prologue.to_string(),
        body.split('\n').map(str::to_string).collect(),
    )
}

fn error(source: &str, typescript: bool) -> CellSyntaxError {
    transform_cell(source, typescript).expect_err(source)
}

#[test]
fn top_level_declarations_become_hoisted_vars() {
    let (prologue, body) = split(&js("const a = 1\nlet b\nvar c\nlet d = a, e"));
    assert_eq!(prologue, "var a, b, c, d, e;(async () => {");
    assert_eq!(
        body,
        [
            "; a = 1;",
            "; b = void 0;",
            "; void 0;",
            "; d = a, e = void 0;"
        ]
    );
}

#[test]
fn destructuring_declarations_become_assignments() {
    let (prologue, body) = split(&js("const { x, y: [z], ...rest } = o, [p = 1] = q"));
    assert_eq!(prologue, "var x, z, rest, p;(async () => {");
    assert_eq!(body, ["; ({ x, y: [z], ...rest } = o), [p = 1] = q;"]);
    // After a line without a semicolon, the `;` keeps them apart.
    let (_, body) = split(&js("foo()\nconst [m] = arr\nlet {n} = obj"));
    assert_eq!(body, ["foo()", "; [m] = arr;", "; ({n} = obj);"]);
}

#[test]
fn functions_stay_and_are_published() {
    let (prologue, body) = split(&js("function f() { return g() }\nasync function* g() {}"));
    assert_eq!(prologue, "var f, g;(async () => {this.f = f;this.g = g;");
    assert_eq!(
        body,
        ["function f() { return g() }", "async function* g() {}"]
    );
}

#[test]
fn classes_become_assignments() {
    let (prologue, body) = split(&js(
        "class K extends Base { static #n = 1; m() { var own } }",
    ));
    assert_eq!(prologue, "var K;(async () => {");
    assert_eq!(
        body,
        [";K = class K extends Base { static #n = 1; m() { var own } };"]
    );
}

#[test]
fn imports_load_through_the_kernel() {
    let out = js(concat!(
        "import fs, { readFileSync as read, \"a-b\" as ab } from 'fs'\n",
        "import * as path from \"node:path\"\n",
        "import 'side-effect'\n",
        "import data from './data.json' with { type: 'json' }\n",
        "import {} from 'nothing'",
    ));
    let (prologue, body) = split(&out);
    assert_eq!(prologue, "var fs, read, ab, path, data;(async () => {");
    assert_eq!(
        body,
        [
            ";const __e2b_m0 = await __e2b_kernel__.import(\"fs\"); fs = __e2b_m0.default; \
             read = __e2b_kernel__.named(__e2b_m0, \"readFileSync\"); ab = __e2b_kernel__.named(__e2b_m0, \"a-b\");",
            ";const __e2b_m1 = await __e2b_kernel__.import(\"node:path\"); path = __e2b_m1;",
            ";await __e2b_kernel__.import(\"side-effect\");",
            ";const __e2b_m2 = await __e2b_kernel__.import(\"./data.json\", { with: { type: 'json' } }); data = __e2b_m2.default;",
            ";const __e2b_m3 = await __e2b_kernel__.import(\"nothing\");",
        ]
    );
}

#[test]
fn a_multi_line_import_keeps_the_lines_after_it() {
    let (_, body) = split(&js("import {\n  a,\n  b,\n} from 'm'\nmarker"));
    assert_eq!(body.len(), 5);
    assert_eq!(body[4], "return (marker)");
}

#[test]
fn dynamic_imports_anywhere_go_through_the_kernel() {
    let (_, body) = split(&js(
        "const load = async () => (await import('./x.mjs')).default\nimport.meta",
    ));
    assert_eq!(
        body[0],
        "; load = async () => (await __e2b_kernel__.import('./x.mjs')).default;"
    );
    assert_eq!(
        body[1], "return (import.meta)",
        "import.meta is left to Node"
    );
}

#[test]
fn vars_of_nested_blocks_are_hoisted_not_those_of_functions() {
    let source = "if (c) { var v = 1 }\nif (c) var w = 2\nfor (var i = 0, j; i < 2; i++) {}\n\
                  for (var k in o) {}\nfor (var { p } of list) {}\nlab: { var l }\n\
                  function f() { var local }\nconst g = () => { var alsoLocal }\n\
                  class C { static { var inStatic } }\n{ let blockScoped = 1; const c2 = 2 }";
    let (prologue, body) = split(&js(source));
    assert_eq!(
        prologue,
        "var v, w, i, j, k, p, l, f, g, C;(async () => {this.f = f;"
    );
    assert_eq!(
        body,
        [
            "if (c) { ; v = 1; }",
            "if (c)  w = 2;",
            "for ( i = 0, void 0; i < 2; i++) {}",
            "for ( k in o) {}",
            "for ( { p } of list) {}",
            "lab: { ; void 0; }",
            "function f() { var local }",
            "; g = () => { var alsoLocal };",
            ";C = class C { static { var inStatic } };",
            "{ let blockScoped = 1; const c2 = 2 }",
        ]
    );
}

#[test]
fn the_last_expression_is_returned() {
    for (source, last) in [
        ("a + 1", "return (a + 1)"),
        ("x = 5", "return (x = 5)"),
        ("f();;", "return (f());;"),
        ("await p // done", "return (await p) // done"),
        ("'a string'", "return ('a string')"),
        ("({ a: 1 })", "return (({ a: 1 }))"),
    ] {
        let out = js(source);
        let (_, body) = split(&out);
        assert_eq!(body.last().unwrap(), &last, "{source:?}");
    }
    for source in ["let x = 1", "function f() {}", "if (a) b", "'use strict'"] {
        assert!(!js(source).contains("return ("), "{source:?}");
    }
}

#[test]
fn use_strict_stays_first_and_a_hashbang_is_a_comment() {
    let (prologue, body) = split(&js("'use strict'\nlet a = 1"));
    assert_eq!(prologue, "'use strict';var a;(async () => {");
    assert_eq!(body, ["", "; a = 1;"]);
    let (_, body) = split(&js("#!/usr/bin/env node\n1"));
    assert_eq!(body, ["///usr/bin/env node", "return (1)"]);
}

#[test]
fn exports_declare_without_exporting() {
    let out = js("export const e = 1\nexport function f() {}\nexport { e as alias }\nexport * from 'm'\nexport default 42");
    let (prologue, body) = split(&out);
    assert_eq!(prologue, "var e, f;(async () => {this.f = f;");
    assert_eq!(body, ["; e = 1;", "function f() {}", "", "", ";42"]);
    let (_, body) = split(&js("export default function () {}"));
    assert_eq!(body, [";void function () {}"]);
    let (_, body) = split(&js("export default class {}"));
    assert_eq!(body, [";void class {}"]);
}

#[test]
fn every_line_of_a_javascript_cell_keeps_its_number() {
    let source = "const a = {\n  one: 1,\n}\nfunction f(\n  x\n) {\n  return x\n}\nlet [b,\n  c] = [1, 2]\nclass K {\n}\nf(a)";
    let out = js(source);
    let (_, body) = split(&out);
    assert_eq!(body.len(), source.lines().count());
    for (line, original) in body.iter().zip(source.lines()) {
        let word = original
            .trim()
            .trim_start_matches("const ")
            .trim_start_matches("let ");
        assert!(
            line.contains(word.split(' ').next().unwrap()),
            "{line:?} vs {original:?}"
        );
    }
}

#[test]
fn code_only_a_script_allows_parses_as_one() {
    let (_, body) = split(&js("<!-- an HTML comment, script-only\nvar n = 010\nn"));
    assert_eq!(
        body,
        [
            "<!-- an HTML comment, script-only",
            "; n = 010;",
            "return (n)"
        ]
    );
    // With await in it, it has to be a module: the module's error counts.
    let e = error("await 1\n<!-- comment", false);
    assert_eq!(e.line, 2);
}

#[test]
fn syntax_errors_say_where() {
    let e = error("let ok = 1\nconst é = ;", false);
    assert_eq!((e.line, e.column), (2, 11));
    assert_eq!(e.source_line, "const é = ;");
    assert!(!e.message.is_empty());
    assert_eq!(e.to_string(), format!("{} (2:11)", e.message));
    let e = error("return 1", false);
    assert_eq!((e.line, e.column), (1, 1));
    let e = error("f(\n\n", false);
    assert_eq!(e.line, 3);
}

#[test]
fn typescript_loses_types_and_keeps_values() {
    let out = ts(concat!(
        "import type { T } from 't'\n",
        "import { type U, used, unusedHere } from 'u'\n",
        "interface P { x: number }\n",
        "type Alias = string\n",
        "declare const ambient: number\n",
        "enum Color { Red, Green = 'g' }\n",
        "abstract class Shape<T> { constructor(public readonly size: number, private t?: T) { super() } abstract area(): number }\n",
        "function id<T>(v: T): T { return v }\n",
        "const n = id<number>(5) as number\n",
        "n!",
    ));
    for gone in [
        "interface",
        "type ",
        "Alias",
        "ambient",
        "<T>",
        "number",
        "abstract",
        "'t'",
        "readonly",
    ] {
        assert!(!out.contains(gone), "{gone} in:\n{out}");
    }
    for kept in [
        "unusedHere",
        "\"Red\"",
        "this.size = size",
        "return v",
        "return (n)",
    ] {
        assert!(out.contains(kept), "{kept} not in:\n{out}");
    }
    let (prologue, _) = split(&out);
    assert_eq!(
        prologue,
        "var used, unusedHere, Color, Shape, id, n;(async () => {this.id = id;"
    );
}

#[test]
fn typescript_syntax_errors_point_at_the_typescript() {
    let e = error("let a: number = 1\nlet b: = 2", true);
    assert_eq!(
        (e.line, e.column, e.source_line.as_str()),
        (2, 8, "let b: = 2")
    );
    // TypeScript accepts what JavaScript would not.
    assert!(transform_cell("let a: number = 1", false).is_err());
}
