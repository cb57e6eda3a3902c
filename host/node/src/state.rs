//! The node's states and the transitions between them.
//!
//! | state | meaning |
//! |---|---|
//! | `Ready` | registered and linked, no job running, accepting work |
//! | `Executing` | at least one job running |
//! | `Idle` | not accepting work: the coordinator link is down or the operator paused it |
//! | `Unstaking` | stake withdrawal begun: running jobs finish, no new ones |
//!
//! Every change is logged as a `state.transition` tracing event with `from`,
//! `to` and `reason`, so an operator's logs tell the node's story. Moves the
//! table does not allow are refused with [`TransitionError`], never applied.

use std::fmt;

/// Where the node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Accepting work, none running.
    Ready,
    /// Running at least one job.
    Executing,
    /// Not accepting work (link down, or paused by the operator).
    Idle,
    /// Withdrawing stake: finishing running jobs, taking no new ones.
    Unstaking,
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready => "READY",
            Self::Executing => "EXECUTING",
            Self::Idle => "IDLE",
            Self::Unstaking => "UNSTAKING",
        })
    }
}

/// What happened to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The coordinator link is up and the node registered.
    Linked,
    /// The coordinator link dropped.
    LinkLost,
    /// A job started; `running` jobs now.
    JobStarted {
        /// Jobs running after it started.
        running: usize,
    },
    /// A job ended; `running` jobs left.
    JobEnded {
        /// Jobs still running.
        running: usize,
    },
    /// The operator began unstaking.
    UnstakeBegun,
}

/// A move the state table does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("node cannot go from {from} on {event:?}")]
pub struct TransitionError {
    /// The state it was in.
    pub from: NodeState,
    /// What happened.
    pub event: Event,
}

impl NodeState {
    /// The state after `event`, or why there is none.
    pub fn on(self, event: Event) -> Result<Self, TransitionError> {
        use Event::*;
        use NodeState::*;
        let next = match (self, event) {
            (Idle, Linked) => Ready,
            (Ready | Executing, LinkLost) => Idle,
            // Jobs keep running while the link is down (receipts queue up);
            // a job ending offline leaves the node idle.
            (Idle, JobEnded { .. }) => Idle,
            (Ready | Executing, JobStarted { .. }) => Executing,
            (Executing, JobEnded { running: 0 }) => Ready,
            (Executing, JobEnded { .. }) => Executing,
            (Unstaking, JobEnded { .. } | LinkLost | Linked) => Unstaking,
            (Ready | Executing | Idle, UnstakeBegun) => Unstaking,
            (from, event) => return Err(TransitionError { from, event }),
        };
        Ok(next)
    }
}

/// The node's state, logging each change.
#[derive(Debug)]
pub struct StateMachine {
    state: NodeState,
}

impl Default for StateMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl StateMachine {
    /// A node that has not linked yet is idle.
    pub fn new() -> Self {
        Self {
            state: NodeState::Idle,
        }
    }

    /// The current state.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// Applies `event`, logging `state.transition` when the state changes.
    pub fn apply(&mut self, event: Event) -> Result<NodeState, TransitionError> {
        let next = self.state.on(event)?;
        if next != self.state {
            tracing::info!(
                target: "state.transition",
                from = %self.state,
                to = %next,
                reason = ?event,
                "state.transition"
            );
            self.state = next;
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_lives_through_link_jobs_and_unstaking() {
        let mut node = StateMachine::new();
        assert_eq!(node.state(), NodeState::Idle);
        assert_eq!(node.apply(Event::Linked), Ok(NodeState::Ready));
        assert_eq!(
            node.apply(Event::JobStarted { running: 1 }),
            Ok(NodeState::Executing)
        );
        assert_eq!(
            node.apply(Event::JobStarted { running: 2 }),
            Ok(NodeState::Executing)
        );
        assert_eq!(
            node.apply(Event::JobEnded { running: 1 }),
            Ok(NodeState::Executing)
        );
        assert_eq!(node.apply(Event::LinkLost), Ok(NodeState::Idle));
        assert_eq!(
            node.apply(Event::JobEnded { running: 0 }),
            Ok(NodeState::Idle)
        );
        assert_eq!(node.apply(Event::Linked), Ok(NodeState::Ready));
        assert_eq!(node.apply(Event::UnstakeBegun), Ok(NodeState::Unstaking));
    }

    #[test]
    fn an_unstaking_or_idle_node_takes_no_job() {
        for from in [NodeState::Idle, NodeState::Unstaking] {
            let event = Event::JobStarted { running: 1 };
            assert_eq!(from.on(event), Err(TransitionError { from, event }));
        }
        assert_eq!(
            NodeState::Ready.on(Event::Linked),
            Err(TransitionError {
                from: NodeState::Ready,
                event: Event::Linked
            })
        );
    }
}
