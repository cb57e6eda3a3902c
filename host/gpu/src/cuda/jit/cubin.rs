//! What the node checks of the compiler's output before the driver loads
//! it. `cuModuleLoadData` takes no length: the driver trusts the offsets
//! in the image's headers. So the image must be a 64-bit little-endian ELF
//! file for `EM_CUDA` (a cubin, which loads without compiling; PTX or a
//! fatbin would be compiled in the node's process), with its section and
//! program header tables, and every section and segment with file data,
//! inside the bytes read.
//!
//! Only those file ranges are checked: what lies inside them (string and
//! symbol indices, relocations, the `.nv.info` records) is the driver's
//! own compiler's output, read by the driver. This guards against output
//! that is truncated or is not a cubin at all, not against a compiler
//! process that has been taken over.

use object::LittleEndian;
use object::read::elf::{FileHeader as _, ProgramHeader as _, SectionHeader as _};

/// The size of a 64-bit ELF file header.
const ELF64_HEADER_BYTES: u16 = 64;

/// Why `image` is not a cubin whose file ranges lie inside it, if it is not.
/// The tables are read raw: the object crate's own iterators skip what it
/// has no use for (every segment but `PT_LOAD`), and the driver may not.
pub(super) fn check(image: &[u8]) -> Result<(), String> {
    let header = object::elf::FileHeader64::<LittleEndian>::parse(image)
        .map_err(|e| format!("not a 64-bit little-endian ELF image: {e}"))?;
    let endian = header
        .endian()
        .map_err(|e| format!("not a little-endian ELF image: {e}"))?;
    // The object crate reads a zero table offset as "no table", whatever
    // the count says; the driver might trust the count.
    if header.e_ehsize(endian) != ELF64_HEADER_BYTES
        || header.e_shoff(endian) == 0
        || (header.e_phoff(endian) == 0 && header.e_phnum(endian) != 0)
    {
        return Err("an ELF header without its section or program header table".into());
    }
    let machine = header.e_machine(endian);
    if machine != object::elf::EM_CUDA {
        return Err(format!(
            "an ELF image for machine {machine}, not CUDA ({})",
            object::elf::EM_CUDA
        ));
    }
    let sections = header
        .section_headers(endian, image)
        .map_err(|e| format!("section headers: {e}"))?;
    if sections.is_empty() {
        return Err("an ELF image without sections".into());
    }
    for (index, section) in sections.iter().enumerate() {
        section
            .data(endian, image)
            .map_err(|e| format!("section {index}: {e}"))?;
    }
    let segments = header
        .program_headers(endian, image)
        .map_err(|e| format!("program headers: {e}"))?;
    for (index, segment) in segments.iter().enumerate() {
        segment
            .data(endian, image)
            .map_err(|()| format!("segment {index} lies outside the image"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    /// `ptxas -arch=sm_52 sdk/examples/vecadd-cuda/src/vecadd.ptx` (12.9).
    const VECADD: &[u8] = include_bytes!("vecadd_sm52.cubin");

    /// Where the section header table starts (`e_shoff`).
    fn section_headers() -> usize {
        let bytes: [u8; 8] = VECADD[40..48].try_into().unwrap();
        usize::try_from(u64::from_le_bytes(bytes)).unwrap()
    }

    #[test]
    fn ptxas_output_passes() {
        check(VECADD).unwrap();
    }

    #[test]
    fn every_truncation_is_refused() {
        for len in 0..VECADD.len() {
            assert!(check(&VECADD[..len]).is_err(), "{len} bytes passed");
        }
    }

    #[test]
    fn another_machine_class_or_byte_order_is_refused() {
        // x86-64 for e_machine, 32-bit for the class, big-endian.
        for (at, value) in [(18, 0x3e), (4, 1), (5, 2)] {
            let mut image = VECADD.to_vec();
            image[at] = value;
            assert!(check(&image).is_err(), "byte {at} = {value} passed");
        }
    }

    /// A header that names tables at offset 0, which the object crate
    /// would read as none.
    #[test]
    fn header_tables_at_offset_zero_are_refused() {
        // e_phoff, then e_shoff.
        for at in [32, 40] {
            let mut image = VECADD.to_vec();
            image[at..at + 8].fill(0);
            assert!(check(&image).is_err(), "zero at {at} passed");
        }
    }

    /// Each segment, pointed past the end of the image.
    #[test]
    fn a_segment_outside_the_image_is_refused() {
        let table =
            usize::try_from(u64::from_le_bytes(VECADD[32..40].try_into().unwrap())).unwrap();
        let count = usize::from(u16::from_le_bytes([VECADD[56], VECADD[57]]));
        let mut moved = 0;
        for header in (table..).step_by(56).take(count) {
            let size = u64::from_le_bytes(VECADD[header + 32..header + 40].try_into().unwrap());
            if size == 0 {
                continue;
            }
            let mut image = VECADD.to_vec();
            // p_offset
            image[header + 8..header + 16].copy_from_slice(&(VECADD.len() as u64).to_le_bytes());
            assert!(check(&image).is_err(), "segment at {header} passed");
            moved += 1;
        }
        assert!(moved >= 1, "no segment with file data");
    }

    /// Each section with file data, pointed past the end of the image.
    #[test]
    fn a_section_outside_the_image_is_refused() {
        let mut moved = 0;
        let count = usize::from(u16::from_le_bytes([VECADD[60], VECADD[61]]));
        for header in (section_headers()..).step_by(64).take(count) {
            let kind = u32::from_le_bytes(VECADD[header + 4..header + 8].try_into().unwrap());
            let size = u64::from_le_bytes(VECADD[header + 32..header + 40].try_into().unwrap());
            // SHT_NULL and SHT_NOBITS have no file data.
            if kind == 0 || kind == 8 || size == 0 {
                continue;
            }
            let mut image = VECADD.to_vec();
            image[header + 24..header + 32].copy_from_slice(&(VECADD.len() as u64).to_le_bytes());
            assert!(check(&image).is_err(), "section at {header} passed");
            moved += 1;
        }
        assert!(moved >= 3, "only {moved} sections with data");
    }
}
