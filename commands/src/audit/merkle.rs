//! The Merkle tree of a sealed period (issue #15 §2), built like Certificate Transparency's (RFC 6962
//! §2.1; RFC 9162 §2.1): leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right),
//! the prefixes separating leaves from nodes (domain separation, so that no node can pass for a
//! leaf), and a tree of n leaves splits at k, the largest power of two smaller than n. The hash of an
//! empty tree is SHA-256 of nothing.
//!
//! A period's leaves are the chain hashes (32 bytes each) of its events, in the canonical order of
//! docs/record-format.md (partition ascending, then offset). An inclusion proof is RFC 6962's audit
//! path; [`verify_inclusion`] is RFC 9162 §2.1.3.2's algorithm.

use sha2::{Digest, Sha256};

/// A SHA-256 value of the tree.
pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut digest = Sha256::new();
    digest.update([0u8]);
    digest.update(leaf);
    digest.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut digest = Sha256::new();
    digest.update([1u8]);
    digest.update(left);
    digest.update(right);
    digest.finalize().into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    assert!(n >= 2, "only a tree of two leaves or more splits");
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH over already hashed leaves.
fn subtree_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// The Merkle tree hash (MTH) of `leaves` (each leaf's data, hashed here).
pub fn root<L: AsRef<[u8]>>(leaves: &[L]) -> Hash {
    let hashed: Vec<Hash> = leaves.iter().map(|leaf| leaf_hash(leaf.as_ref())).collect();
    subtree_root(&hashed)
}

/// The audit path (RFC 6962 §2.1.1 PATH) of leaf `index` in the tree over `leaves`, leaf side first.
pub fn inclusion_proof<L: AsRef<[u8]>>(leaves: &[L], index: usize) -> Vec<Hash> {
    assert!(
        index < leaves.len(),
        "leaf {index} of {} leaves",
        leaves.len()
    );
    let hashed: Vec<Hash> = leaves.iter().map(|leaf| leaf_hash(leaf.as_ref())).collect();
    let mut path = Vec::new();
    path_of(&hashed, index, &mut path);
    path
}

fn path_of(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        path_of(&leaves[..k], index, path);
        path.push(subtree_root(&leaves[k..]));
    } else {
        path_of(&leaves[k..], index - k, path);
        path.push(subtree_root(&leaves[..k]));
    }
}

/// RFC 9162 §2.1.3.2: whether `proof` shows that `leaf` is leaf `index` of a tree of `size` leaves
/// with root `root`.
pub fn verify_inclusion(leaf: &[u8], index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf_hash(leaf);
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The reference tree of Certificate Transparency's test suite (RFC 6962 reference implementation):
    /// eight leaves, the root after each, and audit paths.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    /// (tree size, leaf index, audit path).
    const PATHS: [(usize, usize, &[&str]); 6] = [
        (1, 0, &[]),
        (
            2,
            0,
            &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
        ),
        (
            2,
            1,
            &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
        ),
        (
            3,
            2,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            5,
            1,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            8,
            5,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn leaves() -> Vec<Vec<u8>> {
        LEAVES
            .iter()
            .map(|leaf| hex::decode(leaf).unwrap())
            .collect()
    }

    #[test]
    fn rfc6962_reference_roots() {
        let leaves = leaves();
        assert_eq!(
            hex::encode(root::<Vec<u8>>(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (size, expected) in ROOTS.iter().enumerate() {
            assert_eq!(
                hex::encode(root(&leaves[..=size])),
                *expected,
                "size {}",
                size + 1
            );
        }
    }

    #[test]
    fn rfc6962_reference_audit_paths() {
        let leaves = leaves();
        for (size, index, expected) in PATHS {
            let path = inclusion_proof(&leaves[..size], index);
            let path: Vec<String> = path.iter().map(hex::encode).collect();
            assert_eq!(path, expected, "leaf {index} of {size}");
            let proof = inclusion_proof(&leaves[..size], index);
            let root = root(&leaves[..size]);
            let leaf = &leaves[index];
            let (index, size) = (index as u64, size as u64);
            assert!(verify_inclusion(leaf, index, size, &proof, &root));
        }
    }

    proptest! {
        /// Every leaf's proof verifies; any flipped bit of the leaf, the proof or the root, or another
        /// leaf index, fails.
        #[test]
        fn every_proof_verifies_and_any_alteration_fails(
            count in 1usize..70,
            pick in any::<usize>(),
            flip in any::<usize>(),
        ) {
            let leaves: Vec<[u8; 32]> = (0..count)
                .map(|n| Sha256::digest(n.to_le_bytes()).into())
                .collect();
            let root = root(&leaves);
            let index = pick % count;
            let (index_u64, size) = (index as u64, count as u64);
            for (each, leaf) in leaves.iter().enumerate() {
                let proof = inclusion_proof(&leaves, each);
                prop_assert!(verify_inclusion(leaf, each as u64, size, &proof, &root));
            }
            let proof = inclusion_proof(&leaves, index);
            let mut leaf = leaves[index];
            leaf[flip % 32] ^= 1 << (flip % 8);
            prop_assert!(!verify_inclusion(&leaf, index_u64, size, &proof, &root));
            let mut bad_root = root;
            bad_root[flip % 32] ^= 1 << (flip % 8);
            prop_assert!(!verify_inclusion(&leaves[index], index_u64, size, &proof, &bad_root));
            if !proof.is_empty() {
                let mut bad_proof = proof.clone();
                let at = flip % bad_proof.len();
                bad_proof[at][flip % 32] ^= 1 << (flip % 8);
                prop_assert!(!verify_inclusion(&leaves[index], index_u64, size, &bad_proof, &root));
            }
            if count > 1 {
                let other = (index + 1) % count;
                prop_assert!(!verify_inclusion(&leaves[index], other as u64, size, &proof, &root));
            }
        }
    }
}
