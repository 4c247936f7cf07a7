//! Loading the tail-called programs. The kernel verifies a program in the thread that loads it,
//! and the judgement programs take seconds each (hundreds of thousands of verified
//! instructions), so they are verified on every CPU at once, the largest first.

use std::{
    sync::{Mutex, PoisonError},
    time::Instant,
};

use aya::{
    Ebpf,
    maps::ProgramArray,
    programs::{Program, ProgramError},
};
use sensor_common::maps::{RAW_TAIL_PROGRAMS, RAW_TAILS_MAP, TAIL_PROGRAMS, TAILS_MAP};

use super::load_error::LoadError;

/// One tail-called program: its name, and the program array and index that hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail {
    pub name: &'static str,
    pub map: &'static str,
    pub index: u32,
}

/// The tail-called programs that judge calls at syscall entry for the tracepoint backend: a
/// kernel whose verifier gives up on them (6.1 counts every path through them) runs without
/// them, and the operations only they would judge are reported, not enforced.
pub const ENTRY_POLICY_PROGRAMS: [&str; 2] = ["enter_policy", "enter_policy_second"];

/// The order to verify them in, the costliest first (verified instructions on 6.12): a CPU that
/// takes the last large one is not left with the small ones as well.
const COSTLIEST_FIRST: [&str; 4] = ["enter_policy", "uring_policy", "exit_operation", "enter_policy_second"];

/// The tail-called programs to load. Where BPF LSM judges every file operation, the tracepoint
/// backend's judgements (at syscall entry, of 32-bit calls, of io_uring requests) never find an
/// operation of theirs, and are left out: a tail call to an empty slot falls through, as the
/// callers expect.
pub fn wanted(lsm_judges_files: bool) -> Vec<Tail> {
    let judgement = |name: &str| ENTRY_POLICY_PROGRAMS.contains(&name) || name == "uring_policy";
    let tracepoints = TAIL_PROGRAMS.into_iter().map(|(index, name)| Tail {
        name,
        map: TAILS_MAP,
        index,
    });
    let raw = RAW_TAIL_PROGRAMS.into_iter().map(|(index, name)| Tail {
        name,
        map: RAW_TAILS_MAP,
        index,
    });
    let mut tails: Vec<Tail> = tracepoints
        .chain(raw)
        .filter(|tail| !(lsm_judges_files && judgement(tail.name)))
        .collect();
    tails.sort_by_key(|tail| {
        COSTLIEST_FIRST
            .iter()
            .position(|name| *name == tail.name)
            .unwrap_or(usize::MAX)
    });
    tails
}

/// Verifies `tails`, as many at once as there are CPUs, and puts each that loaded in its program
/// array. Returns each program's outcome, in the order of `tails`.
pub fn load(ebpf: &mut Ebpf, tails: &[Tail]) -> Vec<(Tail, Result<(), LoadError>)> {
    let outcomes = verify(ebpf, tails);
    tails
        .iter()
        .zip(outcomes)
        .map(|(tail, verified)| {
            let outcome = verified.and_then(|()| register(ebpf, tail));
            (*tail, outcome)
        })
        .collect()
}

/// Loads (verifies) each program of `tails` on a pool of threads; one outcome per tail.
fn verify(ebpf: &mut Ebpf, tails: &[Tail]) -> Vec<Result<(), LoadError>> {
    let mut outcomes: Vec<Result<(), LoadError>> = tails
        .iter()
        .map(|tail| Err(LoadError::MissingProgram(tail.name.to_string())))
        .collect();
    // Popped from the end: the first tail first.
    let mut programs: Vec<(usize, &mut Program)> = ebpf
        .programs_mut()
        .filter_map(|(name, program)| Some((tails.iter().position(|tail| tail.name == name)?, program)))
        .collect();
    programs.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
    let workers = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .min(programs.len());
    let queue = Mutex::new(programs);
    let done = Mutex::new(Vec::with_capacity(tails.len()));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                    let Some((position, program)) = next else {
                        break;
                    };
                    let name = tails[position].name;
                    let started = Instant::now();
                    let outcome = load_one(program).map_err(|error| LoadError::Program {
                        program: name.to_string(),
                        error: Box::new(error),
                    });
                    let verified = program.info().ok().and_then(|info| info.verified_instruction_count());
                    tracing::debug!(program = name, elapsed = ?started.elapsed(), ?verified, "program verified and loaded");
                    done.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((position, outcome));
                }
            });
        }
    });
    for (position, outcome) in done.into_inner().unwrap_or_else(PoisonError::into_inner) {
        outcomes[position] = outcome;
    }
    outcomes
}

fn load_one(program: &mut Program) -> Result<(), ProgramError> {
    match program {
        Program::TracePoint(program) => program.load(),
        Program::RawTracePoint(program) => program.load(),
        _ => Err(ProgramError::UnexpectedProgramType),
    }
}

/// Puts the loaded program of `tail` in its program array.
fn register(ebpf: &mut Ebpf, tail: &Tail) -> Result<(), LoadError> {
    let failed = |error| LoadError::Program {
        program: tail.name.to_string(),
        error: Box::new(error),
    };
    let fd = ebpf
        .program(tail.name)
        .ok_or_else(|| LoadError::MissingProgram(tail.name.to_string()))?
        .fd()
        .map_err(failed)?
        .try_clone()
        .map_err(LoadError::Duplicate)?;
    let map = tail.map;
    let tails = ebpf.map_mut(map).ok_or(LoadError::MissingMap(map))?;
    let mut tails = ProgramArray::try_from(tails).map_err(|source| LoadError::Map { name: map, source })?;
    tails
        .set(tail.index, &fd, 0)
        .map_err(|source| LoadError::Map { name: map, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tail_program_is_loaded_without_bpf_lsm() {
        let names: Vec<&str> = wanted(false).iter().map(|tail| tail.name).collect();
        assert_eq!(names.len(), TAIL_PROGRAMS.len() + RAW_TAIL_PROGRAMS.len());
        assert_eq!(&names[..COSTLIEST_FIRST.len()], &COSTLIEST_FIRST);
    }

    #[test]
    fn bpf_lsm_over_every_file_operation_leaves_out_the_tracepoint_judgements() {
        let names: Vec<&str> = wanted(true).iter().map(|tail| tail.name).collect();
        for judgement in ENTRY_POLICY_PROGRAMS.iter().chain(&["uring_policy"]) {
            assert!(!names.contains(judgement), "{judgement} in {names:?}");
        }
        // Capture never depends on BPF LSM: the exit records, exec and 32-bit records stay.
        for capture in [
            "exit_open",
            "exit_operation",
            "exec_judge",
            "compat_record",
            "open_policy",
        ] {
            assert!(names.contains(&capture), "{capture} missing from {names:?}");
        }
    }
}
