//! Package specs for `executeWithPackages`, checked before anything runs. Only
//! registry packages by name pass: no paths, URLs, VCS links or installer
//! options, and specs never reach a shell.

use crate::{Error, Language};

/// The installers' common arguments on both backends (`python3 ...`,
/// `npm ...`); each backend adds its own, then `--` and the specs.
pub const PIP_INSTALL: &[&str] = &[
    "-m",
    "pip",
    "install",
    "--no-input",
    "--disable-pip-version-check",
];
pub const NPM_INSTALL: &[&str] = &[
    "install",
    "--no-save",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
];

const MAX_PACKAGES: usize = 100;
const MAX_SPEC_LEN: usize = 214;

/// Checks every spec of `packages` for `language`; the first bad one is named.
pub fn validate_packages(language: Language, packages: &[String]) -> Result<(), Error> {
    if packages.len() > MAX_PACKAGES {
        return Err(Error::invalid_arg(format!(
            "{} packages given; at most {MAX_PACKAGES} per call",
            packages.len()
        )));
    }
    for spec in packages {
        let why = if spec.len() > MAX_SPEC_LEN {
            Some(format!("is longer than {MAX_SPEC_LEN} characters"))
        } else if looks_like_a_file(spec) {
            Some("names an archive file, which the installer would read from disk; only registry packages by name are allowed".into())
        } else {
            match language {
                Language::Python => python_spec(spec).err(),
                Language::Node => npm_spec(spec).err(),
                Language::Bash => {
                    Some("cannot be installed for bash: use \"python\" or \"node\"".into())
                }
            }
        };
        if let Some(why) = why {
            return Err(Error::invalid_arg(format!("package spec {spec:?} {why}")));
        }
    }
    Ok(())
}

/// pip takes a requirement that ends like an archive for a file in its work
/// dir, and npm one that ends in `.tgz`, `.tar.gz` or `.tar` for a tarball.
fn looks_like_a_file(spec: &str) -> bool {
    const ARCHIVES: &[&str] = &[
        ".whl",
        ".zip",
        ".tar",
        ".tgz",
        ".tar.gz",
        ".tbz",
        ".tar.bz2",
        ".txz",
        ".tar.xz",
        ".tlz",
        ".tar.lz",
        ".tar.lzma",
    ];
    let spec = spec.trim().to_ascii_lowercase();
    ARCHIVES.iter().any(|ext| spec.ends_with(ext))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// PEP 508 without URLs or markers: `name`, `name[extra,...]`, then version
/// clauses such as `==2.2.*`, `>=1,<2`, `~=1.4`.
fn python_spec(spec: &str) -> Result<(), String> {
    let spec = spec.trim();
    let name_end = spec.find(|c: char| !is_name_char(c)).unwrap_or(spec.len());
    let name = &spec[..name_end];
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Err("is not a package name (PEP 508: letters, digits, . _ -, starting and ending with a letter or digit)".into());
    }
    let mut rest = spec[name_end..].trim_start();
    if let Some(after) = rest.strip_prefix('[') {
        let close = after.find(']').ok_or("has an unclosed [extras] list")?;
        for extra in after[..close].split(',').map(str::trim) {
            if extra.is_empty() || !extra.chars().all(is_name_char) {
                return Err(format!("has an invalid extra {extra:?}"));
            }
        }
        rest = after[close + 1..].trim_start();
    }
    if rest.is_empty() {
        return Ok(());
    }
    if rest.contains(';') {
        return Err("has environment markers, which are not supported".into());
    }
    if rest.contains('@') || rest.contains("://") {
        return Err(
            "is a URL or direct reference; only registry packages by name are allowed".into(),
        );
    }
    for clause in rest.split(',').map(str::trim) {
        let op_len = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .iter()
            .find(|op| clause.starts_with(*op))
            .map(|op| op.len())
            .ok_or_else(|| {
                format!("has an invalid version clause {clause:?} (use ==, >=, <=, !=, ~=, <, >)")
            })?;
        let version = clause[op_len..].trim();
        let valid = !version.is_empty()
            && version.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '-' | '_')
            });
        if !valid {
            return Err(format!("has an invalid version {version:?}"));
        }
    }
    Ok(())
}

/// An npm registry package: `name`, `@scope/name`, optionally `@version`,
/// `@range` or `@tag`. No paths, URLs, git links, aliases or options.
fn npm_spec(spec: &str) -> Result<(), String> {
    let (scope, rest) = match spec.strip_prefix('@') {
        Some(scoped) => {
            let slash = scoped
                .find('/')
                .ok_or("has a scope but no package name (@scope/name)")?;
            (Some(&scoped[..slash]), &scoped[slash + 1..])
        }
        None => (None, spec),
    };
    let (name, version) = match rest.find('@') {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let npm_name = |s: &str| {
        !s.is_empty()
            && !s.starts_with(['.', '_', '-'])
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_' | '~')
            })
    };
    if scope.is_some_and(|s| !npm_name(s)) || !npm_name(name) {
        return Err(
            "is not an npm package name (lowercase letters, digits, - . _ ~; optionally @scope/)"
                .into(),
        );
    }
    if let Some(version) = version {
        let valid = !version.trim().is_empty()
            && !version.starts_with('-')
            && version.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '.' | '*' | '^' | '~' | '<' | '>' | '=' | '|' | '-' | '+' | ' '
                    )
            });
        if !valid {
            return Err(format!("has an invalid version, range or tag {version:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(language: Language, spec: &str) -> bool {
        validate_packages(language, &[spec.to_string()]).is_ok()
    }

    #[test]
    fn python_specs() {
        for good in [
            "six",
            "pandas==2.2.*",
            "requests[socks,security]>=2.0,<3",
            "zope.interface~=6.0",
            "Flask",
            "a",
            "numpy !=1.0",
        ] {
            assert!(ok(Language::Python, good), "{good}");
        }
        for bad in [
            "six; rm -rf /",
            "six && ls",
            "$(id)",
            "`id`",
            "../pkg",
            "./local",
            "/abs/path.whl",
            "https://evil/x.whl",
            "pkg @ https://x/y.whl",
            "git+https://github.com/a/b",
            "-e .",
            "--index-url=http://x",
            "-r requirements.txt",
            "six==",
            "six=1",
            "",
            " ",
            "six[",
            "six\nnumpy",
            "six|cat",
            "pkg>1 ; python_version<'3'",
            "evil.tgz",
            "x.tar",
            "evil-1.0.tar.gz",
            "a-1.0-py3-none-any.whl",
            "X.ZIP",
            "six==1.0.zip",
        ] {
            let err = validate_packages(Language::Python, &[bad.to_string()]).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_ARG", "{bad:?}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn npm_specs() {
        for good in [
            "lodash",
            "lodash@4.17.21",
            "@types/node@^20",
            "is-number@latest",
            "left-pad@>=1.0.0 <2",
            "a@1.x || 2.x",
        ] {
            assert!(ok(Language::Node, good), "{good}");
        }
        for bad in [
            "../x",
            "./x",
            "/x",
            "file:../x",
            "git+https://x",
            "github:user/repo",
            "user/repo",
            "https://x/y.tgz",
            "--registry=http://x",
            "-g",
            "Lodash",
            "lodash@",
            "@scope",
            "@/x",
            "npm:lodash@1",
            "x;id",
            "x$(id)",
            "",
            ".hidden",
            "lodash@-1",
            "evil.tgz",
            "x.tar",
            "evil-1.0.tar.gz",
            "x@1.0.tgz",
        ] {
            assert!(
                validate_packages(Language::Node, &[bad.to_string()]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_empty_list_is_fine_and_a_huge_one_is_not() {
        assert!(validate_packages(Language::Python, &[]).is_ok());
        let many = vec!["six".to_string(); 101];
        assert!(validate_packages(Language::Python, &many).is_err());
    }
}
