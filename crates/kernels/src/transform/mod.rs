//! The JavaScript/TypeScript cell transform: a cell becomes a script that
//! `vm.Script#runInThisContext` runs and whose value is a promise of the
//! cell's last expression.
//!
//! TypeScript first loses its types (oxc's transformer, keeping imports that
//! only later cells use). Then, as Node's REPL does for top-level await, the
//! body moves into an async arrow function and what it declares at the top
//! level is hoisted out as `var`s, so later cells see it (and may declare it
//! again):
//!
//! ```text
//!                                var fs, a, f;(async () => {this.f = f;
//! import fs from 'fs'            ;const __e2b_m0 = await __e2b_kernel__.import("fs"); fs = __e2b_m0.default;
//! const a = await f()            ;a = await f();
//! function f() { return 1 }      function f() { return 1 }
//! a + 1                          return (a + 1)
//!                                })()
//! ```
//!
//! Plain JavaScript is edited in place, so every line of the cell keeps its
//! number in stack traces. `import()` anywhere goes through the kernel's
//! loader, which resolves from the context's cwd and `NODE_PATH`.

use std::collections::HashSet;
use std::path::Path;

use oxc_allocator::Allocator;
use oxc_ast::ast::*;
use oxc_ast_visit::{walk, Visit};
use oxc_codegen::Codegen;
use oxc_diagnostics::OxcDiagnostic;
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::{GetSpan, SourceType, Span};
use oxc_syntax::scope::ScopeFlags;
use oxc_transformer::{TransformOptions, Transformer, TypeScriptOptions};
use serde::Serialize;

/// The global the kernel defines for transformed cells.
const KERNEL: &str = "__e2b_kernel__";

/// Why a cell did not parse, and where (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellSyntaxError {
    pub message: String,
    pub line: usize,
    pub column: usize,
    /// The cell's line the error is on.
    pub source_line: String,
}

impl std::fmt::Display for CellSyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}:{})", self.message, self.line, self.column)
    }
}

/// Transforms one cell (see the module's documentation).
pub fn transform_cell(source: &str, typescript: bool) -> Result<String, CellSyntaxError> {
    if typescript {
        rewrite(&strip_types(source)?)
    } else {
        rewrite(source)
    }
}

/// TypeScript to JavaScript: types, interfaces and `declare`s go; enums and
/// namespaces become code; imports stay unless they are `type` imports.
fn strip_types(source: &str) -> Result<String, CellSyntaxError> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::ts()).parse();
    if let Some(error) = parsed.diagnostics.errors().next() {
        return Err(CellSyntaxError::new(source, error));
    }
    let mut program = parsed.program;
    let scoping = SemanticBuilder::new()
        .with_enum_eval(true)
        .build(&program)
        .semantic
        .into_scoping();
    let options = TransformOptions {
        typescript: TypeScriptOptions {
            // A cell's import may be used by later cells only.
            only_remove_type_imports: true,
            ..TypeScriptOptions::default()
        },
        ..TransformOptions::default()
    };
    let transformed = Transformer::new(&allocator, Path::new("cell.ts"), &options)
        .build_with_scoping(scoping, &mut program);
    if let Some(error) = transformed.diagnostics.errors().next() {
        return Err(CellSyntaxError::new(source, error));
    }
    Ok(Codegen::new().build(&program).code)
}

fn rewrite(source: &str) -> Result<String, CellSyntaxError> {
    let allocator = Allocator::default();
    let program = parse_js(&allocator, source)?;
    let mut rewriter = Rewriter::new(source);
    for statement in &program.body {
        rewriter.top_level(statement);
    }
    rewriter.return_last(&program);
    Ok(rewriter.finish(&program))
}

/// Parses as a module (imports, top-level await); code only a sloppy
/// script allows (`with`, octal literals) parses as a script.
fn parse_js<'a>(allocator: &'a Allocator, source: &'a str) -> Result<Program<'a>, CellSyntaxError> {
    let module = Parser::new(allocator, source, SourceType::mjs()).parse();
    let Some(error) = module.diagnostics.errors().next() else {
        return Ok(module.program);
    };
    let error = CellSyntaxError::new(source, error);
    let script = Parser::new(allocator, source, SourceType::script()).parse();
    if script.diagnostics.has_errors() || script.panicked {
        return Err(error);
    }
    Ok(script.program)
}

impl CellSyntaxError {
    fn new(source: &str, diagnostic: &OxcDiagnostic) -> Self {
        let offset = diagnostic
            .labels
            .iter()
            .map(|label| label.offset() as usize)
            .next()
            .unwrap_or(0)
            .min(source.len());
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[offset..]
            .find('\n')
            .map_or(source.len(), |i| offset + i);
        CellSyntaxError {
            message: diagnostic.message.to_string(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            source_line: source[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
        }
    }
}

/// Where a `var`/`let`/`const` declaration stands, which decides what may
/// replace its keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In a list of statements: a `;` guards against the line before.
    List,
    /// The sole body of `if`, `while`, a label…: nothing may precede it.
    Body,
    /// `for (var i = 0; …)`.
    ForInit,
    /// `for (var x of xs)`.
    ForEach,
}

struct Edit {
    start: u32,
    end: u32,
    text: String,
}

struct Rewriter<'s> {
    source: &'s str,
    edits: Vec<Edit>,
    /// Names declared at the top level, hoisted as `var`s.
    hoisted: Vec<String>,
    seen: HashSet<String>,
    /// Top-level functions, published from inside the async function.
    functions: Vec<String>,
    imports: usize,
    /// Nesting of functions and classes: their `var`s are their own.
    depth: u32,
}

impl<'s> Rewriter<'s> {
    fn new(source: &'s str) -> Self {
        Rewriter {
            source,
            edits: Vec::new(),
            hoisted: Vec::new(),
            seen: HashSet::new(),
            functions: Vec::new(),
            imports: 0,
            depth: 0,
        }
    }

    fn replace(&mut self, start: u32, end: u32, text: impl Into<String>) {
        self.edits.push(Edit {
            start,
            end,
            text: text.into(),
        });
    }

    fn insert(&mut self, at: u32, text: impl Into<String>) {
        self.replace(at, at, text);
    }

    /// Removes a span but keeps its line breaks, so later lines keep their numbers.
    fn blank(&mut self, span: Span) {
        let text = "\n".repeat(span.source_text(self.source).matches('\n').count());
        self.replace(span.start, span.end, text);
    }

    fn hoist(&mut self, name: &str) {
        if self.seen.insert(name.to_string()) {
            self.hoisted.push(name.to_string());
        }
    }

    fn hoist_pattern(&mut self, pattern: &BindingPattern) {
        for ident in pattern.get_binding_identifiers() {
            self.hoist(ident.name.as_str());
        }
    }

    fn top_level<'a>(&mut self, statement: &Statement<'a>) {
        match statement {
            Statement::VariableDeclaration(declaration) => self.variables(declaration, Place::List),
            Statement::FunctionDeclaration(function) => self.function(function),
            Statement::ClassDeclaration(class) => self.class(class),
            Statement::ImportDeclaration(import) => self.import(import),
            Statement::ExportDeclaration(export) => {
                let declaration = export.declaration.span();
                self.replace(export.span.start, declaration.start, "");
                match &export.declaration {
                    Declaration::VariableDeclaration(d) => self.variables(d, Place::List),
                    Declaration::FunctionDeclaration(function) => self.function(function),
                    Declaration::ClassDeclaration(class) => self.class(class),
                    _ => self.blank(declaration),
                }
            }
            Statement::ExportDefaultDeclaration(export) => self.export_default(export),
            Statement::ExportNamedDeclaration(_)
            | Statement::ExportAllDeclaration(_)
            | Statement::ExportFromDeclaration(_)
            | Statement::TSExportAssignment(_)
            | Statement::TSNamespaceExportDeclaration(_) => self.blank(statement.span()),
            other => self.visit_statement(other),
        }
    }

    /// `const a = 1, {b} = c` → `;a = 1, ({b} = c);` (names hoisted); the
    /// hoisted `var`s of nested blocks the same way.
    fn variables<'a>(&mut self, declaration: &VariableDeclaration<'a>, place: Place) {
        let keyword = match declaration.kind {
            VariableDeclarationKind::Var | VariableDeclarationKind::Let => 3,
            VariableDeclarationKind::Const => 5,
            // `using` disposes at the end of its block: it stays in the cell.
            _ => return walk::walk_variable_declaration(self, declaration),
        };
        let start = declaration.span.start;
        let guard = if place == Place::List { ";" } else { "" };
        self.replace(start, start + keyword, guard);
        for declarator in &declaration.declarations {
            self.hoist_pattern(&declarator.id);
            let id = declarator.id.span();
            match &declarator.init {
                Some(init) => {
                    let object = matches!(declarator.id, BindingPattern::ObjectPattern(_));
                    if object && matches!(place, Place::List | Place::Body) {
                        // `{b} = c` would be a block: `({b} = c)`.
                        self.insert(id.start, "(");
                        self.insert(init.span().end, ")");
                    }
                }
                None if place == Place::ForEach => {}
                // `var x;` assigns nothing, `let x;` resets to undefined.
                None if declaration.kind == VariableDeclarationKind::Var => {
                    self.replace(id.start, id.end, "void 0")
                }
                None => self.insert(id.end, " = void 0"),
            }
            self.visit_binding_pattern(&declarator.id);
            if let Some(init) = &declarator.init {
                self.visit_expression(init);
            }
        }
        let text = declaration.span.source_text(self.source);
        if matches!(place, Place::List | Place::Body) && !text.ends_with(';') {
            self.insert(declaration.span.end, ";");
        }
    }

    /// A top-level function stays where it is (hoisted in the async
    /// function) and is published as a global when the cell starts.
    fn function<'a>(&mut self, function: &Function<'a>) {
        if let Some(id) = &function.id {
            self.hoist(id.name.as_str());
            self.functions.push(id.name.to_string());
        }
        self.visit_function(function, ScopeFlags::Function);
    }

    /// `class A {}` → `;A = class A {};`.
    fn class<'a>(&mut self, class: &Class<'a>) {
        if let Some(id) = &class.id {
            self.hoist(id.name.as_str());
            self.insert(class.span.start, format!(";{} = ", id.name));
            self.insert(class.span.end, ";");
        }
        self.visit_class(class);
    }

    fn export_default<'a>(&mut self, export: &ExportDefaultDeclaration<'a>) {
        let start = export.span.start;
        match &export.declaration {
            ExportDefaultDeclarationKind::FunctionDeclaration(function) => {
                let named = function.id.is_some();
                self.replace(
                    start,
                    function.span.start,
                    if named { "" } else { ";void " },
                );
                self.function(function);
            }
            ExportDefaultDeclarationKind::ClassDeclaration(class) => {
                let named = class.id.is_some();
                self.replace(start, class.span.start, if named { "" } else { ";void " });
                self.class(class);
            }
            ExportDefaultDeclarationKind::TSInterfaceDeclaration(_) => self.blank(export.span),
            expression => {
                let expression = expression.to_expression();
                self.replace(start, expression.span().start, ";");
                self.visit_expression(expression);
            }
        }
    }

    /// `import a, {b as c} from 'm'` → `;const __e2b_m0 = await
    /// __e2b_kernel__.import("m"); a = __e2b_m0.default; c = …named(__e2b_m0, "b");`
    fn import<'a>(&mut self, import: &ImportDeclaration<'a>) {
        if import.import_kind.is_type() {
            return self.blank(import.span);
        }
        let source = serde_json::to_string(import.source.value.as_str()).expect("a string");
        let options = import.with_clause.as_ref().map_or(String::new(), |clause| {
            let text = clause.span.source_text(self.source);
            let braces = text.find('{').map_or("{}", |i| &text[i..]);
            format!(", {{ with: {braces} }}")
        });
        let load = format!("await {KERNEL}.import({source}{options})");
        let mut text = match &import.specifiers {
            None => format!(";{load};"),
            Some(_) => {
                let module = format!("__e2b_m{}", self.imports);
                self.imports += 1;
                let mut text = format!(";const {module} = {load};");
                for specifier in import.specifiers.iter().flatten() {
                    text += &self.import_binding(specifier, &module);
                }
                text
            }
        };
        text += &"\n".repeat(import.span.source_text(self.source).matches('\n').count());
        self.replace(import.span.start, import.span.end, text);
    }

    fn import_binding(&mut self, specifier: &ImportDeclarationSpecifier, module: &str) -> String {
        let (local, value) = match specifier {
            ImportDeclarationSpecifier::ImportDefaultSpecifier(s) => {
                (s.local.name.as_str(), format!("{module}.default"))
            }
            ImportDeclarationSpecifier::ImportNamespaceSpecifier(s) => {
                (s.local.name.as_str(), module.to_string())
            }
            ImportDeclarationSpecifier::ImportSpecifier(s) => {
                if s.import_kind.is_type() {
                    return String::new();
                }
                let name = serde_json::to_string(s.imported.name().as_str()).expect("a string");
                (
                    s.local.name.as_str(),
                    format!("{KERNEL}.named({module}, {name})"),
                )
            }
        };
        self.hoist(local);
        format!(" {local} = {value};")
    }

    /// The last statement, if an expression, becomes the cell's value (a
    /// lone string is parsed as a directive: it counts too).
    fn return_last<'a>(&mut self, program: &Program<'a>) {
        let last = program
            .body
            .iter()
            .rev()
            .find(|s| !matches!(s, Statement::EmptyStatement(_)));
        let span = match (last, program.directives.last()) {
            (Some(Statement::ExpressionStatement(statement)), _) => statement.expression.span(),
            (None, Some(directive)) if !is_use_strict(directive) => directive.expression.span,
            _ => return,
        };
        self.insert(span.start, "return (");
        self.insert(span.end, ")");
    }

    /// The edited source inside the async function, after a first line of
    /// its own (the kernel runs it with a line offset of -1) that holds the
    /// directives, the hoisted `var`s and the function's start.
    fn finish(mut self, program: &Program) -> String {
        if let Some(hashbang) = &program.hashbang {
            self.replace(hashbang.span.start, hashbang.span.start + 2, "//");
        }
        // "use strict" applies to the whole script from its first line;
        // other directives mean nothing and stay where they are.
        let mut prologue = String::new();
        for directive in program.directives.iter().filter(|d| is_use_strict(d)) {
            prologue += directive.span.source_text(self.source);
            prologue += ";";
            self.blank(directive.span);
        }
        if !self.hoisted.is_empty() {
            prologue += &format!("var {};", self.hoisted.join(", "));
        }
        prologue += "(async () => {";
        for name in &self.functions {
            prologue += &format!("this.{name} = {name};");
        }
        prologue += "\n";
        // First of all (before a `return (` at 0, say); then insertions
        // before replacements at the same place, otherwise in the order
        // they were made.
        self.edits.insert(
            0,
            Edit {
                start: 0,
                end: 0,
                text: prologue,
            },
        );
        self.edits.sort_by_key(|e| (e.start, e.end));
        let mut out = String::with_capacity(self.source.len() + 256);
        let mut done = 0usize;
        for edit in &self.edits {
            let (start, end) = (edit.start as usize, edit.end as usize);
            debug_assert!(start >= done, "overlapping edits");
            out += &self.source[done..start.max(done)];
            out += &edit.text;
            done = end.max(done);
        }
        out += &self.source[done..];
        out += "\n})()";
        out
    }
}

fn is_use_strict(directive: &Directive) -> bool {
    directive.directive == "use strict"
}

impl<'a> Visit<'a> for Rewriter<'_> {
    fn visit_statements(&mut self, statements: &oxc_allocator::Vec<'a, Statement<'a>>) {
        for statement in statements {
            match statement {
                Statement::VariableDeclaration(d) if self.depth == 0 && d.kind.is_var() => {
                    self.variables(d, Place::List)
                }
                other => self.visit_statement(other),
            }
        }
    }

    fn visit_variable_declaration(&mut self, declaration: &VariableDeclaration<'a>) {
        if self.depth == 0 && declaration.kind.is_var() {
            self.variables(declaration, Place::Body);
        } else {
            walk::walk_variable_declaration(self, declaration);
        }
    }

    fn visit_for_statement_init(&mut self, init: &ForStatementInit<'a>) {
        match init {
            ForStatementInit::VariableDeclaration(d) if self.depth == 0 && d.kind.is_var() => {
                self.variables(d, Place::ForInit)
            }
            other => walk::walk_for_statement_init(self, other),
        }
    }

    fn visit_for_statement_left(&mut self, left: &ForStatementLeft<'a>) {
        match left {
            ForStatementLeft::VariableDeclaration(d) if self.depth == 0 && d.kind.is_var() => {
                self.variables(d, Place::ForEach)
            }
            other => walk::walk_for_statement_left(self, other),
        }
    }

    fn visit_function(&mut self, function: &Function<'a>, flags: ScopeFlags) {
        self.depth += 1;
        walk::walk_function(self, function, flags);
        self.depth -= 1;
    }

    fn visit_arrow_function_expression(&mut self, arrow: &ArrowFunctionExpression<'a>) {
        self.depth += 1;
        walk::walk_arrow_function_expression(self, arrow);
        self.depth -= 1;
    }

    fn visit_class(&mut self, class: &Class<'a>) {
        self.depth += 1;
        walk::walk_class(self, class);
        self.depth -= 1;
    }

    fn visit_import_expression(&mut self, import: &ImportExpression<'a>) {
        if import.phase.is_none() {
            let start = import.span.start;
            self.replace(
                start,
                start + "import".len() as u32,
                format!("{KERNEL}.import"),
            );
        }
        walk::walk_import_expression(self, import);
    }
}

#[cfg(test)]
mod tests;
