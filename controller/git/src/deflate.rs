//! A zlib stream for a small object, compressed with a matcher sized to the object.
//!
//! A general compressor clears a 64-128 KB match table before every stream. Most objects of a
//! rendered tier are a few hundred bytes, so compressing them one by one spent more time
//! clearing that table than compressing. Here the table grows with the input (a few hundred
//! bytes for a typical file), the matcher is greedy (one candidate per hash, as zlib's
//! fastest level), and the codes are deflate's fixed Huffman codes (RFC 1951, 3.2.6), which
//! is also what zlib's fastest level writes for small inputs. Any inflater reads the result;
//! the object ids do not depend on it.

/// Inputs up to this size are compressed here; larger ones by zlib.
pub(crate) const SMALL: usize = 16 * 1024;

/// The shortest and longest match deflate can express, and the farthest distance.
const MIN_MATCH: usize = 4;
const MAX_MATCH: usize = 258;
const WINDOW: usize = 32 * 1024;

/// Appends to `out` the zlib stream (RFC 1950) of `bytes`: header, one final fixed-Huffman
/// block, Adler-32.
pub(crate) fn zlib_small(bytes: &[u8], out: &mut Vec<u8>) {
    thread_local! {
        static TABLE: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    // 0x78: deflate with a 32 KB window; 0x01: no dictionary, and the check bits.
    out.extend_from_slice(&[0x78, 0x01]);
    let mut bits = Bits { out, acc: 0, n: 0 };
    bits.put(0b011, 3); // final block, fixed codes
    TABLE.with_borrow_mut(|table| {
        let hash_bits = bytes
            .len()
            .max(64)
            .next_power_of_two()
            .trailing_zeros()
            .min(14);
        let size = 1usize << hash_bits;
        table.clear();
        table.resize(size, u32::MAX);
        let shift = 32 - hash_bits;
        let mut i = 0;
        while i + MIN_MATCH <= bytes.len() {
            let word = read_u32(bytes, i);
            let slot = (word.wrapping_mul(0x9E37_79B1) >> shift) as usize;
            let candidate = table[slot];
            table[slot] = u32::try_from(i).expect("a small input");
            if candidate != u32::MAX {
                let from = candidate as usize;
                if i - from <= WINDOW && read_u32(bytes, from) == word {
                    let limit = (bytes.len() - i).min(MAX_MATCH);
                    let mut len = MIN_MATCH;
                    while len < limit && bytes[from + len] == bytes[i + len] {
                        len += 1;
                    }
                    bits.length(len);
                    bits.distance(i - from);
                    i += len;
                    continue;
                }
            }
            bits.literal(bytes[i]);
            i += 1;
        }
        for &b in &bytes[i..] {
            bits.literal(b);
        }
    });
    bits.symbol(256); // end of block
    bits.flush();
    out.extend_from_slice(&adler32(bytes).to_be_bytes());
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// The fixed literal/length codes (RFC 1951, 3.2.6), each bit-reversed (deflate writes a
/// Huffman code from its most significant bit), with its length: symbols 0-143 have eight
/// bits from 0x30, 144-255 nine from 0x190, 256-279 seven from 0, 280-287 eight from 0xC0.
static LITERAL_CODES: [(u16, u8); 288] = {
    let mut table = [(0u16, 0u8); 288];
    let mut symbol = 0;
    while symbol < 288 {
        let (code, len) = match symbol {
            0..=143 => (0x30 + symbol, 8),
            144..=255 => (0x190 + symbol - 144, 9),
            256..=279 => (symbol - 256, 7),
            _ => (0xC0 + symbol - 280, 8),
        };
        // Reversed within its length.
        let reversed = (code as u16).reverse_bits() >> (16 - len);
        table[symbol as usize] = (reversed, len as u8);
        symbol += 1;
    }
    table
};

/// A bit writer, least significant bit first, as deflate packs its stream.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits<'_> {
    /// Writes the `count` low bits of `value` (at most 32).
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    fn symbol(&mut self, symbol: u32) {
        let (code, len) = LITERAL_CODES[symbol as usize];
        self.put(u32::from(code), u32::from(len));
    }

    fn literal(&mut self, byte: u8) {
        self.symbol(u32::from(byte));
    }

    /// A match length (3-258): its symbol (257-285) and extra bits.
    fn length(&mut self, len: usize) {
        let x = u32::try_from(len - 3).expect("a match length");
        let (symbol, extra_bits, extra) = if x < 8 {
            (257 + x, 0, 0)
        } else if x == 255 {
            (285, 0, 0)
        } else {
            let b = 31 - x.leading_zeros();
            (
                257 + 4 * (b - 1) + ((x >> (b - 2)) & 3),
                b - 2,
                x & ((1 << (b - 2)) - 1),
            )
        };
        self.symbol(symbol);
        self.put(extra, extra_bits);
    }

    /// A match distance (1-32768): its five-bit code (reversed) and extra bits.
    fn distance(&mut self, distance: usize) {
        let x = u32::try_from(distance - 1).expect("a match distance");
        let (code, extra_bits, extra) = if x < 4 {
            (x, 0, 0)
        } else {
            let b = 31 - x.leading_zeros();
            (
                2 * b + ((x >> (b - 1)) & 1),
                b - 1,
                x & ((1 << (b - 1)) - 1),
            )
        };
        self.put(code.reverse_bits() >> 27, 5);
        self.put(extra, extra_bits);
    }

    /// Writes out the last bits, padded to a byte.
    fn flush(&mut self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
        self.acc = 0;
        self.n = 0;
    }
}

/// The Adler-32 checksum zlib ends its stream with.
fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // The largest run of bytes whose sums cannot overflow a u32 before the modulo.
    const RUN: usize = 5_552;
    let (mut a, mut b) = (1u32, 0u32);
    for run in bytes.chunks(RUN) {
        for &byte in run {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn inflate(stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(stream)
            .read_to_end(&mut out)
            .expect("a valid zlib stream");
        out
    }

    fn round_trip(bytes: &[u8]) -> usize {
        let mut out = vec![0xAA]; // appended to, not overwritten
        zlib_small(bytes, &mut out);
        assert_eq!(out[0], 0xAA);
        assert_eq!(inflate(&out[1..]), bytes, "{} bytes", bytes.len());
        out.len() - 1
    }

    #[test]
    fn what_is_compressed_inflates_to_the_same_bytes() {
        // Every byte value, lengths around the match limits, distances up to the window.
        for bytes in [
            Vec::new(),
            b"a".to_vec(),
            b"abc".to_vec(),
            b"abcd".to_vec(),
            b"aaaaaaaa".to_vec(),
            (0..=255).collect(),
            (0..=255).rev().cycle().take(4_000).collect(),
            b"x".repeat(258 + 3),
            b"x".repeat(259),
            b"x".repeat(SMALL),
        ] {
            round_trip(&bytes);
        }
        for len in [
            3, 4, 5, 10, 11, 12, 18, 19, 34, 35, 130, 131, 227, 256, 257, 258,
        ] {
            let mut bytes = b"0123456789".repeat(30)[..len.max(10)].to_vec();
            bytes.extend_from_within(..len.min(bytes.len()));
            round_trip(&bytes);
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut noise = Vec::new();
        while noise.len() < 40_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.push((x % 7) as u8 + b'a');
        }
        round_trip(&noise);
        // A repeat exactly one window back, and one just beyond it.
        let block: Vec<u8> = noise[..WINDOW].to_vec();
        let mut far = block.clone();
        far.extend_from_slice(&block[..300]);
        round_trip(&far);
        let mut beyond = block.clone();
        beyond.push(b'!');
        beyond.extend_from_slice(&block[..300]);
        round_trip(&beyond);
    }

    /// Many inputs of random lengths over alphabets from two letters to every byte, with
    /// repeats copied from random earlier places: each inflates back to itself.
    #[test]
    fn random_inputs_round_trip() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |below: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            usize::try_from(x % below).unwrap()
        };
        for _ in 0..300 {
            let len = next(3_000);
            let alphabet = [2, 4, 16, 256][next(4)];
            let mut bytes = Vec::with_capacity(len);
            while bytes.len() < len {
                if bytes.len() > 8 && next(3) == 0 {
                    let from = next(bytes.len() as u64);
                    let n = (next(300) + 1).min(bytes.len() - from);
                    bytes.extend_from_within(from..from + n);
                } else {
                    bytes.push(u8::try_from(next(alphabet as u64)).unwrap());
                }
            }
            round_trip(&bytes);
        }
    }

    #[test]
    fn the_checksum_is_adler32() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let long = vec![0xFF; 100_000];
        let mut z = flate2::Compress::new(flate2::Compression::fast(), true);
        let mut out = Vec::with_capacity(200_000);
        z.compress_vec(&long, &mut out, flate2::FlushCompress::Finish)
            .unwrap();
        let tail: [u8; 4] = out[out.len() - 4..].try_into().unwrap();
        assert_eq!(adler32(&long), u32::from_be_bytes(tail), "zlib's own");
    }

    #[test]
    fn a_rendered_file_is_compressed() {
        let yaml = "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: shopset-isolation\n  \
                    namespace: shop-000123\n  labels:\n    shopset.dev/shopset: shop-000123\n    \
                    shopset.dev/tier: tier-0\nspec:\n  hard:\n    pods: \"50\"\n    \
                    requests.cpu: \"8\"\n    requests.memory: 16Gi\n"
            .repeat(3);
        let size = round_trip(yaml.as_bytes());
        assert!(size * 2 < yaml.len(), "{size} of {} bytes", yaml.len());
    }
}
