/// One captured output stream, holding at most `cap` bytes so that memory stays
/// bounded whatever the code prints.
#[derive(Debug)]
pub struct OutputBuffer {
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl OutputBuffer {
    pub fn new(cap: usize) -> Self {
        OutputBuffer {
            bytes: Vec::new(),
            cap,
            truncated: false,
        }
    }

    /// Appends a chunk; returns false once the cap has been passed.
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        let room = self.cap - self.bytes.len();
        if chunk.len() > room {
            self.bytes.extend_from_slice(&chunk[..room]);
            self.truncated = true;
        } else {
            self.bytes.extend_from_slice(chunk);
        }
        !self.truncated
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The text written: exact bytes as UTF-8, invalid sequences replaced, and a
    /// character cut in half by the cap dropped rather than mangled.
    pub fn into_string(self) -> String {
        let mut bytes = self.bytes;
        if self.truncated {
            if let Err(e) = std::str::from_utf8(&bytes) {
                if e.error_len().is_none() {
                    bytes.truncate(e.valid_up_to());
                }
            }
        }
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exact_bytes_under_the_cap() {
        let mut out = OutputBuffer::new(100);
        assert!(out.push(b"1\n"));
        assert!(out.push(b"2"));
        assert!(!out.truncated());
        assert_eq!(out.into_string(), "1\n2");
    }

    #[test]
    fn stops_at_the_cap_and_says_so() {
        let mut out = OutputBuffer::new(4);
        assert!(out.push(b"abc"));
        assert!(!out.push(b"defg"));
        assert!(out.truncated());
        assert_eq!(out.into_string(), "abcd");
    }

    #[test]
    fn a_character_cut_by_the_cap_is_dropped() {
        let mut out = OutputBuffer::new(4);
        out.push("ab€".as_bytes()); // € is 3 bytes: only 2 fit
        assert_eq!(out.into_string(), "ab");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut out = OutputBuffer::new(10);
        out.push(b"a\xffb");
        assert_eq!(out.into_string(), "a\u{fffd}b");
    }
}
