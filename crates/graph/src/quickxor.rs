//! QuickXorHash, the only content hash OneDrive Personal, OneDrive for
//! Business and SharePoint all report (`file.hashes.quickXorHash`).
//!
//! Written here rather than taken from crates.io: the only published crate
//! is a 0.1 with no maintenance history, and the algorithm is 40 lines that
//! must be exactly right for upload verification, so it lives next to its
//! test vectors.
//!
//! Definition (Microsoft's reference): a 160-bit state `H`; the byte at
//! stream position `i` is XORed into `H` at bit offset `(11·i) mod 160`,
//! wrapping around; at the end `H` is written little-endian as 20 bytes and
//! the 64-bit little-endian byte count is XORed into bytes 12..20.

use base64::Engine as _;

const WIDTH_BITS: usize = 160;
const SHIFT: usize = 11;

/// Streaming QuickXorHash. Feed it in any split: the result is the same.
#[derive(Clone)]
pub struct QuickXorHash {
    /// The state as three 64-bit cells (bits 0..192, only 0..160 used),
    /// little-endian by bit: bit `k` of H is bit `k % 64` of `cells[k / 64]`.
    cells: [u64; 3],
    /// Bit offset where the next byte goes.
    shift: usize,
    len: u64,
}

impl Default for QuickXorHash {
    fn default() -> Self {
        Self::new()
    }
}

impl QuickXorHash {
    pub fn new() -> Self {
        QuickXorHash {
            cells: [0; 3],
            shift: 0,
            len: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        // Byte i lands at offset (shift + 11·i) mod 160. Bytes 160 apart land
        // at the same offset, so each of the 160 positions of a block is
        // accumulated with XOR over the whole input first (one pass, no bit
        // twiddling per byte), then folded into the state once per call.
        if data.is_empty() {
            return;
        }
        let mut lanes = [0u8; WIDTH_BITS];
        let full = data.len() / WIDTH_BITS * WIDTH_BITS;
        for block in data[..full].chunks_exact(WIDTH_BITS) {
            for (l, b) in lanes.iter_mut().zip(block) {
                *l ^= b;
            }
        }
        for (l, b) in lanes.iter_mut().zip(&data[full..]) {
            *l ^= b;
        }
        let used = data.len().min(WIDTH_BITS);
        for (i, &b) in lanes[..used].iter().enumerate() {
            if b != 0 {
                self.xor_byte_at(b, (self.shift + SHIFT * i) % WIDTH_BITS);
            }
        }
        self.shift = (self.shift + SHIFT * (data.len() % WIDTH_BITS)) % WIDTH_BITS;
        self.len += data.len() as u64;
    }

    /// XORs `b` into H at bit offset `off`, wrapping past bit 159 to bit 0.
    fn xor_byte_at(&mut self, b: u8, off: usize) {
        for bit in 0..8 {
            if b >> bit & 1 == 1 {
                let k = (off + bit) % WIDTH_BITS;
                self.cells[k / 64] ^= 1 << (k % 64);
            }
        }
    }

    /// The 20-byte digest.
    pub fn finalize(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = (self.cells[i / 8] >> ((i % 8) * 8)) as u8;
        }
        for (o, l) in out[12..].iter_mut().zip(self.len.to_le_bytes()) {
            *o ^= l;
        }
        out
    }

    /// The digest as Graph reports it: standard base64, 28 characters.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.finalize())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::io::Write for QuickXorHash {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;

    /// The definition taken literally, bit by bit: the reference the fast
    /// version is checked against.
    fn reference(data: &[u8]) -> [u8; 20] {
        let mut bits = [false; WIDTH_BITS];
        for (i, &b) in data.iter().enumerate() {
            for bit in 0..8 {
                if b >> bit & 1 == 1 {
                    let k = (SHIFT * i + bit) % WIDTH_BITS;
                    bits[k] = !bits[k];
                }
            }
        }
        let mut out = [0u8; 20];
        for (k, set) in bits.iter().enumerate() {
            if *set {
                out[k / 8] |= 1 << (k % 8);
            }
        }
        for (o, l) in out[12..].iter_mut().zip((data.len() as u64).to_le_bytes()) {
            *o ^= l;
        }
        out
    }

    fn hash_in_blocks(data: &[u8], block: usize) -> String {
        let mut h = QuickXorHash::new();
        for c in data.chunks(block.max(1)) {
            h.update(c);
        }
        h.to_base64()
    }

    /// Published vectors (graph-contract §5, from rclone's test table).
    const VECTORS: &[(&str, &str)] = &[
        ("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="),
        ("tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="),
        ("2fuxhBJXtpWFe8dOfdGeHw==", "O9tHLAghgSvYohKFyMMxnNCHaHg="),
    ];

    #[test]
    fn published_vectors_in_every_block_split() {
        for (input, want) in VECTORS {
            let data = B64.decode(input).unwrap();
            for block in 1..=512 {
                assert_eq!(
                    &hash_in_blocks(&data, block),
                    want,
                    "input {input}, blocks of {block}"
                );
            }
        }
    }

    #[test]
    fn all_zero_files_reported_by_onedrive() {
        // Values OneDrive returned for all-zero files (graph-contract §5).
        let zeros = vec![0u8; 20_000_000];
        assert_eq!(
            hash_in_blocks(&zeros, 10 << 20),
            "AAAAAAAAAAAAAAAAAC0xAQAAAAA="
        );
    }

    #[test]
    fn matches_the_definition_for_every_length_and_split() {
        let mut rng = 0x9e3779b97f4a7c15u64;
        for len in (0..700).chain([1000, 4096, 327_680 + 7]) {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect();
            let want = B64.encode(reference(&data));
            for block in [1, 2, 3, 7, 11, 159, 160, 161, 320, 1000] {
                assert_eq!(
                    hash_in_blocks(&data, block),
                    want,
                    "len {len}, blocks of {block}"
                );
            }
        }
    }
}
