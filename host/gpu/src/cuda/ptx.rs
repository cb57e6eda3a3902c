//! What a PTX module's kernels take, read from the PTX before the driver
//! sees it.
//!
//! `cuLaunchKernel` takes an array of pointers, one per parameter, and copies
//! as many bytes through each as the *kernel* declares. It never learns how
//! many values the caller passed or how large they are. A guest that passed
//! three values to a four-parameter kernel, or a `u32` where the kernel takes
//! eight bytes, would have the driver read host memory past Kiln's values: a
//! crash of the node, or host memory copied to the device, where the kernel
//! could write it into the job's output. So Kiln reads each `.entry`'s
//! parameter list when the module is loaded and checks every launch against
//! it before calling the driver.
//!
//! The reader lexes the whole module, with comments and strings removed, and
//! parses only the `.entry` headers. A module whose headers it cannot read is
//! refused, and so is any preprocessor directive: a `#define` could hide a
//! parameter from this reader but not from the driver's compiler. nvcc's
//! output has none. Only sizes are checked, not types: nvcc declares `int`
//! and `unsigned` parameters alike as `.u32`, and to the driver a parameter
//! is its bytes.

use std::collections::HashMap;

use super::KernelArgValue;
use crate::bindings::cuda::CudaError;

/// Why a module's PTX was refused before it reached the driver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PtxError {
    /// A NUL byte: the driver reads PTX as a C string.
    #[error("the PTX contains a NUL byte")]
    Nul,
    /// A `#` directive, which the driver's compiler expands and this reader does not.
    #[error("preprocessor directives (`#`) are not accepted; pass preprocessed PTX")]
    Preprocessor,
    /// A `/*` comment that never closes.
    #[error("a /* comment is not closed")]
    UnclosedComment,
    /// A string that never closes.
    #[error("a string is not closed")]
    UnclosedString,
    /// An `.entry` header this reader cannot read.
    #[error("kernel header {entry}: {why}")]
    Header {
        /// The kernel's name, or `?` before it is known.
        entry: String,
        /// What was wrong.
        why: String,
    },
    /// Two kernels with one name.
    #[error("kernel `{0}` is declared twice")]
    Duplicate(String),
}

/// The kernels a module declares: each one's parameter sizes, in bytes, in
/// declaration order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Kernels(HashMap<String, Vec<u32>>);

impl Kernels {
    /// Reads the `.entry` headers of `ptx`.
    pub(crate) fn read(ptx: &str) -> Result<Self, PtxError> {
        if ptx.contains('\0') {
            return Err(PtxError::Nul);
        }
        let tokens = lex(ptx)?;
        let mut kernels = HashMap::new();
        let mut at = 0;
        while let Some(token) = tokens.get(at) {
            at += 1;
            if *token != Token::Directive("entry") {
                continue;
            }
            let (name, params, next) = entry(&tokens, at)?;
            if kernels.insert(name.to_owned(), params).is_some() {
                return Err(PtxError::Duplicate(name.to_owned()));
            }
            at = next;
        }
        Ok(Self(kernels))
    }

    /// Checks a launch of `name` with `args` against the kernel's declared
    /// parameters: a kernel of that name, as many values as parameters, and
    /// each value the size of its parameter.
    pub(crate) fn check_launch(
        &self,
        name: &str,
        args: &[KernelArgValue],
    ) -> Result<(), CudaError> {
        let Some(params) = self.0.get(name) else {
            return Err(CudaError::NoSuchKernel(format!(
                "the module declares no kernel (`.entry`) named `{name}`"
            )));
        };
        if params.len() != args.len() {
            return Err(CudaError::InvalidArgument(format!(
                "kernel `{name}` takes {} parameters ({}), the launch passes {}",
                params.len(),
                sizes(params),
                args.len()
            )));
        }
        for (index, (param, arg)) in params.iter().zip(args).enumerate() {
            if *param != arg.size() {
                return Err(CudaError::InvalidArgument(format!(
                    "parameter {index} of `{name}` is {param} bytes, the launch passes a {} ({} bytes)",
                    arg.kind(),
                    arg.size()
                )));
            }
        }
        Ok(())
    }
}

fn sizes(params: &[u32]) -> String {
    let listed: Vec<String> = params.iter().map(|size| format!("{size} bytes")).collect();
    listed.join(", ")
}

/// One token of PTX, as far as this reader needs to tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// `.name` without the dot: `entry`, `param`, `u32`, `align`, …
    Directive(&'a str),
    /// A name: a kernel's, a parameter's, a register's.
    Ident(&'a str),
    /// A literal starting with a digit (`16`, `0x10`, `0f3F800000`).
    Number(&'a str),
    /// Any other character.
    Punct(char),
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

/// Splits `ptx` into tokens, dropping comments, strings and white space.
fn lex(ptx: &str) -> Result<Vec<Token<'_>>, PtxError> {
    let bytes = ptx.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(&c) = bytes.get(at) {
        let rest = &bytes[at..];
        if c.is_ascii_whitespace() {
            at += 1;
        } else if rest.starts_with(b"//") {
            at += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        } else if rest.starts_with(b"/*") {
            let close = ptx[at + 2..].find("*/").ok_or(PtxError::UnclosedComment)?;
            at += 2 + close + 2;
        } else if c == b'"' {
            at += 1 + closing_quote(&bytes[at + 1..]).ok_or(PtxError::UnclosedString)? + 1;
        } else if c == b'#' {
            return Err(PtxError::Preprocessor);
        } else if c == b'.'
            && rest
                .get(1)
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        {
            let end = at + 1 + run(&rest[1..], ident_char);
            tokens.push(Token::Directive(&ptx[at + 1..end]));
            at = end;
        } else if c.is_ascii_digit() {
            let end = at + run(rest, |b| ident_char(b) || b == b'.');
            tokens.push(Token::Number(&ptx[at..end]));
            at = end;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'%' {
            let end = at + 1 + run(&rest[1..], ident_char);
            tokens.push(Token::Ident(&ptx[at..end]));
            at = end;
        } else {
            let ch = ptx[at..].chars().next().unwrap_or('\u{fffd}');
            tokens.push(Token::Punct(ch));
            at += ch.len_utf8();
        }
    }
    Ok(tokens)
}

/// How many leading bytes of `bytes` satisfy `keep`.
fn run(bytes: &[u8], keep: impl Fn(u8) -> bool) -> usize {
    bytes.iter().position(|&b| !keep(b)).unwrap_or(bytes.len())
}

/// The index of the `"` that closes a string starting just before `bytes`.
fn closing_quote(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'\\' => at += 2,
            b'"' => return Some(at),
            b'\n' => return None,
            _ => at += 1,
        }
    }
    None
}

/// Reads an `.entry` header starting at `at` (just past `.entry`): the
/// kernel's name, its parameter sizes, and where the header ends.
fn entry<'a>(tokens: &[Token<'a>], mut at: usize) -> Result<(&'a str, Vec<u32>, usize), PtxError> {
    let bad = |entry: &str, why: &str| PtxError::Header {
        entry: entry.to_owned(),
        why: why.to_owned(),
    };
    let Some(Token::Ident(name)) = tokens.get(at) else {
        return Err(bad("?", "`.entry` is not followed by a name"));
    };
    at += 1;
    let mut params = Vec::new();
    // A kernel without parameters may leave out the list.
    if tokens.get(at) != Some(&Token::Punct('(')) {
        return Ok((name, params, at));
    }
    at += 1;
    if tokens.get(at) == Some(&Token::Punct(')')) {
        return Ok((name, params, at + 1));
    }
    loop {
        let (size, next) = param(tokens, at).map_err(|why| bad(name, &why))?;
        params.push(size);
        at = next;
        match tokens.get(at) {
            Some(Token::Punct(',')) => at += 1,
            Some(Token::Punct(')')) => return Ok((name, params, at + 1)),
            _ => return Err(bad(name, "the parameter list does not end with `)`")),
        }
    }
}

/// Reads one `.param` declaration starting at `at`: its size in bytes and
/// the index just past it.
fn param(tokens: &[Token<'_>], mut at: usize) -> Result<(u32, usize), String> {
    if tokens.get(at) != Some(&Token::Directive("param")) {
        return Err("expected `.param`".into());
    }
    at += 1;
    let mut element = None;
    let name = loop {
        match tokens.get(at) {
            Some(Token::Directive("align")) => {
                let Some(Token::Number(_)) = tokens.get(at + 1) else {
                    return Err("`.align` without a number".into());
                };
                at += 2;
            }
            Some(Token::Directive("ptr" | "global" | "const" | "local" | "shared")) => at += 1,
            Some(Token::Directive(kind)) => {
                let Some(size) = type_size(kind) else {
                    return Err(format!("parameters of kind `.{kind}` are not supported"));
                };
                if element.replace(size).is_some() {
                    return Err("a parameter with two types".into());
                }
                at += 1;
            }
            Some(Token::Ident(name)) => break *name,
            _ => return Err("a parameter without a name".into()),
        }
    };
    at += 1;
    let element = element.ok_or_else(|| format!("parameter `{name}` has no type"))?;
    if tokens.get(at) != Some(&Token::Punct('[')) {
        return Ok((element, at));
    }
    let Some(Token::Number(count)) = tokens.get(at + 1) else {
        return Err(format!("parameter `{name}`: an array needs a length"));
    };
    if tokens.get(at + 2) != Some(&Token::Punct(']')) {
        return Err(format!("parameter `{name}`: `[` is not closed"));
    }
    let count = number(count).ok_or_else(|| format!("parameter `{name}`: length `{count}`"))?;
    let size = element
        .checked_mul(count)
        .ok_or_else(|| format!("parameter `{name}` is too large"))?;
    Ok((size, at + 3))
}

/// The size in bytes of a PTX fundamental type.
fn type_size(kind: &str) -> Option<u32> {
    Some(match kind {
        "b8" | "u8" | "s8" => 1,
        "b16" | "u16" | "s16" | "f16" | "bf16" => 2,
        "b32" | "u32" | "s32" | "f32" | "f16x2" | "bf16x2" => 4,
        "b64" | "u64" | "s64" | "f64" => 8,
        _ => return None,
    })
}

/// A decimal or `0x` hexadecimal integer.
fn number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests;
