//! The JavaScript/TypeScript kernel run directly with Node.js, cells
//! transformed as `serve` transforms them.

mod common;

use common::{scratch_dir, start, Kernel, Options};
use e2b_native_kernels::Language;

fn js() -> Option<Kernel> {
    start(Language::JavaScript, Options::default())
}

fn ts() -> Option<Kernel> {
    start(Language::TypeScript, Options::default())
}

#[test]
fn console_output_streams_and_the_last_expression_is_the_result() {
    let Some(mut k) = js() else { return };
    let run = k.run("console.log('Hello World!')\nconsole.error('careful')");
    assert_eq!(run.stdout_chunks(), ["Hello World!\n"]);
    assert_eq!(run.stderr(), "careful\n");
    assert!(
        run.results().is_empty(),
        "console.log returns undefined: no result"
    );
    assert_eq!(
        k.run("[1, 2].map((n) => n * 2)").text().as_deref(),
        Some("[ 2, 4 ]")
    );
    assert_eq!(k.run("'a string'").text().as_deref(), Some("a string"));
    assert_eq!(
        k.run("({ a: { b: 1 } })").text().as_deref(),
        Some("{ a: { b: 1 } }")
    );
    assert_eq!(k.run("let n = 1; n = 5").text().as_deref(), Some("5"));
    let counted = k.run("1");
    assert_eq!(counted.count(), Some(6));
}

#[test]
fn declarations_persist_and_may_be_declared_again() {
    let Some(mut k) = js() else { return };
    let run = k.run(
        "const items = [1, 2, 3]\nlet total = 10\nvar label = 'sum'\n\
         function double(n) { return n * 2 }\nclass Box { constructor(v) { this.v = v } }\n\
         const { length } = items, [first] = items",
    );
    assert!(run.error().is_none(), "{run:?}");
    let used = k.run("`${label}: ${items.length + total} ${double(first)} ${new Box(length).v}`");
    assert_eq!(used.text().as_deref(), Some("sum: 13 2 3"));
    // Running a cell again redeclares its names, as notebooks do.
    assert!(k.run("const items = ['again']").error().is_none());
    assert_eq!(k.run("items").text().as_deref(), Some("[ 'again' ]"));
    // Functions are usable before their declaration in the same cell.
    assert_eq!(
        k.run("early()\nfunction early() { return 'hoisted' }")
            .results()
            .len(),
        0
    );
    assert_eq!(k.run("early()").text().as_deref(), Some("hoisted"));
    // A block's var is the cell's; a function's stays its own.
    k.run("if (true) { var inBlock = 1 }\nfor (var i = 0; i < 3; i++) {}\nfunction f() { var local = 1 }");
    assert_eq!(
        k.run("[inBlock, i, typeof local]").text().as_deref(),
        Some("[ 1, 3, 'undefined' ]")
    );
}

#[test]
fn top_level_await_and_promises() {
    let Some(mut k) = js() else { return };
    assert_eq!(
        k.run("await Promise.resolve('Hello World!')")
            .text()
            .as_deref(),
        Some("Hello World!")
    );
    let run = k.run("const wait = (ms) => new Promise((r) => setTimeout(r, ms, ms))\nconst got = await wait(20)\ngot + 1");
    assert_eq!(run.text().as_deref(), Some("21"));
    // A promise as the last expression is awaited.
    assert_eq!(k.run("wait(5)").text().as_deref(), Some("5"));
    let rejected = k.run("await Promise.reject(new RangeError('nope'))");
    let error = rejected.error().unwrap();
    assert_eq!(
        (error.name.as_str(), error.value.as_str()),
        ("RangeError", "nope")
    );
}

#[test]
fn esm_imports_of_builtins() {
    let Some(mut k) = js() else { return };
    let run = k
        .run("\n    import { readFileSync } from 'fs'\n    console.log(typeof readFileSync)\n    ");
    assert_eq!(run.stdout_chunks(), ["function\n"]);
    let run = k.run(
        "import fs, { existsSync as exists } from 'node:fs'\nimport * as path from 'path'\nimport 'node:os'\n\
         [typeof fs.readFileSync, exists('/'), path.join('a', 'b')]",
    );
    assert_eq!(run.text().as_deref(), Some("[ 'function', true, 'a/b' ]"));
    // Imports are globals for later cells; import() works anywhere.
    assert_eq!(k.run("path.sep").text().as_deref(), Some("/"));
    let dynamic = k.run("async function load() { return (await import('node:util')).format('%d', 7) }\nawait load()");
    assert_eq!(dynamic.text().as_deref(), Some("7"));
    assert_eq!(
        k.run("typeof require('node:os').cpus").text().as_deref(),
        Some("function")
    );
}

/// A package directory with a CommonJS and an ES-only package.
fn packages(root: &std::path::Path) {
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "cjs-pkg/package.json",
        r#"{"name": "cjs-pkg", "main": "main.js"}"#,
    );
    write(
        "cjs-pkg/main.js",
        "exports.greet = (n) => 'hi ' + n\nexports.version = 1\n",
    );
    write(
        "esm-pkg/package.json",
        r#"{"name": "esm-pkg", "type": "module", "exports": {"import": "./index.js"}}"#,
    );
    write(
        "esm-pkg/index.js",
        "export default 'esm default'\nexport const named = 42\n",
    );
}

#[test]
fn imports_of_packages_on_node_path_and_in_the_cwd() {
    let node_path = scratch_dir();
    packages(&node_path);
    let cwd = scratch_dir();
    packages(&cwd.join("node_modules"));
    std::fs::write(cwd.join("local.mjs"), "export const where = 'local file'\n").unwrap();
    let env = vec![("NODE_PATH".to_string(), node_path.display().to_string())];
    let Some(mut k) = start(
        Language::JavaScript,
        Options {
            cwd,
            env,
            ..Options::default()
        },
    ) else {
        return;
    };
    let run = k.run(
        "import cjs, { greet } from 'cjs-pkg'\nimport esm, { named } from 'esm-pkg'\nimport { where } from './local.mjs'\n\
         [greet('you'), cjs.version, esm, named, where]",
    );
    assert_eq!(
        run.text().as_deref(),
        Some("[ 'hi you', 1, 'esm default', 42, 'local file' ]"),
        "{run:?}"
    );
    // From NODE_PATH alone (the cwd has none of its own here).
    let Some(mut k) = start(
        Language::JavaScript,
        Options {
            env: vec![("NODE_PATH".into(), node_path.display().to_string())],
            ..Options::default()
        },
    ) else {
        return;
    };
    assert_eq!(
        k.run("import { greet } from 'cjs-pkg'\ngreet('path')")
            .text()
            .as_deref(),
        Some("hi path")
    );
    let missing = k.run("import x from 'no-such-package'").error().unwrap();
    assert!(missing.value.contains("no-such-package"), "{missing:?}");
}

#[test]
fn typescript_cells() {
    let Some(mut k) = ts() else { return };
    let run = k.run("const message: string = 'Hello World!'; console.log(message)");
    assert_eq!(run.stdout_chunks(), ["Hello World!\n"]);
    let run = k.run(
        "interface Point { x: number; y: number }\ntype Pair<T> = [T, T]\n\
         enum Color { Red, Green = 'green' }\n\
         function swap<T>(pair: Pair<T>): Pair<T> { return [pair[1], pair[0]] }\n\
         class Vec { constructor(public x: number, private readonly y: number = 0) {} norm(): number { return Math.hypot(this.x, this.y) } }\n\
         const p: Point = { x: 3, y: 4 };\n\
         [swap<number>([1, 2]), Color.Red, Color.Green, new Vec(p.x, p.y).norm(), (p as Point).x!]",
    );
    assert_eq!(
        run.text().as_deref(),
        Some("[ [ 2, 1 ], 0, 'green', 5, 3 ]"),
        "{run:?}"
    );
    // Types, enums and classes are there for later cells.
    assert_eq!(
        k.run("const q: Point = { x: 1, y: 1 }; Color.Green + q.x")
            .text()
            .as_deref(),
        Some("green1")
    );
    // A value import used only in a later cell is kept.
    k.run("import { format } from 'node:util'\nimport type { Stats } from 'node:fs'");
    assert_eq!(
        k.run("format('%s!', 'kept')").text().as_deref(),
        Some("kept!")
    );
    assert_eq!(
        k.run("await Promise.resolve<number>(7)").text().as_deref(),
        Some("7")
    );
}

#[test]
fn syntax_errors_are_reported_with_their_position() {
    let Some(mut k) = js() else { return };
    k.run("const before = 1");
    let run = k.run("const ok = 1\nconst broken = ;");
    let error = run.error().unwrap();
    assert_eq!(error.name, "SyntaxError");
    assert!(error.value.ends_with("(2:16)"), "{error:?}");
    assert!(
        error
            .traceback
            .starts_with("<cell-2>:2:16\nconst broken = ;\n               ^"),
        "{}",
        error.traceback
    );
    assert_eq!(run.count(), Some(2), "it counts as an execution");
    assert_eq!(
        k.run("before").text().as_deref(),
        Some("1"),
        "the kernel lives on"
    );
    // Type annotations are TypeScript, not JavaScript.
    assert_eq!(
        k.run("let n: number = 1").error().unwrap().name,
        "SyntaxError"
    );
    let Some(mut t) = ts() else { return };
    let error = t.run("let n: number = \n\n  )").error().unwrap();
    assert_eq!(error.name, "SyntaxError");
    assert!(error.value.ends_with("(3:3)"), "{error:?}");
}

#[test]
fn runtime_errors_point_at_the_cells_lines() {
    let Some(mut k) = js() else { return };
    let error = k.run("undefinedThing.x").error().unwrap();
    assert_eq!(error.name, "ReferenceError");
    assert_eq!(error.value, "undefinedThing is not defined");
    let error = k
        .run("const a = 1\n\nfunction fail() {\n  throw new TypeError('bad')\n}\nfail()")
        .error()
        .unwrap();
    assert_eq!(
        (error.name.as_str(), error.value.as_str()),
        ("TypeError", "bad")
    );
    assert!(
        error.traceback.contains("at fail (<cell-2>:4:9)"),
        "{}",
        error.traceback
    );
    assert!(
        !error.traceback.contains("node:"),
        "no kernel frames: {}",
        error.traceback
    );
    let thrown = k.run("throw 'a string'").error().unwrap();
    assert_eq!(
        (thrown.name.as_str(), thrown.value.as_str()),
        ("Error", "'a string'")
    );
}

#[test]
fn env_vars_and_cwd() {
    let cwd = scratch_dir();
    let env = vec![("SANDBOX_WIDE".to_string(), "yes".to_string())];
    let Some(mut k) = start(
        Language::JavaScript,
        Options {
            cwd: cwd.clone(),
            env,
            ..Options::default()
        },
    ) else {
        return;
    };
    let with = k.run_with(
        "[process.env.FOO, process.env.SANDBOX_WIDE]",
        &[("FOO", "bar"), ("SANDBOX_WIDE", "over")],
    );
    assert_eq!(with.text().as_deref(), Some("[ 'bar', 'over' ]"));
    let after = k.run("[process.env.FOO || 'default', process.env.SANDBOX_WIDE]");
    assert_eq!(after.text().as_deref(), Some("[ 'default', 'yes' ]"));
    let seen = k.run("process.cwd()").text().unwrap();
    assert_eq!(
        std::fs::canonicalize(seen).unwrap(),
        std::fs::canonicalize(cwd).unwrap()
    );
}

#[test]
fn sigint_interrupts_a_busy_or_waiting_cell() {
    let Some(mut k) = js() else { return };
    k.run("let spins = 0");
    let spin = "while (true) { if (spins++ === 0) console.log('spinning') }";
    let busy = k.run_interrupting(spin, "spinning");
    assert_eq!(busy.error().unwrap().name, "ExecutionAborted", "{busy:?}");
    assert_eq!(k.run("spins > 0").text().as_deref(), Some("true"));
    let wait = "setTimeout(() => console.log('waiting'))\nawait new Promise(() => {})";
    let waiting = k.run_interrupting(wait, "waiting");
    assert_eq!(
        waiting.error().unwrap().name,
        "ExecutionAborted",
        "{waiting:?}"
    );
    assert_eq!(k.run("1 + 1").text().as_deref(), Some("2"));
}
