//! The embedded append-only log (the default backend): segment files per partition under the data
//! directory. See `docs/embedded-log.md` for the file format.
