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

/// One output stream of an execution: the bytes kept under the cap and, when
/// the caller watches the stream, its text delivered as it comes.
#[derive(Debug)]
pub struct Capture {
    pub kept: OutputBuffer,
    sink: Option<crate::Sink>,
    decoder: Utf8Decoder,
}

impl Capture {
    pub fn new(cap: usize, sink: Option<crate::Sink>) -> Self {
        Capture {
            kept: OutputBuffer::new(cap),
            sink,
            decoder: Utf8Decoder::default(),
        }
    }

    /// Takes a chunk. Returns whether the stream may go on — false once the
    /// cap is passed on an unwatched stream (a watched stream keeps flowing to
    /// its callback; only the kept copy stops) — and the delivery to await
    /// before the next chunk.
    pub fn push(&mut self, chunk: &[u8]) -> (bool, Option<crate::BoxFuture<'static, ()>>) {
        let within = self.kept.push(chunk);
        match &self.sink {
            None => (within, None),
            Some(sink) => {
                let text = self.decoder.push(chunk);
                (true, (!text.is_empty()).then(|| (sink.0)(text)))
            }
        }
    }

    /// The decoder's last bytes, for a watched stream that ended.
    pub fn finish(&mut self) -> Option<crate::BoxFuture<'static, ()>> {
        let sink = self.sink.as_ref()?;
        let rest = self.decoder.finish();
        (!rest.is_empty()).then(|| (sink.0)(rest))
    }
}

/// Turns a byte stream into text chunks that never split a character: an
/// incomplete sequence at the end of a chunk waits for the next one; invalid
/// bytes become U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    pub fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let complete = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            // A sequence cut at the end (error_len None) may still complete.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len() - incomplete_tail(&self.pending),
        };
        let rest = self.pending.split_off(complete);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        text
    }

    /// What is left at the end of the stream.
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

/// Length of a trailing, possibly incomplete UTF-8 sequence (at most 3 bytes).
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=3.min(bytes.len()) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 != 0x80 {
            let needed = match b {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => return 0,
            };
            return if needed > back { back } else { 0 };
        }
    }
    0
}

#[cfg(test)]
mod decoder_tests {
    use super::*;

    #[test]
    fn a_character_split_across_chunks_arrives_whole() {
        let euro = "€".as_bytes();
        let mut d = Utf8Decoder::default();
        assert_eq!(d.push(&[b'a', euro[0]]), "a");
        assert_eq!(d.push(&euro[1..2]), "");
        assert_eq!(d.push(&[euro[2], b'b']), "€b");
        assert_eq!(d.finish(), "");
    }

    #[test]
    fn invalid_bytes_are_replaced_and_a_cut_tail_is_kept() {
        let mut d = Utf8Decoder::default();
        assert_eq!(d.push(b"a\xffb\xe2\x82"), "a\u{fffd}b");
        assert_eq!(d.push(b"\xac"), "€");
        assert_eq!(d.push(b"\xe2"), "");
        assert_eq!(d.finish(), "\u{fffd}");
    }
}
