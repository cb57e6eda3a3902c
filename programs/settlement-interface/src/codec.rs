//! Fixed little-endian layouts for instruction data and account state.
//!
//! No borsh here on purpose: every instruction and account has one fixed size,
//! so a length check up front plus reads at known offsets is all decoding
//! needs, costs a few compute units, and cannot allocate. [`Reader`] never
//! panics: a short input is `None`, which callers turn into a typed error.

use kiln_protocol::Rates;

/// Reads fields in order from a byte slice.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `N` bytes.
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    /// The next byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[byte]| byte)
    }

    /// The next little-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    /// The next little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// The next little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// The next little-endian i64.
    pub fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    /// The next three u64 rates.
    pub fn rates(&mut self) -> Option<Rates> {
        Some(Rates {
            per_million_fuel: self.u64()?,
            per_gpu_second: self.u64()?,
            per_wall_second: self.u64()?,
        })
    }

    /// `Some(())` when every byte was read: layouts are exact, trailing bytes are an error.
    pub fn finish(self) -> Option<()> {
        self.rest.is_empty().then_some(())
    }
}

/// Writes fields in order into a byte slice of exactly the layout's size.
pub struct Writer<'a> {
    rest: &'a mut [u8],
}

impl<'a> Writer<'a> {
    /// A writer over `bytes`.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Writes `bytes`. Layout sizes are constants checked by the callers'
    /// tests, so running out of room is a bug in this crate, not bad input.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let rest = core::mem::take(&mut self.rest);
        let (head, rest) = rest.split_at_mut(bytes.len());
        head.copy_from_slice(bytes);
        self.rest = rest;
    }

    /// Writes one byte.
    pub fn u8(&mut self, value: u8) {
        self.bytes(&[value]);
    }

    /// Writes a little-endian u16.
    pub fn u16(&mut self, value: u16) {
        self.bytes(&value.to_le_bytes());
    }

    /// Writes a little-endian u32.
    pub fn u32(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }

    /// Writes a little-endian u64.
    pub fn u64(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }

    /// Writes a little-endian i64.
    pub fn i64(&mut self, value: i64) {
        self.bytes(&value.to_le_bytes());
    }

    /// Writes three u64 rates.
    pub fn rates(&mut self, rates: &Rates) {
        self.u64(rates.per_million_fuel);
        self.u64(rates.per_gpu_second);
        self.u64(rates.per_wall_second);
    }
}

/// Encoded size of [`Rates`].
pub const RATES_LEN: usize = 3 * 8;
