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
//! parses only the `.entry` headers. It is stricter than ptxas wherever the
//! two could otherwise disagree on where a header starts or ends: a module
//! is refused if a header cannot be read, if a name is followed by anything
//! but a parameter list, a body or a performance directive, if a string
//! holds a backslash or runs past its line, if any byte outside comments
//! and strings is not PTX text, and if it has a preprocessor directive
//! (ptxas has no preprocessor, but a `#define` could hide a parameter from
//! this reader). nvcc's output passes. Only sizes are checked, not types:
//! nvcc declares `int` and `unsigned` parameters alike as `.u32`, and to the
//! driver a parameter is its bytes. Where the driver can say (CUDA 12.4 and
//! later), `launch` also compares these sizes with the driver's own.

use std::collections::HashMap;

use super::KernelArgValue;
use crate::bindings::cuda::CudaError;

/// Why a module's PTX was refused before it reached the driver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PtxError {
    /// A NUL byte: the driver reads PTX as a C string.
    #[error("the PTX contains a NUL byte")]
    Nul,
    /// A `#` directive, or a macro or conditional directive (`.MACRO`,
    /// `.IF`): either could hide a parameter from this reader.
    #[error(
        "preprocessor, macro and conditional directives (`#`, `.MACRO`, `.IF`) are not accepted"
    )]
    Preprocessor,
    /// A byte PTX does not use outside comments and strings (anything but
    /// printable ASCII, tab, line feed, carriage return and form feed).
    #[error("byte {offset}: {byte:#04x} is not PTX text")]
    Character {
        /// Where, in bytes from the start.
        offset: usize,
        /// The first byte of the character.
        byte: u8,
    },
    /// A `/*` comment that never closes.
    #[error("a /* comment is not closed")]
    UnclosedComment,
    /// A string that does not close on its line, or holds a backslash.
    /// Compilers disagree on escapes and on strings across lines; a string
    /// this reader ended in the wrong place would hide the text after it.
    #[error("a string must close on its line and hold no backslash")]
    String,
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
        let mut tokens = Tokens {
            lexer: Lexer { ptx, at: 0 },
            peeked: None,
        };
        let mut kernels = HashMap::new();
        while let Some(token) = tokens.next()? {
            if let Token::Directive(directive) = token
                && MACRO_DIRECTIVES
                    .iter()
                    .any(|name| name.eq_ignore_ascii_case(directive))
            {
                return Err(PtxError::Preprocessor);
            }
            if token != Token::Directive("entry") {
                continue;
            }
            let (name, params) = entry(&mut tokens)?;
            if kernels.insert(name.to_owned(), params).is_some() {
                return Err(PtxError::Duplicate(name.to_owned()));
            }
        }
        Ok(Self(kernels))
    }

    /// Checks a launch of `name` with `args` against the kernel's declared
    /// parameters: a kernel of that name, as many values as parameters, and
    /// each value the size of its parameter. Returns the parameters' sizes.
    pub(crate) fn check_launch(
        &self,
        name: &str,
        args: &[KernelArgValue],
    ) -> Result<&[u32], CudaError> {
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
        Ok(params)
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

/// Splits PTX into tokens one at a time, dropping comments, strings and
/// white space, so reading a module holds no more than one header's tokens.
struct Lexer<'a> {
    ptx: &'a str,
    at: usize,
}

impl<'a> Lexer<'a> {
    fn token(&mut self) -> Result<Option<Token<'a>>, PtxError> {
        let ptx = self.ptx;
        let bytes = ptx.as_bytes();
        while let Some(&c) = bytes.get(self.at) {
            let at = self.at;
            let rest = &bytes[at..];
            let (token, len) = if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c) {
                (None, 1)
            } else if rest.starts_with(b"//") {
                (None, run(rest, |b| b != b'\n'))
            } else if rest.starts_with(b"/*") {
                let close = ptx[at + 2..].find("*/").ok_or(PtxError::UnclosedComment)?;
                (None, 2 + close + 2)
            } else if c == b'"' {
                let body = run(&rest[1..], |b| !matches!(b, b'"' | b'\\' | b'\n'));
                if rest.get(1 + body) != Some(&b'"') {
                    return Err(PtxError::String);
                }
                (None, 1 + body + 1)
            } else if c == b'#' {
                return Err(PtxError::Preprocessor);
            } else if c == b'.'
                && rest
                    .get(1)
                    .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
            {
                let len = 1 + run(&rest[1..], ident_char);
                (Some(Token::Directive(&ptx[at + 1..at + len])), len)
            } else if c.is_ascii_digit() {
                // Not through a `.`: ptxas reads `0x40.entry` as a number and
                // a directive.
                let len = run(rest, ident_char);
                (Some(Token::Number(&ptx[at..at + len])), len)
            } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'%' {
                let len = 1 + run(&rest[1..], ident_char);
                (Some(Token::Ident(&ptx[at..at + len])), len)
            } else if c.is_ascii_graphic() {
                (Some(Token::Punct(char::from(c))), 1)
            } else {
                return Err(PtxError::Character {
                    offset: at,
                    byte: c,
                });
            };
            self.at += len;
            if token.is_some() {
                return Ok(token);
            }
        }
        Ok(None)
    }
}

/// The lexer with one token of look-ahead.
struct Tokens<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Option<Token<'a>>>,
}

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Result<Option<Token<'a>>, PtxError> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lexer.token(),
        }
    }

    fn peek(&mut self) -> Result<Option<Token<'a>>, PtxError> {
        let token = match self.peeked {
            Some(token) => token,
            None => self.lexer.token()?,
        };
        self.peeked = Some(token);
        Ok(token)
    }
}

/// Directives ptxas's scanner handles as macros or conditionals
/// (`.MACRO`, `.IF`, …), undocumented; like `#`, they could make ptxas see
/// text this reader reads differently.
const MACRO_DIRECTIVES: [&str; 6] = ["macro", "endmacro", "if", "else", "elif", "endif"];

/// How many leading bytes of `bytes` satisfy `keep`.
fn run(bytes: &[u8], keep: impl Fn(u8) -> bool) -> usize {
    bytes.iter().position(|&b| !keep(b)).unwrap_or(bytes.len())
}

/// What may follow a kernel's name when it has no parameter list: its body,
/// the end of a declaration, or a performance directive. Anything else is
/// refused rather than read as "no parameters".
const AFTER_A_BARE_NAME: [&str; 11] = [
    "maxntid",
    "reqntid",
    "minnctapersm",
    "maxnctapersm",
    "maxnreg",
    "pragma",
    "noreturn",
    "reqnctapercluster",
    "explicitcluster",
    "maxclusterrank",
    "blocksareclusters",
];

fn header_error(entry: &str, why: impl Into<String>) -> PtxError {
    PtxError::Header {
        entry: entry.to_owned(),
        why: why.into(),
    }
}

/// Reads an `.entry` header just past `.entry`: the kernel's name and its
/// parameter sizes.
fn entry<'a>(tokens: &mut Tokens<'a>) -> Result<(&'a str, Vec<u32>), PtxError> {
    let Some(Token::Ident(name)) = tokens.next()? else {
        return Err(header_error("?", "`.entry` is not followed by a name"));
    };
    let mut params = Vec::new();
    match tokens.peek()? {
        Some(Token::Punct('(')) => {}
        Some(Token::Punct('{' | ';')) => return Ok((name, params)),
        Some(Token::Directive(directive)) if AFTER_A_BARE_NAME.contains(&directive) => {
            return Ok((name, params));
        }
        _ => {
            return Err(header_error(
                name,
                "the name is followed by neither `(`, a body nor a performance directive",
            ));
        }
    }
    tokens.next()?;
    if tokens.peek()? == Some(Token::Punct(')')) {
        tokens.next()?;
        return Ok((name, params));
    }
    loop {
        params.push(param(tokens, name)?);
        match tokens.next()? {
            Some(Token::Punct(',')) => {}
            Some(Token::Punct(')')) => return Ok((name, params)),
            _ => {
                return Err(header_error(
                    name,
                    "the parameter list does not end with `)`",
                ));
            }
        }
    }
}

/// Reads one `.param` declaration of kernel `entry`: its size in bytes.
fn param(tokens: &mut Tokens<'_>, entry: &str) -> Result<u32, PtxError> {
    let bad = |why: String| header_error(entry, why);
    if tokens.next()? != Some(Token::Directive("param")) {
        return Err(bad("expected `.param`".into()));
    }
    let mut element = None;
    let name = loop {
        match tokens.next()? {
            Some(Token::Directive("align")) => {
                let Some(Token::Number(_)) = tokens.next()? else {
                    return Err(bad("`.align` without a number".into()));
                };
            }
            Some(Token::Directive("ptr" | "global" | "const" | "local" | "shared")) => {}
            Some(Token::Directive(kind)) => {
                let Some(size) = type_size(kind) else {
                    return Err(bad(format!(
                        "parameters of kind `.{kind}` are not supported"
                    )));
                };
                if element.replace(size).is_some() {
                    return Err(bad("a parameter with two types".into()));
                }
            }
            Some(Token::Ident(name)) => break name,
            _ => return Err(bad("a parameter without a name".into())),
        }
    };
    let element = element.ok_or_else(|| bad(format!("parameter `{name}` has no type")))?;
    if tokens.peek()? != Some(Token::Punct('[')) {
        return Ok(element);
    }
    tokens.next()?;
    let Some(Token::Number(count)) = tokens.next()? else {
        return Err(bad(format!("parameter `{name}`: an array needs a length")));
    };
    if tokens.next()? != Some(Token::Punct(']')) {
        return Err(bad(format!("parameter `{name}`: `[` is not closed")));
    }
    let count =
        number(count).ok_or_else(|| bad(format!("parameter `{name}`: length `{count}`")))?;
    element
        .checked_mul(count)
        .ok_or_else(|| bad(format!("parameter `{name}` is too large")))
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

/// A PTX integer literal: hexadecimal (`0x10`), binary (`0b10`), octal
/// (`010`, which is 8) or decimal, each with an optional `U` suffix.
fn number(text: &str) -> Option<u32> {
    let text = text.strip_suffix('U').unwrap_or(text);
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        (hex, 16)
    } else if let Some(binary) = text.strip_prefix("0b").or(text.strip_prefix("0B")) {
        (binary, 2)
    } else if let Some(octal) = text.strip_prefix('0').filter(|rest| !rest.is_empty()) {
        (octal, 8)
    } else {
        (text, 10)
    };
    // from_str_radix takes a sign; a PTX literal here has none.
    if digits.starts_with(['+', '-']) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests;
