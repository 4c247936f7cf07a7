//! Parses tracepoint `format` files from tracefs, for the fields whose layout moved between
//! kernels (`task_newtask`, `sched_process_exit`, `sched_process_exec`).

use std::{collections::HashMap, fs, path::Path};

use sensor_common::layout::{FIELD_ABSENT, TracepointLayout};

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read tracepoint format {path}: {source}")]
    Unreadable { path: String, source: std::io::Error },
    #[error("tracepoint format {path} has no field `{field}`")]
    MissingField { path: String, field: String },
    #[error("tracepoint format {path}: field `{field}` has size {size}, expected {expected}")]
    UnexpectedSize {
        path: String,
        field: String,
        size: u32,
        expected: &'static str,
    },
}

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub declaration: String,
    pub offset: u32,
    pub size: u32,
}

/// The fields of one tracepoint, by name.
#[derive(Debug, Default)]
pub struct Format {
    pub fields: HashMap<String, Field>,
}

impl Format {
    /// Parses the text of a `format` file.
    pub fn parse(text: &str) -> Self {
        let mut fields = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix("field:") else {
                continue;
            };
            let mut declaration = None;
            let mut offset = None;
            let mut size = None;
            for (index, part) in rest.split(';').enumerate() {
                let part = part.trim();
                if index == 0 {
                    declaration = Some(part.to_string());
                } else if let Some(value) = part.strip_prefix("offset:") {
                    offset = value.parse().ok();
                } else if let Some(value) = part.strip_prefix("size:") {
                    size = value.parse().ok();
                }
            }
            if let (Some(declaration), Some(offset), Some(size)) = (declaration, offset, size)
                && let Some(name) = field_name(&declaration)
            {
                fields.insert(
                    name,
                    Field {
                        declaration,
                        offset,
                        size,
                    },
                );
            }
        }
        Self { fields }
    }
}

/// The name in a C declaration such as `__data_loc char[] filename` or `char comm[16]`.
fn field_name(declaration: &str) -> Option<String> {
    let last = declaration.split_whitespace().last()?;
    let name = last.split('[').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

fn read(tracefs: &Path, event: &str) -> Result<(String, Format), FormatError> {
    let path = tracefs.join("events").join(event).join("format");
    let text = fs::read_to_string(&path).map_err(|source| FormatError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    Ok((path.display().to_string(), Format::parse(&text)))
}

fn required<'a>(path: &str, format: &'a Format, field: &str) -> Result<&'a Field, FormatError> {
    format.fields.get(field).ok_or_else(|| FormatError::MissingField {
        path: path.to_string(),
        field: field.to_string(),
    })
}

/// Reads the formats of the process tracepoints under `tracefs`.
pub fn load(tracefs: &Path) -> Result<TracepointLayout, FormatError> {
    let (exec_path, exec) = read(tracefs, "sched/sched_process_exec")?;
    let (newtask_path, newtask) = read(tracefs, "task/task_newtask")?;
    let (_, exit) = read(tracefs, "sched/sched_process_exit")?;
    let (signal_path, signal) = read(tracefs, "signal/signal_generate")?;
    let signal_sig = required(&signal_path, &signal, "sig")?.offset;
    let signal_pid = required(&signal_path, &signal, "pid")?.offset;
    let signal_result = required(&signal_path, &signal, "result")?.offset;
    let filename = required(&exec_path, &exec, "filename")?;
    let pid = required(&newtask_path, &newtask, "pid")?;
    let clone_flags = required(&newtask_path, &newtask, "clone_flags")?;
    if clone_flags.size != 4 && clone_flags.size != 8 {
        return Err(FormatError::UnexpectedSize {
            path: newtask_path,
            field: "clone_flags".into(),
            size: clone_flags.size,
            expected: "4 or 8",
        });
    }
    Ok(TracepointLayout {
        valid: 1,
        exec_filename: filename.offset,
        newtask_pid: pid.offset,
        newtask_clone_flags: clone_flags.offset,
        newtask_clone_flags_size: clone_flags.size,
        exit_group_dead: exit.fields.get("group_dead").map_or(FIELD_ABSENT, |field| field.offset),
        signal_sig,
        signal_pid,
        signal_result,
    })
}

/// Offsets of `req` and `opcode` in `io_uring:io_uring_submit_req`, when the kernel has it.
pub fn io_uring_submit(tracefs: &Path) -> (Option<u32>, Option<u32>) {
    match read(tracefs, "io_uring/io_uring_submit_req") {
        Ok((_, format)) => (
            format.fields.get("req").map(|field| field.offset),
            format.fields.get("opcode").map(|field| field.offset),
        ),
        Err(_) => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEWTASK_6_18: &str = "name: task_newtask
ID: 139
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;
\tfield:u64 clone_flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:short oom_score_adj;\toffset:40;\tsize:2;\tsigned:1;

print fmt: \"pid=%d comm=%s clone_flags=%llx oom_score_adj=%hd\", REC->pid, REC->comm, REC->clone_flags, REC->oom_score_adj
";

    #[test]
    fn parses_fields_with_arrays_and_data_loc() {
        let format = Format::parse(NEWTASK_6_18);
        assert_eq!(format.fields["pid"].offset, 8);
        assert_eq!(format.fields["comm"].size, 16);
        assert_eq!(format.fields["clone_flags"].offset, 32);
        assert_eq!(format.fields["clone_flags"].size, 8);
        let exec = Format::parse("\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n");
        assert_eq!(exec.fields["filename"].offset, 8);
        assert_eq!(exec.fields["filename"].declaration, "__data_loc char[] filename");
    }

    #[test]
    fn ignores_lines_that_are_not_fields() {
        let format = Format::parse("name: x\nID: 1\nformat:\nprint fmt: \"\"\n\tfield:int;\n");
        assert!(format.fields.is_empty());
    }
}
