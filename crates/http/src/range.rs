//! HTTP `Range` for downloads (RFC 9110 §14): one byte range; anything else is ignored.

/// What a `Range` header asks of a representation of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything (200).
    Full,
    /// Bytes `start..=end` (206).
    Partial { start: u64, end: u64 },
    /// Nothing of it exists (416).
    Unsatisfiable,
}

pub fn parse(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    // Several ranges are optional to honour; sending the whole file is a valid answer.
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        (true, true) => return RangeRequest::Full,
        // `-N`: the last N bytes.
        (true, false) => match last.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) if size > 0 => Some((size.saturating_sub(n), size - 1)),
            Ok(_) => return RangeRequest::Unsatisfiable,
            Err(_) => None,
        },
        (false, true) => first.parse::<u64>().ok().map(|s| (s, size.saturating_sub(1))),
        (false, false) => match (first.parse::<u64>(), last.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => Some((s, e.min(size.saturating_sub(1)))),
            _ => None,
        },
    };
    match parsed {
        None => RangeRequest::Full,
        Some((start, _)) if start >= size => RangeRequest::Unsatisfiable,
        Some((start, end)) => RangeRequest::Partial { start, end },
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeRequest::*, parse};

    #[test]
    fn reads_single_ranges() {
        assert_eq!(parse(Some("bytes=0-9"), 100), Partial { start: 0, end: 9 });
        assert_eq!(parse(Some("bytes=90-"), 100), Partial { start: 90, end: 99 });
        assert_eq!(parse(Some("bytes=-10"), 100), Partial { start: 90, end: 99 });
        assert_eq!(parse(Some("bytes=50-1000"), 100), Partial { start: 50, end: 99 });
        assert_eq!(parse(Some("bytes=-1000"), 100), Partial { start: 0, end: 99 });
    }

    #[test]
    fn refuses_what_lies_past_the_end_and_ignores_the_rest() {
        assert_eq!(parse(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse(Some("bytes=5-2"), 100), Full);
        assert_eq!(parse(Some("items=0-1"), 100), Full);
        assert_eq!(parse(Some("bytes=0-1,5-6"), 100), Full);
        assert_eq!(parse(Some("bytes=x-y"), 100), Full);
        assert_eq!(parse(None, 100), Full);
    }
}
