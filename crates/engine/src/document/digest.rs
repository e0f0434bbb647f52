//! The content digest of a backup: what its tables hold, independent of
//! the document around them (its time, its generator, the source's
//! settings) and of the order rows come in. Recorded when a backup is
//! made; a restore drill restores the point into a temporary target,
//! snapshots that target again and compares the two, so a drill proves
//! that a restore gives back the very rows that were backed up — not only
//! as many of them.
//!
//! Each row's serialized bytes (as the document holds them, big values
//! included) are hashed with BLAKE3; a table's digest is the row count
//! and the wrapping sum of the rows' hashes (a multiset hash: the same
//! rows in another order sum the same); the document's digest hashes the
//! tables' names, counts and sums in order.

/// Accumulates the content digest while a snapshot is written.
#[derive(Default)]
pub struct ContentDigest {
    tables: blake3::Hasher,
    table: Option<(u64, u128)>,
    row: Option<blake3::Hasher>,
}

/// Digests written by this version start with this tag; a digest of
/// another form is not compared.
const TAG: &str = "b3m1:";

impl ContentDigest {
    /// Starts a table: its name and columns are part of its content.
    pub fn begin_table<S: AsRef<str>>(&mut self, qualified_name: &str, columns: &[S]) {
        self.end_row();
        self.tables
            .update(&(qualified_name.len() as u64).to_le_bytes());
        self.tables.update(qualified_name.as_bytes());
        self.tables.update(&(columns.len() as u64).to_le_bytes());
        for c in columns {
            let c = c.as_ref();
            self.tables.update(&(c.len() as u64).to_le_bytes());
            self.tables.update(c.as_bytes());
        }
        self.table = Some((0, 0));
    }

    /// Starts a row; the bytes fed until the next row (or the table's
    /// end) are its contents.
    pub fn begin_row(&mut self) {
        self.end_row();
        self.row = Some(blake3::Hasher::new());
    }

    /// Feeds bytes of the current row (none outside a row).
    #[inline]
    pub fn feed(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.row {
            h.update(bytes);
        }
    }

    /// A whole row at once.
    pub fn row(&mut self, bytes: &[u8]) {
        self.begin_row();
        self.feed(bytes);
        self.end_row();
    }

    fn end_row(&mut self) {
        if let (Some(h), Some((n, sum))) = (self.row.take(), &mut self.table) {
            let hash = h.finalize();
            let mut first = [0u8; 16];
            first.copy_from_slice(&hash.as_bytes()[..16]);
            *n += 1;
            *sum = sum.wrapping_add(u128::from_le_bytes(first));
        }
    }

    pub fn end_table(&mut self) {
        self.end_row();
        if let Some((n, sum)) = self.table.take() {
            self.tables.update(&n.to_le_bytes());
            self.tables.update(&sum.to_le_bytes());
        }
    }

    /// The digest, as recorded with a restore point.
    pub fn finish(mut self) -> String {
        self.end_table();
        format!("{TAG}{}", self.tables.finalize().to_hex())
    }
}

/// Whether two recorded digests can be compared (both of this form).
pub fn comparable(a: &str, b: &str) -> bool {
    a.starts_with(TAG) && b.starts_with(TAG)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(tables: &[(&str, &[&str])]) -> String {
        let mut d = ContentDigest::default();
        for (name, rows) in tables {
            d.begin_table(name, &["a"]);
            for r in *rows {
                d.row(r.as_bytes());
            }
            d.end_table();
        }
        d.finish()
    }

    #[test]
    fn rows_in_another_order_digest_the_same_and_any_change_differs() {
        let base = digest(&[("t", &["[1]", "[2]", "[3]"]), ("u", &[])]);
        assert_eq!(base, digest(&[("t", &["[3]", "[1]", "[2]"]), ("u", &[])]));
        for other in [
            digest(&[("t", &["[1]", "[2]", "[4]"]), ("u", &[])]),
            digest(&[("t", &["[1]", "[2]"]), ("u", &[])]),
            digest(&[("t", &["[1]", "[2]", "[3]", "[3]"]), ("u", &[])]),
            digest(&[("t", &["[1]", "[2]"]), ("u", &["[3]"])]),
            digest(&[("t2", &["[1]", "[2]", "[3]"]), ("u", &[])]),
            digest(&[("t", &["[1]", "[2]", "[3]"])]),
        ] {
            assert_ne!(base, other);
        }
        assert!(comparable(&base, &base));
        assert!(!comparable(&base, "sha256:x"));
    }

    #[test]
    fn a_row_fed_in_pieces_is_the_row() {
        let mut d = ContentDigest::default();
        d.begin_table::<&str>("t", &[]);
        d.begin_row();
        d.feed(b"[1,");
        d.feed(b"2]");
        d.end_table();
        assert_eq!(d.finish(), digest_no_cols("[1,2]"));
    }

    fn digest_no_cols(row: &str) -> String {
        let mut d = ContentDigest::default();
        d.begin_table::<&str>("t", &[]);
        d.row(row.as_bytes());
        d.finish()
    }
}
