//! A running job's receipts that went to the scheduler and came back from
//! no renter yet, and when to send them again.
//!
//! A receipt can be lost on the way: in flight when the link dies, or
//! refused by a scheduler whose store is full (it answers with an error the
//! node cannot tie to the receipt). The renter's chain needs every receipt in
//! order, so one lost receipt would stall the job until the renter gives up.
//! The node therefore sends them all again after a reconnect, and whenever
//! the oldest has waited [`RESEND_AFTER`] for a counter-signature, backing
//! off to [`RESEND_AFTER_MAX`] while nothing comes back (a renter that
//! stopped counter-signing on purpose costs a few duplicates, not a stream).
//! The scheduler stores receipts idempotently and never replaces a
//! counter-signed copy; the renter skips what it has.

use std::time::{Duration, Instant};

use kiln_protocol::SignedReceipt;

/// How long the oldest receipt waits for a counter-signature before all are
/// sent again. A renter counter-signs within a poll or two (well under a
/// second on a healthy network); two seconds is past that, and short beside
/// the renter's patience for the final receipt.
pub const RESEND_AFTER: Duration = Duration::from_secs(2);

/// The longest wait between two re-sends while none is acknowledged.
pub const RESEND_AFTER_MAX: Duration = Duration::from_secs(30);

/// One job's receipts awaiting a counter-signature, oldest first.
#[derive(Debug, Default)]
pub struct Unacknowledged {
    receipts: Vec<SignedReceipt>,
    /// When the receipts were last sent, counted from the oldest's send.
    since: Option<Instant>,
    /// The wait before the next re-send.
    wait: Duration,
}

impl Unacknowledged {
    /// Notes `receipt` as sent at `now`.
    pub fn sent(&mut self, receipt: SignedReceipt, now: Instant) {
        if self.receipts.is_empty() {
            self.since = Some(now);
            self.wait = RESEND_AFTER;
        }
        self.receipts.push(receipt);
    }

    /// The renter counter-signed `seq`: it and every older receipt are paid
    /// for. The wait starts again for what is left.
    pub fn acknowledged(&mut self, seq: u64, now: Instant) {
        let before = self.receipts.len();
        self.receipts.retain(|r| r.receipt.seq > seq);
        if self.receipts.len() != before {
            self.since = (!self.receipts.is_empty()).then_some(now);
            self.wait = RESEND_AFTER;
        }
    }

    /// Every receipt, for a new link: the old one may have lost any of them.
    pub fn resend_all(&mut self, now: Instant) -> Vec<SignedReceipt> {
        if !self.receipts.is_empty() {
            self.since = Some(now);
        }
        self.receipts.clone()
    }

    /// Every receipt when the oldest has waited too long (and the next wait
    /// doubles), else none.
    pub fn overdue(&mut self, now: Instant) -> Vec<SignedReceipt> {
        match self.since {
            Some(since) if now.saturating_duration_since(since) >= self.wait => {
                self.since = Some(now);
                self.wait = (self.wait * 2).min(RESEND_AFTER_MAX);
                self.receipts.clone()
            }
            _ => Vec::new(),
        }
    }

    /// How many receipts wait.
    pub fn len(&self) -> usize {
        self.receipts.len()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.receipts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_protocol::receipt::{Parties, Receipt, Usage};
    use kiln_protocol::signing::{SigningKey, public_key};
    use kiln_protocol::{Digest, PublicKey};

    fn receipts(count: u64) -> Vec<SignedReceipt> {
        let key = SigningKey::from_bytes(&[7; 32]);
        let parties = Parties {
            job: PublicKey([1; 32]),
            node: public_key(&key),
            renter: PublicKey([2; 32]),
        };
        let usage = |seq: u64| Usage {
            fuel: seq * 1_000,
            gpu_ns: 0,
            wall_ms: seq,
        };
        let mut out = vec![
            SignedReceipt::signed_by_node(Receipt::first(parties, usage(1), 0, Digest::ZERO), &key)
                .unwrap(),
        ];
        for seq in 2..=count {
            let previous = out.last().unwrap().receipt;
            out.push(
                SignedReceipt::signed_by_node(
                    previous.next(usage(seq), 0, Digest::ZERO).unwrap(),
                    &key,
                )
                .unwrap(),
            );
        }
        out
    }

    fn seqs(receipts: &[SignedReceipt]) -> Vec<u64> {
        receipts.iter().map(|r| r.receipt.seq).collect()
    }

    #[test]
    fn nothing_is_resent_before_the_oldest_has_waited() {
        let start = Instant::now();
        let mut waiting = Unacknowledged::default();
        assert!(waiting.overdue(start + RESEND_AFTER * 10).is_empty());
        let [first, second] = receipts(2).try_into().unwrap();
        waiting.sent(first, start);
        // A newer receipt does not restart the oldest's wait.
        waiting.sent(second, start + RESEND_AFTER / 2);
        assert!(waiting.overdue(start + RESEND_AFTER / 2).is_empty());
        assert_eq!(seqs(&waiting.overdue(start + RESEND_AFTER)), [1, 2]);
    }

    #[test]
    fn resends_back_off_while_nothing_is_acknowledged_and_reset_when_something_is() {
        let start = Instant::now();
        let mut waiting = Unacknowledged::default();
        for receipt in receipts(3) {
            waiting.sent(receipt, start);
        }
        let mut at = start + RESEND_AFTER;
        let mut waits = Vec::new();
        let mut last = start;
        while waits.len() < 6 {
            if !waiting.overdue(at).is_empty() {
                waits.push(at - last);
                last = at;
            }
            at += Duration::from_millis(250);
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [2, 4, 8, 16, 30, 30]);

        // The renter counter-signs seq 2: seq 3 waits the first wait again.
        waiting.acknowledged(2, at);
        assert_eq!(waiting.len(), 1);
        assert!(waiting.overdue(at + RESEND_AFTER / 2).is_empty());
        assert_eq!(seqs(&waiting.overdue(at + RESEND_AFTER)), [3]);

        // All counter-signed: nothing is ever due.
        waiting.acknowledged(3, at);
        assert!(waiting.is_empty());
        assert!(waiting.overdue(at + RESEND_AFTER_MAX * 2).is_empty());
    }

    #[test]
    fn a_reconnect_sends_everything_and_restarts_the_wait() {
        let start = Instant::now();
        let mut waiting = Unacknowledged::default();
        for receipt in receipts(2) {
            waiting.sent(receipt, start);
        }
        let relinked = start + RESEND_AFTER - Duration::from_millis(1);
        assert_eq!(seqs(&waiting.resend_all(relinked)), [1, 2]);
        assert!(waiting.overdue(start + RESEND_AFTER).is_empty());
        assert_eq!(seqs(&waiting.overdue(relinked + RESEND_AFTER)), [1, 2]);
        // An acknowledgement of a receipt it no longer holds changes nothing.
        waiting.acknowledged(0, relinked);
        assert_eq!(waiting.len(), 2);
    }
}
