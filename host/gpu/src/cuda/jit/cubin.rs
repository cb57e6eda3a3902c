//! What the node checks of the compiler's output before the driver loads
//! it. `cuModuleLoadData` takes no length: the driver trusts the offsets
//! in the image's headers. So the image must be a 64-bit little-endian ELF
//! file for `EM_CUDA` (a cubin, which loads without compiling; PTX or a
//! fatbin would be compiled in the node's process), with its section and
//! program header tables, and every section and segment with file data,
//! inside the bytes read.

use object::read::elf::{ElfFile64, FileHeader as _};
use object::{LittleEndian, Object as _, ObjectSection as _, ObjectSegment as _};

/// Why `image` is not a cubin the driver can safely be handed, if it is not.
pub(super) fn check(image: &[u8]) -> Result<(), String> {
    let elf = ElfFile64::<LittleEndian>::parse(image)
        .map_err(|e| format!("not a 64-bit little-endian ELF image: {e}"))?;
    let machine = elf.elf_header().e_machine(LittleEndian);
    if machine != object::elf::EM_CUDA {
        return Err(format!(
            "an ELF image for machine {machine}, not CUDA ({})",
            object::elf::EM_CUDA
        ));
    }
    for section in elf.sections() {
        section
            .data()
            .map_err(|e| format!("section {}: {e}", section.index().0))?;
    }
    for (index, segment) in elf.segments().enumerate() {
        segment
            .data()
            .map_err(|e| format!("segment {index}: {e}"))?;
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
