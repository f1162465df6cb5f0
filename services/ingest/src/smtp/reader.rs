//! Reading command lines and message data with bounded memory: a line over the limit is
//! skipped, not buffered; message data past the size limit is read and dropped.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How reading one line ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// `buf` holds the line, its LF (and CR) included.
    Complete,
    /// The line was longer than the limit; it was read to its end and dropped.
    TooLong,
    /// The peer closed the connection (a partial last line is dropped).
    Eof,
}

/// How reading message data ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Data {
    /// The message, dot-unstuffed, line endings as received.
    Message(Vec<u8>),
    /// The message was over the size limit (its end was read).
    TooBig,
}

/// Why message data could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataError {
    #[error("no data within the data timeout")]
    Timeout,
    #[error("the connection closed inside the message data")]
    Eof,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads one line (ending in LF; a bare LF is a line ending too) of at most `max` bytes.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if buf.len() + take > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&available[..take]);
            }
        }
        reader.consume(take);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

/// The line without its CRLF or LF.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads message data up to the line holding a single dot (`CRLF.CRLF`, or `LF.LF` from
/// a sender using bare LF), removing the extra leading dot of each line (RFC 5321
/// 4.5.2). Each line must arrive within `line_timeout`.
pub(crate) async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_bytes: u64,
    line_timeout: Duration,
) -> Result<Data, DataError> {
    let max = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    let mut line = Vec::new();
    let mut too_big = false;
    loop {
        // One line may hold the rest of the allowance plus its stuffed dot and CRLF;
        // once over the limit, lines are only scanned for the end marker.
        let room = if too_big {
            16
        } else {
            max.saturating_sub(body.len()).saturating_add(3)
        };
        let read = tokio::time::timeout(line_timeout, read_line(reader, &mut line, room))
            .await
            .map_err(|_| DataError::Timeout)??;
        match read {
            Line::Eof => return Err(DataError::Eof),
            Line::TooLong => {
                too_big = true;
                body = Vec::new();
                continue;
            }
            Line::Complete => {}
        }
        if trim_eol(&line) == b"." {
            return Ok(if too_big {
                Data::TooBig
            } else {
                Data::Message(body)
            });
        }
        if too_big {
            continue;
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if body.len() + unstuffed.len() > max {
            too_big = true;
            body = Vec::new();
            continue;
        }
        body.extend_from_slice(unstuffed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    const T: Duration = Duration::from_secs(5);

    async fn data(input: &[u8], max: u64) -> Result<Data, DataError> {
        read_data(&mut BufReader::with_capacity(8, input), max, T).await
    }

    #[tokio::test]
    async fn lines_end_at_lf_and_long_ones_are_skipped_whole() {
        let mut r = BufReader::with_capacity(
            4,
            &b"EHLO a\r\nNOOP\nXXXXXXXXXXXXXXXX\r\nQUIT\r\npartial"[..],
        );
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            Line::Complete
        );
        assert_eq!(buf, b"EHLO a\r\n");
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            Line::Complete
        );
        assert_eq!(trim_eol(&buf), b"NOOP");
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            Line::TooLong
        );
        assert_eq!(
            read_line(&mut r, &mut buf, 10).await.unwrap(),
            Line::Complete
        );
        assert_eq!(trim_eol(&buf), b"QUIT");
        assert_eq!(read_line(&mut r, &mut buf, 10).await.unwrap(), Line::Eof);
    }

    #[tokio::test]
    async fn data_is_dot_unstuffed_up_to_the_lone_dot() {
        let got = data(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n", 1000)
            .await
            .unwrap();
        assert_eq!(
            got,
            Data::Message(b"Subject: x\r\n\r\n.leading dot\r\n".to_vec())
        );
    }

    #[tokio::test]
    async fn bare_lf_data_and_end_marker_are_tolerated() {
        let got = data(b"a\nb\n.\n", 1000).await.unwrap();
        assert_eq!(got, Data::Message(b"a\nb\n".to_vec()));
        let got = data(b".\r\n", 1000).await.unwrap();
        assert_eq!(got, Data::Message(Vec::new()));
    }

    #[tokio::test]
    async fn data_over_the_limit_is_read_to_its_end_and_dropped() {
        let mut input = b"0123456789\r\n".repeat(20);
        input.extend_from_slice(b"a much longer line than the limit allows at all\r\n.\r\n");
        assert_eq!(data(&input, 100).await.unwrap(), Data::TooBig);
        // Exactly at the limit is fine.
        assert_eq!(
            data(b"0123456789\r\n.\r\n", 12).await.unwrap(),
            Data::Message(b"0123456789\r\n".to_vec())
        );
        assert_eq!(
            data(b"0123456789\r\n.\r\n", 11).await.unwrap(),
            Data::TooBig
        );
    }

    #[tokio::test]
    async fn a_connection_closed_inside_data_is_an_error() {
        assert!(matches!(
            data(b"a\r\nb\r\n", 100).await,
            Err(DataError::Eof)
        ));
    }

    #[tokio::test]
    async fn silence_inside_data_times_out() {
        let (client, server) = tokio::io::duplex(64);
        let mut r = BufReader::new(server);
        let got = read_data(&mut r, 100, Duration::from_millis(50)).await;
        assert!(matches!(got, Err(DataError::Timeout)));
        drop(client);
    }
}
