//! Masking secrets in captured output as it streams: every byte that belongs to an occurrence of a
//! secret is hidden, and each run of hidden bytes becomes one `****`.
//!
//! [`Masker`] takes the output in chunks of any size and returns what is safe to pass on at once,
//! holding back only the trailing bytes that could still turn out to be part of a secret split
//! across chunks (fewer than the longest secret). The result is the same however the output was
//! chunked: [`mask_all`] on the whole buffer gives the same bytes. Matching uses an Aho-Corasick
//! automaton over all secrets, so each byte is looked at a bounded number of times whatever the
//! number of secrets: the cost is linear in the output plus the total length of the secrets.
//!
//! Overlapping and adjacent occurrences merge into one masked run, so when secrets overlap the
//! longest wins and nothing of a shorter one shows at its edges (secrets `abc` and `bcd` turn
//! `xabcdx` into `x****x`). Masking is byte-wise: a secret is matched whatever the encoding, and a
//! run may cut a multi-byte character in two. This module does no logging, and a masker's `Debug`
//! output shows sizes only, never secret bytes. It does not zeroize the secrets it holds.

use std::collections::VecDeque;
use std::fmt;

/// What replaces each run of secret bytes.
pub const MASK: &[u8] = b"****";

/// Masks one stream; see the module documentation.
pub struct Masker {
    automaton: Automaton,
    /// The automaton's state after the last byte pushed.
    state: u32,
    /// Bytes received but not yet emitted, oldest first.
    // Invariant: after `push` returns, shorter than the longest secret.
    pending: Vec<u8>,
    /// The stream position of `pending[0]`.
    pending_start: u64,
    /// Masked stretches of the stream as half-open `[start, end)` positions, sorted, neither
    /// overlapping nor touching (touching stretches are merged), and ending after `pending_start`.
    covered: VecDeque<(u64, u64)>,
    /// Whether the last byte emitted was masked, so that a masked run continuing into the next
    /// emission does not add a second `****`.
    in_masked_run: bool,
}

impl Masker {
    /// A masker for `secrets`. Empty secrets are ignored; repeats don't matter. With no secrets,
    /// output passes through unchanged and nothing is held back.
    pub fn new<I>(secrets: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        Self {
            automaton: Automaton::new(secrets),
            state: ROOT,
            pending: Vec::new(),
            pending_start: 0,
            covered: VecDeque::new(),
            in_masked_run: false,
        }
    }

    /// Takes the next chunk of output and returns the bytes that are now safe to emit, masked.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        for &byte in chunk {
            self.state = self.automaton.next(self.state, byte);
            self.pending.push(byte);
            let matched = self.automaton.match_len[self.state as usize];
            if matched > 0 {
                let end = self.pending_start + self.pending.len() as u64;
                self.cover(end - u64::from(matched), end);
            }
        }
        // Bytes before the longest suffix that could still grow into a secret are settled: no
        // later occurrence can reach back over them.
        let undecided = self.automaton.hold[self.state as usize] as usize;
        let settled = self.pending_start + (self.pending.len() - undecided) as u64;
        self.emit(settled)
    }

    /// Ends the stream and returns the bytes still held back, masked.
    pub fn finish(mut self) -> Vec<u8> {
        let end = self.pending_start + self.pending.len() as u64;
        self.emit(end)
    }

    /// Records that `[start, end)` is masked. `end` is never before the end of an earlier stretch.
    fn cover(&mut self, mut start: u64, end: u64) {
        debug_assert!(start >= self.pending_start, "an occurrence reached back over emitted bytes");
        while let Some(&(last_start, last_end)) = self.covered.back() {
            if last_end < start {
                break;
            }
            start = start.min(last_start);
            self.covered.pop_back();
        }
        self.covered.push_back((start, end));
    }

    /// Emits every pending byte before stream position `upto`, masked, and drops it from `pending`.
    fn emit(&mut self, upto: u64) -> Vec<u8> {
        let count = (upto - self.pending_start) as usize;
        let mut out = Vec::with_capacity(count);
        let mut position = self.pending_start;
        while position < upto {
            while self.covered.front().is_some_and(|&(_, end)| end <= position) {
                self.covered.pop_front();
            }
            let offset = |at: u64| (at - self.pending_start) as usize;
            match self.covered.front() {
                Some(&(start, end)) if start <= position => {
                    if !self.in_masked_run {
                        out.extend_from_slice(MASK);
                        self.in_masked_run = true;
                    }
                    position = end.min(upto);
                }
                next => {
                    let until = next.map_or(upto, |&(start, _)| start.min(upto));
                    out.extend_from_slice(&self.pending[offset(position)..offset(until)]);
                    self.in_masked_run = false;
                    position = until;
                }
            }
        }
        self.pending.drain(..count);
        self.pending_start = upto;
        out
    }
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("automaton_states", &self.automaton.children.len())
            .field("held_bytes", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// `data` with every secret masked, as a [`Masker`] fed all of it would give.
pub fn mask_all<I>(data: &[u8], secrets: I) -> Vec<u8>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut masker = Masker::new(secrets);
    let mut out = masker.push(data);
    out.extend(masker.finish());
    out
}

/// The automaton's start state: the empty prefix.
const ROOT: u32 = 0;

/// An Aho-Corasick automaton over the secrets. State `s` stands for a prefix of some secret (its
/// trie node); after each byte the state is the longest suffix of the stream that is such a prefix.
struct Automaton {
    /// Per state, its trie children sorted by byte.
    children: Vec<Vec<(u8, u32)>>,
    /// Per state, the state of its longest proper suffix that is also a prefix.
    fail: Vec<u32>,
    /// Per state, the length of the longest secret that ends here (0 for none).
    match_len: Vec<u32>,
    /// Per state, the length of the longest suffix that is a proper prefix of some secret: how
    /// many trailing bytes a later occurrence could still start in.
    hold: Vec<u32>,
}

impl Automaton {
    fn new<I>(secrets: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut depth: Vec<u32> = vec![0];
        let mut terminal: Vec<bool> = vec![false];
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.is_empty() {
                continue;
            }
            let mut state = ROOT;
            for &byte in secret {
                let node = &children[state as usize];
                state = match node.binary_search_by_key(&byte, |&(b, _)| b) {
                    Ok(found) => node[found].1,
                    Err(slot) => {
                        let child = u32::try_from(children.len()).expect("fewer than 2^32 secret bytes");
                        children[state as usize].insert(slot, (byte, child));
                        children.push(Vec::new());
                        depth.push(depth[state as usize] + 1);
                        terminal.push(false);
                        child
                    }
                };
            }
            terminal[state as usize] = true;
        }

        let n_states = children.len();
        let mut automaton =
            Self { children, fail: vec![ROOT; n_states], match_len: vec![0; n_states], hold: vec![0; n_states] };
        // Breadth-first, so a state's failure state (which is shallower) is finished before it.
        let mut queue = VecDeque::from([ROOT]);
        while let Some(state) = queue.pop_front() {
            let index = state as usize;
            if state != ROOT {
                let fail = automaton.fail[index] as usize;
                automaton.match_len[index] = if terminal[index] { depth[index] } else { automaton.match_len[fail] };
            }
            automaton.hold[index] = if automaton.children[index].is_empty() {
                automaton.hold[automaton.fail[index] as usize]
            } else {
                depth[index]
            };
            for slot in 0..automaton.children[index].len() {
                let (byte, child) = automaton.children[index][slot];
                automaton.fail[child as usize] =
                    if state == ROOT { ROOT } else { automaton.next(automaton.fail[index], byte) };
                queue.push_back(child);
            }
        }
        automaton
    }

    /// The state after `byte` in `state`. Amortized constant time over a stream: each failure step
    /// shortens the matched suffix, which grows by at most one per byte.
    fn next(&self, mut state: u32, byte: u8) -> u32 {
        loop {
            let node = &self.children[state as usize];
            if let Ok(found) = node.binary_search_by_key(&byte, |&(b, _)| b) {
                return node[found].1;
            }
            if state == ROOT {
                return ROOT;
            }
            state = self.fail[state as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification, written the slow and obvious way: mark every byte inside any occurrence
    /// of any secret, then write each run of marked bytes as one `****`.
    fn reference_mask(data: &[u8], secrets: &[Vec<u8>]) -> Vec<u8> {
        let mut marked = vec![false; data.len()];
        for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
            for start in 0..data.len() {
                if data[start..].starts_with(secret) {
                    marked[start..start + secret.len()].fill(true);
                }
            }
        }
        let mut out = Vec::new();
        for (index, &byte) in data.iter().enumerate() {
            if !marked[index] {
                out.push(byte);
            } else if index == 0 || !marked[index - 1] {
                out.extend_from_slice(MASK);
            }
        }
        out
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        /// Fewer than `bound` bytes drawn from `alphabet`.
        fn bytes(&mut self, bound: usize, alphabet: &[u8]) -> Vec<u8> {
            let len = self.below(bound);
            (0..len).map(|_| alphabet[self.below(alphabet.len())]).collect()
        }
    }

    /// Streams `data` through a masker in the given chunk sizes (the rest as a last chunk),
    /// checking the hold-back bound after every push.
    fn streamed(data: &[u8], secrets: &[Vec<u8>], chunk_sizes: &[usize]) -> Vec<u8> {
        let longest = secrets.iter().map(Vec::len).max().unwrap_or(0);
        let mut masker = Masker::new(secrets);
        let mut out = Vec::new();
        let mut rest = data;
        for &size in chunk_sizes {
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            out.extend(masker.push(chunk));
            assert!(masker.pending.len() < longest.max(1), "held {} bytes", masker.pending.len());
            rest = tail;
        }
        out.extend(masker.push(rest));
        out.extend(masker.finish());
        out
    }

    fn secrets(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|item| item.as_bytes().to_vec()).collect()
    }

    #[test]
    fn masks_examples() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("password is hunter2.", &["hunter2"], "password is ****."),
            ("hunter2hunter2", &["hunter2"], "****"),
            ("hunter2 hunter2", &["hunter2"], "**** ****"),
            ("xabcdx", &["abc", "bcd"], "x****x"),
            ("abcdef", &["abc", "abcdef"], "****"),
            ("abcde", &["abcdef"], "abcde"),
            ("aaa", &["aa"], "****"),
            ("no secrets here", &[], "no secrets here"),
            ("keep", &[""], "keep"),
            ("", &["x"], ""),
            ("ab ab", &["ab", "ab", "b"], "**** ****"),
        ];
        for (data, secret_list, expected) in cases {
            let secrets = secrets(secret_list);
            let masked = mask_all(data.as_bytes(), &secrets);
            assert_eq!(String::from_utf8_lossy(&masked), *expected, "{data:?} with {secret_list:?}");
            assert_eq!(masked, reference_mask(data.as_bytes(), &secrets), "{data:?} against the reference");
        }
    }

    #[test]
    fn a_secret_split_across_every_boundary() {
        let data = b"before s3cr3t-value after s3cr3t-value";
        let secrets = secrets(&["s3cr3t-value"]);
        let expected = b"before **** after ****".to_vec();
        for cut in 0..=data.len() {
            assert_eq!(streamed(data, &secrets, &[cut]), expected, "cut at {cut}");
        }
        let one_byte_chunks = vec![1; data.len()];
        assert_eq!(streamed(data, &secrets, &one_byte_chunks), expected);
    }

    #[test]
    fn emits_early_what_cannot_be_a_secret() {
        let mut masker = Masker::new(["secret"]);
        assert_eq!(masker.push(b"hello sec"), b"hello ");
        assert_eq!(masker.push(b"ond"), b"second");
        assert_eq!(masker.push(b"xx secre"), b"xx ");
        assert_eq!(masker.push(b"t!"), b"****!");
        assert_eq!(masker.finish(), b"");

        let mut masker = Masker::new(["secret"]);
        assert_eq!(masker.push(b"tail sec"), b"tail ");
        assert_eq!(masker.finish(), b"sec", "an unfinished prefix is released at the end");

        let mut passthrough = Masker::new(Vec::<Vec<u8>>::new());
        assert_eq!(passthrough.push(b"anything"), b"anything");
        assert_eq!(passthrough.finish(), b"");
    }

    #[test]
    fn masked_run_continues_across_pushes() {
        let mut masker = Masker::new(["ab"]);
        let mut out = masker.push(b"xab");
        out.extend(masker.push(b"ab"));
        out.extend(masker.push(b"aby"));
        out.extend(masker.finish());
        assert_eq!(out, b"x****y");
    }

    #[test]
    fn binary_data() {
        let secret = vec![0u8, 255, 0, 10, 13];
        let mut data = vec![1, 2, 0, 255, 0, 10];
        data.extend(&secret);
        data.extend([0, 255]);
        let masked = mask_all(&data, [&secret]);
        assert_eq!(masked, [1, 2, 0, 255, 0, 10, b'*', b'*', b'*', b'*', 0, 255]);
    }

    #[test]
    fn streaming_equals_masking_the_whole_buffer() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            // Small alphabets make occurrences, overlaps and near misses common.
            let alphabet: &[u8] = match round % 3 {
                0 => b"ab",
                1 => b"abc",
                _ => &[0, 1, 2, 0xff, b'\n'],
            };
            let data = rng.bytes(120, alphabet);
            let mut secrets: Vec<Vec<u8>> = (0..rng.below(5)).map(|_| rng.bytes(7, alphabet)).collect();
            if !data.is_empty() && rng.below(2) == 0 {
                // A secret cut from the data itself is sure to occur.
                let start = rng.below(data.len());
                let len = 1 + rng.below((data.len() - start).min(8));
                secrets.push(data[start..start + len].to_vec());
            }
            let expected = reference_mask(&data, &secrets);
            assert_eq!(mask_all(&data, &secrets), expected, "round {round}: whole buffer");
            for _ in 0..4 {
                let chunk_sizes: Vec<usize> = (0..rng.below(12)).map(|_| rng.below(10)).collect();
                assert_eq!(
                    streamed(&data, &secrets, &chunk_sizes),
                    expected,
                    "round {round}: data {data:?}, secrets {secrets:?}, chunks {chunk_sizes:?}"
                );
            }
        }
    }

    #[test]
    fn long_streams_stay_linear() {
        // A quadratic masker (re-scanning held or emitted bytes) would take minutes here. The
        // secret almost matches everywhere, so the automaton keeps falling back and holding bytes.
        let almost = [b"a".repeat(200), b"b".to_vec()].concat();
        let chunk = b"a".repeat(4096);
        let mut masker = Masker::new([&almost]);
        let mut emitted = 0;
        for _ in 0..512 {
            emitted += masker.push(&chunk).len();
            assert!(masker.pending.len() <= 200);
        }
        emitted += masker.finish().len();
        assert_eq!(emitted, 512 * 4096, "nothing matched, everything came out");

        // A secret that occurs at every position: one run.
        let mut masker = Masker::new([b"a".repeat(199)]);
        let mut out = Vec::new();
        for _ in 0..512 {
            out.extend(masker.push(&chunk));
        }
        out.extend(masker.finish());
        assert_eq!(out, MASK);
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut masker = Masker::new(["hunter2"]);
        masker.push(b"hunt");
        let debug = format!("{masker:?}");
        assert!(!debug.contains("hunt"), "{debug}");
        assert!(debug.contains("held_bytes: 4"), "{debug}");
    }
}
