//! Whether the system clock can be trusted for a read's timestamp: the kernel's own view of its
//! synchronisation (adjtimex, read-only), reported in the status heartbeat and on every read.
//!
//! Design: the decision is pure ([`decide`]) on what adjtimex returns; [`probe`] is the one
//! system call, with no modes set, so it only reads (setting needs CAP_SYS_TIME, which the unit
//! never has). This is the same test `timedatectl`'s `NTPSynchronized` makes, without needing
//! D-Bus or systemd-timedated on the box. A clock whose state cannot be read counts as not
//! synchronised: a read is trusted only when the clock is known good.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    Synchronised,
    Unsynchronised,
    /// adjtimex failed (e.g. refused by a seccomp filter); treated as not synchronised.
    Unknown,
}

impl ClockState {
    pub fn trusted(self) -> bool {
        self == ClockState::Synchronised
    }
}

/// The kernel's "clock not synchronised" state (adjtimex's TIME_ERROR) and status bit.
const TIME_ERROR: i32 = 5;
const STA_UNSYNC: i32 = 0x0040;
/// The kernel raises maxerror to 16 s (NTP_PHASE_LIMIT) when synchronisation is lost.
const MAX_ERROR_UNSYNC_US: i64 = 16_000_000;

/// What adjtimex's answer means for a read's timestamp.
pub fn decide(result: Result<(i32, i32, i64), ()>) -> ClockState {
    match result {
        Err(()) => ClockState::Unknown,
        Ok((state, status, maxerror_us)) => {
            if state == TIME_ERROR || status & STA_UNSYNC != 0 || maxerror_us >= MAX_ERROR_UNSYNC_US
            {
                ClockState::Unsynchronised
            } else {
                ClockState::Synchronised
            }
        }
    }
}

/// The clock's state now (one read-only system call).
pub fn probe() -> ClockState {
    decide(adjtimex_read())
}

/// adjtimex with `modes = 0`: returns the clock state, the status bits and the maximum error.
/// One of the crate's two unsafe calls (the other: `src/allocator.rs`): neither std nor rustix
/// reads the kernel's clock discipline.
#[allow(unsafe_code)]
fn adjtimex_read() -> Result<(i32, i32, i64), ()> {
    // SAFETY: `timex` is plain old data, zeroed is a valid value (modes = 0: read only); the
    // kernel writes into the struct we own for the duration of the call and keeps no pointer.
    let (state, timex) = unsafe {
        let mut timex: libc::timex = std::mem::zeroed();
        (libc::adjtimex(&mut timex), timex)
    };
    if state < 0 {
        return Err(());
    }
    // `c_long`: i64 here, i32 on 32-bit ARM boxes, hence the conversion clippy sees as useless.
    #[allow(clippy::useless_conversion)]
    let maxerror = i64::from(timex.maxerror);
    Ok((state, timex.status, maxerror))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_states_map_to_trust() {
        assert_eq!(
            decide(Ok((0, 0x2001, 50_000))),
            ClockState::Synchronised,
            "TIME_OK, PLL on, 50 ms"
        );
        assert_eq!(
            decide(Ok((TIME_ERROR, STA_UNSYNC, 16_000_000))),
            ClockState::Unsynchronised,
            "a box that never synced"
        );
        assert_eq!(
            decide(Ok((0, STA_UNSYNC, 50_000))),
            ClockState::Unsynchronised,
            "status bit alone"
        );
        assert_eq!(
            decide(Ok((0, 0, 16_000_000))),
            ClockState::Unsynchronised,
            "maxerror at the kernel's limit"
        );
        assert_eq!(decide(Err(())), ClockState::Unknown);
        assert!(
            !ClockState::Unknown.trusted()
                && !ClockState::Unsynchronised.trusted()
                && ClockState::Synchronised.trusted()
        );
    }

    #[test]
    fn the_probe_answers_on_this_machine() {
        // Whatever this machine's clock is doing, adjtimex read-only must not fail here.
        assert_ne!(probe(), ClockState::Unknown);
    }
}
