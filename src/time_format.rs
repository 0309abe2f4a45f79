//! How the unit writes instants: RFC 3339 in UTC with milliseconds, the one format of every time
//! in a read, a status message and the privacy sheet, so a consumer parses one format.

use std::time::SystemTime;

/// `t` as `2026-12-02T19:50:09.123Z`.
pub fn rfc3339_ms(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_with_milliseconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_241_009_123);
        assert_eq!(rfc3339_ms(t), "2026-12-02T19:50:09.123Z");
    }
}
