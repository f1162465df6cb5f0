//! The reader between a decompressed stream and the XML parser: it turns whatever the
//! report is encoded in into valid UTF-8 (invalid sequences become U+FFFD and are
//! counted), and it stops any single XML token from growing past a limit.

use crate::limits::LimitHit;
use std::io::{self, BufRead, Read};

/// How many input bytes are decoded per refill.
const CHUNK: usize = 64 * 1024;

/// How many bytes the encoding is sniffed from (BOM, XML declaration).
const SNIFF: usize = 1024;

/// The source encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    /// ISO-8859-1 read as windows-1252, its usual superset in practice.
    Latin1,
    Utf16Le,
    Utf16Be,
}

/// A `BufRead` of UTF-8 decoded from `inner`.
pub(crate) struct Transcoder<R> {
    inner: R,
    encoding: Option<Encoding>,
    /// The encoding name the XML declaration gave, when it is one we read as UTF-8
    /// without knowing it.
    unknown_declared: Option<String>,
    out: Vec<u8>,
    pos: usize,
    /// Input bytes of an incomplete character carried to the next refill.
    pending: Vec<u8>,
    eof: bool,
    replaced: u64,
    /// Output bytes since the last `<` or `>`.
    run: usize,
    max_run: usize,
}

/// windows-1252 code points for bytes 0x80..=0x9F.
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
];

impl<R: BufRead> Transcoder<R> {
    pub(crate) fn new(inner: R, max_token: usize) -> Self {
        Transcoder {
            inner,
            encoding: None,
            unknown_declared: None,
            out: Vec::with_capacity(CHUNK + CHUNK / 2),
            pos: 0,
            pending: Vec::new(),
            eof: false,
            replaced: 0,
            run: 0,
            max_run: max_token,
        }
    }

    /// Marks the source as UTF-8 already (text a MIME parser decoded from its charset):
    /// an encoding in the XML declaration no longer applies.
    pub(crate) fn already_utf8(mut self) -> Self {
        self.encoding = Some(Encoding::Utf8);
        self
    }

    /// Reads what is left of the source to its end without decoding it, so that the
    /// layers below check their integrity (gzip CRC and length, zip CRC) and the
    /// decompression budget still applies.
    pub(crate) fn drain(&mut self) -> io::Result<u64> {
        io::copy(&mut self.inner, &mut io::sink())
    }

    /// Invalid sequences replaced by U+FFFD so far.
    pub(crate) fn replaced(&self) -> u64 {
        self.replaced
    }

    /// The encoding in use (known after the first read).
    pub(crate) fn encoding(&self) -> Option<Encoding> {
        self.encoding
    }

    /// A declared encoding that was not understood and read as UTF-8.
    pub(crate) fn unknown_declared(&self) -> Option<&str> {
        self.unknown_declared.as_deref()
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        if self.encoding.is_none() {
            self.start()?;
        }
        while self.out.is_empty() && !self.eof {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                self.eof = true;
                if !self.pending.is_empty() {
                    self.pending.clear();
                    self.replaced += 1;
                    self.out.extend_from_slice("\u{FFFD}".as_bytes());
                }
                break;
            }
            let take = chunk.len().min(CHUNK);
            let encoding = self.encoding.unwrap_or(Encoding::Utf8);
            decode(
                encoding,
                &chunk[..take],
                &mut self.out,
                &mut self.pending,
                &mut self.replaced,
            );
            self.inner.consume(take);
        }
        self.guard_tokens()
    }

    /// Reads the head of the source (up to [`SNIFF`] bytes), picks the encoding from it
    /// and decodes it.
    fn start(&mut self) -> io::Result<()> {
        let mut head = Vec::with_capacity(SNIFF);
        while head.len() < SNIFF {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            let take = chunk.len().min(SNIFF - head.len());
            head.extend_from_slice(&chunk[..take]);
            self.inner.consume(take);
        }
        let (encoding, bom, unknown) = sniff(&head);
        self.encoding = Some(encoding);
        self.unknown_declared = unknown;
        decode(
            encoding,
            &head[bom.min(head.len())..],
            &mut self.out,
            &mut self.pending,
            &mut self.replaced,
        );
        Ok(())
    }

    fn guard_tokens(&mut self) -> io::Result<()> {
        match self.out.iter().rposition(|&b| b == b'<' || b == b'>') {
            Some(p) => {
                // The run before the first delimiter joins the previous run.
                let first = self.out.iter().position(|&b| b == b'<' || b == b'>');
                let head = first.unwrap_or(0);
                if self.run + head > self.max_run {
                    return Err(io::Error::other(LimitHit::XmlToken(self.max_run)));
                }
                self.run = self.out.len() - 1 - p;
            }
            None => self.run += self.out.len(),
        }
        if self.run > self.max_run {
            return Err(io::Error::other(LimitHit::XmlToken(self.max_run)));
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Transcoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Transcoder<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.out.len() {
            self.refill()?;
        }
        Ok(&self.out[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.out.len());
    }
}

/// Picks the encoding from a BOM, the byte pattern of `<?` or the XML declaration.
/// Returns the encoding, the BOM length to skip and an unknown declared name.
fn sniff(head: &[u8]) -> (Encoding, usize, Option<String>) {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return (Encoding::Utf8, 3, None);
    }
    if head.starts_with(b"\xFF\xFE") {
        return (Encoding::Utf16Le, 2, None);
    }
    if head.starts_with(b"\xFE\xFF") {
        return (Encoding::Utf16Be, 2, None);
    }
    if head.starts_with(b"<\0") {
        return (Encoding::Utf16Le, 0, None);
    }
    if head.starts_with(b"\0<") {
        return (Encoding::Utf16Be, 0, None);
    }
    match declared_encoding(head) {
        None => (Encoding::Utf8, 0, None),
        Some(name) => {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "utf-8" | "utf8" | "us-ascii" | "ascii" | "utf-16" | "utf16" => {
                    (Encoding::Utf8, 0, None)
                }
                "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1"
                | "windows-1252" | "cp1252" | "iso-8859-15" | "latin-9" => {
                    (Encoding::Latin1, 0, None)
                }
                _ => (Encoding::Utf8, 0, Some(name)),
            }
        }
    }
}

/// The `encoding` pseudo-attribute of a leading `<?xml … ?>` declaration.
fn declared_encoding(head: &[u8]) -> Option<String> {
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = &head[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = &decl[at + 8..];
    let rest = &rest[rest.iter().position(|&b| b == b'=')? + 1..];
    let rest = &rest[rest.iter().position(|b| !b.is_ascii_whitespace())?..];
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let close = value.iter().position(|&b| b == quote)?;
    Some(String::from_utf8_lossy(&value[..close]).trim().to_owned())
}

/// Decodes `data` (after what `pending` holds from the previous call) into `out`.
fn decode(
    encoding: Encoding,
    data: &[u8],
    out: &mut Vec<u8>,
    pending: &mut Vec<u8>,
    replaced: &mut u64,
) {
    match encoding {
        Encoding::Utf8 if pending.is_empty() => decode_utf8(data, out, pending, replaced),
        Encoding::Utf8 => {
            // A character split across refills: decode it with this chunk.
            let mut joined = std::mem::take(pending);
            joined.extend_from_slice(data);
            decode_utf8(&joined, out, pending, replaced);
        }
        Encoding::Latin1 => decode_latin1(data, out),
        Encoding::Utf16Le | Encoding::Utf16Be => {
            decode_utf16(data, encoding == Encoding::Utf16Le, out, pending, replaced);
        }
    }
}

/// Appends the valid UTF-8 of `data` to `out`, replacing invalid sequences; an
/// incomplete sequence at the end goes to `pending`.
fn decode_utf8(data: &[u8], out: &mut Vec<u8>, pending: &mut Vec<u8>, replaced: &mut u64) {
    let mut rest = data;
    loop {
        match std::str::from_utf8(rest) {
            Ok(_) => {
                out.extend_from_slice(rest);
                return;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                out.extend_from_slice(&rest[..valid]);
                match e.error_len() {
                    Some(bad) => {
                        out.extend_from_slice("\u{FFFD}".as_bytes());
                        *replaced += 1;
                        rest = &rest[valid + bad..];
                    }
                    None => {
                        pending.extend_from_slice(&rest[valid..]);
                        return;
                    }
                }
            }
        }
    }
}

fn decode_latin1(data: &[u8], out: &mut Vec<u8>) {
    let mut utf8 = [0u8; 4];
    for &b in data {
        if b < 0x80 {
            out.push(b);
        } else {
            let code = if (0x80..0xA0).contains(&b) {
                u32::from(CP1252_HIGH[usize::from(b - 0x80)])
            } else {
                u32::from(b)
            };
            let ch = char::from_u32(code).unwrap_or('\u{FFFD}');
            out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
        }
    }
}

fn decode_utf16(
    data: &[u8],
    little: bool,
    out: &mut Vec<u8>,
    pending: &mut Vec<u8>,
    replaced: &mut u64,
) {
    let mut bytes = std::mem::take(pending);
    bytes.extend_from_slice(data);
    let mut whole = bytes.len() / 2 * 2;
    // Hold back a high surrogate whose partner may come with the next refill.
    if whole >= 2 {
        let last = unit(&bytes[whole - 2..whole], little);
        if (0xD800..0xDC00).contains(&last) {
            whole -= 2;
        }
    }
    let units = bytes[..whole].chunks_exact(2).map(|p| unit(p, little));
    let mut utf8 = [0u8; 4];
    for ch in char::decode_utf16(units) {
        let ch = ch.unwrap_or_else(|_| {
            *replaced += 1;
            '\u{FFFD}'
        });
        out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
    }
    pending.extend_from_slice(&bytes[whole..]);
}

fn unit(pair: &[u8], little: bool) -> u16 {
    let (a, b) = (pair[0], pair[1]);
    if little {
        u16::from_le_bytes([a, b])
    } else {
        u16::from_be_bytes([a, b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BufRead that hands out at most `step` bytes per fill, to split characters.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    impl BufRead for Trickle<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            let n = self.data.len().min(self.step);
            Ok(&self.data[..n])
        }
        fn consume(&mut self, amt: usize) {
            self.data = &self.data[amt..];
        }
    }

    fn decode(data: &[u8], step: usize) -> (String, u64) {
        let mut t = Transcoder::new(Trickle { data, step }, 1 << 20);
        let mut out = String::new();
        let ok = t.read_to_string(&mut out);
        assert!(ok.is_ok(), "{ok:?}");
        (out, t.replaced())
    }

    #[test]
    fn utf8_split_anywhere_survives_and_invalid_bytes_are_replaced() {
        let text = "<a>Grüße – 日本 🎉</a>".as_bytes();
        for step in 1..8 {
            assert_eq!(
                decode(text, step),
                (String::from_utf8_lossy(text).into_owned(), 0)
            );
        }
        let bad = b"<a>bad_byte\x91 and \xF0\x9F</a>";
        for step in 1..8 {
            let (s, n) = decode(bad, step);
            assert_eq!(s, "<a>bad_byte\u{FFFD} and \u{FFFD}</a>", "step {step}");
            assert_eq!(n, 2);
        }
    }

    #[test]
    fn latin1_declaration_is_honoured() {
        let doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>M\xFCller \x80</a>";
        assert_eq!(
            decode(doc, 5).0,
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Müller €</a>"
        );
    }

    #[test]
    fn utf16_with_and_without_bom_is_decoded() {
        let text = "<a>x🎉</a>";
        let mut le = vec![0xFF, 0xFE];
        le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for step in 1..6 {
            assert_eq!(decode(&le, step), (text.to_owned(), 0));
            assert_eq!(decode(&be, step), (text.to_owned(), 0));
        }
    }

    #[test]
    fn an_overlong_token_is_stopped() {
        let mut doc = b"<a>".to_vec();
        doc.extend(std::iter::repeat_n(b'x', 5000));
        doc.extend_from_slice(b"</a>");
        let mut t = Transcoder::new(
            Trickle {
                data: &doc,
                step: 700,
            },
            1000,
        );
        let mut out = Vec::new();
        let err = t.read_to_end(&mut out).err();
        assert!(
            err.and_then(|e| e.into_inner())
                .is_some_and(|e| e.to_string().contains("XML token"))
        );
        let mut t = Transcoder::new(
            Trickle {
                data: &doc,
                step: 700,
            },
            10_000,
        );
        assert!(t.read_to_end(&mut out).is_ok());
    }
}
