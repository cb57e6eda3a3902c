//! What the node sent the scheduler and must send again until it is
//! acknowledged: a running job's receipts no renter has counter-signed, and
//! each ended job's last report (its sealed result, or why it failed).
//!
//! Either can be lost on the way: in flight when the link dies, or refused
//! by a scheduler whose store is full (it answers with an error the node
//! cannot tie to the message). The renter's chain needs every receipt in
//! order, so one lost receipt would stall the job until the renter gives up;
//! a lost report would cost the renter the result it paid for. So both are
//! sent again after a reconnect, and whenever they have waited
//! [`RESEND_AFTER`] for an answer, backing off to [`RESEND_AFTER_MAX`] while
//! none comes (a renter that stopped counter-signing on purpose costs a few
//! duplicates, not a stream). A receipt is answered by the renter's
//! counter-signature of it or a later one; a report by the scheduler's
//! `ended`. The scheduler stores both idempotently and never replaces a
//! counter-signed receipt; the renter skips what it has.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kiln_protocol::receipt::Receipt;
use kiln_protocol::{PublicKey, SignedReceipt};
use kiln_scheduler_api::link::FromNode;

/// How long a message waits for its answer before it is sent again. A
/// renter counter-signs within a poll or two (well under a second on a
/// healthy network), and the scheduler answers a report as soon as it is
/// stored; two seconds is past both, and short beside the renter's patience
/// for the final receipt.
pub const RESEND_AFTER: Duration = Duration::from_secs(2);

/// The longest wait between two re-sends while none is answered.
pub const RESEND_AFTER_MAX: Duration = Duration::from_secs(30);

/// How long an ended job's report is kept for a scheduler that does not
/// answer. Longer than renters wait for a job by default (`kiln job run`
/// waits the job's wall-clock limit plus two minutes); after that no one is
/// left to read it, and the memory (up to a 1 MiB result each) is freed.
pub const REPORT_KEPT_FOR: Duration = Duration::from_secs(600);

/// When something was last sent, and how long until it is due again.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    since: Instant,
    wait: Duration,
}

impl Backoff {
    fn new(now: Instant) -> Self {
        Self {
            since: now,
            wait: RESEND_AFTER,
        }
    }

    /// True when due at `now`; the next wait then doubles.
    fn due(&mut self, now: Instant) -> bool {
        let due = now.saturating_duration_since(self.since) >= self.wait;
        if due {
            self.since = now;
            self.wait = (self.wait * 2).min(RESEND_AFTER_MAX);
        }
        due
    }
}

/// One job's receipts awaiting a counter-signature, oldest first.
#[derive(Debug, Default)]
pub struct Unacknowledged {
    receipts: Vec<SignedReceipt>,
    /// Counted from the oldest's send; `None` while none waits.
    backoff: Option<Backoff>,
}

impl Unacknowledged {
    /// Notes `receipt` as sent at `now`.
    pub fn sent(&mut self, receipt: SignedReceipt, now: Instant) {
        if self.receipts.is_empty() {
            self.backoff = Some(Backoff::new(now));
        }
        self.receipts.push(receipt);
    }

    /// The renter counter-signed `seq`: it and every older receipt are paid
    /// for. The wait starts again for what is left.
    pub fn acknowledged(&mut self, seq: u64, now: Instant) {
        let before = self.receipts.len();
        self.receipts.retain(|r| r.receipt.seq > seq);
        if self.receipts.len() != before {
            self.backoff = (!self.receipts.is_empty()).then(|| Backoff::new(now));
        }
    }

    /// Every receipt, for a new link: the old one may have lost any of them.
    pub fn resend_all(&mut self, now: Instant) -> Vec<SignedReceipt> {
        if let Some(backoff) = &mut self.backoff {
            backoff.since = now;
        }
        self.receipts.clone()
    }

    /// Every receipt when the oldest has waited too long (and the next wait
    /// doubles), else none.
    pub fn overdue(&mut self, now: Instant) -> Vec<SignedReceipt> {
        if self
            .backoff
            .as_mut()
            .is_some_and(|backoff| backoff.due(now))
        {
            self.receipts.clone()
        } else {
            Vec::new()
        }
    }

    /// The receipts still waiting, for a job being let go.
    pub fn take(&mut self) -> Vec<SignedReceipt> {
        self.backoff = None;
        std::mem::take(&mut self.receipts)
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

/// What [`UnansweredReports::due`] found.
#[derive(Debug, Default)]
pub struct Due {
    /// Messages to send again, by job: its receipts first, then its report.
    pub by_job: Vec<(PublicKey, Vec<FromNode>)>,
    /// Job attempts whose messages waited past [`REPORT_KEPT_FOR`], dropped.
    pub expired: Vec<(PublicKey, u32)>,
}

/// What ended jobs left unanswered, by job and attempt: the last report
/// until the scheduler says `ended`, and receipts still not counter-signed
/// when the job was let go (the final one, typically, when the scheduler
/// could not store it) until the renter counter-signs them.
#[derive(Debug, Default)]
pub struct UnansweredReports {
    reports: HashMap<(PublicKey, u32), PendingReport>,
}

#[derive(Debug)]
struct PendingReport {
    report: Option<FromNode>,
    receipts: Vec<SignedReceipt>,
    first_sent: Instant,
    backoff: Backoff,
}

impl PendingReport {
    fn new(now: Instant) -> Self {
        Self {
            report: None,
            receipts: Vec::new(),
            first_sent: now,
            backoff: Backoff::new(now),
        }
    }

    fn answered(&self) -> bool {
        self.report.is_none() && self.receipts.is_empty()
    }

    /// The receipts first, in order, then the report: the renter needs the
    /// final receipt next to the result.
    fn messages(&self) -> impl Iterator<Item = FromNode> + '_ {
        self.receipts
            .iter()
            .map(FromNode::receipt)
            .chain(self.report.clone())
    }
}

impl UnansweredReports {
    /// Notes `report`, the last word on `job`'s `attempt`, as sent at `now`.
    pub fn sent(&mut self, job: PublicKey, attempt: u32, report: FromNode, now: Instant) {
        self.reports
            .entry((job, attempt))
            .or_insert_with(|| PendingReport::new(now))
            .report = Some(report);
    }

    /// `job`'s `attempt` is let go with `receipts` not yet counter-signed:
    /// they are kept and sent again with its report.
    pub fn let_go(
        &mut self,
        job: PublicKey,
        attempt: u32,
        receipts: Vec<SignedReceipt>,
        now: Instant,
    ) {
        if receipts.is_empty() {
            return;
        }
        self.reports
            .entry((job, attempt))
            .or_insert_with(|| PendingReport::new(now))
            .receipts = receipts;
    }

    /// The scheduler answered the report on `job`'s `attempt`.
    pub fn answered(&mut self, job: &PublicKey, attempt: u32) {
        let key = (*job, attempt);
        if let Some(pending) = self.reports.get_mut(&key) {
            pending.report = None;
            if pending.answered() {
                self.reports.remove(&key);
            }
        }
    }

    /// The renter counter-signed `acked` of a job let go: it and every
    /// older receipt of the same chain are answered. The chain is the one
    /// holding `acked` itself, so a counter-signature from another attempt
    /// of the same job (whose seqs start again at 1) answers nothing here.
    pub fn counter_signed(&mut self, acked: &Receipt) {
        self.reports.retain(|(id, _), pending| {
            if *id == acked.job && pending.receipts.iter().any(|r| r.receipt == *acked) {
                pending.receipts.retain(|r| r.receipt.seq > acked.seq);
            }
            !pending.answered()
        });
    }

    /// Messages to send again at `now`, by job: every waiting one after a
    /// reconnect (`all`), else the overdue. What waited past
    /// [`REPORT_KEPT_FOR`] is dropped, and named, for the log.
    pub fn due(&mut self, now: Instant, all: bool) -> Due {
        let expired: Vec<_> = self
            .reports
            .iter()
            .filter(|(_, pending)| {
                now.saturating_duration_since(pending.first_sent) >= REPORT_KEPT_FOR
            })
            .map(|(key, _)| *key)
            .collect();
        for key in &expired {
            self.reports.remove(key);
        }
        let mut due = Vec::new();
        for ((job, _), pending) in &mut self.reports {
            let send = if all {
                pending.backoff.since = now;
                true
            } else {
                pending.backoff.due(now)
            };
            if send {
                due.push((*job, pending.messages().collect()));
            }
        }
        Due {
            by_job: due,
            expired,
        }
    }

    /// How many jobs have something unanswered.
    pub fn len(&self) -> usize {
        self.reports.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
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

    fn report(job: u8) -> FromNode {
        FromNode::Failed {
            job_id: PublicKey([job; 32]).to_string(),
            attempt: 1,
            reason: "test".into(),
        }
    }

    #[test]
    fn a_report_is_sent_again_until_answered_and_dropped_once_stale() {
        let start = Instant::now();
        let mut reports = UnansweredReports::default();
        let (first, second) = (PublicKey([1; 32]), PublicKey([2; 32]));
        reports.sent(first, 1, report(1), start);
        reports.sent(second, 1, report(2), start + RESEND_AFTER / 2);
        let due = reports.due(start + RESEND_AFTER, false);
        assert_eq!(due.by_job, [(first, vec![report(1)])]);
        assert!(due.expired.is_empty());
        // A reconnect sends both at once.
        assert_eq!(reports.due(start + RESEND_AFTER, true).by_job.len(), 2);
        // The scheduler answers the first (and an attempt never sent); the
        // second waits, then expires.
        reports.answered(&first, 1);
        reports.answered(&second, 2);
        assert_eq!(reports.len(), 1);
        let due = reports.due(start + REPORT_KEPT_FOR + RESEND_AFTER, false);
        assert!(due.by_job.is_empty());
        assert_eq!(due.expired, [(second, 1)]);
        assert!(reports.is_empty());
    }

    #[test]
    fn receipts_left_when_a_job_is_let_go_go_before_its_report_until_counter_signed() {
        let start = Instant::now();
        let job = receipts(1)[0].receipt.job;
        let mut reports = UnansweredReports::default();
        reports.sent(job, 1, report(1), start);
        reports.let_go(job, 1, receipts(2), start);
        let due = reports.due(start + RESEND_AFTER, false).by_job;
        assert_eq!(due.len(), 1);
        let kinds: Vec<_> = due[0]
            .1
            .iter()
            .map(|message| matches!(message, FromNode::Receipt { .. }))
            .collect();
        assert_eq!(
            kinds,
            [true, true, false],
            "receipts first, then the report"
        );
        // The scheduler takes the report; the receipts wait for the renter.
        reports.answered(&job, 1);
        assert_eq!(
            reports.due(start + RESEND_AFTER * 3, false).by_job[0]
                .1
                .len(),
            2
        );
        let chain = receipts(2);
        // A counter-signature of another chain (another attempt) answers nothing.
        let mut other = chain[0].receipt;
        other.wall_ms += 1;
        reports.counter_signed(&other);
        assert_eq!(
            reports.due(start + RESEND_AFTER * 7, false).by_job[0]
                .1
                .len(),
            2
        );
        reports.counter_signed(&chain[0].receipt);
        assert_eq!(
            reports.due(start + RESEND_AFTER * 15, false).by_job[0]
                .1
                .len(),
            1
        );
        reports.counter_signed(&chain[1].receipt);
        assert!(reports.is_empty());
        // Nothing left to send is not kept.
        reports.let_go(job, 2, Vec::new(), start);
        assert!(reports.is_empty());
    }
}
