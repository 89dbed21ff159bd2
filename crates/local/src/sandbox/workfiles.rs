//! Files in and out of the work dir, handled by init inside the sandbox (never
//! by the host): written before the program starts, read after it ends with
//! openat2(RESOLVE_BENEATH), so a symlink the code planted cannot lead out.

use std::fs;
use std::io::Read;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use super::{Context, Layout, Reporter, Setup};
use crate::protocol::{Event, Work};

pub(super) fn write(work: &Work, layout: &Layout) -> Setup<()> {
    for file in &work.files {
        let target = layout.home.join(&file.path);
        let content = BASE64
            .decode(&file.content)
            .context("files", || format!("decoding {}", file.path))?;
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).context("files", || format!("mkdir -p {}", dir.display()))?;
        }
        fs::write(&target, content).context("files", || format!("writing {}", target.display()))?;
    }
    Ok(())
}

pub(super) fn read(work: &Work, layout: &Layout, reporter: &Reporter) {
    if work.read_files.is_empty() {
        return;
    }
    let Ok(home) = open(
        &layout.home,
        OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return;
    };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    for path in &work.read_files {
        let refuse = |reason: String| Event::FileRefused {
            path: path.clone(),
            reason,
        };
        let event = match openat2(&home, path.as_str(), how) {
            Err(nix::errno::Errno::ENOENT) => continue, // the code did not write it
            Err(nix::errno::Errno::EXDEV) => {
                refuse("resolves outside the work dir (through a symlink)".into())
            }
            Err(e) => refuse(format!("cannot be opened: {e}")),
            Ok(fd) => {
                let mut file = fs::File::from(fd);
                let mut content = Vec::new();
                let regular = file.metadata().is_ok_and(|m| m.is_file());
                match (&mut file)
                    .take(work.read_file_cap + 1)
                    .read_to_end(&mut content)
                {
                    _ if !regular => refuse("is not a regular file".into()),
                    Ok(n) if n as u64 > work.read_file_cap => {
                        refuse(format!("is larger than {} bytes", work.read_file_cap))
                    }
                    Ok(_) => Event::File {
                        path: path.clone(),
                        content: BASE64.encode(&content),
                    },
                    Err(e) => refuse(format!("cannot be read: {e}")),
                }
            }
        };
        reporter.send(&event);
    }
}
