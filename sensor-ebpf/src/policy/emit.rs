//! Reporting a verdict to userspace as a `PolicyEvent` record, on the priority ring.

use sensor_common::event::{EVENT_POLICY, PolicyEvent, StrRef};

use super::{
    act::Outcome,
    judge::{Subject, Verdict},
};
use crate::record::{Record, Ring};

/// Where the operation's path is in `rec`.
#[derive(Clone, Copy, Default)]
pub struct PathRefs {
    pub path: StrRef,
    pub base: StrRef,
}

impl PathRefs {
    /// A path given by its components alone.
    #[inline(always)]
    pub fn of(path: StrRef) -> Self {
        Self {
            path,
            base: StrRef::default(),
        }
    }
}

/// Fills the fixed part of `rec` (started with `Record::start_in::<PolicyEvent>`) and submits it.
#[inline(always)]
pub fn emit(
    mut rec: Record,
    subject: &Subject,
    verdict: &Verdict,
    backend: u32,
    outcome: &Outcome,
    refs: PathRefs,
    refs2: PathRefs,
) {
    let event = rec.fixed::<PolicyEvent>();
    event.op = subject.op as u16;
    event.family = subject.family;
    event.backend = backend;
    event.action = verdict.action;
    event.applied = outcome.applied;
    event.fired = verdict.fired;
    event.flags = subject.open_flags;
    event.port_be = subject.port.to_be();
    event.reserved = 0;
    event.addr = subject.addr;
    event.path = refs.path;
    event.base = refs.base;
    event.object = subject.object;
    event.path2 = refs2.path;
    event.base2 = refs2.base;
    event.escalation = outcome.escalation;
    event.denials = outcome.denials;
    rec.submit_to(Ring::Priority, EVENT_POLICY, 0, subject.session);
}
